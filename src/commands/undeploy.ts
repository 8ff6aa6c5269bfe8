import { Args } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';

export default class Undeploy extends BaseCommand {
  static override description = 'Remove an endpoint (with its deployments) or one deployment; in-flight requests finish first';
  static override args = { target: Args.string({ description: 'endpoint or deployment name', required: true }) };

  async run(): Promise<{ undeployed: string[] }> {
    const { args } = await this.parse(Undeploy);
    const res = await this.client.call<{ undeployed: string[] }>('DELETE', `/v1/deployments/${encodeURIComponent(args.target)}`);
    this.say(`undeployed ${res.undeployed.join(', ')}`);
    return res;
  }
}
