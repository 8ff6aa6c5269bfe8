import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { execa } from 'execa';
import { BaseCommand } from '../../cli/base.js';
import { ControlClient, DaemonNotRunning, daemonHolding } from '../../cli/client.js';
import { parseSize } from '../../cli/format.js';
import type { DaemonInfo } from '../../daemon/control/control-server.js';
import { DaemonStartError, runDaemon } from '../../daemon/main.js';
import { homePaths } from '../../home.js';
import { checkHome, HomeFolderError } from '../../home-check.js';
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
    'metrics-port': Flags.integer({ description: 'serve Prometheus /metrics on this port instead of the ingress port', min: 0, max: 65535 }),
    'restore-backup': Flags.boolean({ description: 'replace a damaged state.db with state.db.bak, the copy from the last clean stop (the damaged file is kept as state.db.corrupt-<time>)', default: false }),
    'log-file': Flags.string({ description: 'write the daemon\'s log to this file (rotated by size, reopened on SIGHUP) instead of stdout/stderr; a detached daemon writes $MLSERVE_HOME/logs/daemon.log' }),
  };

  async run(): Promise<DaemonInfo & { alreadyRunning: boolean }> {
    const { flags } = await this.parse(DaemonStart);
    let maxBodyBytes: number;
    try {
      maxBodyBytes = parseSize(flags['max-body-size']);
    } catch (err) {
      this.fail((err as Error).message, 2);
    }
    if (flags.foreground) {
      try {
        await runDaemon({
          host: flags.host, port: flags.port, maxBodyBytes, metricsPort: flags['metrics-port'], logFile: flags['log-file'], restoreBackup: flags['restore-backup'],
        });
      } catch (err) {
        if (err instanceof DaemonStartError) this.fail(err.message);
        throw err;
      }
      await new Promise(() => {}); // serve until a signal ends the process
    }

    const paths = homePaths();
    const existing = await this.health();
    if (existing && flags['restore-backup']) this.fail(`mlserve daemon is running (pid ${existing.pid}) on ${paths.home}; stop it (mlserve daemon stop) before --restore-backup`);
    if (existing) {
      this.say(`mlserve daemon is already running (pid ${existing.pid}), ingress ${existing.ingress.url}`);
      return { ...existing, alreadyRunning: true };
    }
    const holder = daemonHolding(paths.socket);
    if (holder.held) this.fail(`mlserve daemon is already running${holder.pid ? ` (pid ${holder.pid})` : ''} on ${paths.home} but does not answer on ${paths.socket}; stop it with mlserve daemon stop`);
    try {
      checkHome(paths);
    } catch (err) {
      if (err instanceof HomeFolderError) this.fail(err.message);
      throw err;
    }
    // The daemon writes daemon.log itself (rotated, reopened on SIGHUP); its stdout/stderr go there
    // too, for what Node itself prints on a crash.
    const logFile = flags['log-file'] ? resolve(flags['log-file']) : paths.daemonLog;
    let log: number;
    try {
      log = openSync(logFile, 'a', 0o600);
    } catch (err) {
      this.fail(`cannot write the daemon's log file ${logFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass --log-file with a writable path`);
    }
    const args = [BIN, 'daemon', 'start', '--foreground', '--host', flags.host, '--port', String(flags.port), '--max-body-size', flags['max-body-size'], '--log-file', logFile];
    if (flags['metrics-port'] !== undefined) args.push('--metrics-port', String(flags['metrics-port']));
    if (flags['restore-backup']) args.push('--restore-backup');
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
        this.say(`mlserve daemon started (pid ${info.pid})\n  ingress: ${info.ingress.url}\n  control: ${info.socket}\n  logs:    ${logFile}`);
        return { ...info, alreadyRunning: false };
      }
      if (exited) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const tail = logTail(logFile, 10);
    this.fail(`the daemon did not start${exited ? '' : ` within ${flags.timeout}s`}. Last lines of ${logFile}:\n${tail}`);
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
