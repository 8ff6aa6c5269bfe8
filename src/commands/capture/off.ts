import { Args } from '@oclif/core';
import { BaseCommand } from '../../cli/base.js';

export default class CaptureOff extends BaseCommand {
  static override description = 'Stop payload capture on an endpoint (what was sampled is written first; the files stay)';
  static override args = { endpoint: Args.string({ description: 'endpoint name', required: true }) };

  async run(): Promise<{ endpoint: string; stopped: boolean }> {
    const { args } = await this.parse(CaptureOff);
    const r = await this.client.call<{ endpoint: string; stopped: boolean }>('DELETE', `/v1/capture/${encodeURIComponent(args.endpoint)}`);
    this.say(`${r.endpoint}: payload capture stopped`);
    return r;
  }
}
