// The replicas of one deployment: start them, health-check them, restart a crashed one with
// exponential backoff, scale up and down (draining first), mark the deployment failed when a
// replica cannot load its model and unhealthy when it crash-loops, stop them gracefully.
// Outlier detection (outlier.ts): one health check or one request timing out makes a replica
// `suspect` (no new batches) until it answers again; `healthMisses` misses in a row replace it.
// It reports every change through `hooks`; the controller records them in the store.
import { join } from 'node:path';
import type { TensorSpec } from '../../tensor.js';
import type { ReplicaLink } from '../dataplane/replica-link.js';
import type { ReplicaKind, SpawnInput } from './kinds/kind.js';
import { judge, type Signal } from './outlier.js';
import { describeExit, logTail, spawnReplica, type SpawnedReplica } from './supervisor.js';
import { copyTruncateIfFull, envRotation, type RotationPolicy } from '../logging/log-file.js';

/** `suspect`: up, but a health check or a request timed out on it; it takes no new work until it answers. */
export type ReplicaState = 'starting' | 'ready' | 'suspect' | 'restarting' | 'failed' | 'draining' | 'stopping' | 'stopped' | 'pending';

export interface Replica {
  idx: number;
  pid: number | null;
  state: ReplicaState;
  restarts: number;
  startedAt: number | null;
  lastError: string | null;
  link: ReplicaLink | null;
  proc: SpawnedReplica | null;
  /** Consecutive crashes without staying up `stableMs`. */
  crashStreak: number;
  healthMisses: number;
  /** Extra environment (GPU assignment) and execution providers. */
  env?: Record<string, string>;
  providers?: string[];
  /** Its GPU share (allocator.Assignment), recorded in the store. */
  gpu?: unknown;
}

export interface ReplicaSetHooks {
  onReplica(r: Replica): void;
  onReady(spec: { inputs: TensorSpec[]; outputs: TensorSpec[] }, loadMs: number, idx: number, about?: Record<string, unknown>): void;
  /** A replica could not load the model: retrying will not help. */
  onLoadFailure(idx: number, message: string): void;
  onCrash(idx: number, message: string, restartInMs: number): void;
  /** A replica crashed `crashLoopThreshold` times in a row: `tail` is its last output. */
  onCrashLoop(idx: number, message: string): void;
  onHealthFailure(idx: number, message: string): void;
  /** A replica stopped answering: it takes no new work (its requests in flight may be tried elsewhere). */
  onSuspect?(idx: number, message: string): void;
  /** A suspect replica answered again and takes work. */
  onRecovered?(idx: number, message: string): void;
}

export interface ReplicaSetOptions {
  deployment: string;
  /** What kind of replica process to run, and what every replica of this set is started with. */
  kind: ReplicaKind;
  spawnInput: Omit<SpawnInput, 'replica' | 'gpuEnv' | 'providers' | 'gpuShare'>;
  /** The first replica index (a replacement revision numbers its replicas after the old ones). */
  firstIdx?: number;
  logDir: string;
  /** First restart delay; doubles per consecutive crash up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  stopGraceMs?: number;
  healthPeriodMs?: number;
  healthTimeoutMs?: number;
  /** Misses in a row that replace a replica. */
  healthMisses?: number;
  crashLoopThreshold?: number;
  /** A replica up this long has left its crash streak. */
  stableMs?: number;
  /** Restarts counted before this daemon started, by replica index. */
  priorRestarts?: Map<number, number>;
  /** How a replica process is started (the supervisor; tests pass a fake). */
  spawn?: typeof spawnReplica;
  /** Replica logs past maxBytes are rotated (copy-truncate while the replica runs), checked every health period. */
  logRotation?: RotationPolicy;
}

export function replicaLogFile(logDir: string, deployment: string, idx: number): string {
  return join(logDir, `${deployment}.${idx}.log`);
}

export class ReplicaSet {
  readonly members: Replica[] = [];
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private health: NodeJS.Timeout | null = null;

  constructor(
    private readonly opts: ReplicaSetOptions,
    private readonly hooks: ReplicaSetHooks,
  ) {}

  /** Start health checks; the controller adds the replicas (it knows their GPU placement). */
  start(): void {
    const period = this.opts.healthPeriodMs ?? 10_000;
    this.health = setInterval(() => void this.checkHealth(), period);
    this.health.unref();
  }

  /** The index the next replica gets. */
  nextIndex(): number {
    return this.members.reduce((m, r) => Math.max(m, r.idx + 1), this.opts.firstIdx ?? 0);
  }

  /** Is a replica alive or on its way? */
  alive(): boolean {
    return this.members.some((r) => r.state === 'ready' || r.state === 'suspect' || r.state === 'restarting' || r.state === 'starting');
  }

  /** Requests in flight on one replica. */
  inflightOf(idx: number): number {
    return this.members.find((r) => r.idx === idx)?.link?.load.requests ?? 0;
  }

