import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';

type Logs = { deployment: string; logs: { replica: number; file: string; text: string }[] };

export default class LogsCommand extends BaseCommand {
  static override description = "Show a deployment's replica logs";
  static override args = { deployment: Args.string({ description: 'deployment name', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines', default: false }),
    lines: Flags.integer({ char: 'n', description: 'lines per replica', default: 100 }),
  };

  async run(): Promise<Logs | void> {
    const { args, flags } = await this.parse(LogsCommand);
    const path = `/v1/deployments/${encodeURIComponent(args.deployment)}/logs?lines=${flags.lines}`;
    if (flags.follow) {
      await this.client.stream(`${path}&follow=1`, (s) => process.stdout.write(s));
      return;
    }
    const res = await this.client.call<Logs>('GET', path);
    for (const l of res.logs) {
      if (!l.text) continue;
      this.say(l.text.split('\n').map((line) => `[replica ${l.replica}] ${line}`).join('\n'));
    }
    return res;
  }
}
