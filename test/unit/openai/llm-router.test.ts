import { describe, expect, it } from 'vitest';
import { BLOCK_CHARS, defaultImbalance, fnv1a, prefixBlocks, rendezvous, routeLlm, routingText, type LlmReplicaLoad } from '../../../src/daemon/dataplane/openai/llm-router.js';
import { PrefixIndex } from '../../../src/daemon/dataplane/openai/prefix-index.js';

const r = (id: number, inflight: number, capacity = 4): LlmReplicaLoad => ({ id, inflight, capacity });
const first = () => 0;
const last = () => 0.999;

describe('routeLlm: affinity with bounded load, else least outstanding requests', () => {
  it.each([
    // name, replicas, affinity, maxImbalance, rand, expected [index, reason] or null
    ['least loaded without affinity', [r(0, 3), r(1, 1), r(2, 2)], [], 2, first, [1, 'least-loaded']],
    ['ties go by the draw (first)', [r(0, 1), r(1, 1), r(2, 3)], [], 2, first, [0, 'least-loaded']],
    ['ties go by the draw (last)', [r(0, 1), r(1, 1), r(2, 3)], [], 2, last, [1, 'least-loaded']],
    ['prefix owner within the bound', [r(0, 0), r(1, 2)], [{ id: 1, why: 'prefix' }], 2, first, [1, 'prefix']],
    ['session owner within the bound', [r(0, 1), r(1, 1)], [{ id: 1, why: 'session' }], 0, first, [1, 'session']],
    ['owner past the bound: least loaded', [r(0, 0), r(1, 3)], [{ id: 1, why: 'prefix' }], 2, first, [0, 'least-loaded']],
    ['owner saturated: least loaded', [r(0, 3), r(1, 4)], [{ id: 1, why: 'prefix' }], 9, first, [0, 'least-loaded']],
    ['owner gone (not among the ready): least loaded', [r(0, 2), r(1, 1)], [{ id: 7, why: 'prefix' }], 2, first, [1, 'least-loaded']],
    ['the first acceptable affinity wins', [r(0, 0), r(1, 4), r(2, 1)], [{ id: 1, why: 'prefix' }, { id: 2, why: 'prefix' }], 1, first, [2, 'prefix']],
    ['a full replica is never least loaded', [r(0, 1, 1), r(1, 2)], [], 2, first, [1, 'least-loaded']],
    ['every replica full: wait', [r(0, 4), r(1, 4)], [{ id: 0, why: 'session' }], 9, first, null],
    ['no replica: wait', [], [], 2, first, null],
  ] as const)('%s', (_name, replicas, affinity, imbalance, rand, expected) => {
    const got = routeLlm(replicas, affinity, imbalance, rand);
    expect(got === null ? null : [got.index, got.reason]).toEqual(expected);
  });

  it('bounds the imbalance at half a replica\'s slots, at least 1', () => {
    expect([1, 2, 4, 8, 64].map(defaultImbalance)).toEqual([1, 1, 2, 4, 32]);
  });
});

describe('prefix blocks', () => {
  it('hashes whole blocks as a chain: a shared prefix shares its first hashes', () => {
    const system = 's'.repeat(BLOCK_CHARS * 2);
    const a = prefixBlocks(`${system}${'a'.repeat(BLOCK_CHARS)}`);
    const b = prefixBlocks(`${system}${'b'.repeat(BLOCK_CHARS)}`);
    expect(a).toHaveLength(3);
    expect(a.slice(0, 2)).toEqual(b.slice(0, 2));
    expect(a[2]).not.toBe(b[2]);
    // The same block at another position hashes differently (chained).
    const c = prefixBlocks(`${'a'.repeat(BLOCK_CHARS)}`);
    expect(c[0]).not.toBe(a[2]);
  });

  it.each([
    ['shorter than a block: no affinity', 'x'.repeat(BLOCK_CHARS - 1), 0],
    ['exactly one block', 'x'.repeat(BLOCK_CHARS), 1],
    ['a partial last block is not counted', 'x'.repeat(BLOCK_CHARS * 2 + 10), 2],
    ['capped at maxBlocks', 'x'.repeat(BLOCK_CHARS * 100), 32],
  ])('%s', (_n, text, blocks) => {
    expect(prefixBlocks(text)).toHaveLength(blocks);
  });

  it('routes chats by their messages in order (roles count)', () => {
    const t = routingText({ kind: 'chat', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }] });
    expect(t).toBe('system\u0000S\u0000user\u0000U\u0000');
    expect(routingText({ kind: 'completion', prompt: 'P' })).toBe('P');
  });

  it('fnv1a is the 32-bit FNV-1a', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
});

describe('rendezvous hashing for session keys', () => {
  it('is stable and moves only the keys of a replica that leaves', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `user-${i}`);
    const before = keys.map((k) => rendezvous(k, [0, 1, 2, 3]));
    const after = keys.map((k) => rendezvous(k, [0, 1, 3]));
    keys.forEach((_, i) => {
      if (before[i] !== 2) expect(after[i]).toBe(before[i]);
      else expect(after[i]).not.toBe(2);
    });
    const share = [0, 1, 2, 3].map((id) => before.filter((b) => b === id).length);
    for (const n of share) expect(n).toBeGreaterThan(60); // about 100 each
    expect(rendezvous('k', [])).toBeUndefined();
  });
});

describe('PrefixIndex', () => {
  it('finds the replica with the longest matching prefix among the live ones', () => {
    const idx = new PrefixIndex();
    idx.record([1, 2, 3], 0);
    idx.record([1, 2, 9], 1);
    expect(idx.lookup([1, 2, 3, 4], () => true)).toEqual({ id: 0, blocks: 3 });
    expect(idx.lookup([1, 2, 7], () => true)).toEqual({ id: 1, blocks: 2 }); // 1 served [1, 2] last
    expect(idx.lookup([1, 2, 3], (id) => id !== 0)).toEqual({ id: 1, blocks: 2 });
    expect(idx.lookup([5], () => true)).toBeNull();
    idx.forget(1);
    expect(idx.lookup([1, 2, 9], () => true)).toBeNull();
  });

  it('keeps at most maxEntries, dropping the least recently recorded', () => {
    const idx = new PrefixIndex(3);
    idx.record([1, 2], 0);
    idx.record([3], 1);
    idx.record([1], 2); // refreshes 1
    idx.record([4], 3); // drops 2
    expect(idx.size).toBe(3);
    expect(idx.lookup([1, 2], () => true)).toEqual({ id: 2, blocks: 1 });
  });
});
