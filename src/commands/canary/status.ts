import { BaseCommand } from '../../cli/base.js';
import { table } from '../../cli/format.js';

type CanaryStatus = {
  endpoint: string;
  weight: number;
  startedAt: number | null;
  versions: { deployment: string; role: string; version: string; ready: number; requests: number; errors: number; rps: number; p50Ms: number | null; p99Ms: number | null }[];
  shadow: { weight: number; mirrored: number; errors: number; differing: number; maxAbsDiff: Record<string, number> };
  rollout: { status?: string; weight?: number; reason?: string } | null;
}[];

export default class CanaryStatusCommand extends BaseCommand {
  static override description = 'Show canary weights and, per version, requests and error rate';

  async run(): Promise<CanaryStatus> {
    await this.parse(CanaryStatusCommand);
    const s = await this.client.call<CanaryStatus>('GET', '/v1/canary');
    if (s.length === 0) this.say('no endpoint has a canary; start one with mlserve deploy <model> --endpoint <name> --canary 10%');
    for (const e of s) {
      this.say(`${e.endpoint}: canary at ${e.weight}%`);
      const ms = (x: number | null) => (x === null ? '-' : x.toFixed(2));
      this.say(table(['ROLE', 'DEPLOYMENT', 'VER', 'READY', 'REQ/S', 'ERR%', 'P50ms', 'P99ms'], e.versions.map((v) => [
        v.role, v.deployment, v.version, String(v.ready), v.rps.toFixed(1), v.requests ? ((100 * v.errors) / v.requests).toFixed(2) : '0.00', ms(v.p50Ms), ms(v.p99Ms),
      ])));
      if (e.shadow.weight > 0 || e.shadow.mirrored > 0) {
        const diffs = Object.entries(e.shadow.maxAbsDiff).map(([k, v]) => `${k} ${v.toPrecision(3)}`).join(', ') || '-';
        this.say(`  shadow ${e.shadow.weight}%: ${e.shadow.mirrored} mirrored, ${e.shadow.differing} differ, ${e.shadow.errors} errors; max abs diff: ${diffs}`);
      }
      if (e.rollout) this.say(`  rollout: ${e.rollout.status}${e.rollout.reason ? ` (${e.rollout.reason})` : ''}`);
    }
    return s;
  }
}
