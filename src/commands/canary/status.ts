import { BaseCommand } from '../../cli/base.js';
import { table } from '../../cli/format.js';

type CanaryStatus = {
  endpoint: string;
  weight: number;
  startedAt: number | null;
  versions: { deployment: string; role: string; version: string; ready: number; requests: number; errors: number }[];
}[];

export default class CanaryStatusCommand extends BaseCommand {
  static override description = 'Show canary weights and, per version, requests and error rate';

  async run(): Promise<CanaryStatus> {
    await this.parse(CanaryStatusCommand);
    const s = await this.client.call<CanaryStatus>('GET', '/v1/canary');
    if (s.length === 0) this.say('no endpoint has a canary; start one with mlserve deploy <model> --endpoint <name> --canary 10%');
    for (const e of s) {
      this.say(`${e.endpoint}: canary at ${e.weight}%`);
      this.say(table(['ROLE', 'DEPLOYMENT', 'VERSION', 'READY', 'REQUESTS', 'ERR%'], e.versions.map((v) => [
        v.role, v.deployment, v.version, String(v.ready), String(v.requests), v.requests ? ((100 * v.errors) / v.requests).toFixed(2) : '0.00',
      ])));
    }
    return s;
  }
}
