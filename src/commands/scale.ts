import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import type { DeploymentRow } from '../daemon/control/store.js';
import { parseLatencyTarget } from '../daemon/fleet/latency-slo.js';

export default class Scale extends BaseCommand {
  static override description = "Set a deployment's replicas (surplus ones drain, then stop), or its autoscaling bounds";
  static override examples = ['<%= config.bin %> scale resnet50-v7 --replicas 3', '<%= config.bin %> scale resnet50-v7 --min 0 --max 4 --target 2'];
  static override args = { deployment: Args.string({ description: 'deployment (or endpoint) name', required: true }) };
  static override flags = {
    replicas: Flags.integer({ char: 'n', description: 'a fixed replica count (turns autoscaling off)', min: 1, max: 64, exclusive: ['min', 'max', 'target', 'target-p99'] }),
    min: Flags.integer({ description: 'autoscaling: min_replicas', min: 0 }),
    max: Flags.integer({ description: 'autoscaling: max_replicas', min: 1 }),
    target: Flags.string({ description: 'autoscaling: target_ongoing_requests' }),
    'target-p99': Flags.string({ description: "autoscaling: target_p99_ms as a duration, e.g. 200ms or 0.5s ('off' removes it)" }),
  };

  async run(): Promise<DeploymentRow> {
    const { args, flags } = await this.parse(Scale);
    const autoscaling: Record<string, number | null> = {};
    if (flags.min !== undefined) autoscaling.min_replicas = flags.min;
    if (flags.max !== undefined) autoscaling.max_replicas = flags.max;
    if (flags.target !== undefined) autoscaling.target_ongoing_requests = Number(flags.target);
    if (flags['target-p99'] !== undefined) {
      try {
        autoscaling.target_p99_ms = flags['target-p99'] === 'off' ? null : parseLatencyTarget(flags['target-p99']);
      } catch (err) {
        this.fail('USAGE', `--target-p99: ${(err as Error).message}`);
      }
    }
    if (flags.replicas === undefined && Object.keys(autoscaling).length === 0) this.fail('USAGE', 'pass --replicas N, or --min/--max/--target/--target-p99 for autoscaling');
    const body = flags.replicas !== undefined ? { replicas: flags.replicas } : { autoscaling };
    const row = await this.client.call<DeploymentRow>('POST', `/v1/deployments/${encodeURIComponent(args.deployment)}/scale`, body);
    const a = row.settings.autoscaling;
    this.say(a ? `${row.name}: autoscaling ${a.min_replicas}..${a.max_replicas} replicas, target ${a.target_ongoing_requests}${a.target_p99_ms !== null ? `, p99 under ${a.target_p99_ms} ms` : ''} (${row.state})` : `${row.name}: ${row.settings.replicas} replica(s) (${row.state})`);
    return row;
  }
}
