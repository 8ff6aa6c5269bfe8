import { Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';
import { registryWriteBody, registryWriteFlags, reportWrite } from '../../cli/registry-write.js';
import type { EndpointWithWrite } from '../../daemon/rollout/canary-commands.js';

export default class CanaryPromote extends BaseCommand {
  static override description = 'Make the canary the primary; the old primary drains (in-flight requests finish) and stops. With --registry-alias/--registry-stage, then set that alias or stage on the promoted version in MLflow (a refusal is reported, exit 1, the promotion stands)';
  static override flags = {
    endpoint: Flags.string({ char: 'e', description: 'endpoint (may be left out when exactly one has a canary)' }),
    ...registryWriteFlags,
  };

  async run(): Promise<EndpointWithWrite> {
    const { flags } = await this.parse(CanaryPromote);
    const e = await this.client.call<EndpointWithWrite>('POST', '/v1/canary/promote', { endpoint: flags.endpoint, ...registryWriteBody(flags) });
    this.say(`${e.name}: ${e.primary} is now primary`);
    return reportWrite(this, e);
  }
}
