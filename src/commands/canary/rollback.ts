import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import type { EndpointRow } from '../../daemon/control/store.js';

export default class CanaryRollback extends BaseCommand {
  static override description = 'Send no traffic to the canary; it drains and stops, the primary keeps serving';
  static override flags = { endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }) };

  async run(): Promise<EndpointRow> {
    const { flags } = await this.parse(CanaryRollback);
    const e = await this.client.call<EndpointRow>('POST', '/v1/canary/rollback', { endpoint: flags.endpoint });
    this.say(`${e.name}: canary rolled back; ${e.primary} serves all traffic`);
    return e;
  }
}
