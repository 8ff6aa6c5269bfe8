import { BaseCommand } from '../../cli/base.js';
import { formatAge, formatBytes, table } from '../../cli/format.js';
import type { CacheEntry } from '../../mlflow/cache.js';

export default class CacheLs extends BaseCommand {
  static override description = 'List cached models (what deploys and restarts use without network)';

  async run(): Promise<{ entries: CacheEntry[] }> {
    await this.parse(CacheLs);
    const res = await this.client.call<{ entries: CacheEntry[] }>('GET', '/v1/cache');
    if (res.entries.length === 0) this.say('the model cache is empty');
    else {
      this.say(table(['MODEL', 'VERSION', 'SIZE', 'AGE', 'SOURCE'], res.entries.map((e) => [
        e.name ?? e.key.split('/')[1] ?? e.key, e.version ?? '-', formatBytes(e.bytes), formatAge(Date.now() - e.fetchedAt), e.source,
      ])));
    }
    return res;
  }
}
