// The daemon's composition root: open the store, build the parts, listen, reconcile, and one
// graceful exit (drain, stop replicas, remove the socket and pid file).
import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { ensureHome, homePaths, type HomePaths } from '../home.js';
import { VERSION } from '../version.js';
import { createControlServer, type DaemonInfo } from './control/control-server.js';
import { Commands } from './control/commands.js';
import { applyConfig, type ApplyRequest } from './control/apply.js';
import { Reconciler } from './control/reconciler.js';
import { gpuReport, status } from './control/status.js';
import { createIngress, serveMetrics } from './dataplane/ingress.js';
import { RouteTable } from './dataplane/routes.js';
import { ShadowMirror } from './dataplane/shadow.js';
import { Fleet } from './fleet/fleet.js';
import { watchGpuMemory } from './fleet/gpu-watchdog.js';
import { Metrics } from './metrics.js';
import { createModelSourceResolver } from './control/model-source.js';
import { Store } from './control/store.js';
import { detectInventory, type Inventory } from './fleet/gpu-inventory.js';
import { GpuBook } from './fleet/placement.js';
import { AnalysisLoop } from './rollout/analysis-loop.js';
import { CanaryCommands } from './rollout/canary-commands.js';
import { CanaryStats } from './rollout/canary-stats.js';
import { TrackingLoop } from './rollout/tracking.js';
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
  const parts = assemble(store, inventory, paths.logs, createModelSourceResolver(paths));
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

/** Build the daemon's parts and wire them through their narrow interfaces (no part holds another's owner). */
export function assemble(store: Store, inventory: Inventory, logDir: string, resolver: ReturnType<typeof createModelSourceResolver>) {
  const gpus = new GpuBook(inventory);
  const routes = new RouteTable();
  const shadow = new ShadowMirror();
  // The fleet and the metrics read each other only through callbacks set up here.
  let fleet: Fleet | undefined;
  const runtimes = () => [...(fleet?.runtimes() ?? [])];
  const metrics = new Metrics({
    runtimes: () => runtimes().map((rt) => {
      const snap = rt.dispatcher.snapshot();
      return { name: rt.name, queued: snap.queued, inflight: snap.inflight, replicaStates: rt.set.members.map((r) => r.state) };
    }),
    restarts: () => {
      const by = new Map<string, number>();
      for (const r of store.listReplicas()) by.set(r.deployment, (by.get(r.deployment) ?? 0) + r.restarts);
      return by;
    },
    daemonStarts: () => store.daemonStarts(),
    canaryWeights: () => new Map(store.listEndpoints().map((e) => [e.name, e.canary ? e.canaryWeight : 0])),
    gpus: () => gpus.shares().flatMap((s) => {
      const g = inventory.gpus.find((x) => x.uuid === s.uuid);
      return g ? [{ ...g, allocated: s.allocated }] : [];
    }),
  });
  let reconciler: Reconciler | undefined;
  const kick = () => reconciler?.kick() ?? Promise.resolve();
  fleet = new Fleet({ store, gpus, logDir, metrics, onRelease: () => fleet?.placePending(), onChange: () => void kick() });
  reconciler = new Reconciler(store, fleet, routes);
  const f = fleet;
  const canaryStats = new CanaryStats({
    latency: () => metrics.latencyByDeployment(),
    deployment: (name) => {
      const rt = f.active(name);
      return rt ? { stats: rt.dispatcher.snapshot(), version: rt.version, ready: rt.readyReplicas() } : undefined;
    },
    shadow: (endpoint) => shadow.get(endpoint),
    endpoints: () => store.listEndpoints(),
  });
  const whenStopped = (name: string) => f.whenStopped(name);
  const canary = new CanaryCommands({ store, kick, whenStopped, counters: (d) => canaryStats.counters(d), resetShadow: (e) => shadow.reset(e) });
  let tracking: TrackingLoop | undefined;
  const commands = new Commands({
    store, resolver, inventory, kick, whenStopped,
    onCanaryStarted: (endpoint, primary) => canaryStats.captureBaseline(endpoint, primary),
    onTrack: (endpoint, env) => tracking?.remember(endpoint, env),
  });
  tracking = new TrackingLoop({ store, deploy: (req) => commands.deploy(req), startRollout: (policy, endpoint) => canary.startRollout(policy, endpoint) });
  const analysis = new AnalysisLoop(store, canary, (d) => canaryStats.counters(d));
  const snapshotSource = {
    deployments: () => store.listDeployments(),
    endpoints: () => store.listEndpoints(),
    events: (limit: number) => store.listEvents({ limit }),
    latency: () => metrics.latencyByDeployment(),
    revisions: (name: string) => [f.active(name), f.next(name)].filter((r) => r !== null).map((rt) => ({
      stats: rt.dispatcher.snapshot(),
      replicas: rt.set.members.map((r) => ({ idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, inflight: r.link?.load.requests ?? 0, gpu: r.gpu })),
    })),
    gpus: () => gpus.shares().map((s) => {
      const g = inventory.gpus.find((x) => x.uuid === s.uuid)!;
      return { index: g.index, name: g.name, allocated: s.allocated, memoryUsedMiB: g.memoryUsedMiB, memoryTotalMiB: g.memoryTotalMiB, simulated: inventory.simulated };
    }),
  };
  const apply = (req: ApplyRequest, onProgress: (p: unknown) => void) => applyConfig(req, { store, resolver, inventory, kick, onProgress });
  return { gpus, routes, shadow, metrics, fleet, reconciler, commands, canary, canaryStats, analysis, tracking, snapshotSource, apply };
}
