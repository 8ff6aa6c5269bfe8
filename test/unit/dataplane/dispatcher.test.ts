// The Dispatcher over REAL ReplicaLinks: each link talks to an in-memory Duplex whose other end
// plays the replica with the project's frame codec, so batching, retries and load accounting are
// tested through real framing without a process.
import { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_DISPATCH, Dispatcher, type ClientGone, type DispatchOptions, type ReplicaPool } from '../../../src/daemon/dataplane/dispatcher.js';
import { ReplicaLink } from '../../../src/daemon/dataplane/replica-link.js';
import { MlserveError } from '../../../src/errors.js';
import { FrameDecoder, encodeFrame, type DecodedFrame } from '../../../src/runtime/frame.js';
import type { Tensor } from '../../../src/tensor.js';

/** The replica's end of one pipe: records every frame it receives and answers when told to. */
class FakeReplica {
  readonly frames: DecodedFrame[] = [];
  readonly link: ReplicaLink;
  private readonly pipe: Duplex;
  private readonly decoder = new FrameDecoder();
  /** Answer every infer at once with this function of its inputs (null: wait for reply()). */
  auto: ((inputs: Tensor[]) => Tensor[]) | null = null;

  constructor(readonly idx: number) {
    this.pipe = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        for (const f of this.decoder.push(chunk)) this.onFrame(f);
        cb();
      },
    });
    this.link = new ReplicaLink(this.pipe, () => {});
  }

  /** The infer frames received, in order. */
  get infers(): DecodedFrame[] {
    return this.frames.filter((f) => f.header.t === 'infer');
  }

  private onFrame(f: DecodedFrame): void {
    this.frames.push(f);
    const auto = this.auto;
    if (auto && f.header.t === 'infer') queueMicrotask(() => this.reply(f.header.id, auto(f.tensors)));
  }

  reply(id: number, outputs: Tensor[], computeMs = 2): void {
    this.pipe.push(Buffer.concat(encodeFrame({ t: 'result', id, computeMs }, outputs)));
  }

  /** Answer the k-th infer received with its inputs times 10 (named y). */
  echo(k: number): void {
    const f = this.infers[k]!;
    this.reply(f.header.id, times10(f.tensors));
  }

  error(id: number, message: string): void {
    this.pipe.push(Buffer.concat(encodeFrame({ t: 'error', id, message }, [])));
  }

  /** Something that is not a reply (a pong for a ping nobody waits for): the replica spoke. */
  pushNoise(): void {
    this.pipe.push(Buffer.concat(encodeFrame({ t: 'pong', id: -1 }, [])));
  }

  /** The replica process died: its pipe closes. */
  die(): void {
    this.pipe.destroy();
  }
}

class Pool implements ReplicaPool {
  constructor(public replicas: FakeReplica[] = [], public starting = false) {}
  ready() {
    return this.replicas.map((r) => ({ idx: r.idx, link: r.link }));
  }
  get members() {
    return this.ready();
  }
  alive() {
    return this.starting || this.replicas.some((r) => !r.link.isClosed);
  }
}

let counter = 0;
/** An FP32 [rows, cols] tensor with fresh values. */
const x = (rows: number, cols = 2, name = 'x'): Tensor => ({
  name, datatype: 'FP32', shape: [rows, cols], data: Float32Array.from({ length: rows * cols }, () => ++counter),
});
const times10 = (ts: Tensor[]): Tensor[] =>
  ts.map((t) => ({ name: 'y', datatype: t.datatype, shape: t.shape, data: (t.data as Float32Array).map((v) => v * 10) }));
const values = (t: Tensor) => Array.from(t.data as Float32Array);

const options = (over: Partial<DispatchOptions> = {}): DispatchOptions => ({ ...DEFAULT_DISPATCH, maxOngoingRequests: 100, ...over });
const dispatcher = (pool: Pool, over: Partial<DispatchOptions> = {}, rand = () => 0, hooks = {}) =>
  new Dispatcher(pool, () => options(over), rand, hooks);

/** Let nextTicks and promise callbacks run (the link writes on nextTick). Works under fake timers too. */
async function tick(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => process.nextTick(r));
}

