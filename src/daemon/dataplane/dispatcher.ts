// One deployment's request queue, in the daemon: bounded, with a deadline per request, and
// work-conserving dynamic batching: when a replica has a free slot, the queue leaves at once as one
// batch of up to max_batch_size compatible requests (batcher.ts decides which), concatenated along
// dim 0 and split back per request (codecs/batch-tensors.ts). Routing picks the less loaded of two
// random replicas with a free slot (router.ts); slots, retries and admission are the pure rules of
// dispatch-rules.ts; each replica's load lives in its link.
import { MlserveError } from '../../errors.js';
import type { FrameTensor } from '../../runtime/frame.js';
import type { Tensor } from '../../tensor.js';
import { batchKey, nextBatch, requestRows, type BatchPolicy, type Pending } from './batcher.js';
import { gatherBatch, splitBatch } from './codecs/batch-tensors.js';
import { admit, afterReplicaLoss, afterReplicaSuspect, routerLoads, withoutStack, type SlotPolicy } from './dispatch-rules.js';
import { ReplicaLinkClosed, type InferResult, type ReplicaLink } from './replica-link.js';
import { pickReplica } from './router.js';

export interface DispatchOptions extends BatchPolicy, SlotPolicy {
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

/** The replicas a dispatcher sends to (a deployment's replica set). */
export interface ReplicaPool {
  /** Replicas that take new work. */
  ready(): ReadonlyArray<{ idx: number; link: ReplicaLink | null }>;
  /** Every replica, draining ones too (for the requests in flight). */
  readonly members: ReadonlyArray<{ idx: number; link: ReplicaLink | null }>;
  /** Is a replica alive or on its way (starting, restarting)? */
  alive(): boolean;
}

interface Item extends Pending {
  inputs: Tensor[];
  outputs?: string[];
  resolve: (r: InferResult) => void;
  reject: (e: Error) => void;
  done: boolean;
  retried: boolean;
  /** Waiting in the queue (not yet sent, not yet failed): what counts toward max_queued_requests. */
  waiting: boolean;
  /** The replica it was last sent to, while that batch is unanswered; when (performance.now()). */
  link: ReplicaLink | null;
  sentAt: number;
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

export interface DispatcherHooks {
  /** No replica runs (autoscaled to zero): may start one; true when one is coming. */
  onNoReplica?: () => boolean;
  /** Sees every batch a replica ran: its size, compute time and each request's queue time (ms). */
  onBatch?: (size: number, computeMs: number, queueMs: number[]) => void;
  /** Extra header fields of a batch's frame (the replica kind's: e.g. python's reply form and rows per request). */
  header?: (inputs: readonly FrameTensor[], rows: readonly number[]) => Record<string, unknown> | undefined;
  /**
   * A request passed its deadline while `link`'s replica held it; the replica has said nothing for
   * `silentMs` since it was sent (`budgetMs`: the request timeout). The replica set decides whether
   * the replica is frozen (outlier detection).
   */
  onRequestTimeout?: (link: ReplicaLink, silentMs: number, budgetMs: number) => void;
}

/** A draining queue closes once nothing arrived for this long and nothing is queued or in flight. */
const QUIET_MS = 100;

export class Dispatcher {
  private queue: Item[] = [];
  /** Requests waiting in `queue` that are still alive (done ones leave the array lazily, on the next pump). */
  private waiting = 0;
  private waitTimer: NodeJS.Timeout | null = null;
  private closedReason: string | null = null;
  private lastSubmit = 0;
  /** Requests sent to a replica whose batch has not come back yet (answered or not). */
  private readonly sent = new Set<Item>();
  readonly stats = { requests: 0, errors: 0, batches: 0, batchedRequests: 0, queueMsTotal: 0, computeMsTotal: 0 };
  /**
   * Deadlines: one timer per queue, not one per request. Requests in submit order (their deadlines
   * grow with it: a revision has one request_timeout_ms); the timer waits for the first one not yet
   * answered, and the sweep fails every request past its deadline. Answered requests leave the list
   * as the sweep passes them, or in bulk when they outnumber the unanswered ones.
   */
  private deadlines: Item[] = [];
  private deadlinesHead = 0;
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** Submitted requests not yet answered or failed. */
  private open = 0;

  constructor(
    private readonly pool: ReplicaPool,
    /** Read on every decision: the policy can depend on the model's signature, known once a replica is ready. */
    private readonly options: () => DispatchOptions,
    private readonly rand: () => number = Math.random,
    private readonly hooks: DispatcherHooks = {},
  ) {}

  get queued(): number {
    return this.waiting;
  }

  private enqueue(items: Item[], front: boolean): void {
    for (const i of items) i.waiting = true;
    this.waiting += items.length;
    if (front) this.queue.unshift(...items);
    else this.queue.push(...items);
  }

