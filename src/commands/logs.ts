import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import type { LogLine } from '../daemon/fleet/logs.js';

type Logs = { target: string; deployments: string[]; lines: LogLine[] };

/** One log line for people: its time, deployment/replica, text. */
export const formatLogLine = (l: LogLine): string => `${l.ts} ${l.deployment}/${l.replica} ${l.line}`;

export default class LogsCommand extends BaseCommand {
  static override description = "Show replica logs of a deployment, or of every deployment of an endpoint: each line with its time and replica";
  static override examples = [
    '<%= config.bin %> logs demo             # the endpoint: its primary, canary and a replacement coming up',
    '<%= config.bin %> logs demo-v1 -f       # follow; replicas that start meanwhile are followed too',
    '<%= config.bin %> logs demo --json      # JSON lines: {"ts", "deployment", "replica", "line"}',
  ];
  static override args = { target: Args.string({ description: 'endpoint or deployment name', required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'keep printing new lines (also of replicas started while following)', default: false }),
    lines: Flags.integer({ char: 'n', description: 'lines per replica from the end of its log', default: 100, min: 0 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LogsCommand);
    const path = `/v1/deployments/${encodeURIComponent(args.target)}/logs?lines=${flags.lines}`;
    // JSON lines with --json (one object per log line, also while following), text lines otherwise.
    const print = (l: LogLine) => process.stdout.write(`${this.jsonEnabled() ? JSON.stringify(l) : formatLogLine(l)}\n`);
    if (flags.follow) {
      let buf = '';
      await this.client.stream(`${path}&follow=1`, (chunk) => {
        buf += chunk;
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) print(JSON.parse(line) as LogLine);
      });
      return;
    }
    const res = await this.client.call<Logs>('GET', path);
    for (const l of res.lines) print(l);
  }
}