/** Track a promise's outcome without awaiting it. */
function track<T>(p: Promise<T>) {
  const s: { value?: T; error?: MlserveError; settled: boolean } = { settled: false };
  p.then((v) => Object.assign(s, { value: v, settled: true }), (e: MlserveError) => Object.assign(s, { error: e, settled: true }));
  return s;
}

async function refusal(p: Promise<unknown>): Promise<MlserveError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(MlserveError);
    return err as MlserveError;
  }
  throw new Error('expected a refusal');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Dispatcher: slots', () => {
  it('an idle replica takes a request at once (work-conserving), over the real frame protocol', async () => {
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]));
    const input = x(1);
    const p = d.submit([input]);
    // Sent synchronously inside submit: counted on the link before any timer or tick.
    expect(a.link.load).toEqual({ batches: 1, requests: 1 });
    expect(d.queued).toBe(0);
    await tick();
    expect(a.infers).toHaveLength(1);
    expect(a.infers[0]!.header).toEqual({ t: 'infer', id: expect.any(Number) });
    expect(a.infers[0]!.tensors).toEqual([input]);
    a.echo(0);
    const res = await p;
    expect(values(res.outputs[0]!)).toEqual(values(input).map((v) => v * 10));
    expect(res.computeMs).toBe(2);
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
  });

  it.each([
    // name, maxConcurrentBatches, maxOngoingRequests, submitted, sent at once
    ['one runs and one more is sent ahead, but not two', 1, 100, 4, 2],
    ['two run and one is sent ahead', 2, 100, 6, 3],
    ['maxConcurrentBatches 0: one at a time', 0, 100, 3, 1],
    ['maxOngoingRequests holds back batches the batch limit would allow', 3, 2, 5, 2],
  ])('%s', async (_n, maxConcurrentBatches, maxOngoingRequests, submitted, sent) => {
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches, maxOngoingRequests });
    const ps = Array.from({ length: submitted }, () => d.submit([x(1)]));
    await tick();
    expect(a.infers).toHaveLength(sent);
    expect(a.link.load).toEqual({ batches: sent, requests: sent });
    expect(d.queued).toBe(submitted - sent);
    // An answer frees a slot: exactly one more leaves.
    a.echo(0);
    await ps[0];
    await tick();
    expect(a.infers).toHaveLength(sent + 1);
    expect(d.queued).toBe(submitted - sent - 1);
    // Answer everything; every request gets its answer and the load goes back to 0.
    a.auto = times10;
    for (let k = 1; k < a.infers.length; k++) a.echo(k);
    await Promise.all(ps);
    expect(a.infers).toHaveLength(submitted);
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
    expect(d.isIdle()).toBe(true);
  });

  it('spreads work over replicas: with two idle replicas, two requests go to both', async () => {
    const a = new FakeReplica(0);
    const b = new FakeReplica(1);
    const d = dispatcher(new Pool([a, b]), { maxConcurrentBatches: 1 });
    const ps = [d.submit([x(1)]), d.submit([x(1)])];
    expect([a.link.load.requests, b.link.load.requests]).toEqual([1, 1]);
    await tick();
    a.echo(0);
    b.echo(0);
    await Promise.all(ps);
  });
});

