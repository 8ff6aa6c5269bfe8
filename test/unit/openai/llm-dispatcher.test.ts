// The LLM queue over REAL ReplicaLinks and FrameEngines: each link's other end plays a llama.cpp
// replica with the project's frame codec (tokens, done, error, cancel), so routing, slots,
// retries, cancellation and load accounting are tested through real framing without a process.
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DISPATCH, type ClientGone, type DispatchOptions } from '../../../src/daemon/dataplane/dispatcher.js';
import { EngineLost, FrameEngine, type LlmEngine, type TokenSink } from '../../../src/daemon/dataplane/openai/engine.js';
import { LlmDispatcher } from '../../../src/daemon/dataplane/openai/llm-dispatcher.js';
import { ReplicaLink } from '../../../src/daemon/dataplane/replica-link.js';
import { MlserveError } from '../../../src/errors.js';
import { FrameDecoder, encodeFrame } from '../../../src/runtime/frame.js';
import type { GenerateRequest } from '../../../src/runtime/llm/protocol.js';

class FakeLlmReplica {
  readonly link: ReplicaLink;
  readonly engine: LlmEngine;
  readonly got: Array<{ t: string; id: number; request?: GenerateRequest }> = [];
  private readonly pipe: Duplex;
  private readonly decoder = new FrameDecoder();

  constructor(readonly idx: number) {
    this.pipe = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        for (const f of this.decoder.push(chunk)) this.got.push(f.header as never);
        cb();
      },
    });
    this.link = new ReplicaLink(this.pipe, () => {});
    this.engine = new FrameEngine(this.link);
  }

  generates() {
    return this.got.filter((m) => m.t === 'generate');
  }

  private push(h: object) {
    this.pipe.push(Buffer.concat(encodeFrame(h, [])));
  }

  token(id: number, text: string) {
    this.push({ t: 'token', id, text, tokens: 1 });
  }

  done(id: number, finishReason = 'length') {
    this.push({ t: 'done', id, finishReason, usage: { promptTokens: 3, completionTokens: 2 }, kv: { used: 10, size: 100 } });
  }

  error(id: number, message: string, status?: number) {
    this.push({ t: 'error', id, message, ...(status ? { status, code: 'context_length_exceeded' } : {}) });
  }

  die() {
    this.link.close('replica exited (killed by SIGKILL)');
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));
const req = (prompt: string): GenerateRequest => ({ kind: 'completion', prompt, maxTokens: 4, temperature: 0, topP: 1, stop: [], presencePenalty: 0, frequencyPenalty: 0 });

function sink() {
  const s = { text: '', done: null as string | null, error: null as Error | null };
  const t: TokenSink = {
    onToken: (x) => { s.text += x; },
    onDone: (f) => { s.done = f; },
    onError: (e) => { s.error = e; },
  };
  return { s, t };
}

let dispatchers: LlmDispatcher[] = [];
afterEach(() => {
  for (const d of dispatchers) d.drainQueue('test over');
  dispatchers = [];
});

function setup(n: number, opts: Partial<DispatchOptions> = {}, slots = 2) {
  const replicas = Array.from({ length: n }, (_, i) => new FakeLlmReplica(i));
  const pool = { members: replicas, ready: () => replicas.filter((r) => !r.link.isClosed), alive: () => replicas.some((r) => !r.link.isClosed) };
  const d = new LlmDispatcher(pool, () => ({ ...DEFAULT_DISPATCH, timeoutMs: 2000, ...opts }), {
    engineOf: (r) => replicas.find((x) => x.link === r.link)?.engine ?? null,
    capacityOf: () => slots,
  }, {}, () => 0);
  dispatchers.push(d);
  return { d, replicas };
}

