// The replicas of one deployment: start them, restart a crashed one with exponential backoff,
// mark the deployment failed when a replica cannot load its model, stop them gracefully.
// It reports every change through `hooks`; the controller records them in the store.
import { join } from 'node:path';
import type { ReplicaConfig } from '../runtime/protocol.js';
import type { TensorSpec } from '../tensor.js';
import { describeExit, logTail, spawnReplica, type SpawnedReplica } from './supervisor.js';
import type { ReplicaLink } from './replica-link.js';

export type ReplicaState = 'starting' | 'ready' | 'restarting' | 'failed' | 'stopping' | 'stopped';

export interface Replica {
  idx: number;
  pid: number | null;
  state: ReplicaState;
  restarts: number;
  startedAt: number | null;
  lastError: string | null;
  link: ReplicaLink | null;
  proc: SpawnedReplica | null;
}

export interface ReplicaSetHooks {
  onReplica(r: Replica): void;
  onReady(spec: { inputs: TensorSpec[]; outputs: TensorSpec[] }, loadMs: number, idx: number): void;
  /** A replica could not load the model: retrying will not help. */
  onLoadFailure(idx: number, message: string): void;
  onCrash(idx: number, message: string, restartInMs: number): void;
}

export interface ReplicaSetOptions {
  deployment: string;
  modelFile: string;
  replicas: number;
  threads?: number;
  /** Batches one replica runs at once. */
  concurrency?: number;
  logDir: string;
  /** First restart delay; doubles per consecutive crash up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  stopGraceMs?: number;
}

export function replicaLogFile(logDir: string, deployment: string, idx: number): string {
  return join(logDir, `${deployment}.${idx}.log`);
}

export class ReplicaSet {
  readonly members: Replica[] = [];
  private stopping = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly opts: ReplicaSetOptions,
    private readonly hooks: ReplicaSetHooks,
  ) {}

  start(): void {
    for (let i = 0; i < this.opts.replicas; i++) {
      const r: Replica = { idx: i, pid: null, state: 'starting', restarts: 0, startedAt: null, lastError: null, link: null, proc: null };
      this.members.push(r);
      this.launch(r);
    }
  }

  /** Ready replicas, for the dispatcher. */
  ready(): Replica[] {
    return this.members.filter((r) => r.state === 'ready');
  }

  private launch(r: Replica): void {
    const cfg: ReplicaConfig = {
      deployment: this.opts.deployment,
      replica: r.idx,
      modelFile: this.opts.modelFile,
      threads: this.opts.threads,
      concurrency: this.opts.concurrency,
    };
    const logFile = replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx);
    let proc: SpawnedReplica;
    try {
      proc = spawnReplica(cfg, logFile);
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
    this.hooks.onReplica(r);

    let wasReady = false;
    proc.ready.then(
      (info) => {
        if (this.stopping || r.proc !== proc) return;
        wasReady = true;
        r.state = 'ready';
        r.lastError = null;
        this.hooks.onReplica(r);
        this.hooks.onReady({ inputs: info.inputs, outputs: info.outputs }, info.loadMs, r.idx);
      },
      () => {},
    );
    void proc.exited.then((exit) => {
      if (r.proc !== proc) return;
      r.link = null;
      r.pid = null;
      if (this.stopping) {
        r.state = 'stopped';
        this.hooks.onReplica(r);
        return;
      }
      if (exit.fatal !== undefined || (!wasReady && exit.code === 1)) {
        // The replica said it cannot load the model: a corrupt or missing file does not heal.
        const tail = logTail(replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx), 5);
        r.state = 'failed';
        r.lastError = exit.fatal ?? (tail || `replica exited before it was ready (${describeExit(exit)})`);
        this.hooks.onReplica(r);
        this.hooks.onLoadFailure(r.idx, r.lastError);
        return;
      }
      const tail = logTail(replicaLogFile(this.opts.logDir, this.opts.deployment, r.idx), 5);
      const delay = Math.min(this.opts.maxBackoffMs ?? 30_000, (this.opts.backoffMs ?? 500) * 2 ** Math.min(r.restarts, 16));
      r.state = 'restarting';
      r.lastError = `replica ${r.idx} ${describeExit(exit)}${tail ? `; last output: ${tail}` : ''}`;
      r.restarts++;
      this.hooks.onReplica(r);
      this.hooks.onCrash(r.idx, r.lastError, delay);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.stopping) this.launch(r);
      }, delay);
      this.timers.add(timer);
    });
  }

  /** Stop every replica: close its pipe so it exits by itself, SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
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
