// One revision of a deployment while it runs: its replica set (of one kind, placed on GPUs), its
// request queue and its autoscaler. It records what happens (replicas, state, events) through a
// narrow store interface; the fleet creates, promotes and retires it on the reconcile loop's word.
import type { Signature } from '../../tensor.js';
import { decide, INITIAL_AUTOSCALER_STATE, type AutoscalerState, type AutoscalingConfig, type MetricSample } from './autoscaler.js';
import { stallMessage, type LatencySample } from './latency-slo.js';
import { Dispatcher, type DispatcherHooks, type DispatchOptions } from '../dataplane/dispatcher.js';
import { LlmDispatcher } from '../dataplane/openai/llm-dispatcher.js';
import { llmReplicas } from './llm-serving.js';
import type { ServingTarget } from '../dataplane/routes.js';
import type { Assignment } from './allocator.js';
import { withKindDefaults, type ReplicaKind } from './kinds/kind.js';
import type { GpuBook } from './placement.js';
import { ReplicaSet, type Replica } from './replica-set.js';
import { operatorPaths } from './source-path.js';
import { dispatchOptions } from '../control/settings.js';
import { pipelineMisfit, preparePipeline, type PreparedPipeline } from '../../pipeline/pipeline.js';
import type { DeploymentRow, DeploymentState, ReplicaRow } from '../control/state.js';
import type { ObservedRevision, Phase } from '../control/reconcile.js';

/** How often the autoscaler samples load and decides (Ray's controller loop is 0.1 s). */
const AUTOSCALE_LOOP_S = 0.5;

/** What a runtime records: replicas, the deployment's state, its signature, events. */
export interface RuntimeStore {
  upsertReplica(r: ReplicaRow): void;
  deleteReplica(deployment: string, idx: number): void;
  deploymentState(name: string): { state: DeploymentState; message: string | null } | undefined;
  setDeploymentState(name: string, state: DeploymentState, message: string | null): void;
  setSignature(name: string, signature: Signature): void;
  addEvent(kind: string, subject: string, message: string, data?: unknown): void;
}

export interface RuntimeMetrics {
  observeBatch(deployment: string, size: number, computeMs: number, queueMs: number[]): void;
  observeLoad(deployment: string, seconds: number): void;
  /** Request latencies as the ingress answered them (for target_p99_ms): start or stop keeping them, read them. */
  keepLatencies?(deployment: string, holder: string, on: boolean): void;
  latencies?(deployment: string): readonly LatencySample[];
}

export interface RuntimeDeps {
  store: RuntimeStore;
  gpus: GpuBook;
  logDir: string;
  /** A scratch working directory for replica processes. */
  workDir?: string;
  /** GPU room may have appeared (a replica released its share). */
  onRelease: () => void;
  /** Something changed that the reconcile loop should look at soon (ready, failed). */
  onChange: () => void;
  metrics?: RuntimeMetrics;
}

export interface RuntimeStart {
  row: DeploymentRow;
  kind: ReplicaKind;
  revision: string;
  /** `active` serves and writes the deployment's state; `next` comes up beside it (blue-green). */
  role: 'active' | 'next';
  /** The first replica index (after the serving revision's). */
  firstIdx: number;
  /** What earlier replicas of this deployment held (daemon restart): GPU shares and restart counts, by position. */
  priors: Array<{ gpu?: Assignment | null; restarts: number }>;
  /** A retry after a failed start: the deployment stays `failed` until this one is ready. */
  retry: boolean;
}

export class Runtime implements ServingTarget {
  readonly set: ReplicaSet;
  readonly dispatcher: Dispatcher;
  readonly row: DeploymentRow;
  readonly kind: ReplicaKind;
  readonly revision: string;
  readonly startedAt = Date.now();
  role: 'active' | 'next';
  /** Inputs and outputs as the loaded model declares them (from the replica's ready handshake). */
  spec: Signature | null;
  /** Why its replicas cannot load the model (a load failure does not heal by restarting). */
  failed: string | null = null;
  /** What the first ready replica said about itself beyond its inputs and outputs (python: versions, signature form). */
  about: Record<string, unknown> | null = null;
  /** Its pipeline with the labels loaded (POST .../predict), or null. */
  readonly pipeline: PreparedPipeline | null;
  private crashLooping = false;
  private target: number;
  private autoscaling: AutoscalingConfig | null;
  private options: DispatchOptions;
  private samples: MetricSample[] = [];
  private scaler: AutoscalerState = INITIAL_AUTOSCALER_STATE;
  private loop: NodeJS.Timeout | null = null;
  private scaling = false;

