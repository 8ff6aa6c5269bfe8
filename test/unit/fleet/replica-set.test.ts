// ReplicaSet with a fake spawner (opts.spawn) and fake timers: each fake replica has a REAL
// ReplicaLink over an in-memory Duplex (so pings and in-flight requests are real frames), and
// `ready` / `exited` promises the test resolves.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReplicaLink } from '../../../src/daemon/dataplane/replica-link.js';
import type { SpawnPlan } from '../../../src/daemon/fleet/kinds/kind.js';
import { onnxKind } from '../../../src/daemon/fleet/kinds/onnx.js';
import { ReplicaSet, replicaLogFile, type Replica, type ReplicaSetOptions } from '../../../src/daemon/fleet/replica-set.js';
import type { ExitInfo, ReadyInfo, SpawnedReplica } from '../../../src/daemon/fleet/supervisor.js';
import { FrameDecoder, encodeFrame, type DecodedFrame } from '../../../src/runtime/frame.js';
import type { TensorSpec } from '../../../src/tensor.js';

const SPEC: TensorSpec = { name: 'x', datatype: 'FP32', shape: [-1, 4] };

class FakeProc implements SpawnedReplica {
  readonly pid: number;
  readonly link: ReplicaLink;
  readonly ready: Promise<ReadyInfo>;
  readonly exited: Promise<ExitInfo>;
  readonly frames: DecodedFrame[] = [];
  /** Grace periods stop() was called with; kill() calls. */
  readonly stops: number[] = [];
  kills = 0;
  answerPings = true;
  exitInfo: ExitInfo | null = null;
  private readonly pipe: Duplex;
  private readonly decoder = new FrameDecoder();
  private resolveReady!: (r: ReadyInfo) => void;
  private rejectReady!: (e: Error) => void;
  private resolveExit!: (e: ExitInfo) => void;

  constructor(readonly n: number, readonly plan: SpawnPlan, readonly logFile: string, readonly what: string) {
    this.pid = 4000 + n;
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.ready.catch(() => {});
    this.exited = new Promise((res) => (this.resolveExit = res));
    this.pipe = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        for (const f of this.decoder.push(chunk)) {
          this.frames.push(f);
          if (f.header.t === 'ping' && this.answerPings) this.send({ t: 'pong', id: f.header.id });
        }
        cb();
      },
    });
    this.link = new ReplicaLink(this.pipe, () => {});
  }

  get pings(): number {
    return this.frames.filter((f) => f.header.t === 'ping').length;
  }

  send(header: object): void {
    this.pipe.push(Buffer.concat(encodeFrame(header, [])));
  }

  becomeReady(loadMs = 7): void {
    this.resolveReady({ inputs: [SPEC], outputs: [SPEC], loadMs });
  }

  exit(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    this.link.close('replica exited');
    this.rejectReady(new Error('replica exited before it was ready'));
    this.resolveExit(info);
  }

  crash(signal = 'SIGSEGV'): void {
    this.exit({ code: null, signal });
  }

  /** false: stop() waits for the test to call exit(), like a replica slow to go. */
  exitOnStop = true;

  stop = (graceMs: number): Promise<ExitInfo> => {
    this.stops.push(graceMs);
    if (this.exitOnStop) this.exit({ code: 0, signal: null });
    return this.exited;
  };

  kill = (): void => {
    this.kills++;
    this.exit({ code: null, signal: 'SIGKILL' });
  };
}

let logDir: string;
beforeEach(() => {
  logDir = mkdtempSync(join(tmpdir(), 'mlserve-replica-set-'));
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(logDir, { recursive: true, force: true });
});

/** Let promise callbacks and nextTicks (link writes) run. */
async function tick(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => process.nextTick(r));
}
const advance = async (ms: number) => {
  await vi.advanceTimersByTimeAsync(ms);
  await tick();
};