describe('Dispatcher: batching', () => {
  it('requests with different shapes never share a batch; each gets its own rows back', async () => {
    const pool = new Pool([], true); // a replica is starting: requests queue up
    const d = dispatcher(pool, { maxBatchSize: 8, maxConcurrentBatches: 1 });
    const ins = [x(1, 2), x(1, 3), x(2, 2), x(1, 3), x(1, 2)];
    const ps = ins.map((t) => d.submit([t]));
    expect(d.queued).toBe(5);
    const a = new FakeReplica(0);
    pool.replicas.push(a);
    d.pump();
    // One batch per shape (2 batches fit: one running + one ahead), FIFO within each.
    expect(a.link.load).toEqual({ batches: 2, requests: 5 });
    await tick();
    expect(a.infers.map((f) => f.tensors[0]!.shape)).toEqual([[4, 2], [2, 3]]);
    expect(values(a.infers[0]!.tensors[0]!)).toEqual([...values(ins[0]!), ...values(ins[2]!), ...values(ins[4]!)]);
    expect(values(a.infers[1]!.tensors[0]!)).toEqual([...values(ins[1]!), ...values(ins[3]!)]);
    a.echo(1);
    a.echo(0);
    const res = await Promise.all(ps);
    res.forEach((r, k) => {
      expect(r.outputs[0]!.shape).toEqual(ins[k]!.shape);
      expect(values(r.outputs[0]!)).toEqual(values(ins[k]!).map((v) => v * 10));
    });
    expect(d.stats).toMatchObject({ batches: 2, batchedRequests: 5 });
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
  });

  it('requests naming different outputs never share a batch', async () => {
    const pool = new Pool([], true);
    const d = dispatcher(pool, { maxBatchSize: 8, maxConcurrentBatches: 3 });
    const ps = [d.submit([x(1)], ['y']), d.submit([x(1)]), d.submit([x(1)], ['y'])];
    const a = new FakeReplica(0);
    a.auto = times10;
    pool.replicas.push(a);
    d.pump();
    await Promise.all(ps);
    expect(a.infers.map((f) => [f.header.outputs, f.tensors[0]!.shape[0]])).toEqual([[['y'], 2], [undefined, 1]]);
  });

  it('a replica error fails every request of the batch with INTERNAL (500)', async () => {
    const pool = new Pool([], true);
    const d = dispatcher(pool, { maxBatchSize: 4 });
    const ps = [d.submit([x(1)]), d.submit([x(1)])];
    const a = new FakeReplica(0);
    pool.replicas.push(a);
    d.pump();
    await tick();
    a.error(a.infers[0]!.header.id, 'shape mismatch');
    for (const p of ps) {
      const e = await refusal(p);
      expect(e.code).toBe('INTERNAL');
      expect(e.status).toBe(500);
      expect(e.message).toContain('batch of 2 rows');
      expect(e.message).toContain('shape mismatch');
    }
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
  });
});

describe('Dispatcher: replica loss', () => {
  it('a batch whose replica died is retried once on another replica and answered there', async () => {
    const [a, b, c] = [new FakeReplica(0), new FakeReplica(1), new FakeReplica(2)];
    const d = dispatcher(new Pool([a, b, c]));
    const input = x(1);
    const p = d.submit([input]);
    await tick();
    expect(a.infers).toHaveLength(1);
    a.die();
    await tick();
    expect(a.link.isClosed).toBe(true);
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
    expect(b.infers).toHaveLength(1);
    expect(b.infers[0]!.tensors).toEqual([input]);
    expect(c.infers).toHaveLength(0);
    b.echo(0);
    expect(values((await p).outputs[0]!)).toEqual(values(input).map((v) => v * 10));
  });

  it('a request already retried once fails with NOT_READY (503, Retry-After) when its second replica dies too', async () => {
    const [a, b, c] = [new FakeReplica(0), new FakeReplica(1), new FakeReplica(2)];
    const d = dispatcher(new Pool([a, b, c]));
    const p = track(d.submit([x(1)]));
    await tick();
    a.die();
    await tick();
    expect(b.infers).toHaveLength(1);
    b.die();
    await tick();
    expect(p.error?.code).toBe('NOT_READY');
    expect(p.error?.status).toBe(503);
    expect(p.error?.headers).toEqual({ 'Retry-After': '1' });
    // Not sent a third time although replica 2 is alive.
    expect(c.infers).toHaveLength(0);
    expect(d.queued).toBe(0);
  });

  it('a retried request goes to the head of the queue, ahead of requests that waited', async () => {
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    const d = dispatcher(new Pool([a, b]), { maxConcurrentBatches: 0 });
    const [r1, r2, r3] = [x(1), x(1), x(1)];
    const ps = [d.submit([r1]), d.submit([r2]), d.submit([r3])]; // r1 -> a, r2 -> b, r3 waits
    await tick();
    expect([a.infers.length, b.infers.length, d.queued]).toEqual([1, 1, 1]);
    a.die();
    await tick();
    expect(d.queued).toBe(2); // b is busy: r1 waits too
    b.auto = times10;
    b.echo(0);
    await Promise.all(ps);
    expect(b.infers.map((f) => f.tensors[0])).toEqual([r2, r1, r3]);
  });

  it('every request of a lost batch is retried, as one batch again', async () => {
    const pool = new Pool([], true);
    const d = dispatcher(pool, { maxBatchSize: 4 });
    const ps = [d.submit([x(1)]), d.submit([x(1)]), d.submit([x(1)])];
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    pool.replicas.push(a, b);
    d.pump();
    await tick();
    expect(a.infers.map((f) => f.tensors[0]!.shape[0])).toEqual([3]);
    a.die();
    await tick();
    expect(b.infers.map((f) => f.tensors[0]!.shape[0])).toEqual([3]);
    b.echo(0);
    expect(await Promise.all(ps)).toHaveLength(3);
  });
});