  constructor(start: RuntimeStart, private readonly deps: RuntimeDeps) {
    const { row, kind } = start;
    this.row = row;
    this.kind = kind;
    this.revision = start.revision;
    this.role = start.role;
    this.spec = row.signature;
    this.pipeline = row.settings.pipeline ? preparePipeline(row.settings.pipeline, row.modelDir) : null;
    this.autoscaling = row.settings.autoscaling ?? null;
    this.target = row.settings.replicas;
    // The kind's own defaults (ONNX on CPU: batches at once, one per engine), as if set.
    const s = withKindDefaults(row.settings, kind);
    this.options = dispatchOptions(s, null, kind.batchable);
    const llm = kind.api === 'llm' ? llmReplicas(kind, s) : null;
    this.set = new ReplicaSet(
      {
        deployment: row.name, kind, firstIdx: start.firstIdx, logDir: deps.logDir,
        spawnInput: {
          deployment: row.name, modelDir: row.modelDir, modelFile: row.modelFile, threads: s.threads, concurrency: s.maxConcurrentBatches ?? 1,
          interpreter: s.python, workDir: deps.workDir, warmup: s.warmup !== false, llm: s.llm,
        },
        priorRestarts: new Map(start.priors.map((p, i) => [start.firstIdx + i, p.restarts])),
        healthPeriodMs: (s.healthCheckPeriodS ?? 10) * 1000,
        healthTimeoutMs: (s.healthCheckTimeoutS ?? 30) * 1000,
      },
      {
        onReplica: (r) => this.record(r),
        onReady: (reported, loadMs, idx, about) => {
          this.spec = kind.metadata(row.signature, reported);
          this.about ??= about && Object.keys(about).length ? about : null;
          this.options = dispatchOptions(s, this.spec, kind.batchable);
          if (!row.signature) deps.store.setSignature(row.name, this.spec);
          // A model whose signature was unknown at deploy (a bare .onnx) is checked against its pipeline now.
          const misfit = this.pipeline && pipelineMisfit(this.pipeline.spec, this.spec);
          if (misfit) {
            this.failed = misfit;
            deps.store.addEvent('load-failed', `${row.name}/${idx}`, misfit);
          }
          const warm = typeof about?.warmupMs === 'number' ? `, warm-up run ${about.warmupMs.toFixed(0)} ms` : '';
          deps.store.addEvent('replica-ready', `${row.name}/${idx}`, `replica ${idx} loaded the model in ${loadMs.toFixed(0)} ms${warm}${this.role === 'next' ? ' (new revision)' : ''}`, { loadMs, ...(warm ? { warmupMs: about!.warmupMs } : {}) });
          deps.metrics?.observeLoad(row.name, loadMs / 1000);
          llm?.ready(this.set.members.find((r) => r.idx === idx)?.link ?? null, about);
          this.updateState();
          this.dispatcher.pump();
          deps.onChange();
        },
        onLoadFailure: (idx, raw) => {
          const message = operatorPaths(raw, row); // the file the operator gave, not the cache copy
          this.failed = message;
          deps.store.addEvent('load-failed', `${row.name}/${idx}`, `replica ${idx} could not load the model: ${message}`);
          this.updateState();
          deps.onChange();
        },
        onCrash: (idx, message, delay) => deps.store.addEvent('replica-crashed', `${row.name}/${idx}`, `${message}; restarting in ${delay} ms`),
        onCrashLoop: (idx, message) => {
          this.crashLooping = true;
          this.updateState(`replica ${idx} is crash-looping: ${message}`);
          deps.store.addEvent('unhealthy', row.name, `replica ${idx} crashed repeatedly; still retrying with backoff. ${message}`);
        },
        onHealthFailure: (idx, message) => deps.store.addEvent('health-failed', `${row.name}/${idx}`, message),
        onSuspect: (idx, message) => {
          const link = this.set.members.find((r) => r.idx === idx)?.link;
          const moved = link ? this.dispatcher.rescue(link) : 0;
          deps.store.addEvent('replica-suspect', `${row.name}/${idx}`, `${message}${moved ? `; ${moved} request(s) it held sent to another replica` : ''}`, { moved });
        },
        onRecovered: (idx, message) => {
          deps.store.addEvent('replica-recovered', `${row.name}/${idx}`, message);
          this.dispatcher.pump();
        },
      },
    );
    const hooks: DispatcherHooks = {
      onNoReplica: () => this.coldStart(),
      onBatch: (size, computeMs, queueMs) => deps.metrics?.observeBatch(row.name, size, computeMs, queueMs),
      header: kind.batchHeader ? (inputs, rows) => kind.batchHeader!(inputs, rows) : undefined,
      onRequestTimeout: (link, silentMs, budgetMs) => this.set.requestTimedOut(link, silentMs, budgetMs),
    };
    this.dispatcher = llm ? new LlmDispatcher(this.set, () => this.options, llm, hooks) : new Dispatcher(this.set, () => this.options, Math.random, hooks);
    if (this.role === 'active' && !start.retry) deps.store.setDeploymentState(row.name, 'loading', null);
    this.set.start();
    for (let i = 0; i < this.target; i++) this.addReplica(start.priors[i]?.gpu ?? undefined);
    this.updateState();
    this.setAutoscaling(this.autoscaling, this.target);
  }