function setup(over: Partial<ReplicaSetOptions> = {}) {
  const procs: FakeProc[] = [];
  const spawn = vi.fn((plan: SpawnPlan, logFile: string, what: string): SpawnedReplica => {
    const p = new FakeProc(procs.length, plan, logFile, what);
    procs.push(p);
    return p;
  });
  const states: string[] = [];
  const hooks = {
    onReplica: vi.fn((r: Replica) => void states.push(`${r.idx}:${r.state}`)),
    onReady: vi.fn(),
    onLoadFailure: vi.fn(),
    onCrash: vi.fn(),
    onCrashLoop: vi.fn(),
    onHealthFailure: vi.fn(),
  };
  const set = new ReplicaSet({
    deployment: 'iris',
    kind: onnxKind,
    spawnInput: { deployment: 'iris', modelDir: '/models/iris', modelFile: '/models/iris/model.onnx', concurrency: 1 },
    logDir,
    spawn,
    ...over,
  }, hooks);
  /** The newest process of replica `idx`. */
  const proc = (idx: number) => procs.filter((p) => JSON.parse(p.plan.args.at(-1)!).replica === idx).at(-1)!;
  const member = (idx: number) => set.members.find((r) => r.idx === idx)!;
  return { set, procs, spawn, hooks, states, proc, member };
}

/** A set with `n` ready replicas. */
async function readySet(n: number, over: Partial<ReplicaSetOptions> = {}) {
  const s = setup(over);
  for (let i = 0; i < n; i++) s.set.add();
  for (const p of s.procs) p.becomeReady();
  await tick();
  return s;
}

describe('ReplicaSet: start', () => {
  it('spawns through opts.spawn with the kind\'s plan and the replica\'s log file, and reports ready', async () => {
    const { set, spawn, hooks, procs, states } = setup();
    const r = set.add();
    expect(spawn).toHaveBeenCalledTimes(1);
    const [plan, logFile, what] = spawn.mock.calls[0]!;
    expect(plan.command).toBe(process.execPath);
    expect(JSON.parse(plan.args.at(-1)!)).toMatchObject({ deployment: 'iris', replica: 0, modelFile: '/models/iris/model.onnx', concurrency: 1 });
    expect(logFile).toBe(replicaLogFile(logDir, 'iris', 0));
    expect(what).toBe('iris/0');
    expect(r).toMatchObject({ idx: 0, state: 'starting', pid: 4000, restarts: 0 });
    expect(r.link).toBe(procs[0]!.link);
    expect(set.ready()).toEqual([]);
    expect(set.alive()).toBe(true);
    procs[0]!.becomeReady(42);
    await tick();
    expect(r.state).toBe('ready');
    expect(set.ready()).toEqual([r]);
    expect(hooks.onReady.mock.calls[0]!.slice(0, 3)).toEqual([{ inputs: [SPEC], outputs: [SPEC] }, 42, 0]);
    expect(states).toEqual(['0:starting', '0:ready']);
  });

  it('a spawn that throws is a load failure (no restart)', async () => {
    const { set, spawn, hooks } = setup();
    spawn.mockImplementationOnce(() => {
      throw new Error('could not start a replica process for iris/0');
    });
    const r = set.add();
    expect(r.state).toBe('failed');
    expect(hooks.onLoadFailure).toHaveBeenCalledWith(0, 'could not start a replica process for iris/0');
    await advance(60_000);
    expect(spawn).toHaveBeenCalledTimes(1);
  });
});