  /** Add one replica; `env`/`providers` carry its GPU assignment. Returns it. */
  add(env?: Record<string, string>, providers?: string[], gpu?: unknown): Replica {
    const r = this.member(this.nextIndex(), 'starting');
    Object.assign(r, { env, providers, gpu });
    this.launch(r);
    return r;
  }

  /** Add a replica that waits for room on a GPU (`reason` says what it needs). */
  addPending(reason: string): Replica {
    const r = this.member(this.nextIndex(), 'pending');
    r.lastError = reason;
    this.hooks.onReplica(r);
    return r;
  }

  /** Start a pending replica now that its GPU share is reserved. */
  launchPending(r: Replica, env?: Record<string, string>, providers?: string[], gpu?: unknown): void {
    if (r.state !== 'pending' || this.stopping) return;
    Object.assign(r, { env, providers, gpu, lastError: null });
    this.launch(r);
  }

  private member(idx: number, state: ReplicaState): Replica {
    const r: Replica = { idx, pid: null, state, restarts: this.opts.priorRestarts?.get(idx) ?? 0, startedAt: null, lastError: null, link: null, proc: null, crashStreak: 0, healthMisses: 0 };
    this.members.push(r);
    return r;
  }

  /** Replicas that take new work. */
  ready(): Replica[] {
    return this.members.filter((r) => r.state === 'ready' && r.link !== null && !r.link.isClosed);
  }

  /** Replicas that count towards the desired number (not draining or stopped). */
  active(): Replica[] {
    return this.members.filter((r) => r.state !== 'draining' && r.state !== 'stopping' && r.state !== 'stopped');
  }

  private launch(r: Replica): void {
    const plan = this.opts.kind.spawnPlan({
      ...this.opts.spawnInput,
      replica: r.idx,
      providers: r.providers,
      gpuEnv: r.env,
      gpuShare: (r.gpu as { gpus?: { fraction: number }[] } | undefined)?.gpus?.reduce((a, g) => a + g.fraction, 0),
    });
    const logFile = replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx);
    let proc: SpawnedReplica;
    try {
      proc = (this.opts.spawn ?? spawnReplica)(plan, logFile, `${this.opts.deployment}/${r.idx}`);
    } catch (err) {
      r.state = 'failed';
      r.lastError = (err as Error).message;
      this.hooks.onReplica(r);
      this.hooks.onLoadFailure(r.idx, r.lastError);
      return;
    }
    r.proc = proc;
    r.pid = proc.pid;
    r.link = proc.link;
    r.state = 'starting';
    r.startedAt = Date.now();
    r.healthMisses = 0;
    this.hooks.onReplica(r);

