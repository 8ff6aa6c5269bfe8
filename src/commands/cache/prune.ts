import { BaseCommand } from '../../cli/base.js';
import { formatBytes } from '../../cli/format.js';
import type { CacheEntry } from '../../mlflow/cache.js';

export default class CachePrune extends BaseCommand {
  static override description = 'Remove cached models that no deployment uses, and unfinished downloads';

  async run(): Promise<{ removed: CacheEntry[] }> {
    await this.parse(CachePrune);
    const res = await this.client.call<{ removed: CacheEntry[] }>('POST', '/v1/cache/prune');
    const bytes = res.removed.reduce((a, e) => a + e.bytes, 0);
    this.say(`removed ${res.removed.length} cached model(s), ${formatBytes(bytes)}`);
    return res;
  }
}