describe('ReplicaSet: crashes and restarts', () => {
  it.each([
    { name: 'defaults: 500 ms doubling (cap 30 s)', over: {}, delays: [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000] },
    { name: 'capped at maxBackoffMs', over: { maxBackoffMs: 3000 }, delays: [500, 1000, 2000, 3000, 3000] },
    { name: 'custom first delay', over: { backoffMs: 100, maxBackoffMs: 250 }, delays: [100, 200, 250, 250] },
  ])('$name', async ({ over, delays }) => {
    const { set, procs, hooks, member } = await readySet(1, { crashLoopThreshold: 100, ...over });
    for (let k = 0; k < delays.length; k++) {
      const delay = delays[k]!;
      procs[k]!.crash();
      await tick();
      const r = member(0);
      expect(r.state).toBe('restarting');
      expect(r.restarts).toBe(k + 1);
      expect(r.crashStreak).toBe(k + 1);
      expect(r.link).toBeNull();
      expect(hooks.onCrash).toHaveBeenLastCalledWith(0, expect.stringContaining('killed by SIGSEGV'), delay);
      await advance(delay - 1);
      expect(procs).toHaveLength(k + 1);
      await advance(1);
      expect(procs).toHaveLength(k + 2);
      expect(r.state).toBe('starting');
      expect(r.link).toBe(procs[k + 1]!.link);
    }
    expect(hooks.onLoadFailure).not.toHaveBeenCalled();
    await set.stop();
  });

  it('counts restarts on top of those from before the daemon started', async () => {
    const { procs, member } = await readySet(1, { priorRestarts: new Map([[0, 7]]) });
    expect(member(0).restarts).toBe(7);
    procs[0]!.crash();
    await tick();
    expect(member(0).restarts).toBe(8);
  });

  it.each([
    // name, up for (ms) before the 4th crash, next delay, streak
    ['up exactly stableMs: the streak starts over', 10_000, 500, 1],
    ['up 1 ms less than stableMs: the streak goes on', 9_999, 4000, 4],
  ])('%s', async (_n, upMs, delay, streak) => {
    const { procs, hooks, member } = await readySet(1, { stableMs: 10_000 });
    for (const d of [500, 1000, 2000]) {
      procs.at(-1)!.crash();
      await advance(d);
    }
    expect(procs).toHaveLength(4);
    procs[3]!.becomeReady();
    await advance(upMs);
    procs[3]!.crash();
    await tick();
    expect(member(0).crashStreak).toBe(streak);
    expect(hooks.onCrash).toHaveBeenLastCalledWith(0, expect.any(String), delay);
  });

  it('onCrashLoop fires once, when the streak reaches crashLoopThreshold', async () => {
    const { procs, hooks } = await readySet(1, { crashLoopThreshold: 3, maxBackoffMs: 1000 });
    const fired: number[] = [];
    for (let k = 1; k <= 6; k++) {
      procs.at(-1)!.crash();
      await tick();
      fired.push(hooks.onCrashLoop.mock.calls.length);
      await advance(1000);
    }
    expect(fired).toEqual([0, 0, 1, 1, 1, 1]);
    expect(hooks.onCrashLoop).toHaveBeenCalledWith(0, expect.stringContaining('replica 0 killed by SIGSEGV'));
    expect(hooks.onCrash).toHaveBeenCalledTimes(6);
  });

  it.each([
    { name: 'fatal message before ready', ready: false, exit: { code: 1, signal: null, fatal: 'cannot load model.onnx: bad protobuf' }, load: 'cannot load model.onnx: bad protobuf' },
    { name: 'exit code 1 before ready', ready: false, exit: { code: 1, signal: null }, load: 'replica exited before it was ready (exit code 1)' },
    { name: 'fatal message after ready', ready: true, exit: { code: 1, signal: null, fatal: 'CUDA out of memory' }, load: 'CUDA out of memory' },
    { name: 'exit code 1 after ready: a crash', ready: true, exit: { code: 1, signal: null }, load: null },
    { name: 'exit code 2 before ready: a crash', ready: false, exit: { code: 2, signal: null }, load: null },
    { name: 'killed before ready: a crash', ready: false, exit: { code: null, signal: 'SIGKILL' }, load: null },
  ] as { name: string; ready: boolean; exit: ExitInfo; load: string | null }[])('$name', async ({ ready, exit, load }) => {
    const { set, procs, hooks, member } = setup();
    set.add();
    if (ready) procs[0]!.becomeReady();
    await tick();
    procs[0]!.exit(exit);
    await tick();
    await advance(60_000);
    if (load !== null) {
      expect(member(0).state).toBe('failed');
      expect(hooks.onLoadFailure).toHaveBeenCalledTimes(1);
      expect(hooks.onLoadFailure).toHaveBeenCalledWith(0, load);
      expect(hooks.onCrash).not.toHaveBeenCalled();
      expect(member(0).restarts).toBe(0);
      expect(procs).toHaveLength(1);
    } else {
      expect(hooks.onLoadFailure).not.toHaveBeenCalled();
      expect(hooks.onCrash).toHaveBeenCalledTimes(1);
      expect(procs).toHaveLength(2);
    }
  });

  it('a load failure without a message reports the tail of the replica\'s log', async () => {
    const { set, procs, hooks } = setup();
    writeFileSync(replicaLogFile(logDir, 'iris', 0), 'loading\nTraceback (most recent call last):\nValueError: bad model\n');
    set.add();
    procs[0]!.exit({ code: 1, signal: null });
    await tick();
    expect(hooks.onLoadFailure).toHaveBeenCalledWith(0, 'loading\nTraceback (most recent call last):\nValueError: bad model');
  });
});

