import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { parseWeight } from '../../daemon/rollout/canary.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanaryShadow extends BaseCommand {
  static override description = "Mirror a share of requests to the canary without returning its answers; canary status shows how often its outputs differ";
  static override args = { weight: Args.string({ description: 'percent of requests to mirror, 0 to 100 (5, 5%, 0.5; 0 stops)', required: true }) };
  static override flags = { endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }) };

  async run(): Promise<EndpointRow> {
    const { args, flags } = await this.parse(CanaryShadow);
    let weight: number;
    try {
      weight = parseWeight(args.weight);
    } catch (err) {
      return this.fail('USAGE', (err as Error).message);
    }
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/shadow', { endpoint: flags.endpoint, weight });
    this.say(`${e.name}: mirroring ${e.shadowWeight}% of requests to canary ${e.canary}`);
    return e;
  }
}