describe('LlmDispatcher', () => {
  it('runs up to `slots` generations per replica at once and queues the rest', async () => {
    const { d, replicas: [r] } = setup(1);
    const a = sink(); const b = sink(); const c = sink();
    d.generate(req('a'), undefined, a.t);
    d.generate(req('b'), undefined, b.t);
    d.generate(req('c'), undefined, c.t);
    await tick();
    expect(r.generates().map((g) => g.request!.prompt)).toEqual(['a', 'b']);
    expect(d.snapshot()).toMatchObject({ queued: 1, inflight: 2, requests: 3 });
    r.token(r.generates()[0].id, 'x');
    r.token(r.generates()[0].id, 'y');
    r.done(r.generates()[0].id);
    await tick();
    expect(a.s).toEqual({ text: 'xy', done: 'length', error: null });
    expect(r.generates().map((g) => g.request!.prompt)).toEqual(['a', 'b', 'c']);
    expect(d.snapshot()).toMatchObject({ queued: 0, inflight: 2, llm: { promptTokens: 3, completionTokens: 2, kv: { used: 10, size: 100 } } });
  });

  it('refuses past max_queued_requests (429 with Retry-After at the API) and when no replica runs', async () => {
    const { d } = setup(1, { maxQueued: 1 }, 1);
    d.generate(req('a'), undefined, sink().t);
    d.generate(req('b'), undefined, sink().t);
    let err: unknown;
    try {
      d.generate(req('c'), undefined, sink().t);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MlserveError);
    expect((err as MlserveError).code).toBe('OVERLOADED');
    expect((err as MlserveError).headers['Retry-After']).toBe('1');
    const none = setup(0).d;
    expect(() => none.generate(req('a'), undefined, sink().t)).toThrow(/no replica is ready/);
  });

  it('sends a prompt back to the replica that holds its prefix, within the load bound', async () => {
    const { d, replicas } = setup(2, {}, 4);
    const system = 'You are a helpful assistant. '.repeat(10);
    d.generate(req(`${system}Q1`), undefined, sink().t);
    await tick();
    const first = replicas.find((r) => r.generates().length === 1)!;
    // The same system prompt again: to the same replica although the other one is idle.
    d.generate(req(`${system}Q2`), undefined, sink().t);
    d.generate(req(`${system}Q3`), undefined, sink().t);
    await tick();
    expect(first.generates()).toHaveLength(3);
    // A fourth would put it 3 ahead of the idle replica (bound: 4 slots / 2 = 2): least loaded instead.
    d.generate(req(`${system}Q4`), undefined, sink().t);
    await tick();
    expect(first.generates()).toHaveLength(3);
    expect(replicas.find((r) => r !== first)!.generates()).toHaveLength(1);
    expect(d.llm.routed).toEqual({ session: 0, prefix: 2, 'least-loaded': 2 });
  });

  it('keeps a session key on one replica', async () => {
    const { d, replicas } = setup(3, {}, 8);
    for (let i = 0; i < 4; i++) d.generate(req(`q${i}`), 'user-42', sink().t);
    await tick();
    expect(replicas.map((r) => r.generates().length).sort()).toEqual([0, 0, 4]);
  });

  it('retries once elsewhere when a replica dies before the first token; after it, the client gets the error', async () => {
    const { d, replicas: [r0, r1] } = setup(2, {}, 1);
    const a = sink(); const b = sink();
    d.generate(req('a'), undefined, a.t);
    d.generate(req('b'), undefined, b.t);
    await tick();
    const [onA, onB] = r0.generates()[0].request!.prompt === 'a' ? [r0, r1] : [r1, r0];
    onB.token(onB.generates()[0].id, 'partial');
    await tick();
    onA.die(); // a had no token yet
    await tick();
    expect(a.s.error).toBeNull();
    expect(onB.generates().map((g) => g.request!.prompt)).toEqual(['b']); // onB is full (1 slot): a waits
    onB.done(onB.generates()[0].id); // b finishes: its slot takes a (the retry)
    await tick();
    expect(onB.generates().map((g) => g.request!.prompt)).toEqual(['b', 'a']);
    expect(b.s).toMatchObject({ text: 'partial', done: 'length' });
    onB.token(onB.generates()[1].id, 'z');
    await tick();
    onB.die(); // a already streamed this time: no second retry, the client hears of it
    await tick();
    expect(a.s.error).toBeInstanceOf(EngineLost);
    expect(a.s.text).toBe('z');
    expect(d.snapshot()).toMatchObject({ queued: 0, inflight: 0 });
  });

  it('a client that leaves cancels its generation; the slot frees when the replica confirms', async () => {
    const { d, replicas: [r] } = setup(1, {}, 1);
    const gone: ClientGone = { aborted: false };
    d.generate(req('a'), undefined, sink().t, gone);
    const queuedGone: ClientGone = { aborted: false };
    d.generate(req('b'), undefined, sink().t, queuedGone);
    await tick();
    queuedGone.aborted = true;
    queuedGone.onAbort!(); // left while queued: never sent
    gone.aborted = true;
    gone.onAbort!();
    await tick();
    const id = r.generates()[0].id;
    expect(r.got.filter((m) => m.t === 'cancel')).toEqual([{ t: 'cancel', id }]);
    expect(d.snapshot().inflight).toBe(1); // until the replica says it stopped
    r.done(id, 'cancelled');
    await tick();
    expect(d.snapshot()).toMatchObject({ inflight: 0, queued: 0 });
    expect(r.generates()).toHaveLength(1);
  });

  it('a request nobody takes within request_timeout_ms fails with TIMEOUT', async () => {
    const { d } = setup(1, { timeoutMs: 30 }, 1);
    d.generate(req('a'), undefined, sink().t);
    const b = sink();
    d.generate(req('b'), undefined, b.t);
    await new Promise((r) => setTimeout(r, 60));
    expect((b.s.error as MlserveError).code).toBe('TIMEOUT');
  });

  it('passes a replica\'s client error through with its status', async () => {
    const { d, replicas: [r] } = setup(1);
    const a = sink();
    d.generate(req('a'), undefined, a.t);
    await tick();
    r.error(r.generates()[0].id, 'too long', 400);
    await tick();
    expect(a.s.error).toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });

  it('refuses tensor requests and drains: queued requests fail once it closes', async () => {
    const { d } = setup(1, {}, 1);
    await expect(d.submit()).rejects.toThrow(/language model/);
    d.generate(req('a'), undefined, sink().t);
    const b = sink();
    d.generate(req('b'), undefined, b.t);
    await d.drain('going away', 30);
    expect((b.s.error as MlserveError).code).toBe('NOT_READY');
    expect(() => d.generate(req('c'), undefined, sink().t)).toThrow(/going away/);
  });
});