describe('ReplicaSet: health checks', () => {
  const health = { healthPeriodMs: 1000, healthTimeoutMs: 300, healthMisses: 3 };

  it('a ping that never answers counts a miss each period; healthMisses in a row kill the replica', async () => {
    const { set, procs, hooks, member } = await readySet(1, health);
    set.start();
    procs[0]!.answerPings = false;
    const misses: number[] = [];
    for (let k = 1; k <= 3; k++) {
      await advance(k === 1 ? 1000 : 700); // t = k * 1000: the check pings
      expect(procs[0]!.pings).toBe(k);
      await advance(299);
      expect(member(0).healthMisses).toBe(k - 1); // not yet: the timeout has not passed
      await advance(1); // t = k * 1000 + 300: the ping timed out
      misses.push(member(0).healthMisses);
      if (k < 3) expect(procs[0]!.kills).toBe(0);
    }
    expect(misses[0]).toBe(1);
    expect(misses[1]).toBe(2);
    expect(hooks.onHealthFailure).toHaveBeenCalledTimes(1);
    expect(hooks.onHealthFailure).toHaveBeenCalledWith(0, expect.stringContaining('failed 3 health checks'));
    expect(procs[0]!.kills).toBe(1);
    // Its exit restarts it like a crash.
    expect(hooks.onCrash).toHaveBeenCalledWith(0, expect.stringContaining('killed by SIGKILL'), 500);
    await advance(500);
    expect(procs).toHaveLength(2);
    expect(member(0).healthMisses).toBe(0);
    await set.stop();
  });

  it('a ping that answers resets the misses', async () => {
    const { set, procs, hooks, member } = await readySet(1, health);
    set.start();
    const p = procs[0]!;
    await advance(700);
    /** One health period: the check pings at t = k * 1000 and times out at + 300. */
    const period = async (answers: boolean) => {
      p.answerPings = answers;
      await advance(600);
      const misses = member(0).healthMisses;
      await advance(400);
      return misses;
    };
    expect([await period(false), await period(false), await period(true), await period(false), await period(false)]).toEqual([1, 2, 0, 1, 2]);
    expect(hooks.onHealthFailure).not.toHaveBeenCalled();
    expect(p.kills).toBe(0);
    expect(await period(false)).toBe(3);
    expect(p.kills).toBe(1);
    await set.stop();
  });

  it('only ready replicas are pinged', async () => {
    const { set, procs } = setup(health);
    set.start();
    set.add();
    await advance(5000);
    expect(procs[0]!.pings).toBe(0);
    procs[0]!.becomeReady();
    await advance(1000);
    expect(procs[0]!.pings).toBe(1);
    await set.stop();
  });
});

