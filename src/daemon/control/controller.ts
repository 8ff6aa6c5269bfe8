// The control plane: makes the running world match the store (desired state), and carries out
// deploy / undeploy / scale. The data plane asks it which deployment serves an endpoint.
import { MlserveError, notFound } from '../../errors.js';
import { validateAutoscaling, type AutoscalingConfig } from '../fleet/autoscaler.js';
import { normalizeFraction } from '../fleet/allocator.js';
import { computeApps, requireCudaProvider } from '../fleet/gpu-inventory.js';
import { overShare } from '../fleet/gpu-env.js';
import type { Allocation, Assignment } from '../fleet/allocator.js';
import type { Replica } from '../fleet/replica-set.js';
import type { ModelSourceResolver } from './model-source.js';
import type { GpuBook } from '../fleet/placement.js';
import { Runtime } from '../fleet/runtime.js';
import { toCanary } from '../rollout/canary.js';
import { Tracker } from '../rollout/tracker.js';
import type { AnalysisPolicy } from '../rollout/canary-analysis.js';
import { CanaryControl } from '../rollout/canary-control.js';
import { deploySettings, dispatchOptions, type DeployRequest } from './settings.js';
import type { DeploymentRow, EndpointRow, Store } from './store.js';
import type { Metrics } from '../metrics.js';