  /** An item leaves the waiting count (sent, or failed while queued). */
  private leave(item: Item): void {
    if (!item.waiting) return;
    item.waiting = false;
    this.waiting--;
  }

  private inflight(): number {
    let n = 0;
    for (const r of this.pool.members) n += r.link?.load.requests ?? 0;
    return n;
  }

  snapshot(): DispatchStats {
    return { ...this.stats, queued: this.queued, inflight: this.inflight() };
  }

  /** Would a request be refused now (queue full, closed, no replica)? The refusal, counted as submit counts it. */
  precheck(): MlserveError | null {
    const opts = this.options();
    const refusal = admit({
      closed: this.closedReason,
      replica: this.closedReason !== null || this.pool.alive() || (this.hooks.onNoReplica?.() ?? false),
      queued: this.waiting,
      maxQueued: opts.maxQueued,
    });
    if (!refusal) return null;
    this.stats.requests++;
    this.stats.errors++;
    return withoutStack(() => new MlserveError(refusal.code, refusal.message, { headers: { 'Retry-After': '1' } }));
  }

  submit(inputs: Tensor[], outputs?: string[], gone?: ClientGone): Promise<InferResult> {
    this.lastSubmit = performance.now();
    const refused = this.precheck();
    if (refused) return Promise.reject(refused);
    this.stats.requests++;
    const opts = this.options();
    const now = performance.now();
    const batched = opts.maxBatchSize > 1;
    return new Promise<InferResult>((resolve, reject) => {
      const item: Item = {
        inputs, outputs, resolve, reject, done: false, retried: false, waiting: false, link: null, sentAt: 0,
        rows: batched ? (requestRows(inputs) ?? opts.maxBatchSize + 1) : 1,
        key: batched ? batchKey(inputs, outputs) : '',
        enqueuedAt: now,
        deadline: now + opts.timeoutMs,
      };
      this.track(item);
      // A request whose client left is dropped before it runs (it is marked done; pump skips it).
      // Its status is nginx's 499 and it is not an error (canary analysis reads stats.errors).
      if (gone) gone.onAbort = () => this.fail(item, new MlserveError('CLIENT_CLOSED', 'the client left while the request was queued'));
      this.enqueue([item], false);
      this.pump();
    });
  }

  private track(item: Item): void {
    this.open++;
    this.deadlines.push(item);
    if (this.deadlines.length - this.deadlinesHead > 2 * this.open + 1024) {
      this.deadlines = this.deadlines.slice(this.deadlinesHead).filter((i) => !i.done);
      this.deadlinesHead = 0;
    }
    this.armDeadline();
  }

  /** An item is answered or failed: it no longer counts toward the deadline list's live size. */
  private settled(item: Item): void {
    item.done = true;
    this.open--;
  }

  private armDeadline(): void {
    if (this.deadlineTimer) return;
    while (this.deadlinesHead < this.deadlines.length && this.deadlines[this.deadlinesHead]!.done) this.deadlinesHead++;
    const head = this.deadlines[this.deadlinesHead];
    if (!head) {
      this.deadlines = [];
      this.deadlinesHead = 0;
      return;
    }
    this.deadlineTimer = setTimeout(() => this.sweepDeadlines(), Math.max(0, head.deadline - performance.now()));
  }

  private sweepDeadlines(): void {
    this.deadlineTimer = null;
    const now = performance.now();
    const opts = this.options();
    while (this.deadlinesHead < this.deadlines.length) {
      const item = this.deadlines[this.deadlinesHead]!;
      if (!item.done && item.deadline > now) break;
      this.deadlinesHead++;
      if (!item.done) this.expire(item, opts);
    }
    this.armDeadline();
  }

  private timeout(opts: DispatchOptions): MlserveError {
    return new MlserveError('TIMEOUT', `no answer within ${opts.timeoutMs} ms (request_timeout_ms); the deployment is overloaded or stuck`);
  }

  /** A request's deadline passed: 504, and a word to the replica set when a replica held it. */
  private expire(item: Item, opts: DispatchOptions): void {
    if (item.done) return;
    this.fail(item, this.timeout(opts));
    const link = item.link;
    if (link && !link.isClosed) {
      const now = performance.now();
      this.hooks.onRequestTimeout?.(link, now - Math.max(link.lastHeardAt, item.sentAt), opts.timeoutMs);
    }
  }

  /**
   * The replica behind `link` stopped answering (it is suspect): the requests it holds get one
   * more try on another replica, at the head of the queue (afterReplicaSuspect). They stay on the
   * frozen replica too; whichever answers first wins.
   */
  rescue(link: ReplicaLink): number {
    const stuck = afterReplicaSuspect([...this.sent].filter((i) => i.link === link));
    for (const i of stuck) {
      i.retried = true;
      i.link = null;
      this.sent.delete(i);
    }
    this.enqueue(stuck, true);
    this.pump();
    return stuck.length;
  }

