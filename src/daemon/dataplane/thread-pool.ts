// A small pool of worker threads for CPU work the event loop must not do itself (big JSON bodies,
// image decoding and resizing): jobs queue in order, each worker runs one at a time, buffers move
// by transfer, workers start on first use and exit after a while without work. A worker that fails
// or exits fails its job only; the next job starts a new one.
import { Worker } from 'node:worker_threads';
import { MlserveError, type ErrorCode } from '../../errors.js';
import type { ClientGone } from './dispatcher.js';

export interface ThreadPoolOptions {
  /** Worker threads at most. */
  size: number;
  /** Jobs waiting for a worker at most; past it, overloaded(). */
  maxQueued: number;
  /** A worker without work for this long exits. */
  idleMs: number;
  workerUrl: URL;
  /** The error when the queue is full. */
  overloaded: (queued: number) => MlserveError;
  /** The error for a job whose worker failed (out of memory, a crash) or exited. */
  workerFailed: (err: (Error & { code?: string }) | null) => MlserveError;
  /** The error for a job whose client left before it started. */
  clientGone: string;
}

/** What a worker posts back: the job's id and its result, or an error by code. */
export type WorkerReply<R> = { id: number; result?: R; error?: { code: ErrorCode; message: string } };

interface Job<R> {
  msg: Record<string, unknown> & { id: number };
  transfer: ArrayBuffer[];
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  gone?: ClientGone;
}

interface Slot<R> {
  worker: Worker;
  job: Job<R> | null;
  idle: NodeJS.Timeout | null;
}

export class ThreadPool<R> {
  private readonly slots: Slot<R>[] = [];
  private readonly queue: Job<R>[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: ThreadPoolOptions) {}

  /** Run one job (`msg` plus an id) on a worker; the `transfer` buffers move to it. */
  run(msg: Record<string, unknown>, transfer: ArrayBuffer[], gone?: ClientGone): Promise<R> {
    if (this.closed) return Promise.reject(new MlserveError('NOT_READY', 'the daemon is shutting down'));
    if (this.queue.length >= this.opts.maxQueued) return Promise.reject(this.opts.overloaded(this.queue.length));
    return new Promise((resolve, reject) => {
      this.queue.push({ msg: { ...msg, id: this.nextId++ }, transfer, resolve, reject, gone });
      this.pump();
    });
  }

  /** Stop every worker; jobs not done are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new MlserveError('NOT_READY', 'the daemon is shutting down'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === null);
      if (!slot && this.slots.length < this.opts.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      if (job.gone?.aborted) {
        job.reject(new MlserveError('CLIENT_CLOSED', this.opts.clientGone));
        continue;
      }
      if (slot.idle) clearTimeout(slot.idle);
      slot.idle = null;
      slot.job = job;
      slot.worker.postMessage(job.msg, job.transfer);
    }
  }

  private spawn(): Slot<R> {
    const worker = new Worker(this.opts.workerUrl);
    worker.unref();
    const slot: Slot<R> = { worker, job: null, idle: null };
    this.slots.push(slot);
    worker.on('message', (m: WorkerReply<R>) => {
      const job = slot.job;
      if (!job || job.msg.id !== m.id) return;
      slot.job = null;
      if (m.error) job.reject(new MlserveError(m.error.code, m.error.message));
      else job.resolve(m.result!);
      slot.idle = setTimeout(() => this.retire(slot), this.opts.idleMs);
      slot.idle.unref();
      this.pump();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      slot.job?.reject(this.opts.workerFailed(err));
      slot.job = null;
    });
    worker.on('exit', () => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (slot.idle) clearTimeout(slot.idle);
      slot.job?.reject(this.opts.workerFailed(null));
      slot.job = null;
      if (!this.closed) this.pump();
    });
    return slot;
  }

  private retire(slot: Slot<R>): void {
    if (slot.job) return;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }
}

/** A worker's side: run each job with `fn` and post its result (transferring `transfer(result)`) or its error. */
export function serveJobs<J extends { id: number }, R>(port: { on(e: 'message', f: (j: J) => void): void; postMessage(m: unknown, t?: ArrayBuffer[]): void }, fn: (job: J) => R | Promise<R>, transfer: (r: R) => ArrayBuffer[]): void {
  port.on('message', (job: J) => {
    Promise.resolve()
      .then(() => fn(job))
      .then(
        (result) => port.postMessage({ id: job.id, result }, transfer(result)),
        (err: unknown) => {
          const e = err instanceof MlserveError ? err : null;
          port.postMessage({ id: job.id, error: { code: e?.code ?? 'INTERNAL', message: err instanceof Error ? err.message : String(err) } });
        },
      );
  });
}
