// One LLM deployment's request queue. A Dispatcher (so the runtime, metrics, canary stats, `top`,
// draining and the autoscaler read it like any other: snapshot, isIdle, drain) whose requests are
// generations: each waits in a bounded FIFO queue (deadline: request_timeout_ms) until a replica has
// a free slot, goes to the replica llm-router.ts picks (session or prefix affinity with bounded
// load, else least outstanding requests), and streams its text back through a sink. A replica lost
// before the first token: the request is tried once more elsewhere; after it: the client's stream
// ends with an error. A client that leaves cancels its generation (the replica frees the slot).
import { MlserveError } from '../../../errors.js';
import type { GenerateRequest, KvUse } from '../../../runtime/llm/protocol.js';
import { admit } from '../dispatch-rules.js';
import { Dispatcher, type ClientGone, type DispatchOptions, type DispatcherHooks, type DispatchStats, type ReplicaPool } from '../dispatcher.js';
import type { ReplicaLink } from '../replica-link.js';
import { EngineLost, type Embeddings, type Generation, type LlmEngine, type TokenSink } from './engine.js';
import { defaultImbalance, prefixBlocks, rendezvous, routeLlm, routingText, type Affinity, type LlmRoute } from './llm-router.js';
import { PrefixIndex } from './prefix-index.js';

type Member = { idx: number; link: ReplicaLink | null };

/** What the runtime tells the queue about its replicas. */
export interface LlmServing {
  /** How to reach a ready replica (null until its engine is known). */
  engineOf(replica: Member): LlmEngine | null;
  /** Generations one replica runs at once (its slots, or max_ongoing_requests). */
  capacityOf(replica: Member): number;
}

export interface LlmStats {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  /** Estimated prompt tokens of the requests waiting (characters / 4). */
  queuedTokens: number;
  routed: Record<LlmRoute['reason'], number>;
  /** KV-cache cells in use over the replicas that report it. */
  kv: KvUse | null;
}

interface Item {
  work: { kind: 'generate'; req: GenerateRequest; sink: TokenSink } | { kind: 'embed'; input: string[]; resolve: (e: Embeddings) => void; reject: (e: Error) => void };
  session?: string;
  blocks: number[];
  estTokens: number;
  state: 'queued' | 'running' | 'done';
  timer: NodeJS.Timeout | null;
  retried: boolean;
  /** A token went to the client: the request can no longer move to another replica. */
  streamed: boolean;
  cancelled: boolean;
  gen: Generation | null;
}

const QUIET_MS = 100;

export class LlmDispatcher extends Dispatcher {
  private q: Item[] = [];
  private closedWhy: string | null = null;
  private lastArrival = 0;
  private readonly index = new PrefixIndex();
  private readonly kvByReplica = new Map<number, KvUse>();
  readonly llm = { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, routed: { session: 0, prefix: 0, 'least-loaded': 0 } };

  constructor(
    private readonly members: ReplicaPool,
    private readonly opts: () => DispatchOptions,
    private readonly serving: LlmServing,
    private readonly events: DispatcherHooks = {},
    private readonly draw: () => number = Math.random,
  ) {
    super(members, opts, draw, events);
  }

  /** Tensor requests do not reach a language model. */
  override submit(): Promise<never> {
    return Promise.reject(new MlserveError('BAD_REQUEST', 'this endpoint serves a language model: use POST /v1/chat/completions, /v1/completions or /v1/embeddings with "model": "<endpoint>"'));
  }

  /** Queue a generation; admission failures (queue full, no replica, closed) throw at once. */
  generate(req: GenerateRequest, session: string | undefined, sink: TokenSink, gone?: ClientGone): void {
    const text = routingText(req);
    this.admitItem({ work: { kind: 'generate', req, sink }, session, blocks: session ? [] : prefixBlocks(text), estTokens: Math.ceil(text.length / 4) }, gone);
  }

  embed(input: string[], gone?: ClientGone): Promise<Embeddings> {
    return new Promise((resolve, reject) => {
      const chars = input.reduce((a, s) => a + s.length, 0);
      this.admitItem({ work: { kind: 'embed', input, resolve, reject }, blocks: [], estTokens: Math.ceil(chars / 4) }, gone);
    });
  }

  private admitItem(base: Pick<Item, 'work' | 'session' | 'blocks' | 'estTokens'>, gone?: ClientGone): void {
    this.llm.requests++;
    this.lastArrival = performance.now();
    const o = this.opts();
    const refusal = admit({
      closed: this.closedWhy,
      replica: this.closedWhy !== null || this.members.alive() || (this.events.onNoReplica?.() ?? false),
      queued: this.waitingCount(),
      maxQueued: o.maxQueued,
    });
    if (refusal) {
      this.llm.errors++;
      throw new MlserveError(refusal.code, refusal.message, { headers: { 'Retry-After': '1' } });
    }
    const item: Item = { ...base, state: 'queued', timer: null, retried: false, streamed: false, cancelled: false, gen: null };
    item.timer = setTimeout(() => this.failItem(item, new MlserveError('TIMEOUT', `no replica took the request within ${o.timeoutMs} ms (request_timeout_ms); the deployment is overloaded`)), o.timeoutMs);
    if (gone) gone.onAbort = () => this.cancel(item);
    this.q.push(item);
    this.pumpLlm();
  }

  private waitingCount(): number {
    let n = 0;
    for (const i of this.q) if (i.state === 'queued') n++;
    return n;
  }