  private fail(item: Item, err: Error): void {
    if (item.done) return;
    this.settled(item);
    this.leave(item);
    if (!(err instanceof MlserveError && err.code === 'CLIENT_CLOSED')) this.stats.errors++;
    item.reject(err);
  }

  /** While a ready replica has a free slot and requests wait, send the next batch. */
  pump(): void {
    const opts = this.options();
    while (this.queue.length > 0) {
      // Requests that finished while queued (timeout, client gone) leave the queue first.
      if (this.queue.some((i) => i.done)) this.queue = this.queue.filter((i) => !i.done);
      if (this.queue.length === 0) break;
      const ready = this.pool.ready().filter((r) => r.link !== null && !r.link.isClosed);
      const pick = pickReplica(routerLoads(ready.map((r) => r.link!.load), opts), this.rand);
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
      for (const i of batch) this.leave(i);
      this.queue = this.queue.filter((_, i) => !taken.has(i) && !expired.has(i));
      if (batch.length > 0) this.send(ready[pick].link!, batch);
    }
  }

  private send(link: ReplicaLink, batch: Item[]): void {
    const rows = batch.reduce((a, i) => a + i.rows, 0);
    this.stats.batches++;
    this.stats.batchedRequests += batch.length;
    const now = performance.now();
    const queueMs = batch.map((i) => now - i.enqueuedAt);
    for (const q of queueMs) this.stats.queueMsTotal += q;
    let inputs: FrameTensor[];
    try {
      inputs = batch.length === 1 ? batch[0].inputs : gatherBatch(batch.map((i) => i.inputs)).inputs;
    } catch (err) {
      for (const i of batch) this.fail(i, new MlserveError('INTERNAL', (err as Error).message));
      return;
    }
    const header = this.hooks.header?.(inputs, batch.map((i) => i.rows));
    for (const i of batch) {
      i.link = link;
      i.sentAt = now;
      this.sent.add(i);
    }
    /** The requests of this batch still waiting on this replica (a rescued one was sent elsewhere since). */
    const settle = () => batch.filter((i) => {
      if (i.link !== link) return false;
      i.link = null;
      this.sent.delete(i);
      return true;
    });
    link.infer(inputs, { outputs: batch[0].outputs, requests: batch.length, ...(header ? { header } : {}) }).then(
      (res) => {
        settle();
        this.stats.computeMsTotal += res.computeMs;
        this.hooks.onBatch?.(batch.length, res.computeMs, queueMs);
        let parts: Tensor[][];
        try {
          parts = batch.length === 1 ? [res.outputs] : splitBatch(res.outputs, batch.map((i) => i.rows));
        } catch (err) {
          for (const i of batch) this.fail(i, new MlserveError('INTERNAL', (err as Error).message));
          return;
        }
        batch.forEach((item, k) => {
          if (item.done) return;
          this.settled(item);
          item.resolve({ outputs: parts[k], computeMs: res.computeMs });
        });
      },
      (err: Error) => {
        const mine = settle();
        if (err instanceof ReplicaLinkClosed) {
          const { retry, fail } = afterReplicaLoss(mine);
          for (const i of retry) i.retried = true;
          this.enqueue(retry, true);
          for (const i of fail) this.fail(i, new MlserveError('NOT_READY', `replica failed while running the request (${err.message}); retry`, { headers: { 'Retry-After': '1' } }));
          return;
        }
        for (const i of mine) this.fail(i, new MlserveError('INTERNAL', `the model failed on this input${batch.length > 1 ? ` (batch of ${rows} rows)` : ''}: ${err.message}`));
      },
    ).finally(() => this.pump());
  }

  /** Nothing queued and nothing in flight. */
  isIdle(): boolean {
    return this.waiting === 0 && this.inflight() === 0;
  }

  /**
   * The deployment is going away: routes no longer point here, but requests that were already on
   * their way (body still being read) are still taken and served. Once nothing is queued or in
   * flight and nothing arrived for a moment (or after graceMs), the queue closes and whatever is
   * left is refused.
   */
  async drain(reason: string, graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    // The quiet period starts now at the earliest: requests routed here just before the switch may still be on their way.
    this.lastSubmit = Math.max(this.lastSubmit, performance.now());
    while (performance.now() < deadline && !(this.isIdle() && performance.now() - this.lastSubmit >= QUIET_MS)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.closedReason = reason;
    this.drainQueue(reason);
  }

  /** Reject everything still queued (the deployment is going away). */
  drainQueue(reason: string): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = null;
    for (const item of this.queue.splice(0)) this.fail(item, new MlserveError('NOT_READY', reason));
    if (this.open === 0 && this.deadlineTimer) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = null;
    }
  }
}