describe('Dispatcher: frozen replicas (outlier detection)', () => {
  /** A pool whose replicas in `out` are suspect: not in ready(), still members. */
  class SuspectPool extends Pool {
    out = new Set<number>();
    override ready() {
      return this.replicas.filter((r) => !this.out.has(r.idx)).map((r) => ({ idx: r.idx, link: r.link }));
    }
    override get members() {
      return this.replicas.map((r) => ({ idx: r.idx, link: r.link }));
    }
  }

  it('a request that passes its deadline on a replica tells onRequestTimeout how long the replica was silent since it was sent', async () => {
    vi.useFakeTimers();
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    const onRequestTimeout = vi.fn();
    const d = dispatcher(new Pool([a, b]), { maxConcurrentBatches: 0, timeoutMs: 1000 }, () => 0, { onRequestTimeout });
    const queued = track(d.submit([x(1)])); // -> a
    await tick();
    await vi.advanceTimersByTimeAsync(400);
    const late = track(d.submit([x(1)])); // -> b, 400 ms later
    await tick();
    expect([a.infers.length, b.infers.length]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(600);
    expect(queued.error?.code).toBe('TIMEOUT');
    expect(onRequestTimeout).toHaveBeenCalledTimes(1);
    const [link, silentMs, budgetMs] = onRequestTimeout.mock.calls[0]!;
    expect(link).toBe(a.link);
    expect(silentMs).toBeGreaterThanOrEqual(999);
    expect(budgetMs).toBe(1000);
    b.pushNoise(); // b says something (a pong): its silence restarts there
    await vi.advanceTimersByTimeAsync(400);
    expect(late.error?.code).toBe('TIMEOUT');
    expect(onRequestTimeout).toHaveBeenCalledTimes(2);
    expect(onRequestTimeout.mock.calls[1]![0]).toBe(b.link);
    expect(onRequestTimeout.mock.calls[1]![1]).toBeLessThan(500);
  });

  it('a request that times out in the queue tells nobody (no replica held it)', async () => {
    vi.useFakeTimers();
    const a = new FakeReplica(0);
    const onRequestTimeout = vi.fn();
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches: 0, timeoutMs: 1000 }, () => 0, { onRequestTimeout });
    const held = track(d.submit([x(1)])); // in flight on a
    const waiting = track(d.submit([x(1)])); // queued behind it
    await tick();
    expect(d.queued).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect([held.error?.code, waiting.error?.code]).toEqual(['TIMEOUT', 'TIMEOUT']);
    expect(onRequestTimeout.mock.calls.map((c) => c[0])).toEqual([a.link]);
  });

  it('rescue: the requests a suspect replica holds are sent to another replica at once; the first answer wins', async () => {
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    const pool = new SuspectPool([a, b]);
    const d = dispatcher(pool, { maxConcurrentBatches: 0 });
    const input = x(1);
    const p = track(d.submit([input]));
    await tick();
    expect([a.infers.length, b.infers.length]).toEqual([1, 0]);
    pool.out.add(0); // a froze: suspect
    expect(d.rescue(a.link)).toBe(1);
    await tick();
    expect(b.infers).toHaveLength(1);
    expect(b.infers[0]!.tensors).toEqual([input]);
    b.echo(0);
    await tick();
    expect(values(p.value!.outputs[0]!)).toEqual(values(input).map((v) => v * 10));
    // The frozen replica dies later (replaced): nothing is retried or failed a second time.
    a.die();
    await tick();
    expect(b.infers).toHaveLength(1);
    expect(d.stats.errors).toBe(0);
    expect(d.rescue(a.link)).toBe(0);
  });

  it('a rescued request is not failed when its frozen replica dies while another one runs it', async () => {
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    const pool = new SuspectPool([a, b]);
    const d = dispatcher(pool, { maxConcurrentBatches: 0 });
    const p = track(d.submit([x(1)]));
    await tick();
    pool.out.add(0);
    d.rescue(a.link);
    await tick();
    a.die(); // declared dead and killed while b computes
    await tick();
    expect(p.settled).toBe(false);
    b.echo(0);
    await tick();
    expect(p.value).toBeDefined();
    expect(d.stats.errors).toBe(0);
  });

  it('the frozen replica answering first wins too; the copy\'s late answer is dropped', async () => {
    const [a, b] = [new FakeReplica(0), new FakeReplica(1)];
    const pool = new SuspectPool([a, b]);
    const d = dispatcher(pool, { maxConcurrentBatches: 0 });
    const input = x(1);
    const p = track(d.submit([input]));
    await tick();
    pool.out.add(0);
    d.rescue(a.link);
    await tick();
    a.echo(0); // SIGCONT: it answers after all
    await tick();
    expect(values(p.value!.outputs[0]!)).toEqual(values(input).map((v) => v * 10));
    b.echo(0);
    await tick();
    expect(b.link.load).toEqual({ batches: 0, requests: 0 });
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
    expect(d.isIdle()).toBe(true);
  });

  it('a request is rescued at most once: a second frozen replica keeps it until its deadline', async () => {
    vi.useFakeTimers();
    const [a, b, c] = [new FakeReplica(0), new FakeReplica(1), new FakeReplica(2)];
    const pool = new SuspectPool([a, b, c]);
    const d = dispatcher(pool, { maxConcurrentBatches: 0, timeoutMs: 1000 });
    const p = track(d.submit([x(1)]));
    await tick();
    pool.out.add(0);
    d.rescue(a.link);
    await tick();
    expect(b.infers).toHaveLength(1);
    pool.out.add(1);
    expect(d.rescue(b.link)).toBe(0);
    await tick();
    expect(c.infers).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(p.error?.code).toBe('TIMEOUT');
  });
});

