import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { registryWriteBody, registryWriteFlags, reportWrite } from '../../cli/registry-write.js';
import type { EndpointWithWrite } from '../../daemon/rollout/canary-commands.js';

export default class CanaryRollback extends BaseCommand {
  static override description = 'Send no traffic to the canary; it drains and stops, the primary keeps serving. With --registry-alias/--registry-stage, then set that alias or stage on the primary\'s version in MLflow (a refusal is reported, exit 1, the rollback stands)';
  static override flags = {
    endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }),
    ...registryWriteFlags,
  };

  async run(): Promise<EndpointWithWrite> {
    const { flags } = await this.parse(CanaryRollback);
    const e = await this.client.call<EndpointWithWrite>('POST', '/v1/canary/rollback', { endpoint: flags.endpoint, ...registryWriteBody(flags) });
    this.say(`${e.name}: canary rolled back; ${e.primary} serves all traffic`);
    return reportWrite(this, e);
  }
}
