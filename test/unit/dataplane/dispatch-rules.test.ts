import { describe, expect, it } from 'vitest';
import {
  admit, afterReplicaLoss, afterReplicaSuspect, hasFreeSlot, routerLoads,
  type InFlight, type LinkLoad, type Refusal, type SlotPolicy,
} from '../../../src/daemon/dataplane/dispatch-rules.js';
import { pickReplica } from '../../../src/daemon/dataplane/router.js';

const load = (batches: number, requests: number): LinkLoad => ({ batches, requests });
const policy = (maxConcurrentBatches: number, maxOngoingRequests: number): SlotPolicy => ({ maxConcurrentBatches, maxOngoingRequests });

describe('hasFreeSlot', () => {
  it.each([
    // name, load, policy, free
    ['idle replica', load(0, 0), policy(1, 1), true],
    ['one batch running, one more may be sent ahead', load(1, 1), policy(1, 8), true],
    ['running + one ahead: full (maxConcurrentBatches + 1)', load(2, 2), policy(1, 8), false],
    ['two concurrent batches: third may be sent ahead', load(2, 2), policy(2, 8), true],
    ['two concurrent batches + one ahead: full', load(3, 3), policy(2, 8), false],
    ['request limit reached although batches are free', load(1, 8), policy(4, 8), false],
    ['one request below the limit', load(1, 7), policy(4, 8), true],
    ['maxOngoingRequests 1 (the default): one request at a time', load(1, 1), policy(1, 1), false],
    ['over both limits', load(5, 50), policy(1, 8), false],
    ['maxConcurrentBatches 0: still one batch at a time', load(0, 0), policy(0, 8), true],
    ['maxConcurrentBatches 0 with one batch: full', load(1, 1), policy(0, 8), false],
  ] as [string, LinkLoad, SlotPolicy, boolean][])('%s', (_n, l, p, want) => {
    expect(hasFreeSlot(l, p)).toBe(want);
  });
});

describe('routerLoads', () => {
  it.each([
    ['empty', [], policy(1, 4), []],
    ['a free replica gets room for one more request', [load(0, 0)], policy(1, 4), [{ inflight: 0, capacity: 1 }]],
    ['a busy but free replica: capacity = requests + 1', [load(1, 3)], policy(1, 4), [{ inflight: 3, capacity: 4 }]],
    ['a full replica (batches): capacity = requests', [load(2, 2)], policy(1, 8), [{ inflight: 2, capacity: 2 }]],
    ['a full replica (requests): capacity = requests', [load(1, 4)], policy(4, 4), [{ inflight: 4, capacity: 4 }]],
    ['each replica on its own, order kept', [load(2, 2), load(0, 0), load(1, 5)], policy(1, 8),
      [{ inflight: 2, capacity: 2 }, { inflight: 0, capacity: 1 }, { inflight: 5, capacity: 6 }]],
  ] as [string, LinkLoad[], SlotPolicy, { inflight: number; capacity: number }[]][])('%s', (_n, loads, p, want) => {
    expect(routerLoads(loads, p)).toEqual(want);
  });

  it('the router only picks replicas with a free slot, and the less loaded of two', () => {
    const loads = [load(2, 2), load(1, 6), load(1, 1)];
    const p = policy(1, 8);
    // Replica 0 is full; of 1 and 2 the router takes 2 (fewer requests) whichever it draws first.
    for (const r of [0, 0.3, 0.6, 0.99]) expect(pickReplica(routerLoads(loads, p), () => r)).toBe(2);
    expect(pickReplica(routerLoads([load(2, 2), load(1, 8)], p), () => 0)).toBe(-1);
  });
});

describe('afterReplicaLoss', () => {
  type T = InFlight & { id: string };
  const i = (id: string, done: boolean, retried: boolean): T => ({ id, done, retried });
  const ids = (xs: T[]) => xs.map((x) => x.id);

  it.each([
    ['empty batch', [], [], []],
    ['fresh requests are retried', [i('a', false, false), i('b', false, false)], ['a', 'b'], []],
    ['already retried ones fail', [i('a', false, true)], [], ['a']],
    ['done ones are left alone (answered, timed out, client gone)', [i('a', true, false), i('b', true, true)], [], []],
    ['a mix keeps batch order within each list',
      [i('a', false, false), i('b', true, false), i('c', false, true), i('d', false, false), i('e', true, true), i('f', false, true)],
      ['a', 'd'], ['c', 'f']],
  ] as [string, T[], string[], string[]][])('%s', (_n, batch, retry, fail) => {
    const out = afterReplicaLoss(batch);
    expect(ids(out.retry)).toEqual(retry);
    expect(ids(out.fail)).toEqual(fail);
  });

  it('returns the same objects (the dispatcher marks them retried) and does not modify them', () => {
    const a = i('a', false, false);
    const out = afterReplicaLoss([a]);
    expect(out.retry[0]).toBe(a);
    expect(a).toEqual({ id: 'a', done: false, retried: false });
  });
});

describe('admit', () => {
  const ok = { closed: null, replica: true, queued: 0, maxQueued: 10 };
  it.each([
    ['ok: room in the queue', ok, null],
    ['ok: one below maxQueued', { ...ok, queued: 9 }, null],
    ['queue full at exactly maxQueued', { ...ok, queued: 10 }, 'OVERLOADED'],
    ['queue over maxQueued', { ...ok, queued: 11 }, 'OVERLOADED'],
    ['maxQueued 0 refuses everything', { ...ok, maxQueued: 0 }, 'OVERLOADED'],
    ['no replica alive or coming', { ...ok, replica: false }, 'NOT_READY'],
    ['closed (undeploy, shutdown)', { ...ok, closed: 'deployment a is going away' }, 'NOT_READY'],
    ['closed wins over a full queue', { ...ok, closed: 'shutdown', queued: 10 }, 'NOT_READY'],
    ['no replica wins over a full queue', { ...ok, replica: false, queued: 10 }, 'NOT_READY'],
  ] as [string, Parameters<typeof admit>[0], Refusal['code'] | null][])('%s', (_n, s, code) => {
    const r = admit(s);
    expect(r?.code ?? null).toBe(code);
    if (r) expect(r.message.length).toBeGreaterThan(0);
  });

  it('a closed queue refuses with its reason; a full queue says how many wait', () => {
    expect(admit({ ...ok, closed: 'deployment a was undeployed' })).toEqual({ code: 'NOT_READY', message: 'deployment a was undeployed' });
    expect(admit({ ...ok, queued: 10 })!.message).toContain('10');
  });
});

describe('afterReplicaSuspect', () => {
  type T = InFlight & { id: string };
  const i = (id: string, done: boolean, retried: boolean): T => ({ id, done, retried });
  it.each([
    ['empty batch', [], []],
    ['requests not yet answered get one more try elsewhere', [i('a', false, false), i('b', false, false)], ['a', 'b']],
    ['answered (or timed out) ones are left alone', [i('a', true, false), i('b', false, false)], ['b']],
    ['one already retried waits where it is (never a third copy)', [i('a', false, true), i('b', false, false)], ['b']],
    ['all answered', [i('a', true, true)], []],
  ] as [string, T[], string[]][])('%s', (_n, batch, want) => {
    expect(afterReplicaSuspect(batch).map((x) => x.id)).toEqual(want);
  });
});
