import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { execa } from 'execa';
import { BaseCommand } from '../../cli/base.js';
import { ControlClient, DaemonNotRunning, daemonHolding } from '../../cli/client.js';
import { parseSize } from '../../cli/format.js';
import type { DaemonInfo } from '../../daemon/control/control-server.js';
import { DaemonStartError, runDaemon } from '../../daemon/main.js';
import { ensureHome, homePaths } from '../../home.js';
import { logTail } from '../../daemon/fleet/supervisor.js';

const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

export default class DaemonStart extends BaseCommand {
  static override description = 'Start the mlserve daemon (detached unless --foreground)';
  static override examples = ['<%= config.bin %> daemon start', '<%= config.bin %> daemon start --port 9000 --foreground'];
  static override flags = {
    foreground: Flags.boolean({ description: 'run in this process (for systemd and containers)', default: false }),
    host: Flags.string({ description: 'ingress address (use 0.0.0.0 to accept remote clients)', default: '127.0.0.1' }),
    port: Flags.integer({ description: 'ingress port (0 picks a free one)', default: 8000, min: 0, max: 65535 }),
    'max-body-size': Flags.string({ description: 'largest request body the ingress accepts', default: '64mb' }),
    timeout: Flags.integer({ description: 'seconds to wait for the daemon to be ready', default: 30 }),
    'strict-readiness': Flags.boolean({ description: 'GET /v2/health/ready is 200 only when every endpoint is ready (as Triton); --no-strict-readiness: when the server is live (per-model readiness stays exact)', default: true, allowNo: true }),
    'metrics-port': Flags.integer({ description: 'serve Prometheus /metrics on this port instead of the ingress port', min: 0, max: 65535 }),
  };

  async run(): Promise<DaemonInfo & { alreadyRunning: boolean }> {
    const { flags } = await this.parse(DaemonStart);
    let maxBodyBytes: number;
    try {
      maxBodyBytes = parseSize(flags['max-body-size']);
    } catch (err) {
      this.fail('USAGE', (err as Error).message);
    }
    if (flags.foreground) {
      try {
        await runDaemon({ host: flags.host, port: flags.port, maxBodyBytes, metricsPort: flags['metrics-port'], strictReadiness: flags['strict-readiness'] });
      } catch (err) {
        if (err instanceof DaemonStartError) this.fail(err.code, err.message);
        throw err;
      }
      await new Promise(() => {}); // serve until a signal ends the process
    }

    const paths = homePaths();
    const existing = await this.health();
    if (existing) {
      this.say(`mlserve daemon is already running (pid ${existing.pid}), ingress ${existing.ingress.url}`);
      return { ...existing, alreadyRunning: true };
    }
    const holder = daemonHolding(paths.socket);
    if (holder.held) this.fail('CONFLICT', `mlserve daemon is already running${holder.pid ? ` (pid ${holder.pid})` : ''} on ${paths.home} but does not answer on ${paths.socket}; stop it with mlserve daemon stop`);
    ensureHome(paths);
    const log = openSync(paths.daemonLog, 'a', 0o600);
    const args = [BIN, 'daemon', 'start', '--foreground', '--host', flags.host, '--port', String(flags.port), '--max-body-size', flags['max-body-size']];
    if (flags['metrics-port'] !== undefined) args.push('--metrics-port', String(flags['metrics-port']));
    if (!flags['strict-readiness']) args.push('--no-strict-readiness');
    const child = execa(process.execPath, args, { detached: true, stdio: ['ignore', log as 3, log as 3], cleanup: false, reject: false, buffer: false });
    closeSync(log);
    let exited = false;
    void child.then(() => (exited = true));
    child.unref();
    this.progress('starting mlserve daemon...');
    const deadline = Date.now() + flags.timeout * 1000;
    while (Date.now() < deadline) {
      const info = await this.health();
      if (info) {
        this.say(`mlserve daemon started (pid ${info.pid})\n  ingress: ${info.ingress.url}\n  control: ${info.socket}\n  logs:    ${paths.daemonLog}`);
        return { ...info, alreadyRunning: false };
      }
      if (exited) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const tail = logTail(paths.daemonLog, 10);
    this.fail('DAEMON_FAILED', `the daemon did not start${exited ? '' : ` within ${flags.timeout}s`}. Last lines of ${paths.daemonLog}:\n${tail}`);
  }

  private async health(): Promise<DaemonInfo | undefined> {
    const c = new ControlClient();
    try {
      return await c.call<DaemonInfo>('GET', '/v1/health', undefined, 5000);
    } catch (err) {
      if (err instanceof DaemonNotRunning) return undefined;
      throw err;
    } finally {
      await c.close();
    }
  }
}