describe('ReplicaSet: outlier detection (frozen replicas)', () => {
  const health = { healthPeriodMs: 1000, healthTimeoutMs: 300, healthMisses: 3 };
  const withHooks = async (n: number) => {
    const s = await readySet(n, health);
    const hooks = Object.assign(s.hooks, { onSuspect: vi.fn(), onRecovered: vi.fn() });
    return { ...s, hooks };
  };

  it('ONE missed health check takes the replica out of ready() at once; it is still pinged and an answer restores it', async () => {
    const { set, procs, hooks, member, states } = await withHooks(2);
    set.start();
    procs[0]!.answerPings = false;
    await advance(1000 + 300); // the first check pings at 1000 and times out at 1300
    expect(member(0).state).toBe('suspect');
    expect(set.ready().map((r) => r.idx)).toEqual([1]);
    expect(set.alive()).toBe(true);
    expect(states).toContain('0:suspect');
    expect(hooks.onSuspect).toHaveBeenCalledWith(0, expect.stringContaining('missed a health check'));
    expect(procs[0]!.kills).toBe(0);
    procs[0]!.answerPings = true;
    await advance(700); // t = 2000: the next check pings the suspect replica too, and it answers
    expect(procs[0]!.pings).toBe(2);
    expect(member(0).state).toBe('ready');
    expect(member(0).healthMisses).toBe(0);
    expect(set.ready().map((r) => r.idx)).toEqual([0, 1]);
    expect(hooks.onRecovered).toHaveBeenCalledWith(0, expect.stringContaining('back in service'));
    await set.stop();
  });

  it('a suspect replica that keeps missing is replaced after healthMisses checks, as before', async () => {
    const { set, procs, hooks, member } = await withHooks(1);
    set.start();
    procs[0]!.answerPings = false;
    await advance(1300);
    expect(member(0).state).toBe('suspect');
    await advance(2000); // misses 2 and 3
    expect(hooks.onHealthFailure).toHaveBeenCalledWith(0, expect.stringContaining('failed 3 health checks'));
    expect(procs[0]!.kills).toBe(1);
    expect(hooks.onSuspect).toHaveBeenCalledTimes(1);
    await set.stop();
  });

  it('a request held past its deadline by a silent replica makes it suspect; one that answered meanwhile stays', async () => {
    const { set, hooks, member } = await withHooks(2);
    set.requestTimedOut(member(0).link!, 20_000, 30_000);
    set.requestTimedOut(member(1).link!, 100, 30_000);
    expect(member(0).state).toBe('suspect');
    expect(member(1).state).toBe('ready');
    expect(set.ready().map((r) => r.idx)).toEqual([1]);
    expect(hooks.onSuspect).toHaveBeenCalledWith(0, expect.stringContaining('held a request past its 30000 ms deadline'));
    await set.stop();
  });

  it('a draining or restarting replica is left alone by the rule', async () => {
    const { set, procs, member } = await withHooks(2);
    procs[1]!.exitOnStop = false;
    const shrinking = set.shrink(1); // replica 1 drains
    await tick();
    set.requestTimedOut(member(1).link!, 20_000, 30_000);
    expect(member(1).state).toBe('draining');
    procs[1]!.exit({ code: 0, signal: null });
    await shrinking;
    procs[0]!.crash();
    await tick();
    expect(member(0).state).toBe('restarting');
    await set.stop();
  });
});

describe('ReplicaSet: replica logs', () => {
  it('a running replica\'s log past the size is copied to .1 and emptied at each health period', async () => {
    const { set } = await readySet(1, { healthPeriodMs: 1000, logRotation: { maxBytes: 1024, keep: 1 } });
    const file = replicaLogFile(logDir, 'iris', 0);
    writeFileSync(file, 'x'.repeat(2000));
    set.start();
    await advance(1000);
    expect(readFileSync(file, 'utf8')).toBe('');
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('x'.repeat(2000));
    await set.stop();
  });
});