describe('Dispatcher: deadlines and clients that leave', () => {
  it('a queued request gets TIMEOUT (504) exactly at timeoutMs and is never sent', async () => {
    vi.useFakeTimers();
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches: 0, timeoutMs: 1000 });
    const first = track(d.submit([x(1)])); // in flight
    const second = track(d.submit([x(1)])); // queued behind it
    await tick();
    expect(a.infers).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(second.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(second.error?.code).toBe('TIMEOUT');
    expect(second.error?.status).toBe(504);
    // The in-flight one has the same deadline.
    expect(first.error?.code).toBe('TIMEOUT');
    // A late answer is dropped, frees the slot, and the expired request is not sent.
    expect(a.link.load).toEqual({ batches: 1, requests: 1 });
    a.echo(0);
    await tick();
    expect(a.link.load).toEqual({ batches: 0, requests: 0 });
    expect(a.infers).toHaveLength(1);
    expect(first.value).toBeUndefined();
    expect(d.queued).toBe(0);
  });

  it('deadlines take one timer per queue, not one per request; answered requests are not kept for the sweep', async () => {
    vi.useFakeTimers();
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches: 0, maxBatchSize: 1, timeoutMs: 1000 });
    const held = track(d.submit([x(1)])); // in flight, never answered
    const queued = Array.from({ length: 300 }, () => track(d.submit([x(1)])));
    await tick();
    expect(vi.getTimerCount()).toBe(1);
    // Later requests, answered as they go: their deadlines pass with no timer of their own and nothing fails.
    await vi.advanceTimersByTimeAsync(500);
    const b = new FakeReplica(1);
    b.auto = times10;
    const d2 = dispatcher(new Pool([b]), { maxBatchSize: 1, timeoutMs: 1000 });
    const answered = [];
    for (let i = 0; i < 1000; i++) answered.push(track(d2.submit([x(1)])));
    for (let k = 0; k < 500 && !answered.every((r) => r.settled); k++) await tick();
    expect(answered.every((r) => r.value !== undefined)).toBe(true);
    expect(vi.getTimerCount()).toBeLessThanOrEqual(2); // d's and d2's sweeps at most
    await vi.advanceTimersByTimeAsync(499);
    expect(held.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(held.error?.code).toBe('TIMEOUT');
    expect(queued.every((r) => r.error?.code === 'TIMEOUT')).toBe(true);
    await vi.advanceTimersByTimeAsync(2000);
    expect(vi.getTimerCount()).toBe(0); // nothing left to watch: no timer
    expect(answered.every((r) => r.error === undefined)).toBe(true);
  });

  it('a request waiting for a starting replica times out with TIMEOUT', async () => {
    vi.useFakeTimers();
    const d = dispatcher(new Pool([], true), { timeoutMs: 250 });
    const p = track(d.submit([x(1)]));
    await vi.advanceTimersByTimeAsync(249);
    expect(p.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(p.error?.code).toBe('TIMEOUT');
  });

  it('a client that left (ClientGone.onAbort) is dropped before it runs and never sent', async () => {
    const pool = new Pool([], true);
    const d = dispatcher(pool, { maxConcurrentBatches: 3 });
    const gone: ClientGone = { aborted: false };
    const left = track(d.submit([x(1)], undefined, gone));
    const stays = x(1);
    const p = d.submit([stays]);
    expect(gone.onAbort).toBeTypeOf('function');
    gone.aborted = true;
    gone.onAbort!();
    await tick();
    // nginx's 499: the client's doing, not an error (canary analysis reads stats.errors).
    expect(left.error?.code).toBe('CLIENT_CLOSED');
    expect(left.error?.status).toBe(499);
    expect(d.stats.errors).toBe(0);
    const a = new FakeReplica(0);
    a.auto = times10;
    pool.replicas.push(a);
    d.pump();
    await p;
    expect(a.infers).toHaveLength(1);
    expect(a.infers[0]!.tensors).toEqual([stays]);
  });
});