  // --- what the data plane sees (ServingTarget) ----------------------------------------------

  get name(): string {
    return this.row.name;
  }

  get endpoint(): string {
    return this.row.endpoint;
  }

  get version(): string {
    return this.row.resolved.version;
  }

  get platform(): string {
    return this.kind.platform;
  }

  readyReplicas(): number {
    return this.set.ready().length;
  }

  /** Autoscaled deployments may have no replica (scaled to zero) and still count as ready. */
  get mayScaleToZero(): boolean {
    return this.autoscaling !== null && this.autoscaling.min_replicas === 0;
  }

  // --- what the reconcile loop sees ----------------------------------------------------------

  phase(): Phase {
    if (this.failed) return 'failed';
    const active = this.set.active();
    if (active.some((r) => r.state === 'pending')) return 'pending';
    const ready = this.set.ready().length;
    if (active.length === this.target && ready === active.length && (ready > 0 || this.autoscaling !== null)) return 'ready';
    return this.crashLooping ? 'unhealthy' : 'starting';
  }

  observe(): ObservedRevision {
    return { revision: this.revision, phase: this.phase(), replicas: this.target, autoscaling: this.autoscaling, startedAt: this.startedAt };
  }

  /** The batching and queue policy in force. */
  dispatchOptions(): DispatchOptions {
    return this.options;
  }

  // --- changes ---------------------------------------------------------------------------

  /** This revision now serves (cutover): it writes the deployment's state from here on. */
  promote(): void {
    this.role = 'active';
    this.updateState();
  }

  private key(idx: number): string {
    return `${this.row.name}/${idx}`;
  }

  /** Start one more replica, on its GPU share when it asks for one (pending if none is free). */
  private addReplica(prior?: Assignment): void {
    const gpus = this.row.settings.gpus;
    if (!gpus) {
      this.set.add();
      return;
    }
    const idx = this.set.nextIndex();
    const res = this.deps.gpus.reserve(this.key(idx), gpus, prior);
    if (res.ok) this.set.add(res.env, res.providers, res.assignment);
    else this.set.addPending(res.reason);
  }

  /** Place pending replicas that fit now; returns how many started. */
  placePending(): number {
    const gpus = this.row.settings.gpus;
    if (!gpus) return 0;
    let started = 0;
    let changed = false;
    for (const r of this.set.members.filter((m) => m.state === 'pending')) {
      const res = this.deps.gpus.reserve(this.key(r.idx), gpus);
      if (!res.ok) {
        changed ||= r.lastError !== res.reason; // who holds the room may have changed
        r.lastError = res.reason;
        continue;
      }
      this.deps.store.addEvent('placed', this.key(r.idx), `placed on ${res.assignment.gpus.map((g) => `GPU ${g.index} (${g.fraction})`).join(', ')}`);
      this.set.launchPending(r, res.env, res.providers, res.assignment);
      started++;
    }
    if (started || changed) this.updateState();
    return started;
  }

  /** Write the deployment's state (active revisions only) from its replicas. */
  private updateState(unhealthy?: string): void {
    if (this.role !== 'active') return;
    const cur = this.deps.store.deploymentState(this.row.name);
    if (!cur) return;
    const set = (state: DeploymentState, message: string | null, event?: [string, string]) => {
      if (cur.state === state && cur.message === message) return;
      this.deps.store.setDeploymentState(this.row.name, state, message);
      if (event && cur.state !== state) this.deps.store.addEvent(event[0], this.row.name, event[1]);
    };
    if (this.failed) return set('failed', this.failed);
    if (unhealthy) return set('unhealthy', unhealthy);
    const active = this.set.active();
    const pending = active.filter((r) => r.state === 'pending');
    if (pending.length > 0) {
      const msg = `${pending.length} of ${active.length} replica(s) waiting for a GPU: ${pending[0].lastError}`;
      return set('pending', msg, ['pending', msg]);
    }
    const ready = this.set.ready().length;
    if (active.length > 0 && ready === active.length) return set('ready', null, ['ready', `all ${active.length} replica(s) ready`]);
    if (active.length === 0 && this.autoscaling) return set('ready', 'scaled to zero: the next request starts a replica');
    if (cur.state === 'failed' || cur.state === 'unhealthy') return; // a retry: stays so until ready
    if (cur.state === 'ready' && ready > 0) return; // a replica restarting or added: still serving
    set('loading', null);
  }

