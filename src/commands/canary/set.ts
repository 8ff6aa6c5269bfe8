import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { parseWeight } from '../../daemon/rollout/canary.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanarySet extends BaseCommand {
  static override description = "Set the percent of an endpoint's traffic its canary gets: 10, 10% and 0.5 (half a percent) are percents";
  static override args = { weight: Args.string({ description: 'percent of traffic, 0 to 100 (10, 10%, 0.5); the % is optional', required: true }) };
  static override flags = { endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }) };

  async run(): Promise<EndpointRow> {
    const { args, flags } = await this.parse(CanarySet);
    let weight: number;
    try {
      weight = parseWeight(args.weight);
    } catch (err) {
      return this.fail('USAGE', (err as Error).message);
    }
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/weight', { endpoint: flags.endpoint, weight });
    this.say(`${e.name}: canary ${e.canary} at ${e.canaryWeight}%, primary ${e.primary} at ${100 - e.canaryWeight}%`);
    return e;
  }
}