describe('ReplicaSet: shrink', () => {
  it.each([
    { name: 'one: the highest index', layout: ['ready', 'ready', 'ready'], n: 1, removed: [2] },
    { name: 'two: highest first', layout: ['ready', 'ready', 'ready'], n: 2, removed: [2, 1] },
    { name: 'a pending replica goes before a running one', layout: ['ready', 'pending', 'ready'], n: 1, removed: [1] },
    { name: 'more than there are: all of them', layout: ['ready', 'ready'], n: 5, removed: [1, 0] },
  ])('$name', async ({ layout, n, removed }) => {
    const { set, procs, member } = setup();
    for (const l of layout) {
      if (l === 'pending') set.addPending('waiting for 1 GPU');
      else set.add();
    }
    for (const p of procs) p.becomeReady();
    await tick();
    const procOf = new Map(set.members.map((r) => [r.idx, r.proc as FakeProc | null]));
    await set.shrink(n);
    expect(set.members.map((r) => r.idx).sort()).toEqual(layout.map((_, i) => i).filter((i) => !removed.includes(i)));
    for (const [idx, p] of procOf) {
      if (!p) continue;
      expect(p.stops, `replica ${idx}`).toEqual(removed.includes(idx) ? [5000] : []);
    }
    for (const r of set.members) expect(member(r.idx).state).toBe('ready');
  });

  it('drains first: waits until the replica holds no request, then stops it', async () => {
    const { set, procs, member } = await readySet(2);
    const p1 = procs[1]!;
    const answer = p1.link.infer([{ name: 'x', datatype: 'FP32', shape: [1, 4], data: new Float32Array(4) }]);
    await tick();
    expect(p1.link.load.requests).toBe(1);
    let done = false;
    void set.shrink(1).then(() => (done = true));
    await tick();
    expect(member(1).state).toBe('draining');
    expect(set.ready().map((r) => r.idx)).toEqual([0]); // takes no new work
    await advance(3000);
    expect(p1.stops).toEqual([]);
    expect(done).toBe(false);
    const id = p1.frames.find((f) => f.header.t === 'infer')!.header.id;
    p1.send({ t: 'result', id, computeMs: 1 });
    await answer;
    expect(p1.link.load.requests).toBe(0);
    await advance(50); // the drain polls
    expect(p1.stops).toEqual([5000]);
    expect(done).toBe(true);
    expect(set.members.map((r) => r.idx)).toEqual([0]);
    expect(procs[0]!.stops).toEqual([]);
  });

  it('a request that never ends holds the stop back for 2 x stopGraceMs at most', async () => {
    const { set, procs } = await readySet(1, { stopGraceMs: 1000 });
    void procs[0]!.link.infer([]).catch(() => {});
    void set.shrink(1);
    await advance(1999);
    expect(procs[0]!.stops).toEqual([]);
    await advance(50); // the drain polls
    expect(procs[0]!.stops).toEqual([1000]);
  });

  // The restart timer of a crashed replica is not cancelled when shrink removes that replica: after
  // its backoff, launch() spawns a process for a replica that is no longer a member, which stop()
  // then never stops (an orphan), and onReplica reports it as 'starting' again.
  it('shrinking a replica that waits to restart cancels its restart', async () => {
    const { set, procs, states } = await readySet(2);
    procs[1]!.crash();
    await tick();
    expect(set.members[1]!.state).toBe('restarting');
    await set.shrink(1);
    expect(set.members.map((r) => r.idx)).toEqual([0]);
    states.length = 0;
    await advance(10_000);
    expect(procs).toHaveLength(2);
    expect(states).toEqual([]);
  });
});

describe('ReplicaSet: stop', () => {
  it('stops every replica and cancels pending restarts and health checks', async () => {
    const { set, procs, states, hooks } = await readySet(2, { healthPeriodMs: 1000, stopGraceMs: 2500 });
    set.start();
    set.add(); // replica 2 is still starting
    procs[2]!.exitOnStop = false;
    procs[1]!.crash(); // replica 1 waits 500 ms to restart
    await tick();
    const stopped = set.stop();
    // Replica 2 reports ready while it is being stopped: it must not become ready.
    procs[2]!.becomeReady();
    await tick();
    procs[2]!.exit({ code: 0, signal: null });
    await stopped;
    expect(procs[0]!.stops).toEqual([2500]);
    expect(procs[2]!.stops).toEqual([2500]);
    expect(hooks.onReady).toHaveBeenCalledTimes(2); // replicas 0 and 1 at the start only
    expect(set.members.map((r) => r.state)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(set.alive()).toBe(false);
    expect(vi.getTimerCount()).toBe(0); // the health interval and replica 1's restart timer are gone
    const mark = states.length;
    const pings = procs.map((p) => p.pings);
    await advance(60_000);
    expect(procs).toHaveLength(3); // replica 1's restart was cancelled
    expect(procs.map((p) => p.pings)).toEqual(pings);
    expect(states.slice(mark)).toEqual([]);
    expect(set.members.map((r) => r.state)).toEqual(['stopped', 'stopped', 'stopped']);
  });
});
