import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags, type Interfaces } from '@oclif/core';
import { execa } from 'execa';
import { BaseCommand } from '../../cli/base.js';
import { ControlClient, DaemonNotRunning, daemonHolding } from '../../cli/client.js';
import { parseSize } from '../../cli/format.js';
import type { DaemonInfo } from '../../daemon/control/control-server.js';
import { DaemonStartError, runDaemon, type DaemonOptions } from '../../daemon/main.js';
import { readTls, readTokenFile } from '../../daemon/dataplane/auth.js';
import { checkExposure, DEFAULT_LIMITS, parseDurationMs } from '../../daemon/dataplane/ingress-settings.js';
import { homePaths } from '../../home.js';
import { checkHome, HomeFolderError } from '../../home-check.js';
import { logTail } from '../../daemon/fleet/supervisor.js';
import { mallocEnv, NODE_FLAGS } from '../../daemon/process-tuning.js';

const BIN = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

export default class DaemonStart extends BaseCommand {
  static override description = 'Start the mlserve daemon (detached unless --foreground)';
  static override examples = ['<%= config.bin %> daemon start', '<%= config.bin %> daemon start --port 9000 --foreground'];
  static override flags = {
    foreground: Flags.boolean({ description: 'run in this process (for systemd and containers)', default: false }),
    host: Flags.string({ description: 'ingress address (use 0.0.0.0 to accept remote clients)', default: '127.0.0.1' }),
    port: Flags.integer({ description: 'ingress port (0 picks a free one)', default: 8000, min: 0, max: 65535 }),
    'max-body-size': Flags.string({ description: 'largest binary (application/octet-stream) request body the ingress accepts', default: '64mb' }),
    'max-json-body-size': Flags.string({ description: 'largest JSON request body the ingress accepts (JSON costs about 10x its size to parse)', default: '16mb' }),
    'max-connections': Flags.integer({ description: 'open ingress connections at most; past it new ones get a 503 and are closed', default: DEFAULT_LIMITS.maxConnections, min: 1 }),
    'header-timeout': Flags.string({ description: 'a request header must arrive within this (e.g. 30s, 500ms)', default: '30s' }),
    'body-timeout': Flags.string({ description: 'longest pause between two reads of a request body', default: '30s' }),
    'send-timeout': Flags.string({ description: 'longest time a response may make no progress towards a client that does not read it', default: '30s' }),
    'keep-alive-timeout': Flags.string({ description: 'an idle keep-alive connection is closed after this', default: '65s' }),
    'allowed-hosts': Flags.string({ description: 'more Host names the ingress answers to, comma-separated (.example.com: it and its subdomains; *: any); default: localhost, IP addresses, the bound name' }),
    'auth-token-file': Flags.string({ description: 'require Authorization: Bearer <token> on the ingress; the file (mode 600) holds the token' }),
    'metrics-auth': Flags.boolean({ description: 'require the token for /metrics too', default: false }),
    'allow-client-shm': Flags.boolean({ description: 'let clients register /dev/shm regions and pass tensors through them (the OIP system shared-memory extension, as Triton\'s --allow-client-shm)', default: false }),
    insecure: Flags.boolean({ description: 'allow a non-loopback --host without --auth-token-file', default: false }),
    'tls-cert': Flags.string({ description: 'serve HTTPS with this PEM certificate (with --tls-key)', dependsOn: ['tls-key'] }),
    'tls-key': Flags.string({ description: 'the PEM private key of --tls-cert (mode 600)', dependsOn: ['tls-cert'] }),
    timeout: Flags.integer({ description: 'seconds to wait for the daemon to be ready', default: 30 }),
    'strict-readiness': Flags.boolean({ description: 'GET /v2/health/ready is 200 only when every endpoint is ready (as Triton); --no-strict-readiness: when the server is live (per-model readiness stays exact)', default: true, allowNo: true }),
    'metrics-port': Flags.integer({ description: 'serve Prometheus /metrics on this port instead of the ingress port', min: 0, max: 65535 }),
    'restore-backup': Flags.boolean({ description: 'replace a damaged state.db with state.db.bak, the copy from the last clean stop (the damaged file is kept as state.db.corrupt-<time>)', default: false }),
    'log-file': Flags.string({ description: 'write the daemon\'s log to this file (rotated by size, reopened on SIGHUP) instead of stdout/stderr; a detached daemon writes $MLSERVE_HOME/logs/daemon.log' }),
  };

