import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { parseWeight } from '../../daemon/rollout/canary.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanarySet extends BaseCommand {
  static override description = "Set the share of an endpoint's traffic its canary gets (10%, 25 or 0.25)";
  static override args = { weight: Args.string({ description: 'percent (10%, 25) or fraction (0.1)', required: true }) };
  static override flags = { endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }) };

  async run(): Promise<EndpointRow> {
    const { args, flags } = await this.parse(CanarySet);
    let weight: number;
    try {
      weight = parseWeight(args.weight);
    } catch (err) {
      return this.fail((err as Error).message, 2);
    }
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/weight', { endpoint: flags.endpoint, weight });
    this.say(`${e.name}: canary ${e.canary} at ${e.canaryWeight}%, primary ${e.primary} at ${100 - e.canaryWeight}%`);
    return e;
  }
}
