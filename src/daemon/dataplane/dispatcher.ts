// One deployment's request queue, in the daemon: bounded, with a deadline per request, and
// work-conserving dynamic batching: when a replica has a free slot, the queue leaves at once as one
// batch of up to max_batch_size compatible requests (batcher.ts decides which), concatenated along
// dim 0 and split back per request (codecs/batch-tensors.ts). Routing picks the less loaded of two
// random replicas with a free slot. A batch whose replica dies in flight is retried once.
import { MlserveError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import { batchKey, nextBatch, requestRows, type BatchPolicy, type Pending } from './batcher.js';
import { concatBatch, splitBatch } from './codecs/batch-tensors.js';
import { ReplicaLinkClosed, type InferResult } from '../fleet/replica-link.js';
import type { ReplicaSet } from '../fleet/replica-set.js';
import { pickReplica } from './router.js';

export interface DispatchOptions extends BatchPolicy {
  /** Batches one replica runs at once. */
  maxConcurrentBatches: number;
  /** Requests one replica holds at once, over all its batches. */
  maxOngoingRequests: number;
  maxQueued: number;
  timeoutMs: number;
}

export const DEFAULT_DISPATCH: DispatchOptions = {
  maxBatchSize: 1,
  batchWaitMs: 0,
  maxConcurrentBatches: 1,
  maxOngoingRequests: 1,
  maxQueued: 1000,
  timeoutMs: 30_000,
};

interface Item extends Pending {
  inputs: Tensor[];
  outputs?: string[];
  resolve: (r: InferResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  done: boolean;
  retried: boolean;
}

/** Set by the ingress when the client closes its connection before the answer (cheaper than an AbortSignal per request). */
export interface ClientGone {
  aborted: boolean;
  onAbort?: () => void;
}

export interface DispatchStats {
  requests: number;
  errors: number;
  queued: number;
  inflight: number;
  /** Batches sent to replicas and the requests they carried. */
  batches: number;
  batchedRequests: number;
  /** Sums over served requests (queue) and batches (compute), in ms. */
  queueMsTotal: number;
  computeMsTotal: number;
}

interface Load {
  batches: number;
  requests: number;
}

export class Dispatcher {
  private queue: Item[] = [];
  private readonly load = new Map<number, Load>();
  private waitTimer: NodeJS.Timeout | null = null;
  private closedReason: string | null = null;
  private idleWaiters: Array<() => void> = [];
  readonly stats = { requests: 0, errors: 0, batches: 0, batchedRequests: 0, queueMsTotal: 0, computeMsTotal: 0 };

  constructor(
    private readonly set: ReplicaSet,
    /** Read on every decision: the policy can depend on the model's signature, known once a replica is ready. */
    private readonly options: () => DispatchOptions,
    private readonly rand: () => number = Math.random,
    /** No replica runs (autoscaled to zero): may start one; true when one is coming. */
    private readonly onNoReplica: () => boolean = () => false,
    /** Sees every batch a replica ran: its size, compute time and each request's queue time (ms). */
    private readonly onBatch: (size: number, computeMs: number, queueMs: number[]) => void = () => {},
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Requests in flight on one replica. */
  inflightOf(idx: number): number {
    return this.load.get(idx)?.requests ?? 0;
  }

  snapshot(): DispatchStats {
    let inflight = 0;
    for (const l of this.load.values()) inflight += l.requests;
    return { ...this.stats, queued: this.queued, inflight };
  }

  submit(inputs: Tensor[], outputs?: string[], gone?: ClientGone): Promise<InferResult> {
    this.stats.requests++;
    const opts = this.options();
    if (this.closedReason) return this.refuse(new MlserveError('NOT_READY', this.closedReason, { headers: { 'Retry-After': '1' } }));
    if (!this.set.members.some((r) => r.state === 'ready' || r.state === 'restarting' || r.state === 'starting') && !this.onNoReplica()) {
      return this.refuse(new MlserveError('NOT_READY', 'no replica is ready yet; retry shortly (see mlserve status)', { headers: { 'Retry-After': '1' } }));
    }
    if (this.queue.length >= opts.maxQueued) {
      return this.refuse(new MlserveError('OVERLOADED', `queue full (${opts.maxQueued} requests waiting); retry later or add replicas`, { headers: { 'Retry-After': '1' } }));
    }
    const now = performance.now();
    const batched = opts.maxBatchSize > 1;
    return new Promise<InferResult>((resolve, reject) => {
      const item: Item = {
        inputs, outputs, resolve, reject, done: false, retried: false,
        rows: batched ? (requestRows(inputs) ?? opts.maxBatchSize + 1) : 1,
        key: batched ? batchKey(inputs, outputs) : '',
        enqueuedAt: now,
        deadline: now + opts.timeoutMs,
        timer: setTimeout(() => this.fail(item, this.timeout(opts)), opts.timeoutMs),
      };
      // A request whose client left is dropped before it runs (it is marked done; pump skips it).
      if (gone) gone.onAbort = () => this.fail(item, new MlserveError('BAD_REQUEST', 'client went away'));
      this.queue.push(item);
      this.pump();
    });
  }

  private refuse(err: MlserveError): Promise<never> {
    this.stats.errors++;
    return Promise.reject(err);
  }

  private timeout(opts: DispatchOptions): MlserveError {
    return new MlserveError('TIMEOUT', `no answer within ${opts.timeoutMs} ms (request_timeout_ms); the deployment is overloaded or stuck`);
  }

  private fail(item: Item, err: Error): void {
    if (item.done) return;
    item.done = true;
    clearTimeout(item.timer);
    this.stats.errors++;
    item.reject(err);
  }

  private loadOf(idx: number): Load {
    let l = this.load.get(idx);
    if (!l) this.load.set(idx, (l = { batches: 0, requests: 0 }));
    return l;
  }

  /** While a ready replica has a free slot and requests wait, send the next batch. */
  pump(): void {
    const opts = this.options();
    while (this.queue.length > 0) {
      // Requests that finished while queued (timeout, client gone) leave the queue first.
      if (this.queue.some((i) => i.done)) this.queue = this.queue.filter((i) => !i.done);
      if (this.queue.length === 0) break;
      const ready = this.set.ready();
      const slots = ready.map((r) => {
        const l = this.loadOf(r.idx);
        // One batch more than the replica runs at once: it crosses the pipe while the current one computes.
        const free = l.batches < opts.maxConcurrentBatches + 1 && l.requests < opts.maxOngoingRequests;
        return { inflight: l.requests, capacity: free ? l.requests + 1 : l.requests };
      });
      const pick = pickReplica(slots, this.rand);
      if (pick < 0) return;
      const decision = nextBatch(this.queue, opts, performance.now());
      if (!decision) return;
      const expired = new Set(decision.expired);
      for (const i of decision.expired) this.fail(this.queue[i], this.timeout(opts));
      if ('waitMs' in decision) {
        this.queue = this.queue.filter((_, i) => !expired.has(i));
        this.waitTimer ??= setTimeout(() => {
          this.waitTimer = null;
          this.pump();
        }, decision.waitMs);
        return;
      }
      const taken = new Set(decision.take);
      const batch = decision.take.map((i) => this.queue[i]);
      this.queue = this.queue.filter((_, i) => !taken.has(i) && !expired.has(i));
      if (batch.length > 0) this.send(ready[pick].idx, ready[pick].link, batch);
    }
  }

  private send(idx: number, link: ReturnType<ReplicaSet['ready']>[number]['link'], batch: Item[]): void {
    if (!link) {
      this.queue.unshift(...batch);
      return;
    }
    const load = this.loadOf(idx);
    const rows = batch.reduce((a, i) => a + i.rows, 0);
    load.batches++;
    load.requests += batch.length;
    this.stats.batches++;
    this.stats.batchedRequests += batch.length;
    const now = performance.now();
    const queueMs = batch.map((i) => now - i.enqueuedAt);
    for (const q of queueMs) this.stats.queueMsTotal += q;
    let inputs: Tensor[];
    try {
      inputs = batch.length === 1 ? batch[0].inputs : concatBatch(batch.map((i) => i.inputs)).inputs;
    } catch (err) {
      load.batches--;
      load.requests -= batch.length;
      for (const i of batch) this.fail(i, new MlserveError('INTERNAL', (err as Error).message));
      return;
    }
    link.infer(inputs, batch[0].outputs).then(
      (res) => {
        this.stats.computeMsTotal += res.computeMs;
        this.onBatch(batch.length, res.computeMs, queueMs);
        let parts: Tensor[][];
        try {
          parts = batch.length === 1 ? [res.outputs] : splitBatch(res.outputs, batch.map((i) => i.rows));
        } catch (err) {
          for (const i of batch) this.fail(i, new MlserveError('INTERNAL', (err as Error).message));
          return;
        }
        batch.forEach((item, k) => {
          if (item.done) return;
          item.done = true;
          clearTimeout(item.timer);
          item.resolve({ outputs: parts[k], computeMs: res.computeMs });
        });
      },
      (err: Error) => {
        if (err instanceof ReplicaLinkClosed) {
          // Inference is idempotent: each request gets one more try on another replica.
          const again = batch.filter((i) => !i.done && !i.retried);
          for (const i of again) i.retried = true;
          this.queue.unshift(...again);
          for (const i of batch) if (!again.includes(i)) this.fail(i, new MlserveError('NOT_READY', `replica failed while running the request (${err.message}); retry`, { headers: { 'Retry-After': '1' } }));
          return;
        }
        for (const i of batch) this.fail(i, new MlserveError('INTERNAL', `the model failed on this input${batch.length > 1 ? ` (batch of ${rows} rows)` : ''}: ${err.message}`));
      },
    ).finally(() => {
      load.batches--;
      load.requests -= batch.length;
      this.pump();
      if (this.idleWaiters.length && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  private isIdle(): boolean {
    let n = 0;
    for (const l of this.load.values()) n += l.requests;
    return n === 0 && this.queue.length === 0;
  }

  /**
   * Stop taking requests and let queued and in-flight ones finish, for at most graceMs;
   * whatever is left then is rejected.
   */
  async drain(reason: string, graceMs: number): Promise<void> {
    this.closedReason = reason;
    if (!this.isIdle()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.drainQueue(reason);
  }

  /** Reject everything still queued (the deployment is going away). */
  drainQueue(reason: string): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    for (const item of this.queue.splice(0)) this.fail(item, new MlserveError('NOT_READY', reason));
  }
}