  /** The flags as the daemon's options; files (token, TLS) are read and checked here, so that a start fails before detaching. */
  private options(flags: Interfaces.InferredFlags<typeof DaemonStart.flags>): { opts: DaemonOptions; warnings: string[] } {
    let opts: DaemonOptions;
    try {
      opts = {
        host: flags.host,
        port: flags.port,
        maxBodyBytes: parseSize(flags['max-body-size']),
        metricsPort: flags['metrics-port'],
        limits: {
          maxJsonBodyBytes: parseSize(flags['max-json-body-size']),
          maxConnections: flags['max-connections'],
          headerTimeoutMs: parseDurationMs(flags['header-timeout']),
          bodyTimeoutMs: parseDurationMs(flags['body-timeout']),
          sendTimeoutMs: parseDurationMs(flags['send-timeout']),
          keepAliveTimeoutMs: parseDurationMs(flags['keep-alive-timeout']),
          ...(process.env.MLSERVE_JSON_OFFLOAD_BYTES ? { jsonOffloadBytes: parseSize(process.env.MLSERVE_JSON_OFFLOAD_BYTES) } : {}),
        },
        security: { allowedHosts: (flags['allowed-hosts'] ?? '').split(',').map((h) => h.trim()).filter(Boolean), metricsAuth: flags['metrics-auth'], allowClientShm: flags['allow-client-shm'] },
      };
    } catch (err) {
      this.fail('USAGE', (err as Error).message);
    }
    const { refusal, warnings } = checkExposure({
      host: flags.host, token: flags['auth-token-file'] !== undefined, insecure: flags.insecure, tls: flags['tls-cert'] !== undefined, metricsAuth: flags['metrics-auth'],
    });
    if (refusal) this.fail('USAGE', refusal);
    try {
      if (flags['auth-token-file'] !== undefined) opts.security!.token = readTokenFile(flags['auth-token-file']);
      if (flags['tls-cert'] !== undefined && flags['tls-key'] !== undefined) opts.security!.tls = readTls(flags['tls-cert'], flags['tls-key']);
    } catch (err) {
      this.fail('BAD_REQUEST', (err as Error).message);
    }
    return { opts, warnings };
  }

  async run(): Promise<DaemonInfo & { alreadyRunning: boolean }> {
    const { flags } = await this.parse(DaemonStart);
    const { opts, warnings } = this.options(flags);
    for (const w of warnings) process.stderr.write(`Warning: ${w}\n`);
    if (flags.foreground) {
      try {
        await runDaemon({ ...opts, logFile: flags['log-file'], restoreBackup: flags['restore-backup'], strictReadiness: flags['strict-readiness'] });
      } catch (err) {
        if (err instanceof DaemonStartError) this.fail(err.code, err.message);
        throw err;
      }
      await new Promise(() => {}); // serve until a signal ends the process
    }

    const paths = homePaths();
    const existing = await this.health();
    if (existing && flags['restore-backup']) this.fail('CONFLICT', `mlserve daemon is running (pid ${existing.pid}) on ${paths.home}; stop it (mlserve daemon stop) before --restore-backup`);
    if (existing) {
      this.say(`mlserve daemon is already running (pid ${existing.pid}), ingress ${existing.ingress.url}`);
      return { ...existing, alreadyRunning: true };
    }
    const holder = daemonHolding(paths.socket);
    if (holder.held) this.fail('CONFLICT', `mlserve daemon is already running${holder.pid ? ` (pid ${holder.pid})` : ''} on ${paths.home} but does not answer on ${paths.socket}; stop it with mlserve daemon stop`);
    try {
      checkHome(paths);
    } catch (err) {
      if (err instanceof HomeFolderError) this.fail('STORAGE', err.message);
      throw err;
    }
    // The daemon writes daemon.log itself (rotated, reopened on SIGHUP); its stdout/stderr go there
    // too, for what Node itself prints on a crash.
    const logFile = flags['log-file'] ? resolve(flags['log-file']) : paths.daemonLog;
    let log: number;
    try {
      log = openSync(logFile, 'a', 0o600);
    } catch (err) {
      this.fail('STORAGE', `cannot write the daemon's log file ${logFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); pass --log-file with a writable path`);
    }
    // Every flag given is passed on (the detached daemon reads the same token and TLS files); the log file as resolved here.
    const args = [...NODE_FLAGS, BIN, 'daemon', 'start', '--foreground', ...forwarded(this.argv), '--log-file', logFile];
    const child = execa(process.execPath, args, {
      detached: true, stdio: ['ignore', log as 3, log as 3], cleanup: false, reject: false, buffer: false,
      env: mallocEnv(process.env), extendEnv: true,
    });
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
    this.fail('DAEMON_FAILED', `the daemon did not start${exited ? '' : ` within ${flags.timeout}s`}. Last lines of ${logFile}:\n${tail}`);
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

/** The command line for the detached daemon: every flag as given, but not --json or --foreground (added). */
function forwarded(given: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < given.length; i++) {
    const a = given[i]!;
    if (a === '--json' || a === '--foreground') continue;
    if (a === '--timeout' || a === '--log-file') {
      i++;
      continue;
    }
    if (a.startsWith('--timeout=') || a.startsWith('--log-file=')) continue;
    out.push(a);
  }
  return out;
}