describe('Dispatcher: admission', () => {
  it('queue full at maxQueued: OVERLOADED (503) with Retry-After, at once; in-flight requests do not count', async () => {
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches: 0, maxQueued: 2 });
    const ps = [d.submit([x(1)]), d.submit([x(1)]), d.submit([x(1)])]; // 1 in flight + 2 queued
    expect(d.queued).toBe(2);
    const e = await refusal(d.submit([x(1)]));
    expect(e.code).toBe('OVERLOADED');
    expect(e.status).toBe(503);
    expect(e.headers).toEqual({ 'Retry-After': '1' });
    expect(d.snapshot()).toMatchObject({ requests: 4, errors: 1, queued: 2, inflight: 1 });
    await tick();
    a.auto = times10;
    a.echo(0);
    await Promise.all(ps);
  });

  it.each([
    ['no replica alive and none coming: NOT_READY', false, undefined, 'NOT_READY'],
    ['no replica alive, but onNoReplica starts one: queued', false, () => true, null],
    ['no replica alive, onNoReplica cannot start one: NOT_READY', false, () => false, 'NOT_READY'],
    ['a replica is starting: queued', true, undefined, null],
  ] as [string, boolean, (() => boolean) | undefined, string | null][])('%s', async (_n, starting, onNoReplica, code) => {
    vi.useFakeTimers();
    const d = new Dispatcher(new Pool([], starting), () => options({ timeoutMs: 1000 }), () => 0, { onNoReplica });
    const p = track(d.submit([x(1)]));
    await tick();
    expect(p.error?.code ?? null).toBe(code);
    expect(d.queued).toBe(code ? 0 : 1);
    await vi.advanceTimersByTimeAsync(1000);
  });

  // Requests that ended while queued stay in the queue array until the next pump(), and admission
  // counts queue.length: during a long cold start, dead entries fill the queue.
  it.each([
    ['timed out', async (_g: ClientGone) => vi.advanceTimersByTimeAsync(100)],
    ['whose client left', async (g: ClientGone) => g.onAbort!()],
  ])('requests %s no longer count toward maxQueued', async (_n, end) => {
    vi.useFakeTimers();
    const d = dispatcher(new Pool([], true), { maxQueued: 2, timeoutMs: 100 });
    const gones: ClientGone[] = [{ aborted: false }, { aborted: false }];
    const dead = gones.map((g) => track(d.submit([x(1)], undefined, g)));
    for (const g of gones) await end(g);
    await tick();
    expect(dead.every((s) => s.error !== undefined)).toBe(true);
    const fresh = track(d.submit([x(1)]));
    await tick();
    expect(fresh.error?.code).toBeUndefined();
    expect(d.snapshot().queued).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
  });
});