    let wasReady = false;
    proc.ready.then(
      (info) => {
        if (this.stopping || r.proc !== proc || r.state !== 'starting') return;
        wasReady = true;
        r.state = 'ready';
        r.lastError = null;
        this.hooks.onReplica(r);
        this.hooks.onReady({ inputs: info.inputs, outputs: info.outputs }, info.loadMs, r.idx, info.about);
      },
      () => {},
    );
    void proc.exited.then((exit) => this.onExit(r, proc, exit, wasReady));
  }

  private onExit(r: Replica, proc: SpawnedReplica, exit: { code: number | null; signal: string | null; fatal?: string }, wasReady: boolean): void {
    if (r.proc !== proc) return;
    r.link = null;
    r.pid = null;
    if (this.stopping || r.state === 'stopping' || r.state === 'draining') {
      r.state = 'stopped';
      this.hooks.onReplica(r);
      return;
    }
    const tail = logTail(replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx), 5);
    if (exit.fatal !== undefined || (!wasReady && exit.code === 1)) {
      // The replica said it cannot load the model: a corrupt or missing file does not heal.
      r.state = 'failed';
      r.lastError = exit.fatal ?? (tail || `replica exited before it was ready (${describeExit(exit)})`);
      this.hooks.onReplica(r);
      this.hooks.onLoadFailure(r.idx, r.lastError);
      return;
    }
    const upMs = r.startedAt ? Date.now() - r.startedAt : 0;
    r.crashStreak = upMs >= (this.opts.stableMs ?? 30_000) ? 1 : r.crashStreak + 1;
    const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, (this.opts.backoffMs ?? 500) * 2 ** Math.min(r.crashStreak - 1, 16));
    r.state = 'restarting';
    r.lastError = `replica ${r.idx} ${describeExit(exit)}${tail ? `; last output: ${tail}` : ''}`;
    r.restarts++;
    this.hooks.onReplica(r);
    this.hooks.onCrash(r.idx, r.lastError, delay);
    if (r.crashStreak === (this.opts.crashLoopThreshold ?? 5)) this.hooks.onCrashLoop(r.idx, r.lastError);
    // A replica shrunk away while it waited to restart is not started again.
    this.later(delay, () => {
      if (r.state === 'restarting' && this.members.includes(r)) this.launch(r);
    });
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopping) fn();
    }, ms);
    this.timers.add(timer);
  }

  /** Ping every ready and suspect replica; each answer or timeout goes through the outlier rule. */
  private async checkHealth(): Promise<void> {
    this.rotateLogs();
    const timeout = this.opts.healthTimeoutMs ?? 30_000;
    const checked = this.members.filter((r) => (r.state === 'ready' || r.state === 'suspect') && r.link !== null && !r.link.isClosed);
    await Promise.all(
      checked.map(async (r) => {
        const link = r.link!;
        const proc = r.proc;
        let timer: NodeJS.Timeout | undefined;
        let signal: Signal;
        let why = '';
        try {
          await Promise.race([link.ping(), new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`no answer within ${timeout} ms`)), timeout)))]);
          signal = { kind: 'pong' };
        } catch (err) {
          signal = { kind: 'ping-timeout' };
          why = (err as Error).message;
        } finally {
          clearTimeout(timer);
        }
        if (r.proc !== proc || link.isClosed) return; // it exited meanwhile: its exit decides
        this.observe(r, signal, why);
      }),
    );
  }

  /** A running replica's log past its size is copied to .1 and truncated (the replica writes on with O_APPEND). */
  private rotateLogs(): void {
    const policy = this.opts.logRotation ?? envRotation();
    for (const r of this.members) {
      if (!r.proc) continue;
      try {
        copyTruncateIfFull(replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx), policy);
      } catch {
        /* a full disk: the next period tries again */
      }
    }
  }

  /**
   * A request passed its deadline while the replica behind `link` held it, and the replica said
   * nothing for `silentMs` (the dispatcher tells): a frozen replica is taken out of routing at once.
   */
  requestTimedOut(link: ReplicaLink, silentMs: number, budgetMs: number): void {
    const r = this.members.find((m) => m.link === link);
    if (r) this.observe(r, { kind: 'request-timeout', silentMs, budgetMs }, `held a request past its ${budgetMs} ms deadline without a word for ${Math.round(silentMs)} ms`);
  }

  /** Apply the outlier rule to one replica: suspect it, restore it, or replace it. */
  private observe(r: Replica, signal: Signal, why: string): void {
    if (this.stopping || (r.state !== 'ready' && r.state !== 'suspect')) return;
    const limit = this.opts.healthMisses ?? 3;
    const v = judge({ state: r.state, misses: r.healthMisses }, signal, { misses: limit, healthTimeoutMs: this.opts.healthTimeoutMs ?? 30_000 });
    r.healthMisses = v.misses;
    if (v.action === 'replace') {
      if (r.state === 'ready') {
        r.state = 'suspect'; // no new work while it goes
        this.hooks.onReplica(r);
      }
      this.hooks.onHealthFailure(r.idx, `replica ${r.idx} failed ${v.misses} health checks (${why}); replacing it`);
      r.proc?.kill(); // its exit restarts it; requests it held are retried elsewhere
      return;
    }
    if (v.state === r.state) return;
    const was = r.state;
    r.state = v.state;
    this.hooks.onReplica(r);
    if (v.action === 'suspect') {
      const what = signal.kind === 'ping-timeout' ? `missed a health check (${why})` : why;
      this.hooks.onSuspect?.(r.idx, `replica ${r.idx} ${what}; no new requests go to it until it answers (replaced after ${limit} missed health checks)`);
    } else if (v.action === 'restore' && was === 'suspect') {
      this.hooks.onRecovered?.(r.idx, `replica ${r.idx} answers again; back in service`);
    }
  }

  /**
   * Remove `n` replicas (highest index first): they take no new work, finish what they hold
   * (up to the grace period), then stop.
   */
  async shrink(n: number): Promise<void> {
    const victims = this.active().sort((a, b) => Number(b.state === 'pending') - Number(a.state === 'pending') || b.idx - a.idx).slice(0, n);
    await Promise.all(victims.map((r) => this.drainAndStop(r)));
    for (const r of victims) this.members.splice(this.members.indexOf(r), 1);
  }

  private async drainAndStop(r: Replica): Promise<void> {
    if (r.state === 'pending') {
      r.state = 'stopped';
      return;
    }
    r.state = 'draining';
    this.hooks.onReplica(r);
    const grace = Date.now() + (this.opts.stopGraceMs ?? 5000) * 2;
    while (r.proc && (r.link?.load.requests ?? 0) > 0 && Date.now() < grace) await new Promise((res) => setTimeout(res, 20));
    if (r.proc) await r.proc.stop(this.opts.stopGraceMs ?? 5000);
    r.state = 'stopped';
    r.pid = null;
    this.hooks.onReplica(r);
  }

  /** Stop every replica: close its pipe so it exits by itself, SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.health) clearInterval(this.health);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(
      this.members.map(async (r) => {
        if (!r.proc) {
          r.state = 'stopped';
          return;
        }
        r.state = 'stopping';
        this.hooks.onReplica(r);
        await r.proc.stop(this.opts.stopGraceMs ?? 5000);
        r.state = 'stopped';
        r.pid = null;
        this.hooks.onReplica(r);
      }),
    );
  }
}