export type { DeployRequest } from './settings.js';
export type DeployProgress = (p: { file: string; bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class Controller {
  readonly runtimes = new Map<string, Runtime>();
  private placer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private rolloutTimer: NodeJS.Timeout | null = null;
  readonly canaries = new CanaryControl(this);
  /** Set by the daemon's composition root once the metrics registry exists. */
  metrics?: Metrics;

  constructor(
    readonly store: Store,
    private readonly resolver: ModelSourceResolver,
    private readonly logDir: string,
    readonly gpus: GpuBook,
  ) {}

  /** The data plane's copy of endpoint routing (primary, canary, weight): it never reads SQLite. */
  routes = new Map<string, EndpointRow>();

  refreshRoutes(): void {
    this.routes = new Map(this.store.listEndpoints().map((e) => [e.name, e]));
  }

  route(endpoint: string, primary: string, canary: string | null, weight: number): void {
    this.store.setRouting(endpoint, primary, canary, weight);
    this.refreshRoutes();
  }

  /** Start every deployment in the store (daemon start), then keep placing pending replicas. */
  reconcile(): void {
    this.refreshRoutes();
    for (const row of this.store.listDeployments()) {
      if (!this.runtimes.has(row.name)) this.startRuntime(row, 'daemon start');
    }
    this.placer = setInterval(() => this.placePending(), 2000);
    this.placer.unref();
    this.rolloutTimer = setInterval(() => void this.canaries.rolloutTick(), 1000);
    this.rolloutTimer.unref();
    if (!this.gpus.inventory.simulated && this.gpus.inventory.gpus.length > 0) {
      this.watchdog = setInterval(() => void this.watchGpuMemory(), 10_000);
      this.watchdog.unref();
    }
  }

  /**
   * onnxruntime-node cannot cap a session's GPU memory, so the daemon checks each replica's use
   * (nvidia-smi --query-compute-apps) against its share: over it, the replica is reported, then
   * restarted.
   */
  private async watchGpuMemory(): Promise<void> {
    const byPid = new Map<number, Allocation>();
    const replicas = new Map<number, Replica>();
    for (const rt of this.runtimes.values()) {
      for (const r of rt.set.members) {
        if (r.pid && r.gpu) {
          byPid.set(r.pid, { replica: `${rt.row.name}/${r.idx}`, assignment: r.gpu as Assignment });
          replicas.set(r.pid, r);
        }
      }
    }
    if (byPid.size === 0) return;
    for (const o of overShare(await computeApps(), byPid, this.gpus.inventory.gpus)) {
      this.store.addEvent('gpu-over-share', o.replica, `${o.message}; restarting it`, o);
      replicas.get(o.pid)?.proc?.kill();
    }
  }

  /** GPU room may have appeared: place pending replicas, oldest deployment first. */
  placePending(): void {
    for (const rt of this.runtimes.values()) rt.placePending();
  }

  private checkGpus(gpus: number | undefined): void {
    if (gpus === undefined) return;
    normalizeFraction(gpus);
    const inv = this.gpus.inventory;
    if (inv.gpus.length === 0) {
      throw new MlserveError('NO_GPU', `asked for ${gpus} GPU per replica, but this machine has no GPU (${inv.source}); deploy without --gpus to run on CPU, or set MLSERVE_GPUS for the daemon to simulate an inventory`);
    }
    if (!inv.simulated) requireCudaProvider();
  }

  async deploy(req: DeployRequest, onProgress?: DeployProgress): Promise<DeploymentRow> {
    const settings = deploySettings(req);
    this.checkGpus(settings.gpus);
    const model = await this.resolver.resolve(req.source, { env: req.env ?? {}, cwd: req.cwd ?? process.cwd(), onProgress });
    const endpoint = (req.endpoint ?? model.defaultEndpoint).toLowerCase();
    if (!NAME_RE.test(endpoint)) {
      throw new MlserveError('BAD_REQUEST', `endpoint name '${endpoint}' is not valid: use lowercase letters, digits, '.', '_' and '-' (pass --endpoint)`);
    }
    const name = req.name ?? `${endpoint}-v${model.resolved.version}`;
    if (!NAME_RE.test(name)) {
      throw new MlserveError('BAD_REQUEST', `deployment name '${name}' is not valid: use lowercase letters, digits, '.', '_' and '-' (pass --name)`);
    }
    if (this.store.getDeployment(name)) {
      throw new MlserveError('CONFLICT', `deployment ${name} already exists; undeploy it first (mlserve undeploy ${name}) or pass --name`);
    }
    const current = this.store.getEndpoint(endpoint);
    if (current && req.canary === undefined && !req.replace) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} already serves deployment ${current.primary}; deploy with --canary <weight> or --replace, undeploy it first (mlserve undeploy ${endpoint}), or choose another --endpoint`);
    }
    if (current && req.canary !== undefined && current.canary) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} already has canary ${current.canary}; promote or roll it back first (mlserve canary promote|rollback --endpoint ${endpoint})`);
    }
    if (!current && (req.canary !== undefined || req.replace)) {
      throw new MlserveError('NOT_FOUND', `endpoint ${endpoint} does not exist yet, so there is nothing to ${req.replace ? 'replace' : 'run a canary beside'}; deploy without --canary/--replace first`);
    }
    if (req.canary !== undefined && (!(req.canary >= 0) || req.canary > 100)) throw new MlserveError('BAD_REQUEST', `--canary weight must be 0..100% (got ${req.canary})`);
    this.store.createDeployment({
      name, endpoint, modelUri: req.source, resolved: model.resolved, modelDir: model.modelDir, modelFile: model.modelFile,
      signature: model.signature, settings, state: 'loading', message: null,
    });
    this.store.addEvent('deployed', name, `deployed ${req.source} -> version ${model.resolved.version} on endpoint ${endpoint} (${model.cacheHit ? 'from the cache' : 'fetched'})`, {
      source: req.source, resolved: model.resolved, settings, cacheHit: model.cacheHit,
    });
    this.refreshRoutes();
    this.startRuntime(this.store.getDeployment(name)!, req.canary !== undefined ? 'canary' : req.replace ? 'blue-green' : 'deploy', req.env);
    if (current && req.canary !== undefined) {
      this.route(endpoint, current.primary, name, req.canary);
      await this.canaries.captureBaseline(endpoint, current.primary);
      this.store.addEvent('canary-started', endpoint, `canary ${name} beside ${current.primary} at ${req.canary}% (it takes traffic once ready)`, { canary: name, weight: req.canary });
    }
    if (current && req.replace) void this.blueGreen(endpoint, current.primary, name);
    return this.store.getDeployment(name)!;
  }

  /** Switch an endpoint to `next` once all its replicas are ready, then drain and stop `prev`. */
  private async blueGreen(endpoint: string, prev: string, next: string): Promise<void> {
    const deadline = Date.now() + 600_000;
    for (;;) {
      const d = this.store.getDeployment(next);
      if (!d || d.state === 'failed' || Date.now() > deadline) {
        this.store.addEvent('replace-failed', endpoint, `${next} did not become ready (${d?.message ?? d?.state ?? 'removed'}); ${prev} keeps serving`);
        if (d) await this.undeployOne(d.name, d.endpoint);
        return;
      }
      if (d.state === 'ready') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ep = this.store.getEndpoint(endpoint);
    this.route(endpoint, next, ep?.canary && ep.canary !== next ? ep.canary : null, ep?.canaryWeight ?? 0);
    this.store.addEvent('switched', endpoint, `all traffic to ${next} (blue-green); draining ${prev}`, { from: prev, to: next });
    await this.undeployOne(prev, endpoint);
  }

  /** The endpoint with a canary: the one named, or the only one that has one. */
  canaryEndpoint(endpoint?: string) {
    const withCanary = this.store.listEndpoints().filter((e) => e.canary);
    if (endpoint) {
      const e = this.store.getEndpoint(endpoint);
      if (!e) throw notFound(`no endpoint named '${endpoint}'`);
      if (!e.canary) throw new MlserveError('NOT_FOUND', `endpoint ${endpoint} has no canary; start one with mlserve deploy <model> --endpoint ${endpoint} --canary 10%`);
      return e;
    }
    if (withCanary.length === 1) return withCanary[0];
    if (withCanary.length === 0) throw new MlserveError('NOT_FOUND', 'no endpoint has a canary; start one with mlserve deploy <model> --endpoint <name> --canary 10%');
    throw new MlserveError('BAD_REQUEST', `several endpoints have canaries (${withCanary.map((e) => e.name).join(', ')}); pass --endpoint`);
  }

  setCanaryWeight(weight: number, endpoint?: string) {
    const e = this.canaryEndpoint(endpoint);
    if (!(weight >= 0 && weight <= 100)) throw new MlserveError('BAD_REQUEST', `weight must be 0..100% (got ${weight})`);
    this.route(e.name, e.primary, e.canary, weight);
    this.store.addEvent('canary-weight', e.name, `canary ${e.canary} weight ${e.canaryWeight}% -> ${weight}%`, { from: e.canaryWeight, to: weight });
    return this.store.getEndpoint(e.name)!;
  }

  async promote(endpoint?: string) {
    const e = this.canaryEndpoint(endpoint);
    this.route(e.name, e.canary!, null, 0);
    this.store.addEvent('canary-promoted', e.name, `${e.canary} is now primary; draining ${e.primary}`, { from: e.primary, to: e.canary });
    await this.undeployOne(e.primary, e.name);
    return this.store.getEndpoint(e.name)!;
  }

  async rollback(endpoint?: string, why = 'mlserve canary rollback') {
    const e = this.canaryEndpoint(endpoint);
    this.route(e.name, e.primary, null, 0);
    this.store.addEvent('canary-rolled-back', e.name, `canary ${e.canary} rolled back (${why}); draining it`, { canary: e.canary });
    await this.undeployOne(e.canary!, e.name);
    return this.store.getEndpoint(e.name)!;
  }

  /** Drain and remove one deployment (its endpoint stays when another deployment serves it). */
  private async undeployOne(name: string, endpoint: string): Promise<void> {
    const rt = this.runtimes.get(name);
    this.runtimes.delete(name);
    this.store.deleteDeployment(name);
    this.refreshRoutes();
    if (rt) await rt.stop(`deployment ${name} was replaced`);
    this.store.addEvent('undeployed', name, `undeployed ${name} (endpoint ${endpoint})`);
    this.placePending();
  }

  private startRuntime(row: DeploymentRow, why: string, env?: Record<string, string>): void {
    this.store.setDeploymentState(row.name, 'loading', null);
    this.store.addEvent('starting', row.name, `starting ${row.settings.replicas} replica(s) (${why})`);
    this.runtimes.set(row.name, new Runtime(row, this.store, this.gpus, this.logDir, () => this.placePending(), this.metrics));
    if (row.settings.track) this.track(row, env ?? row.settings.track.env);
  }

  /** Credentials from the deploy that asked for tracking, kept in memory only (never in SQLite). */
  private readonly trackEnv = new Map<string, Record<string, string>>();
  private readonly trackers = new Map<string, Tracker>();

  private track(row: DeploymentRow, env: Record<string, string>): void {
    const t = row.settings.track!;
    this.trackEnv.set(row.endpoint, env);
    this.trackers.get(row.endpoint)?.stop();
    const tracker = new Tracker(row.modelUri, env, t.cwd, t.intervalS * 1000, {
      stillPrimary: () => this.routes.get(row.endpoint)?.primary === row.name && this.runtimes.has(row.name),
      currentVersion: () => row.resolved.version,
      event: (kind, message, data) => this.store.addEvent(kind, row.endpoint, message, data),
      rollTo: async () => {
        const ep = this.routes.get(row.endpoint);
        if (ep?.canary) {
          this.store.addEvent('track-waiting', row.endpoint, `a canary (${ep.canary}) is already running; the new version waits for it to finish`);
          return;
        }
        const { replicas: _r, track: _t, ...rest } = row.settings;
        const policy = (ep?.rollout as { policy?: AnalysisPolicy } | null)?.policy;
        const next = await this.deploy({
          ...rest, replicas: row.settings.replicas, source: row.modelUri, endpoint: row.endpoint,
          ...(policy ? { canary: 0 } : { replace: true }),
          trackIntervalS: t.intervalS, env: this.trackEnv.get(row.endpoint) ?? t.env, cwd: t.cwd,
        });
        if (policy) {
          // The endpoint has a rollout policy: analyse the new version once it is ready.
          for (let i = 0; i < 6000 && this.store.getDeployment(next.name)?.state !== 'ready'; i++) await new Promise((res) => setTimeout(res, 100));
          await this.canaries.startRollout(policy, row.endpoint);
        }
      },
    });
    this.trackers.set(row.endpoint, tracker);
    tracker.start();
  }

  private runtime(name: string): Runtime {
    const rt = this.runtimes.get(name) ?? [...this.runtimes.values()].find((r) => r.row.endpoint === name);
    if (!rt) throw notFound(`no deployment named '${name}'; see mlserve status`);
    return rt;
  }

  /** A fixed replica count (turns autoscaling off), or new autoscaling bounds. */
  async scale(name: string, req: { replicas?: number; autoscaling?: Partial<AutoscalingConfig> }): Promise<DeploymentRow> {
    const rt = this.runtime(name);
    if (req.autoscaling) {
      const cfg = validateAutoscaling({ ...(rt.row.settings.autoscaling ?? {}), ...req.autoscaling });
      rt.row.settings = { ...rt.row.settings, autoscaling: cfg };
      this.store.updateSettings(rt.row.name, rt.row.settings);
      this.store.addEvent('autoscaling', rt.row.name, `autoscaling min ${cfg.min_replicas}, max ${cfg.max_replicas}, target ${cfg.target_ongoing_requests} ongoing requests per replica`, { autoscaling: cfg });
      this.stopRuntime(rt);
      this.startRuntime(this.store.getDeployment(rt.row.name)!, 'autoscaling changed');
      return this.store.getDeployment(rt.row.name)!;
    }
    const replicas = req.replicas;
    if (replicas === undefined || !Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
      throw new MlserveError('BAD_REQUEST', `--replicas must be a whole number from 1 to 64 (got ${replicas})`);
    }
    if (rt.row.settings.autoscaling) {
      rt.row.settings = { ...rt.row.settings, autoscaling: undefined };
      this.store.addEvent('autoscaling', rt.row.name, `autoscaling off: fixed at ${replicas} replica(s)`);
    }
    await rt.scaleTo(replicas, 'mlserve scale');
    return this.store.getDeployment(rt.row.name)!;
  }

  /** Restart a runtime's parts in place (settings changed); replicas are replaced. */
  private stopRuntime(rt: Runtime): void {
    this.runtimes.delete(rt.row.name);
    void rt.stop('deployment settings changed; retry');
  }

  /** Remove an endpoint (with its deployments) or one deployment. */
  async undeploy(target: string): Promise<string[]> {
    const deployments = this.store.listDeployments();
    const byEndpoint = deployments.filter((d) => d.endpoint === target);
    const victims = byEndpoint.length ? byEndpoint : deployments.filter((d) => d.name === target);
    if (victims.length === 0) {
      const known = deployments.map((d) => `${d.endpoint} (${d.name})`).join(', ') || 'none';
      throw notFound(`no endpoint or deployment named '${target}'; deployed: ${known}`);
    }
    for (const d of victims) {
      const rt = this.runtimes.get(d.name);
      this.runtimes.delete(d.name);
      this.store.deleteDeployment(d.name);
      this.refreshRoutes();
      if (rt) await rt.stop(`deployment ${d.name} was undeployed`);
      this.store.addEvent('undeployed', d.name, `undeployed ${d.name} (endpoint ${d.endpoint})`);
    }
    this.placePending();
    return victims.map((d) => d.name);
  }

  /**
   * The runtime that serves this request: the endpoint's canary for its share of traffic (by
   * sticky key when given) once the canary has a ready replica, else the primary.
   */
  target(endpoint: string, routeKey?: string): Runtime {
    const ep = this.routes.get(endpoint);
    if (ep) {
      const primary = this.runtimes.get(ep.primary);
      const canary = ep.canary ? this.runtimes.get(ep.canary) : undefined;
      if (canary && canary.set.ready().length > 0 && toCanary(ep.canaryWeight, routeKey, Math.random)) return canary;
      if (primary) return primary;
    }
    for (const rt of this.runtimes.values()) if (rt.row.endpoint === endpoint) return rt;
    const known = [...new Set([...this.runtimes.values()].map((r) => r.row.endpoint))];
    throw notFound(`unknown endpoint '${endpoint}'${known.length ? `; endpoints: ${known.join(', ')}` : '; nothing is deployed (mlserve deploy <model>)'}`);
  }

  status() {
    const deployments = this.store.listDeployments().map((d) => {
      const rt = this.runtimes.get(d.name);
      return {
        ...d,
        replicas: this.store.listReplicas(d.name),
        stats: rt ? rt.dispatcher.snapshot() : null,
        dispatch: dispatchOptions(d.settings, rt?.spec ?? d.signature),
        spec: rt?.spec ?? null,
      };
    });
    const inv = this.gpus.inventory;
    return { endpoints: this.store.listEndpoints(), deployments, gpus: { source: inv.source, simulated: inv.simulated, count: inv.gpus.length } };
  }

  gpuReport() {
    const inv = this.gpus.inventory;
    return { source: inv.source, simulated: inv.simulated, mps: inv.mps, gpus: this.gpus.shares().map((s) => ({ ...s, ...inv.gpus.find((g) => g.uuid === s.uuid) })) };
  }

  allReady(): boolean {
    for (const rt of this.runtimes.values()) if (rt.set.ready().length === 0 && !rt.row.settings.autoscaling) return false;
    return true;
  }

  async shutdown(): Promise<void> {
    for (const t of this.trackers.values()) t.stop();
    if (this.placer) clearInterval(this.placer);
    if (this.rolloutTimer) clearInterval(this.rolloutTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.all([...this.runtimes.values()].map((rt) => rt.stop('the daemon is shutting down')));
  }
}
