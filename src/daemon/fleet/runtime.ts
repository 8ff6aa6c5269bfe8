// One deployment while it runs: its replica set (with GPU placement), its request queue, and its
// autoscaler. It writes what happens to the store; the controller creates and removes it.
import type { Signature } from '../../tensor.js';
import { decide, INITIAL_AUTOSCALER_STATE, type AutoscalerState, type MetricSample } from './autoscaler.js';
import { Dispatcher } from '../dataplane/dispatcher.js';
import type { Assignment } from './allocator.js';
import type { GpuBook } from './placement.js';
import { ReplicaSet, type Replica } from './replica-set.js';
import { dispatchOptions, mergeSignature } from '../control/settings.js';
import type { DeploymentRow, Store } from '../control/store.js';
import type { Metrics } from '../metrics.js';

/** How often the autoscaler samples load and decides (Ray's controller loop is 0.1 s). */
const AUTOSCALE_LOOP_S = 0.5;

export class Runtime {
  readonly set: ReplicaSet;
  readonly dispatcher: Dispatcher;
  /** Inputs and outputs as the loaded model declares them (from the replica's ready handshake). */
  spec: Signature | null = null;
  private samples: MetricSample[] = [];
  private scaler: AutoscalerState = INITIAL_AUTOSCALER_STATE;
  private loop: NodeJS.Timeout | null = null;
  private scaling = false;

  constructor(
    public row: DeploymentRow,
    private readonly store: Store,
    private readonly gpus: GpuBook,
    logDir: string,
    /** Called when GPU room may have appeared (a replica released its share). */
    private readonly onRelease: () => void,
    metrics?: Metrics,
  ) {
    const prior = this.store.listReplicas(row.name);
    this.set = new ReplicaSet(
      {
        deployment: row.name, modelFile: row.modelFile, replicas: row.settings.replicas, threads: row.settings.threads,
        concurrency: row.settings.maxConcurrentBatches ?? 1, logDir,
        priorRestarts: new Map(prior.map((r) => [r.idx, r.restarts])),
        healthPeriodMs: (row.settings.healthCheckPeriodS ?? 10) * 1000,
        healthTimeoutMs: (row.settings.healthCheckTimeoutS ?? 30) * 1000,
      },
      {
        onReplica: (r) => this.record(r),
        onReady: (spec, loadMs, idx) => {
          this.spec = mergeSignature(row.signature, spec);
          if (!row.signature) this.store.setSignature(row.name, this.spec);
          this.store.addEvent('replica-ready', `${row.name}/${idx}`, `replica ${idx} loaded the model in ${loadMs.toFixed(0)} ms`, { loadMs });
          metrics?.load.observe({ deployment: row.name }, loadMs / 1000);
          this.updateState();
          this.dispatcher.pump();
        },
        onLoadFailure: (idx, message) => {
          this.store.setDeploymentState(row.name, 'failed', message);
          this.store.addEvent('load-failed', `${row.name}/${idx}`, `replica ${idx} could not load the model: ${message}`);
        },
        onCrash: (idx, message, delay) => this.store.addEvent('replica-crashed', `${row.name}/${idx}`, `${message}; restarting in ${delay} ms`),
        onCrashLoop: (idx, message) => {
          this.store.setDeploymentState(row.name, 'unhealthy', `replica ${idx} is crash-looping: ${message}`);
          this.store.addEvent('unhealthy', row.name, `replica ${idx} crashed repeatedly; still retrying with backoff. ${message}`);
        },
        onHealthFailure: (idx, message) => this.store.addEvent('health-failed', `${row.name}/${idx}`, message),
        inflight: (idx) => this.dispatcher.inflightOf(idx),
      },
    );
    this.dispatcher = new Dispatcher(this.set, () => dispatchOptions(this.row.settings, this.spec), Math.random, () => this.coldStart(), (size, computeMs, queueMs) =>
      metrics?.observeBatch(row.name, size, computeMs, queueMs));
    this.store.deleteReplicasFrom(row.name, row.settings.replicas);
    this.set.start();
    for (let i = 0; i < row.settings.replicas; i++) this.addReplica(prior.find((p) => p.idx === i)?.gpu as Assignment | undefined);
    this.updateState();
    if (row.settings.autoscaling) {
      this.loop = setInterval(() => void this.autoscale(), AUTOSCALE_LOOP_S * 1000);
      this.loop.unref();
    }
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
    const res = this.gpus.reserve(this.key(idx), gpus, prior);
    if (res.ok) this.set.add(res.env, res.providers, res.assignment);
    else this.set.addPending(res.reason);
  }

