import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanaryPromote extends BaseCommand {
  static override description = 'Make the canary the primary; the old primary drains (in-flight requests finish) and stops';
  static override flags = { endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }) };

  async run(): Promise<EndpointRow> {
    const { flags } = await this.parse(CanaryPromote);
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/promote', { endpoint: flags.endpoint });
    this.say(`${e.name}: ${e.primary} is now primary`);
    return e;
  }
}
