// The control plane: makes the running world match the store (desired state), and carries out
// deploy / undeploy. The data plane asks it which deployment serves an endpoint.
import { MlserveError, notFound } from '../errors.js';
import type { Signature, TensorSpec } from '../tensor.js';
import { Dispatcher, type DispatchOptions } from './dispatcher.js';
import { isBatchable } from './batcher.js';
import { ReplicaSet, type Replica } from './replica-set.js';
import type { DeploymentRow, DeploymentSettings, Store } from './store.js';
import type { ModelSourceResolver } from './model-source.js';

export interface DeployRequest {
  source: string;
  endpoint?: string;
  name?: string;
  replicas?: number;
  threads?: number;
  gpus?: number;
  maxBatchSize?: number;
  batchWaitMs?: number;
  maxConcurrentBatches?: number;
  maxOngoingRequests?: number;
  maxQueuedRequests?: number;
  requestTimeoutMs?: number;
  healthCheckPeriodS?: number;
  healthCheckTimeoutS?: number;
  /** The CLI's MLflow environment (tracking URI, registry URI) and working directory. */
  env?: Record<string, string>;
  cwd?: string;
}

export type DeployProgress = (p: { file: string; bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;

export interface Runtime {
  row: DeploymentRow;
  set: ReplicaSet;
  dispatcher: Dispatcher;
  /** Inputs and outputs as the loaded model declares them (from the replica's ready handshake). */
  spec: Signature | null;
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export class Controller {
  readonly runtimes = new Map<string, Runtime>();
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly resolver: ModelSourceResolver,
    private readonly logDir: string,
    private readonly hasGpu: () => Promise<boolean>,
  ) {}

  /** Start every deployment in the store (daemon start). */
  reconcile(): void {
    for (const row of this.store.listDeployments()) {
      if (!this.runtimes.has(row.name)) this.startRuntime(row, 'daemon start');
    }
  }

  async deploy(req: DeployRequest, onProgress?: DeployProgress): Promise<DeploymentRow> {
    const replicas = req.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
      throw new MlserveError('BAD_REQUEST', `--replicas must be a whole number from 1 to 64 (got ${req.replicas})`);
    }
    if (req.threads !== undefined && (!Number.isInteger(req.threads) || req.threads < 1 || req.threads > 256)) {
      throw new MlserveError('BAD_REQUEST', `--threads must be a whole number from 1 to 256 (got ${req.threads})`);
    }
    if (req.gpus !== undefined && req.gpus > 0 && !(await this.hasGpu())) {
      throw new MlserveError(
        'NO_GPU',
        `asked for ${req.gpus} GPU per replica, but no GPU was found on this machine (nvidia-smi is missing or lists none); deploy without --gpus to run on CPU`,
      );
    }
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
      throw new MlserveError(
        'CONFLICT',
        `endpoint ${endpoint} already serves deployment ${current.primary}; undeploy it first (mlserve undeploy ${endpoint}) or choose another --endpoint`,
      );
    }
    const settings: DeploymentSettings = { replicas, ...batchSettings(req) };
    if (req.threads !== undefined) settings.threads = req.threads;
    if (req.gpus !== undefined) settings.gpus = req.gpus;
    this.store.createDeployment({
      name,
      endpoint,
      modelUri: req.source,
      resolved: model.resolved,
      modelDir: model.modelDir,
      modelFile: model.modelFile,
      signature: model.signature,
      settings,
      state: 'loading',
      message: null,
    });
    this.store.addEvent('deployed', name, `deployed ${req.source} -> version ${model.resolved.version} on endpoint ${endpoint} (${model.cacheHit ? 'from the cache' : 'fetched'})`, {
      source: req.source,
      resolved: model.resolved,
      settings,
      cacheHit: model.cacheHit,
    });
    const row = this.store.getDeployment(name)!;
    this.startRuntime(row, 'deploy');
    return row;
  }

  private startRuntime(row: DeploymentRow, why: string): void {
    this.store.setDeploymentState(row.name, 'loading', null);
    this.store.deleteReplicasFrom(row.name, row.settings.replicas);
    const rt: Runtime = { row, spec: null } as Runtime;
    const set = new ReplicaSet(
      {
        deployment: row.name, modelFile: row.modelFile, replicas: row.settings.replicas, threads: row.settings.threads,
        concurrency: row.settings.maxConcurrentBatches ?? 1, logDir: this.logDir,
        priorRestarts: new Map(this.store.listReplicas(row.name).map((r) => [r.idx, r.restarts])),
        healthPeriodMs: (row.settings.healthCheckPeriodS ?? 10) * 1000,
        healthTimeoutMs: (row.settings.healthCheckTimeoutS ?? 30) * 1000,
      },
      {
        onReplica: (r: Replica) => this.recordReplica(row.name, r),
        onReady: (spec, loadMs, idx) => {
          rt.spec = mergeSignature(row.signature, spec);
          if (!row.signature) this.store.setSignature(row.name, rt.spec);
          this.store.addEvent('replica-ready', `${row.name}/${idx}`, `replica ${idx} loaded the model in ${loadMs.toFixed(0)} ms`, { loadMs });
          if (set.ready().length === set.active().length && this.store.getDeployment(row.name)?.state !== 'ready') {
            this.store.setDeploymentState(row.name, 'ready', null);
            this.store.addEvent('ready', row.name, `all ${set.active().length} replica(s) ready`);
          }
          rt.dispatcher.pump();
        },
        onLoadFailure: (idx, message) => {
          this.store.setDeploymentState(row.name, 'failed', message);
          this.store.addEvent('load-failed', `${row.name}/${idx}`, `replica ${idx} could not load the model: ${message}`);
        },
        onCrash: (idx, message, delay) => {
          this.store.addEvent('replica-crashed', `${row.name}/${idx}`, `${message}; restarting in ${delay} ms`);
        },
        onCrashLoop: (idx, message) => {
          this.store.setDeploymentState(row.name, 'unhealthy', `replica ${idx} is crash-looping: ${message}`);
          this.store.addEvent('unhealthy', row.name, `replica ${idx} crashed repeatedly; still retrying with backoff. ${message}`);
        },
        onHealthFailure: (idx, message) => {
          this.store.addEvent('health-failed', `${row.name}/${idx}`, message);
        },
        inflight: (idx) => rt.dispatcher.inflightOf(idx),
      },
    );
    rt.set = set;
    rt.dispatcher = new Dispatcher(set, () => dispatchOptions(row.settings, rt.spec));
    this.runtimes.set(row.name, rt);
    this.store.addEvent('starting', row.name, `starting ${row.settings.replicas} replica(s) (${why})`);
    set.start();
  }

  /** Set a deployment's replica count: new replicas start, surplus ones drain and stop. */
  async scale(name: string, replicas: number): Promise<DeploymentRow> {
    const rt = this.runtimes.get(name) ?? [...this.runtimes.values()].find((r) => r.row.endpoint === name);
    if (!rt) throw notFound(`no deployment named '${name}'; see mlserve status`);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
      throw new MlserveError('BAD_REQUEST', `--replicas must be a whole number from 1 to 64 (got ${replicas})`);
    }
    const before = rt.set.active().length;
    rt.row.settings = { ...rt.row.settings, replicas };
    this.store.updateSettings(rt.row.name, rt.row.settings);
    if (replicas > before) {
      this.store.setDeploymentState(rt.row.name, 'loading', null);
      for (let i = before; i < replicas; i++) rt.set.add();
    } else if (replicas < before) {
      const gone = rt.set.active().sort((a, b) => b.idx - a.idx).slice(0, before - replicas).map((r) => r.idx);
      await rt.set.shrink(before - replicas);
      for (const idx of gone) this.store.deleteReplica(rt.row.name, idx);
    }
    if (replicas !== before) this.store.addEvent('scaled', rt.row.name, `replicas ${before} -> ${replicas}`, { from: before, to: replicas });
    return this.store.getDeployment(rt.row.name)!;
  }

  private recordReplica(deployment: string, r: Replica): void {
    if (this.closing && r.state === 'stopped') return;
    if (r.state === 'stopped') return;
    if (!this.store.getDeployment(deployment)) return;
    this.store.upsertReplica({
      deployment, idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, startedAt: r.startedAt, lastError: r.lastError,
    });
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
      if (rt) {
        await rt.dispatcher.drain(`deployment ${d.name} was undeployed`, 10_000);
        await rt.set.stop();
      }
      this.store.addEvent('undeployed', d.name, `undeployed ${d.name} (endpoint ${d.endpoint})`);
    }
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
    return { endpoints: this.store.listEndpoints(), deployments };
  }

  allReady(): boolean {
    for (const rt of this.runtimes.values()) if (rt.set.ready().length === 0) return false;
    return true;
  }

  async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.runtimes.values()].map(async (rt) => {
        await rt.dispatcher.drain('the daemon is shutting down', 10_000);
        await rt.set.stop();
      }),
    );
  }
}