  /** Place pending replicas that fit now; returns how many started. */
  placePending(): number {
    const gpus = this.row.settings.gpus;
    if (!gpus) return 0;
    let started = 0;
    for (const r of this.set.members.filter((m) => m.state === 'pending')) {
      const res = this.gpus.reserve(this.key(r.idx), gpus);
      if (!res.ok) {
        r.lastError = res.reason;
        continue;
      }
      this.store.addEvent('placed', this.key(r.idx), `placed on ${res.assignment.gpus.map((g) => `GPU ${g.index} (${g.fraction})`).join(', ')}`);
      this.set.launchPending(r, res.env, res.providers, res.assignment);
      started++;
    }
    this.updateState();
    return started;
  }

  private updateState(): void {
    const d = this.store.getDeployment(this.row.name);
    if (!d || d.state === 'failed') return;
    const active = this.set.active();
    const pending = active.filter((r) => r.state === 'pending');
    if (pending.length > 0) {
      const msg = `${pending.length} of ${active.length} replica(s) waiting for a GPU: ${pending[0].lastError}`;
      if (d.state !== 'pending' || d.message !== msg) {
        this.store.setDeploymentState(this.row.name, 'pending', msg);
        if (d.state !== 'pending') this.store.addEvent('pending', this.row.name, msg);
      }
      return;
    }
    if (active.length > 0 && this.set.ready().length === active.length && d.state !== 'ready') {
      this.store.setDeploymentState(this.row.name, 'ready', null);
      this.store.addEvent('ready', this.row.name, `all ${active.length} replica(s) ready`);
    } else if (active.length === 0 && d.state !== 'ready') {
      this.store.setDeploymentState(this.row.name, 'ready', 'scaled to zero: the next request starts a replica');
    }
  }

  private record(r: Replica): void {
    if (r.state === 'stopped') return;
    if (!this.store.getDeployment(this.row.name)) return;
    this.store.upsertReplica({
      deployment: this.row.name, idx: r.idx, pid: r.pid, state: r.state, restarts: r.restarts, startedAt: r.startedAt, lastError: r.lastError, gpu: r.gpu ?? null,
    });
  }

  /** Change the replica count: new replicas start (placed on GPUs), surplus ones drain and stop. */
  async scaleTo(replicas: number, why: string, data?: unknown): Promise<void> {
    const before = this.set.active().length;
    this.row.settings = { ...this.row.settings, replicas };
    this.store.updateSettings(this.row.name, this.row.settings);
    if (replicas > before) {
      for (let i = before; i < replicas; i++) this.addReplica();
      this.store.setDeploymentState(this.row.name, 'loading', null);
      this.updateState();
    } else if (replicas < before) {
      const gone = this.set.active().sort((a, b) => Number(b.state === 'pending') - Number(a.state === 'pending') || b.idx - a.idx).slice(0, before - replicas).map((r) => r.idx);
      await this.set.shrink(before - replicas);
      for (const idx of gone) {
        this.store.deleteReplica(this.row.name, idx);
        this.gpus.release(this.key(idx));
      }
      this.updateState();
      this.onRelease();
    }
    if (replicas !== before) this.store.addEvent('scaled', this.row.name, `replicas ${before} -> ${replicas} (${why})`, { from: before, to: replicas, ...((data as object) ?? {}) });
  }

  /** A request came while no replica runs (autoscaled to zero): start one now. */
  private coldStart(): boolean {
    const cfg = this.row.settings.autoscaling;
    if (!cfg || this.set.active().length > 0) return this.set.active().length > 0;
    void this.scaleTo(Math.max(1, cfg.min_replicas), 'cold start: a request arrived with no replica running');
    return true;
  }

  /** One autoscaler tick: sample ongoing + queued requests, decide (Ray's policy), act. */
  private async autoscale(): Promise<void> {
    const cfg = this.row.settings.autoscaling;
    if (!cfg || this.scaling) return;
    const now = performance.now() / 1000;
    const snap = this.dispatcher.snapshot();
    this.samples.push({ t: now, ongoing: snap.inflight + snap.queued });
    this.samples = this.samples.filter((s) => s.t > now - cfg.look_back_period_s);
    const current = this.set.active().length;
    const room = this.row.settings.gpus ? this.gpus.room(this.row.settings.gpus) : undefined;
    const d = decide(cfg, this.scaler, this.samples, now, current, room, AUTOSCALE_LOOP_S);
    this.scaler = d.state;
    if (d.target === current) return;
    this.scaling = true;
    try {
      await this.scaleTo(d.target, `autoscaler: ${d.reason}`, { inputs: d.inputs });
      this.scaler = INITIAL_AUTOSCALER_STATE;
    } finally {
      this.scaling = false;
    }
  }

  async stop(reason: string): Promise<void> {
    if (this.loop) clearInterval(this.loop);
    await this.dispatcher.drain(reason, 10_000);
    await this.set.stop();
    for (const r of this.set.members) this.gpus.release(this.key(r.idx));
  }
}
