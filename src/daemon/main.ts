// The daemon's composition root: check the home's folders, take the home's lock, open the store
// (checked), build the parts, listen, reconcile, and one graceful exit (drain, stop replicas, back
// up the state, remove the socket and pid file). A start that fails undoes what it did: servers
// closed, socket and pid file removed, store closed, lock released.
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { homePaths, type HomePaths } from '../home.js';
import { checkHome, HomeFolderError } from '../home-check.js';
import { HomeLock, recordedPid } from '../home-lock.js';
import { VERSION } from '../version.js';
import { createControlServer, type ControlDeps, type DaemonInfo } from './control/control-server.js';
import { gpuReport, readiness, status } from './control/status.js';
import { createIngress, createMetricsServer, type IngressServer } from './dataplane/ingress.js';
import { DEFAULT_LIMITS, type IngressLimits, type IngressSecurity } from './dataplane/ingress-settings.js';
import type { RegistryEvent } from './dataplane/webhook.js';
import { watchGpuMemory } from './fleet/gpu-watchdog.js';
import { createModelSourceResolver } from './control/model-source.js';
import type { Store } from './control/store.js';
import { backupOf, backupStore, openStore, restoreBackup, StateFileError } from './control/state-file.js';
import { installDaemonLog, type DaemonLog } from './logging/daemon-log.js';
import { rotationFromEnv } from './logging/log-file.js';
import { rateLimitsFromEnv } from './logging/rate-limit.js';
import { detectInventory } from './fleet/gpu-inventory.js';
import { assemble } from './assemble.js';
import { usableCores } from './fleet/threads.js';
import { takeSnapshot } from './snapshot.js';
import { removePartials } from '../mlflow/cache.js';

export interface DaemonOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** Serve /metrics on its own port instead of the ingress port. */
  metricsPort?: number;
  /** Write the daemon's log to this file (rotated by size, reopened on SIGHUP) instead of stdout/stderr. */
  logFile?: string;
  /** Replace state.db with state.db.bak (the copy from the last clean stop) before starting. */
  restoreBackup?: boolean;
  /** The ingress's other limits and timeouts (defaults: DEFAULT_LIMITS). */
  limits?: Partial<IngressLimits>;
  /** Token, Host check, TLS (defaults: none, loopback names, plain HTTP); `host` is the bind address above. */
  security?: Partial<Omit<IngressSecurity, 'host'>>;
  /** /v2/health/ready needs every endpoint ready (Triton's --strict-readiness, default true). */
  strictReadiness?: boolean;
}

export class DaemonStartError extends Error {
  constructor(message: string, readonly code: 'CONFLICT' | 'DAEMON_FAILED' = 'DAEMON_FAILED') {
    super(message);
  }
}

/** The cores this daemon may use: its CPU affinity, capped by a cgroup v2 quota. */
function daemonCores(): number {
  let cpuMax: string | undefined;
  try {
    cpuMax = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
  } catch {
    /* no cgroup v2 quota */
  }
  return usableCores(availableParallelism(), cpuMax);
}

/** Is a daemon answering on this socket? */
export function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Take the home's lock (one daemon per MLSERVE_HOME), then remove what a crashed daemon left
 * behind (a socket, a pid file). A live daemon holds the lock: refuse, naming its pid.
 */
async function claimHome(p: HomePaths): Promise<HomeLock> {
  const lock = HomeLock.tryAcquire(p, 2000);
  if (!lock) {
    const pid = recordedPid(p);
    throw new DaemonStartError(`mlserve daemon is already running${pid ? ` (pid ${pid})` : ''} on ${p.home}; stop it with mlserve daemon stop, or use another MLSERVE_HOME`, 'CONFLICT');
  }
  if (existsSync(p.socket) && (await socketAlive(p.socket))) {
    lock.release();
    throw new DaemonStartError(`another process answers on ${p.socket} (an older mlserve daemon?); stop it first`, 'CONFLICT');
  }
  for (const f of [p.socket, p.pidFile]) if (existsSync(f)) unlinkSync(f);
  return lock;
}

function listen(server: IngressServer | net.Server, ...args: [string] | [number, string] | [number, string, number]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string, number]), () => {
      server.off('error', reject);
      resolve();
    });
  });
}


/** What a start did so far, undone in reverse order when a later step fails. */
class Undo {
  private readonly steps: Array<() => unknown> = [];
  push(step: () => unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        /* undo the rest regardless */
      }
    }
  }
}

const closeServer = (s: IngressServer) => new Promise<void>((r) => {
  s.close(() => r());
  s.closeAllConnections();
});

/** Remove the socket and the pid file when they are this process's (the pid file holds its pid). */
function removeOwnFiles(p: HomePaths): void {
  try {
    if (existsSync(p.pidFile) && readFileSync(p.pidFile, 'utf8').trim() !== String(process.pid)) return;
  } catch {
    /* unreadable: ours or nobody's */
  }
  for (const f of [p.socket, p.pidFile]) {
    try {
      unlinkSync(f);
    } catch {
      /* not there */
    }
  }
}