/** The model's own metadata decides names and dtypes; the MLflow signature may name unnamed dims. */
function mergeSignature(mlflow: Signature | null, ort: { inputs: TensorSpec[]; outputs: TensorSpec[] }): Signature {
  if (!mlflow) return ort;
  const pick = (m: TensorSpec[], o: TensorSpec[]) =>
    o.map((spec, i) => {
      const declared = m.find((s) => s.name === spec.name) ?? (m.length === o.length ? m[i] : undefined);
      if (declared && declared.shape.length === spec.shape.length) {
        return { ...spec, shape: spec.shape.map((d, j) => (d >= 0 ? d : declared.shape[j])) };
      }
      return spec;
    });
  return { inputs: pick(mlflow.inputs, ort.inputs), outputs: pick(mlflow.outputs, ort.outputs) };
}

const INT_SETTINGS: Array<[keyof DeployRequest & keyof DeploymentSettings, number, number]> = [
  ['maxBatchSize', 1, 4096],
  ['batchWaitMs', 0, 60_000],
  ['maxConcurrentBatches', 1, 64],
  ['maxOngoingRequests', 1, 100_000],
  ['maxQueuedRequests', 1, 1_000_000],
  ['requestTimeoutMs', 1, 3_600_000],
  ['healthCheckPeriodS', 1, 3600],
  ['healthCheckTimeoutS', 1, 3600],
];

