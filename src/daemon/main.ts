// The daemon's composition root: open the store, build the parts, listen, reconcile, and one
// graceful exit (drain, stop replicas, remove the socket and pid file).
import { chmodSync, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { ensureHome, homePaths, type HomePaths } from '../home.js';
import { VERSION } from '../version.js';
import { createControlServer, type DaemonInfo } from './control/control-server.js';
import { gpuReport, status } from './control/status.js';
import { createIngress, serveMetrics } from './dataplane/ingress.js';
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove what a crashed daemon left behind; refuse if a live one owns this home. */
async function claimHome(p: HomePaths): Promise<void> {
  if (existsSync(p.socket)) {
    if (await socketAlive(p.socket)) throw new DaemonStartError(`mlserve daemon is already running (socket ${p.socket})`);
    unlinkSync(p.socket);
  }
  if (existsSync(p.pidFile)) {
    const pid = Number(readFileSync(p.pidFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid) && (await socketAlive(p.socket))) {
      throw new DaemonStartError(`mlserve daemon is already running (pid ${pid})`);
    }
    unlinkSync(p.pidFile);
  }
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
  await claimHome(paths);

  const store = new Store(paths.db);
  const partials = removePartials(paths.cache);
  if (partials.length) store.addEvent('cache-cleaned', 'daemon', `removed ${partials.length} unfinished download(s) from the cache`);
  let inventory;
  try {
    inventory = await detectInventory();
  } catch (err) {
    store.close();
    throw new DaemonStartError(`cannot read the GPU inventory: ${(err as Error).message}`);
  }
  const startedAt = Date.now();
  const starts = store.countDaemonStart();
  const workDir = join(paths.home, 'run');
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const parts = assemble(store, inventory, { logDir: paths.logs, workDir }, createModelSourceResolver(paths));
  const { metrics, routes, shadow, fleet, reconciler, commands, canary, canaryStats, analysis, tracking } = parts;
  const ingress = createIngress({ routes, shadow }, { maxBodyBytes: opts.maxBodyBytes, metrics, serveMetrics: opts.metricsPort === undefined });
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
      throw new DaemonStartError(`cannot serve metrics on ${opts.host}:${opts.metricsPort}: ${(err as Error).message}; pass another --metrics-port`);
    }
  }
  try {
    await listen(ingress, opts.port, opts.host);
  } catch (err) {
    store.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new DaemonStartError(
      code === 'EADDRINUSE'
        ? `port ${opts.port} on ${opts.host} is already in use; pass --port to choose another`
        : `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`,
    );
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
      for (const f of [paths.socket, paths.pidFile]) if (existsSync(f)) unlinkSync(f);
      store.close();
      console.log('mlserve daemon: stopped');
    })();
    return stopping;
  };

  const control = createControlServer({
    commands, canary, store, info, apply: parts.apply,
    canaryStatus: () => canaryStats.status(),
    status: () => status(store, fleet, parts.gpus),
    gpus: () => gpuReport(parts.gpus),
    snapshot: (daemon) => takeSnapshot(parts.snapshotSource, daemon), logDir: paths.logs, cacheDir: paths.cache, shutdown: () => void shutdown().then(() => process.exit(0)) });
  await listen(control, paths.socket);
  chmodSync(paths.socket, 0o600);
  writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });

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