export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const paths = homePaths();
  process.umask(0o077);
  let log: DaemonLog;
  let warnings: HomeFolderError[];
  try {
    warnings = checkHome(paths);
    log = installDaemonLog({ file: opts.logFile, rotation: rotationFromEnv(), limits: rateLimitsFromEnv(process.env) });
  } catch (err) {
    if (err instanceof HomeFolderError) throw new DaemonStartError(err.message);
    throw new DaemonStartError(`cannot start the daemon: ${(err as Error).message}`);
  }
  const lock = await claimHome(paths);
  const undo = new Undo();
  undo.push(() => lock.release());
  try {
    await serve(paths, opts, log, lock, undo, warnings);
  } catch (err) {
    await undo.run();
    if (err instanceof DaemonStartError) throw err;
    if (err instanceof StateFileError) throw new DaemonStartError(err.message);
    console.error(`mlserve daemon: start failed: ${(err as Error).stack ?? err}`);
    throw new DaemonStartError(`the daemon failed to start: ${(err as Error).message}`);
  }
}

/** Everything after the lock: each step that leaves something behind registers its undo. */
async function serve(paths: HomePaths, opts: DaemonOptions, log: DaemonLog, lock: HomeLock, undo: Undo, warnings: HomeFolderError[]): Promise<void> {
  let restored: ReturnType<typeof restoreBackup> | undefined;
  if (opts.restoreBackup) restored = restoreBackup(paths.db);
  const store: Store = openStore(paths.db);
  undo.push(() => store.close());
  if (restored) {
    store.addEvent('state-restored', 'daemon', `state restored from ${restored.from} (written ${restored.backupAt.toISOString()})${restored.keptAs ? `; the previous file is kept as ${restored.keptAs}` : ''}`);
    console.log(`mlserve daemon: restored ${paths.db} from ${restored.from}${restored.keptAs ? `; the previous file is kept as ${restored.keptAs}` : ''}`);
  }
  for (const w of warnings) {
    console.error(`mlserve daemon: warning: ${w.message}`);
    store.addEvent('storage-warning', 'daemon', w.message, { folder: w.folder, code: w.code });
  }
  // The first start (or one after a crash with no backup yet) keeps a copy of the checked state.
  if (!existsSync(backupOf(paths.db))) await backupStore(store, paths.db);
  const partials = removePartials(paths.cache);
  if (partials.length) store.addEvent('cache-cleaned', 'daemon', `removed ${partials.length} unfinished download(s) from the cache`);
  let inventory;
  try {
    inventory = await detectInventory();
  } catch (err) {
    throw new DaemonStartError(`cannot read the GPU inventory: ${(err as Error).message}`);
  }
  const startedAt = Date.now();
  const starts = store.countDaemonStart();
  const workDir = join(paths.home, 'run');
  const parts = assemble(store, inventory, { home: paths.home, logDir: paths.logs, workDir, secretsDir: join(paths.home, 'credentials'), envsDir: join(paths.home, 'envs'), captureDir: join(paths.home, 'capture'), cores: daemonCores() }, createModelSourceResolver(paths));
  const { metrics, routes, shadow, fleet, reconciler, commands, canary, canaryStats, analysis, tracking, capture, captureCommands, driftScheduler, drift } = parts;
  const webhookSecret = process.env.MLSERVE_WEBHOOK_SECRET;
  const webhook = webhookSecret ? {
    secret: webhookSecret,
    onEvent: (e: RegistryEvent) => {
      const n = tracking.poke(e.name);
      store.addEvent('registry-webhook', 'daemon', `MLflow webhook ${e.entity}.${e.action}${e.name ? ` for ${e.name}` : ''}${e.alias ? `@${e.alias}` : ''}${e.version ? ` version ${e.version}` : ''}: ${n} tracked deployment(s) look now`, { ...e, trackers: n });
      return n;
    },
  } : undefined;
  const strictReadiness = opts.strictReadiness ?? true;
  const security = { ...opts.security, host: opts.host };
  const ingress = createIngress({ routes, shadow, webhook, capture }, { maxBodyBytes: opts.maxBodyBytes, limits: opts.limits, security, metrics, serveMetrics: opts.metricsPort === undefined, strictReadiness });
  const metricsServer = opts.metricsPort === undefined ? undefined : createMetricsServer(metrics, { limits: opts.limits, security });
  if (metricsServer) {
    try {
      await listen(metricsServer, opts.metricsPort!, opts.host);
    } catch (err) {
      throw new DaemonStartError(`cannot serve metrics on ${opts.host}:${opts.metricsPort}: ${(err as Error).message}; pass another --metrics-port`);
    }
    undo.push(() => closeServer(metricsServer));
  }
  try {
    // A listen backlog for the connections --max-connections allows (the kernel caps it at somaxconn):
    // with node's 511, a burst of new connections overflows it and clients wait for SYN retries (1 s, 3 s, ...).
    await listen(ingress, opts.port, opts.host, opts.limits?.maxConnections ?? DEFAULT_LIMITS.maxConnections);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DaemonStartError(
      code === 'EADDRINUSE'
        ? `port ${opts.port} on ${opts.host} is already in use; pass --port to choose another`
        : `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`,
    );
  }
  undo.push(() => closeServer(ingress));
  const address = ingress.address() as net.AddressInfo;
  const info = (): DaemonInfo => ({
    pid: process.pid,
    version: VERSION,
    home: paths.home,
    socket: paths.socket,
    ingress: { host: opts.host, port: address.port, url: `${security.tls ? 'https' : 'http'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${address.port}` },
    startedAt,
    starts,
    strictReadiness,
  });

  // A crash (an uncaught exception) still removes the socket and pid file; a clean stop disarms this.
  const onExit = () => removeOwnFiles(paths);
  process.on('exit', onExit);
  undo.push(() => {
    process.off('exit', onExit);
    removeOwnFiles(paths);
  });

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      console.log('mlserve daemon: stopping (draining requests, stopping replicas)');
      store.addEvent('daemon-stop', 'daemon', 'daemon stopping');
      ingress.close();
      metricsServer?.close();
      reconciler.stop();
      analysis.stop();
      driftScheduler.stop();
      tracking.stop();
      stopWatchdog?.();
      await fleet.shutdown('the daemon is shutting down');
      ingress.closeAllConnections();
      await capture.close().catch(() => undefined);
      control.close();
      clearInterval(socketWatch);
      try {
        await backupStore(store, paths.db);
      } catch (err) {
        console.error(`mlserve daemon: could not back up ${paths.db} to ${backupOf(paths.db)}: ${(err as Error).message}`);
      }
      removeOwnFiles(paths);
      process.off('exit', onExit);
      store.close();
      lock.release();
      console.log('mlserve daemon: stopped');
      log.close();
    })();
    return stopping;
  };

  const controlDeps: ControlDeps = {
    commands, canary, store, info, apply: parts.apply, capture: captureCommands, drift,
    canaryStatus: () => canaryStats.status(),
    status: () => ({ ...status(store, fleet, parts.gpus, reconciler.threads), readiness: readiness(routes, strictReadiness, store) }),
    gpus: () => gpuReport(parts.gpus),
    snapshot: (daemon) => takeSnapshot(parts.snapshotSource, daemon), logDir: paths.logs, cacheDir: paths.cache, shutdown: () => void shutdown().then(() => process.exit(0)),
  };
  let control = createControlServer(controlDeps);
  try {
    await listen(control, paths.socket);
  } catch (err) {
    throw new DaemonStartError(`cannot listen on the control socket ${paths.socket}: ${(err as Error).message}`);
  }
  undo.push(() => closeServer(control));
  chmodSync(paths.socket, 0o600);
  writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  // The socket is how the CLI reaches the daemon: when someone removes it, make it again.
  let recreating = false;
  const socketWatch = setInterval(() => {
    if (stopping || recreating || existsSync(paths.socket)) return;
    recreating = true;
    control.close();
    control = createControlServer(controlDeps);
    listen(control, paths.socket).then(
      () => {
        chmodSync(paths.socket, 0o600);
        store.addEvent('socket-recreated', 'daemon', `control socket ${paths.socket} was removed; listening on it again`);
      },
      (err: Error) => console.error(`mlserve daemon: cannot listen on ${paths.socket} again: ${err.message}`),
    ).finally(() => (recreating = false));
  }, 1000);
  socketWatch.unref();
  undo.push(() => clearInterval(socketWatch));

  store.addEvent('daemon-start', 'daemon', `daemon ${VERSION} started (pid ${process.pid}), ingress ${info().ingress.url}`);
  // From here on the daemon runs: failures are events and log lines, and every exit goes through shutdown.
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => void shutdown().then(() => process.exit(0)));
  }
  process.on('SIGHUP', () => {
    if (log.reopen()) console.log(`mlserve daemon: SIGHUP: reopened ${log.file}`);
    else if (process.stdout.isTTY) void shutdown().then(() => process.exit(0)); // its terminal went away
    else console.log('mlserve daemon: SIGHUP: the log goes to stdout/stderr, nothing to reopen');
  });
  console.log(`mlserve daemon ${VERSION}: pid ${process.pid}, control ${paths.socket}, ingress ${info().ingress.url}${log.file ? `, log ${log.file}` : ''}`);
  reconciler.start();
  analysis.start();
  driftScheduler.start();
  tracking.start();
  const stopWatchdog: (() => void) | undefined = watchGpuMemory(fleet, parts.gpus, (k, subj, msg, data) => store.addEvent(k, subj, msg, data));
}
