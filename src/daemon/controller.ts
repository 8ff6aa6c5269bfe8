// The control plane: makes the running world match the store (desired state), and carries out
// deploy / undeploy / scale. The data plane asks it which deployment serves an endpoint.
import { MlserveError, notFound } from '../errors.js';
import { validateAutoscaling, type AutoscalingConfig } from './autoscaler.js';
import { normalizeFraction } from './allocator.js';
import { computeApps, requireCudaProvider } from './gpu-inventory.js';
import { overShare } from './gpu-env.js';
import type { Allocation, Assignment } from './allocator.js';
import type { Replica } from './replica-set.js';
import type { ModelSourceResolver } from './model-source.js';
import type { GpuBook } from './placement.js';
import { Runtime } from './runtime.js';
import { deploySettings, dispatchOptions, type DeployRequest } from './settings.js';
import type { DeploymentRow, Store } from './store.js';
import type { Metrics } from './metrics.js';

export type { DeployRequest } from './settings.js';
export type DeployProgress = (p: { file: string; bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class Controller {
  readonly runtimes = new Map<string, Runtime>();
  private placer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  /** Set by the daemon's composition root once the metrics registry exists. */
  metrics?: Metrics;

  constructor(
    private readonly store: Store,
    private readonly resolver: ModelSourceResolver,
    private readonly logDir: string,
    readonly gpus: GpuBook,
  ) {}

  /** Start every deployment in the store (daemon start), then keep placing pending replicas. */
  reconcile(): void {
    for (const row of this.store.listDeployments()) {
      if (!this.runtimes.has(row.name)) this.startRuntime(row, 'daemon start');
    }
    this.placer = setInterval(() => this.placePending(), 2000);
    this.placer.unref();
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
    const current = this.store.listEndpoints().find((e) => e.name === endpoint);
    if (current) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} already serves deployment ${current.primary}; undeploy it first (mlserve undeploy ${endpoint}) or choose another --endpoint`);
    }
    this.store.createDeployment({
      name, endpoint, modelUri: req.source, resolved: model.resolved, modelDir: model.modelDir, modelFile: model.modelFile,
      signature: model.signature, settings, state: 'loading', message: null,
    });
    this.store.addEvent('deployed', name, `deployed ${req.source} -> version ${model.resolved.version} on endpoint ${endpoint} (${model.cacheHit ? 'from the cache' : 'fetched'})`, {
      source: req.source, resolved: model.resolved, settings, cacheHit: model.cacheHit,
    });
    this.startRuntime(this.store.getDeployment(name)!, 'deploy');
    return this.store.getDeployment(name)!;
  }

  private startRuntime(row: DeploymentRow, why: string): void {
    this.store.setDeploymentState(row.name, 'loading', null);
    this.store.addEvent('starting', row.name, `starting ${row.settings.replicas} replica(s) (${why})`);
    this.runtimes.set(row.name, new Runtime(row, this.store, this.gpus, this.logDir, () => this.placePending(), this.metrics));
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
      if (rt) await rt.stop(`deployment ${d.name} was undeployed`);
      this.store.addEvent('undeployed', d.name, `undeployed ${d.name} (endpoint ${d.endpoint})`);
    }
    this.placePending();
    return victims.map((d) => d.name);
  }

  /** The runtime serving an endpoint, or a 404 that lists what exists. */
  target(endpoint: string): Runtime {
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
    if (this.placer) clearInterval(this.placer);
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.all([...this.runtimes.values()].map((rt) => rt.stop('the daemon is shutting down')));
  }
}
