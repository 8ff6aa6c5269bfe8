import { Flags } from '@oclif/core';
import { render } from 'ink';
import { BaseCommand } from '../cli/base.js';
import { Top } from '../cli/tui/Top.js';
import { frame, rows } from '../cli/tui/view.js';
import type { Snapshot } from '../daemon/snapshot.js';

export default class TopCommand extends BaseCommand {
  static override description = 'Live view of endpoints, replicas, GPUs and events (q quit, arrows select, e events)';
  static override flags = {
    once: Flags.boolean({ description: 'print one frame and exit (the default when stdout is not a terminal)', default: false }),
    interval: Flags.integer({ description: 'refresh period in ms', default: 1000, min: 200 }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(TopCommand);
    if (flags.once || !process.stdout.isTTY || this.jsonEnabled()) {
      // Two snapshots one interval apart give rates and percentiles.
      const a = await this.client.call<Snapshot>('GET', '/v1/snapshot');
      await new Promise((r) => setTimeout(r, flags.interval));
      const b = await this.client.call<Snapshot>('GET', '/v1/snapshot');
      if (this.jsonEnabled()) return { snapshot: b, rows: rows(a, b, new Map()) };
      this.log(frame(a, b, new Map(), { width: process.stdout.columns ?? 80, height: 24, selected: 0, showEvents: false }).join('\n'));
      return undefined;
    }
    let prev: Snapshot | null = null;
    let cur: Snapshot | null = null;
    const history = new Map<string, number[]>();
    const app = render(<Top prev={prev} cur={cur} history={history} />);
    let buf = '';
    const stream = this.client.stream(`/v1/stream?interval=${flags.interval}`, (chunk) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        prev = cur;
        cur = JSON.parse(line) as Snapshot;
        for (const r of rows(prev, cur, history)) history.set(r.name, [...(history.get(r.name) ?? []), r.rps].slice(-30));
        app.rerender(<Top prev={prev} cur={cur} history={history} />);
      }
    }).catch((err: Error) => app.rerender(<Top prev={null} cur={null} history={history} error={`Error: ${err.message}`} />));
    await app.waitUntilExit();
    void stream;
    process.exit(0);
  }
}
