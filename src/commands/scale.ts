import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import type { DeploymentRow } from '../daemon/store.js';

export default class Scale extends BaseCommand {
  static override description = "Set a deployment's replica count: new replicas start, surplus ones drain (in-flight requests finish) and stop";
  static override args = { deployment: Args.string({ description: 'deployment (or endpoint) name', required: true }) };
  static override flags = {
    replicas: Flags.integer({ char: 'n', description: 'replica count', required: true, min: 1, max: 64 }),
  };

  async run(): Promise<DeploymentRow> {
    const { args, flags } = await this.parse(Scale);
    const row = await this.client.call<DeploymentRow>('POST', `/v1/deployments/${encodeURIComponent(args.deployment)}/scale`, { replicas: flags.replicas });
    this.say(`${row.name}: ${row.settings.replicas} replica(s) (${row.state})`);
    return row;
  }
}