/** The batching settings a deploy asked for, checked. */
function batchSettings(req: DeployRequest): Partial<DeploymentSettings> {
  const out: Partial<DeploymentSettings> = {};
  for (const [key, min, max] of INT_SETTINGS) {
    const v = req[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      throw new MlserveError('BAD_REQUEST', `--${flag} must be a whole number from ${min} to ${max} (got ${v})`);
    }
    (out as Record<string, number>)[key] = v;
  }
  return out;
}

/**
 * The queue and batching policy of a deployment. A model is batched only when every input and
 * output has a dynamic first dimension, or when the operator set max_batch_size; any other model
 * runs one request at a time, so batching never changes an answer.
 */
export function dispatchOptions(s: DeploymentSettings, spec: Signature | null): DispatchOptions {
  const maxBatchSize = s.maxBatchSize ?? (spec && isBatchable(spec) ? 32 : 1);
  const maxConcurrentBatches = s.maxConcurrentBatches ?? 1;
  return {
    maxBatchSize,
    batchWaitMs: s.batchWaitMs ?? 0,
    maxConcurrentBatches,
    maxOngoingRequests: s.maxOngoingRequests ?? maxBatchSize * (maxConcurrentBatches + 1),
    maxQueued: s.maxQueuedRequests ?? 1000,
    timeoutMs: s.requestTimeoutMs ?? 30_000,
  };
}