  private cancel(item: Item): void {
    item.cancelled = true;
    if (item.state === 'queued') {
      item.state = 'done';
      if (item.timer) clearTimeout(item.timer);
      if (item.work.kind === 'embed') item.work.reject(new MlserveError('BAD_REQUEST', 'client went away'));
    } else if (item.state === 'running') item.gen?.cancel();
  }

  private failItem(item: Item, err: Error): void {
    if (item.state === 'done') return;
    item.state = 'done';
    if (item.timer) clearTimeout(item.timer);
    this.llm.errors++;
    if (item.work.kind === 'generate') item.work.sink.onError(err);
    else item.work.reject(err);
  }

  override pump(): void {
    super.pump();
    this.pumpLlm();
  }

  private pumpLlm(): void {
    while (this.q.length > 0) {
      if (this.q[0].state !== 'queued') {
        this.q.shift();
        continue;
      }
      const ready = this.members.ready().filter((r) => r.link !== null && !r.link.isClosed && this.serving.engineOf(r) !== null);
      if (ready.length === 0) return;
      const head = this.q[0];
      const loads = ready.map((r) => ({ id: r.idx, inflight: r.link!.load.requests, capacity: this.serving.capacityOf(r) }));
      const affinity: Affinity[] = [];
      if (head.session) {
        const id = rendezvous(head.session, loads.map((l) => l.id));
        if (id !== undefined) affinity.push({ id, why: 'session' });
      } else {
        const hit = this.index.lookup(head.blocks, (id) => loads.some((l) => l.id === id));
        if (hit) affinity.push({ id: hit.id, why: 'prefix' });
      }
      const route = routeLlm(loads, affinity, defaultImbalance(Math.max(...loads.map((l) => l.capacity))), this.draw);
      if (!route) return;
      this.q.shift();
      this.llm.routed[route.reason]++;
      this.start(head, ready[route.index]);
    }
  }

  private start(item: Item, replica: Member): void {
    item.state = 'running';
    if (item.timer) clearTimeout(item.timer);
    item.timer = null;
    if (item.blocks.length) this.index.record(item.blocks, replica.idx);
    const engine = this.serving.engineOf(replica)!;
    const settle = () => {
      item.state = 'done';
      queueMicrotask(() => this.pumpLlm());
    };
    /** The replica went away before anything reached the client: one more try elsewhere. */
    const retry = (err: Error) => {
      if (!(err instanceof EngineLost) || item.streamed || item.retried || item.cancelled) return false;
      item.retried = true;
      item.state = 'queued';
      this.q.unshift(item);
      queueMicrotask(() => this.pumpLlm());
      return true;
    };
    const w = item.work;
    if (w.kind === 'embed') {
      engine.embed(w.input).then(
        (e) => {
          settle();
          this.llm.promptTokens += e.usage.promptTokens;
          w.resolve(e);
        },
        (err: Error) => {
          if (retry(err)) return;
          settle();
          this.llm.errors++;
          w.reject(err);
        },
      );
      return;
    }
    item.gen = engine.generate(w.req, {
      onToken: (text, tokens) => {
        if (item.state !== 'running') return;
        item.streamed = true;
        w.sink.onToken(text, tokens);
      },
      onDone: (finish, usage, kv) => {
        if (item.state !== 'running') return;
        settle();
        this.llm.promptTokens += usage.promptTokens;
        this.llm.completionTokens += usage.completionTokens;
        this.llm.cachedTokens += usage.cachedTokens ?? 0;
        if (kv) this.kvByReplica.set(replica.idx, kv);
        w.sink.onDone(finish, usage, kv);
      },
      onError: (err) => {
        if (item.state !== 'running' || retry(err)) return;
        settle();
        this.llm.errors++;
        w.sink.onError(err);
      },
    });
    if (item.cancelled) item.gen.cancel();
  }

  override snapshot(): DispatchStats & { llm: LlmStats } {
    const s = super.snapshot();
    let queuedTokens = 0;
    for (const i of this.q) if (i.state === 'queued') queuedTokens += i.estTokens;
    const live = new Set(this.members.members.map((m) => m.idx));
    let used = 0;
    let size = 0;
    for (const [idx, k] of this.kvByReplica) {
      if (!live.has(idx)) continue;
      used += k.used;
      size += k.size;
    }
    const kv: KvUse | null = size > 0 ? { used, size } : null;
    return {
      ...s,
      requests: s.requests + this.llm.requests,
      errors: s.errors + this.llm.errors,
      queued: s.queued + this.waitingCount(),
      llm: { promptTokens: this.llm.promptTokens, completionTokens: this.llm.completionTokens, cachedTokens: this.llm.cachedTokens, queuedTokens, routed: { ...this.llm.routed }, kv },
    };
  }

  override isIdle(): boolean {
    return super.isIdle() && this.waitingCount() === 0;
  }

  /** Like a tensor queue's drain: requests on their way are served; once quiet, the rest is refused. */
  override async drain(reason: string, graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    this.lastArrival = Math.max(this.lastArrival, performance.now());
    while (performance.now() < deadline && !(this.isIdle() && performance.now() - this.lastArrival >= QUIET_MS)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.closedWhy = reason;
    await super.drain(reason, 0);
  }

  override drainQueue(reason: string): void {
    super.drainQueue(reason);
    for (const i of this.q.splice(0)) this.failItem(i, new MlserveError('NOT_READY', reason, { headers: { 'Retry-After': '1' } }));
  }

  /** A replica went away for good: forget the prefixes it held. */
  forgetReplica(idx: number): void {
    this.index.forget(idx);
    this.kvByReplica.delete(idx);
  }
}
