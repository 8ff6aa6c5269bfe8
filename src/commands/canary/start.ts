import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { validatePolicy, type AnalysisPolicy } from '../../daemon/rollout/canary-analysis.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanaryStart extends BaseCommand {
  static override description = "Automated analysis: walk the canary's weights, check its live metrics each interval, roll back by itself when a gate fails, promote at the end";
  static override examples = ['<%= config.bin %> canary start --steps 10,25,50,100 --interval 60s --max-error-rate 1% --max-p99 200ms'];
  static override flags = {
    endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }),
    steps: Flags.string({ description: 'canary weights in percent, rising', default: '10,25,50,100' }),
    interval: Flags.string({ description: 'how long each step runs before its check', default: '60s' }),
    'max-error-rate': Flags.string({ description: 'largest error rate allowed in an interval', default: '1%' }),
    'max-p99': Flags.string({ description: 'largest p99 latency allowed in an interval, e.g. 200ms' }),
    'max-ttft-p99': Flags.string({ description: 'language models: largest time-to-first-token p99 allowed in an interval, e.g. 500ms' }),
    'max-drift-psi': Flags.string({ description: "largest population stability index between the canary's captured inputs/outputs and the primary's in an interval, e.g. 0.2 (needs mlserve capture on)" }),
    'min-requests': Flags.integer({ description: 'fewer requests than this in an interval counts as not passed (as Flagger does)', default: 100, min: 0 }),
  };

  async run(): Promise<EndpointRow> {
    const { flags } = await this.parse(CanaryStart);
    let policy: AnalysisPolicy;
    try {
      policy = validatePolicy({
        steps: flags.steps, interval: flags.interval, maxErrorRate: flags['max-error-rate'], minRequests: flags['min-requests'],
        ...(flags['max-p99'] === undefined ? {} : { maxP99Ms: flags['max-p99'] }),
        ...(flags['max-ttft-p99'] === undefined ? {} : { maxTtftP99Ms: flags['max-ttft-p99'] }),
        ...(flags['max-drift-psi'] === undefined ? {} : { maxDriftPsi: flags['max-drift-psi'] }),
      });
    } catch (err) {
      return this.fail('USAGE', (err as Error).message);
    }
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/start', { endpoint: flags.endpoint, policy });
    this.say(`${e.name}: analysing canary ${e.canary}, now at ${e.canaryWeight}%; see mlserve canary status and mlserve events ${e.name}`);
    return e;
  }
}
