// The daemon's composition root: open the store, build the parts, listen, reconcile, and one
// graceful exit (drain, stop replicas, remove the socket and pid file).
import { chmodSync, existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { ensureHome, homePaths, type HomePaths } from '../home.js';
import { HomeLock, recordedPid } from '../home-lock.js';
import { VERSION } from '../version.js';
import { createControlServer, type ControlDeps, type DaemonInfo } from './control/control-server.js';
import { gpuReport, status } from './control/status.js';
import { createIngress, serveMetrics } from './dataplane/ingress.js';
import type { RegistryEvent } from './dataplane/webhook.js';
import { watchGpuMemory } from './fleet/gpu-watchdog.js';
import { createModelSourceResolver } from './control/model-source.js';
import { Store } from './control/store.js';
import { detectInventory } from './fleet/gpu-inventory.js';
import { assemble } from './assemble.js';
import { takeSnapshot } from './snapshot.js';
import { removePartials } from '../mlflow/cache.js';

export interface DaemonOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** Serve /metrics on its own port instead of the ingress port. */
  metricsPort?: number;
}

export class DaemonStartError extends Error {}

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
    throw new DaemonStartError(`mlserve daemon is already running${pid ? ` (pid ${pid})` : ''} on ${p.home}; stop it with mlserve daemon stop, or use another MLSERVE_HOME`);
  }
  if (existsSync(p.socket) && (await socketAlive(p.socket))) {
    lock.release();
    throw new DaemonStartError(`another process answers on ${p.socket} (an older mlserve daemon?); stop it first`);
  }
  for (const f of [p.socket, p.pidFile]) if (existsSync(f)) unlinkSync(f);
  return lock;
}

function listen(server: http.Server, ...args: [string] | [number, string]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [number, string]), () => {
      server.off('error', reject);
      resolve();
    });
  });
}


export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const paths = homePaths();
  process.umask(0o077);
  ensureHome(paths);
  const lock = await claimHome(paths);
  /** A start that fails gives the home back. */
  const fail = (err: DaemonStartError): DaemonStartError => {
    lock.release();
    return err;
  };

  const store = new Store(paths.db);
  const partials = removePartials(paths.cache);
  if (partials.length) store.addEvent('cache-cleaned', 'daemon', `removed ${partials.length} unfinished download(s) from the cache`);
  let inventory;
  try {
    inventory = await detectInventory();
  } catch (err) {
    store.close();
    throw fail(new DaemonStartError(`cannot read the GPU inventory: ${(err as Error).message}`));
  }
  const startedAt = Date.now();
  const starts = store.countDaemonStart();
  const workDir = join(paths.home, 'run');
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const parts = assemble(store, inventory, { logDir: paths.logs, workDir, secretsDir: join(paths.home, 'credentials'), envsDir: join(paths.home, 'envs') }, createModelSourceResolver(paths));
  const { metrics, routes, shadow, fleet, reconciler, commands, canary, canaryStats, analysis, tracking } = parts;
  const webhookSecret = process.env.MLSERVE_WEBHOOK_SECRET;
  const webhook = webhookSecret ? {
    secret: webhookSecret,
    onEvent: (e: RegistryEvent) => {
      const n = tracking.poke(e.name);
      store.addEvent('registry-webhook', 'daemon', `MLflow webhook ${e.entity}.${e.action}${e.name ? ` for ${e.name}` : ''}${e.alias ? `@${e.alias}` : ''}${e.version ? ` version ${e.version}` : ''}: ${n} tracked deployment(s) look now`, { ...e, trackers: n });
      return n;
    },
  } : undefined;
  const ingress = createIngress({ routes, shadow, webhook }, { maxBodyBytes: opts.maxBodyBytes, metrics, serveMetrics: opts.metricsPort === undefined });
  const metricsServer = opts.metricsPort === undefined ? undefined : http.createServer((req, res) => {
    if (req.url === '/metrics') void serveMetrics(metrics, res);
    else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'only /metrics is served here' }));
    }
  });
  if (metricsServer) {
    try {
      await listen(metricsServer, opts.metricsPort!, opts.host);
    } catch (err) {
      store.close();
      throw fail(new DaemonStartError(`cannot serve metrics on ${opts.host}:${opts.metricsPort}: ${(err as Error).message}; pass another --metrics-port`));
    }
  }
  try {
    await listen(ingress, opts.port, opts.host);
  } catch (err) {
    store.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(new DaemonStartError(
      code === 'EADDRINUSE'
        ? `port ${opts.port} on ${opts.host} is already in use; pass --port to choose another`
        : `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`,
    ));
  }
  const address = ingress.address() as net.AddressInfo;
  const info = (): DaemonInfo => ({
    pid: process.pid,
    version: VERSION,
    home: paths.home,
    socket: paths.socket,
    ingress: { host: opts.host, port: address.port, url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${address.port}` },
    startedAt,
    starts,
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
      tracking.stop();
      stopWatchdog();
      await fleet.shutdown('the daemon is shutting down');
      ingress.closeAllConnections();
      control.close();
      clearInterval(socketWatch);
      for (const f of [paths.socket, paths.pidFile]) if (existsSync(f)) unlinkSync(f);
      store.close();
      lock.release();
      console.log('mlserve daemon: stopped');
    })();
    return stopping;
  };

  const controlDeps: ControlDeps = {
    commands, canary, store, info, apply: parts.apply,
    canaryStatus: () => canaryStats.status(),
    status: () => status(store, fleet, parts.gpus),
    gpus: () => gpuReport(parts.gpus),
    snapshot: (daemon) => takeSnapshot(parts.snapshotSource, daemon), logDir: paths.logs, cacheDir: paths.cache, shutdown: () => void shutdown().then(() => process.exit(0)),
  };
  let control = createControlServer(controlDeps);
  await listen(control, paths.socket);
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

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => void shutdown().then(() => process.exit(0)));
  }
  store.addEvent('daemon-start', 'daemon', `daemon ${VERSION} started (pid ${process.pid}), ingress ${info().ingress.url}`);
  console.log(`mlserve daemon ${VERSION}: pid ${process.pid}, control ${paths.socket}, ingress ${info().ingress.url}`);
  reconciler.start();
  analysis.start();
  tracking.start();
  const stopWatchdog = watchGpuMemory(fleet, parts.gpus, (k, subj, msg, data) => store.addEvent(k, subj, msg, data));
}
