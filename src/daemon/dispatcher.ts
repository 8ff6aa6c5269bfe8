// One deployment's request queue: bounded, with a deadline per request, work-conserving (a request
// leaves at once when a replica has a free slot). Routing picks the least loaded of two random
// replicas. A request whose replica dies in flight is retried once on another replica.
import { MlserveError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { ReplicaLinkClosed, type InferResult } from './replica-link.js';
import type { ReplicaSet } from './replica-set.js';
import { pickReplica } from './router.js';

export interface DispatchOptions {
  /** Requests one replica runs at once. */
  capacityPerReplica: number;
  maxQueued: number;
  timeoutMs: number;
}

export const DEFAULT_DISPATCH: DispatchOptions = { capacityPerReplica: 1, maxQueued: 1000, timeoutMs: 30_000 };

interface Item {
  inputs: Tensor[];
  outputs?: string[];
  resolve: (r: InferResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  done: boolean;
  retried: boolean;
  enqueuedAt: number;
  signal?: AbortSignal;
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

export class Dispatcher {
  private queue: Item[] = [];
  private head = 0;
  private readonly inflight = new Map<number, number>();
  readonly stats = { requests: 0, errors: 0, batches: 0, batchedRequests: 0, queueMsTotal: 0, computeMsTotal: 0 };
  private closedReason: string | null = null;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly set: ReplicaSet,
    private readonly opts: DispatchOptions = DEFAULT_DISPATCH,
    private readonly rand: () => number = Math.random,
  ) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  snapshot(): DispatchStats {
    let inflight = 0;
    for (const n of this.inflight.values()) inflight += n;
    return { ...this.stats, queued: this.queued, inflight };
  }

  submit(inputs: Tensor[], outputs?: string[], signal?: AbortSignal): Promise<InferResult> {
    this.stats.requests++;
    if (this.closedReason) {
      this.stats.errors++;
      return Promise.reject(new MlserveError('NOT_READY', this.closedReason, { headers: { 'Retry-After': '1' } }));
    }
    const serving = this.set.members.some((r) => r.state === 'ready' || r.state === 'restarting');
    if (!serving) {
      this.stats.errors++;
      return Promise.reject(new MlserveError('NOT_READY', 'no replica is ready yet; retry shortly (see mlserve status)', { headers: { 'Retry-After': '1' } }));
    }
    if (this.queued >= this.opts.maxQueued) {
      this.stats.errors++;
      return Promise.reject(
        new MlserveError('OVERLOADED', `queue full (${this.opts.maxQueued} requests waiting); retry later or add replicas`, {
          headers: { 'Retry-After': '1' },
        }),
      );
    }
    return new Promise<InferResult>((resolve, reject) => {
      const item: Item = {
        inputs, outputs, resolve, reject, done: false, retried: false, enqueuedAt: performance.now(), signal,
        timer: setTimeout(() => this.fail(item, new MlserveError('TIMEOUT', `no answer within ${this.opts.timeoutMs} ms; the deployment is overloaded or stuck`)), this.opts.timeoutMs),
      };
      signal?.addEventListener('abort', () => this.fail(item, new MlserveError('BAD_REQUEST', 'client went away')), { once: true });
      this.queue.push(item);
      this.pump();
    });
  }

  private fail(item: Item, err: Error): void {
    if (item.done) return;
    item.done = true;
    clearTimeout(item.timer);
    this.stats.errors++;
    item.reject(err);
  }

  private next(): Item | undefined {
    while (this.head < this.queue.length) {
      const item = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (!item.done && !item.signal?.aborted) return item;
    }
    return undefined;
  }

  /** Send queued requests while some ready replica has a free slot. */
  pump(): void {
    while (this.queued > 0) {
      const ready = this.set.ready();
      const loads = ready.map((r) => ({ inflight: this.inflight.get(r.idx) ?? 0, capacity: this.opts.capacityPerReplica }));
      const pick = pickReplica(loads, this.rand);
      if (pick < 0) return;
      const item = this.next();
      if (!item) return;
      const replica = ready[pick];
      const link = replica.link;
      if (!link) continue;
      this.inflight.set(replica.idx, (this.inflight.get(replica.idx) ?? 0) + 1);
      this.stats.batches++;
      this.stats.batchedRequests++;
      this.stats.queueMsTotal += performance.now() - item.enqueuedAt;
      link.infer(item.inputs, item.outputs).then(
        (res) => {
          this.stats.computeMsTotal += res.computeMs;
          if (item.done) return;
          item.done = true;
          clearTimeout(item.timer);
          item.resolve(res);
        },
        (err: Error) => {
          if (item.done) return;
          if (err instanceof ReplicaLinkClosed && !item.retried) {
            // Inference is idempotent: try once more on another replica.
            item.retried = true;
            this.queue.splice(this.head, 0, item);
            return;
          }
          this.fail(item, err instanceof ReplicaLinkClosed
            ? new MlserveError('NOT_READY', `replica failed while running the request (${err.message}); retry`, { headers: { 'Retry-After': '1' } })
            : new MlserveError('INTERNAL', `the model failed on this input: ${err.message}`));
        },
      ).finally(() => {
        this.inflight.set(replica.idx, (this.inflight.get(replica.idx) ?? 1) - 1);
        this.pump();
        if (this.idleWaiters.length && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private isIdle(): boolean {
    let n = 0;
    for (const v of this.inflight.values()) n += v;
    return n === 0 && this.queued === 0;
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
    let item: Item | undefined;
    while ((item = this.next())) this.fail(item, new MlserveError('NOT_READY', reason));
  }
}
