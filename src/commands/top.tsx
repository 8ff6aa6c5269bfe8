import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/base.js';
import { frame, rows, trendSamples } from '../cli/tui/view.js';
import { DaemonNotRunning } from '../cli/client.js';
import type { Snapshot } from '../daemon/snapshot.js';

const clockNow = () => new Date().toISOString().slice(11, 19);

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
      // A terminal gets a frame that fits it; a pipe every deployment.
      const height = process.stdout.isTTY ? (process.stdout.rows ?? 24) : 10_000;
      this.log(frame(a, b, new Map(), { width: process.stdout.columns ?? 80, height, selected: 0, showEvents: false }).join('\n'));
      return undefined;
    }
    // Ink draws only the last frame when CI or CONTINUOUS_INTEGRATION is set (it reads them once, when
    // it is first imported). top runs live only on a terminal, so it clears them before loading Ink:
    // a shell or dev container that exports CI=true still gets a live view.
    process.env.CI = 'false';
    process.env.CONTINUOUS_INTEGRATION = 'false';
    const { render } = await import('ink');
    const { Top } = await import('../cli/tui/Top.js');
    let prev: Snapshot | null = null;
    let cur: Snapshot | null = null;
    let notice: string | undefined;
    let noticeUntil = 0;
    const history = new Map<string, number[]>();
    const draw = () => app.rerender(<Top prev={prev} cur={cur} history={history} notice={notice} />);
    const app = render(<Top prev={prev} cur={cur} history={history} />);
    let done = false;
    void app.waitUntilExit().then(() => (done = true));
    // Follow the snapshot stream; when the daemon stops or restarts, say so, keep the last frame and
    // reconnect every second (a restarted daemon is a new pid: the header shows it).
    const follow = async () => {
      let lastPid: number | null = null;
      while (!done) {
        let buf = '';
        try {
          await this.client.stream(`/v1/stream?interval=${flags.interval}`, (chunk) => {
            buf += chunk;
            const lines = buf.split('\n');
            buf = lines.pop() ?? '';
            for (const line of lines.filter(Boolean)) {
              const next = JSON.parse(line) as Snapshot;
              if (lastPid !== null && next.daemon.pid !== lastPid) {
                notice = `${clockNow()} the daemon restarted: pid ${lastPid} -> ${next.daemon.pid}`;
                noticeUntil = Date.now() + 5000;
              } else if (noticeUntil === Number.POSITIVE_INFINITY) {
                notice = `${clockNow()} reconnected to the daemon (pid ${next.daemon.pid})`;
                noticeUntil = Date.now() + 3000;
              } else if (notice && Date.now() >= noticeUntil) notice = undefined;
              lastPid = next.daemon.pid;
              prev = cur && (cur as Snapshot).daemon.pid === next.daemon.pid ? cur : null;
              cur = next;
              const keep = Math.max(30, trendSamples(process.stdout.columns ?? 80));
              for (const r of rows(prev, cur, history)) history.set(r.name, [...(history.get(r.name) ?? []), r.rps].slice(-keep));
              draw();
            }
          });
          notice = `${clockNow()} the daemon closed the connection (stopped or restarting); reconnecting…`;
        } catch (err) {
          notice = `${clockNow()} ${err instanceof DaemonNotRunning ? 'the daemon is not running' : `lost the daemon: ${(err as Error).message}`}; reconnecting every second (q quits)…`;
        }
        noticeUntil = Number.POSITIVE_INFINITY;
        if (!done) draw();
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void follow();
    await app.waitUntilExit();
    process.exit(0);
  }
}