describe('Dispatcher: drain (QUIET_MS = 100)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  const advance = async (ms: number) => {
    await vi.advanceTimersByTimeAsync(ms);
    await tick();
  };

  it('serves requests that arrive during the drain, then refuses new ones with NOT_READY', async () => {
    const a = new FakeReplica(0);
    const d = dispatcher(new Pool([a]), { maxConcurrentBatches: 3 });
    const before = d.submit([x(1)]); // t = 0, in flight
    const drained = track(d.drain('deployment a is going away', 5000));
    await advance(30);
    const during = d.submit([x(1)]); // t = 30: still taken
    await tick();
    expect(a.infers).toHaveLength(2);
    await advance(170); // t = 200: quiet long enough, but requests are in flight
    expect(drained.settled).toBe(false);
    a.echo(0);
    a.echo(1);
    await Promise.all([before, during]);
    await advance(50); // a poll or two
    expect(drained.settled).toBe(true);
    expect(drained.error).toBeUndefined();
    const e = await refusal(d.submit([x(1)]));
    expect(e.code).toBe('NOT_READY');
    expect(e.status).toBe(503);
    expect(e.message).toBe('deployment a is going away');
    expect(a.infers).toHaveLength(2);
  });

  it('closes QUIET_MS after the last arrival, not before', async () => {
    const a = new FakeReplica(0);
    a.auto = times10;
    const d = dispatcher(new Pool([a]));
    const served = [d.submit([x(1)])]; // t = 0
    const drained = track(d.drain('bye', 5000));
    await advance(80);
    served.push(d.submit([x(1)])); // t = 80: answered at once
    await advance(99); // t = 179: 99 ms quiet
    expect(drained.settled).toBe(false);
    await advance(50); // 100 ms quiet, and a poll or two
    expect(drained.settled).toBe(true);
    expect(await Promise.all(served)).toHaveLength(2);
    expect((await refusal(d.submit([x(1)]))).code).toBe('NOT_READY');
  });

  // drain() measures the quiet period from the last submit, not from the start of the drain: a
  // dispatcher that has been idle for QUIET_MS closes synchronously inside drain(), so a request
  // that was routed here just before the cutover and whose body is still being read is refused.
  it('an idle dispatcher still serves a request that arrives right after the drain began', async () => {
    const a = new FakeReplica(0);
    a.auto = times10;
    const d = dispatcher(new Pool([a]));
    await advance(500); // idle for longer than the quiet period
    const drained = track(d.drain('bye', 5000));
    await advance(10);
    const late = track(d.submit([x(1)]));
    await advance(200);
    expect(drained.settled).toBe(true);
    expect(late.error?.code).toBeUndefined();
    expect(a.infers).toHaveLength(1);
  });

  it('after the grace period, what is still queued is refused with the reason', async () => {
    const d = dispatcher(new Pool([], true));
    const p = track(d.submit([x(1)]));
    const drained = track(d.drain('deployment a was undeployed', 120));
    await advance(119);
    expect(drained.settled).toBe(false);
    expect(p.settled).toBe(false);
    await advance(50);
    expect(drained.settled).toBe(true);
    expect(p.error?.code).toBe('NOT_READY');
    expect(p.error?.message).toBe('deployment a was undeployed');
    expect(d.queued).toBe(0);
  });
});

describe('Dispatcher: load lives in the link', () => {
  it('counts a batch and its requests on pool.ready()[i].link.load, and goes back to 0 after the answer', async () => {
    const pool = new Pool([], true);
    const d = dispatcher(pool, { maxBatchSize: 4 });
    const ps = [d.submit([x(1)]), d.submit([x(1)]), d.submit([x(1)])];
    pool.replicas.push(new FakeReplica(0), new FakeReplica(1));
    d.pump();
    const loads = () => pool.ready().map((r) => ({ ...r.link.load }));
    expect(loads()).toEqual([{ batches: 1, requests: 3 }, { batches: 0, requests: 0 }]);
    expect(d.snapshot().inflight).toBe(3);
    expect(d.isIdle()).toBe(false);
    await tick();
    pool.replicas[0]!.echo(0);
    await Promise.all(ps);
    expect(loads()).toEqual([{ batches: 0, requests: 0 }, { batches: 0, requests: 0 }]);
    expect(d.snapshot()).toMatchObject({ inflight: 0, queued: 0, batches: 1, batchedRequests: 3, errors: 0 });
    expect(d.isIdle()).toBe(true);
  });
});