  private record(r: Replica): void {
    if (r.state === 'stopped') return;
    if (!this.deps.store.deploymentState(this.row.name)) return;
    this.deps.store.upsertReplica({
      deployment: this.row.name, idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, startedAt: r.startedAt, lastError: r.lastError, gpu: r.gpu ?? null,
    });
  }

  /** Change the replica count: new replicas start (placed on GPUs), surplus ones drain and stop. */
  async scaleTo(replicas: number, why: string, data?: unknown): Promise<void> {
    const before = this.set.active().length;
    this.target = replicas;
    if (replicas > before) {
      for (let i = before; i < replicas; i++) this.addReplica();
      this.updateState();
    } else if (replicas < before) {
      const gone = this.set.active().sort((a, b) => Number(b.state === 'pending') - Number(a.state === 'pending') || b.idx - a.idx).slice(0, before - replicas).map((r) => r.idx);
      await this.set.shrink(before - replicas);
      for (const idx of gone) {
        this.deps.store.deleteReplica(this.row.name, idx);
        this.deps.gpus.release(this.key(idx));
      }
      this.updateState();
      this.deps.onRelease();
    }
    if (replicas !== before) this.deps.store.addEvent('scaled', this.row.name, `replicas ${before} -> ${replicas} (${why})`, { from: before, to: replicas, ...((data as object) ?? {}) });
    this.deps.onChange();
  }

  /** New autoscaling bounds (null: a fixed count of `replicas`), in place: no replica restarts. */
  setAutoscaling(cfg: AutoscalingConfig | null, replicas: number): void {
    const was = this.autoscaling;
    this.autoscaling = cfg;
    this.deps.metrics?.keepLatencies?.(this.row.name, this.revision, cfg?.target_p99_ms != null);
    if (this.loop) clearInterval(this.loop);
    this.loop = null;
    this.scaler = INITIAL_AUTOSCALER_STATE;
    if (cfg) {
      this.loop = setInterval(() => void this.autoscale(), AUTOSCALE_LOOP_S * 1000);
      this.loop.unref();
      const current = this.set.active().length;
      const clamped = Math.min(cfg.max_replicas, Math.max(cfg.min_replicas, current));
      if (clamped !== current) void this.scaleTo(clamped, 'autoscaling bounds changed');
    } else if (was) {
      void this.scaleTo(replicas, 'autoscaling off');
    }
  }

  /** A request came while no replica runs (autoscaled to zero): start one now. */
  private coldStart(): boolean {
    const cfg = this.autoscaling;
    if (!cfg || this.set.active().length > 0) return this.set.active().length > 0;
    void this.scaleTo(Math.max(1, cfg.min_replicas), 'cold start: a request arrived with no replica running');
    return true;
  }

  /** One autoscaler tick: sample ongoing + queued requests, decide (Ray's policy), act. */
  private async autoscale(): Promise<void> {
    const cfg = this.autoscaling;
    if (!cfg || this.scaling) return;
    const now = performance.now() / 1000;
    const snap = this.dispatcher.snapshot() as ReturnType<Dispatcher['snapshot']> & { llm?: { queuedTokens: number } };
    this.samples.push({ t: now, ongoing: snap.inflight + snap.queued, queued: snap.queued, ...(snap.llm ? { queuedTokens: snap.llm.queuedTokens } : {}) });
    this.samples = this.samples.filter((s) => s.t > now - cfg.look_back_period_s);
    const slo = cfg.target_p99_ms == null ? undefined : { latencies: this.deps.metrics?.latencies?.(this.row.name) ?? [], readyReplicas: this.set.ready().length };
    const current = this.set.active().length;
    const room = this.row.settings.gpus ? this.deps.gpus.room(this.row.settings.gpus) : undefined;
    const d = decide(cfg, this.scaler, this.samples, now, current, room, AUTOSCALE_LOOP_S, slo);
    this.scaler = d.state;
    if (d.sloStall) this.deps.store.addEvent('slo-stalled', this.row.name, stallMessage(this.row.name, d.sloStall), d.sloStall);
    if (d.target === current) return;
    this.scaling = true;
    try {
      await this.scaleTo(d.target, `autoscaler: ${d.reason}`, { inputs: d.inputs });
      this.scaler = { ...this.scaler, decisionCounter: 0 }; // the latency signal remembers the step
    } finally {
      this.scaling = false;
    }
  }

  /** Drain (requests already on their way are served), stop the replicas, release their GPU shares. */
  async stop(reason: string, forget: boolean): Promise<void> {
    if (this.loop) clearInterval(this.loop);
    await this.dispatcher.drain(reason, 10_000);
    await this.set.stop();
    for (const r of this.set.members) {
      this.deps.gpus.release(this.key(r.idx));
      if (forget) this.deps.store.deleteReplica(this.row.name, r.idx);
    }
    this.deps.metrics?.keepLatencies?.(this.row.name, this.revision, false);
    this.deps.onRelease();
  }
}
