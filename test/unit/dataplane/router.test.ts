import { describe, expect, it } from 'vitest';
import { pickReplica } from '../../../src/daemon/dataplane/router.js';

const seq = (...xs: number[]) => {
  let i = 0;
  return () => xs[i++ % xs.length];
};

describe('pickReplica (power of two choices)', () => {
  it('returns -1 when every replica is full or there are none', () => {
    expect(pickReplica([], Math.random)).toBe(-1);
    expect(pickReplica([{ inflight: 1, capacity: 1 }, { inflight: 2, capacity: 2 }], Math.random)).toBe(-1);
  });
  it('takes the only replica with a free slot', () => {
    expect(pickReplica([{ inflight: 1, capacity: 1 }, { inflight: 0, capacity: 1 }, { inflight: 3, capacity: 3 }], Math.random)).toBe(1);
  });
  it('of the two drawn, takes the less loaded', () => {
    const loads = [{ inflight: 3, capacity: 8 }, { inflight: 1, capacity: 8 }, { inflight: 0, capacity: 8 }];
    // Draws 0 then (second draw skips the first) 1: replica 1 is less loaded than 0.
    expect(pickReplica(loads, seq(0, 0))).toBe(1);
    // Draws 2 and 0: replica 2.
    expect(pickReplica(loads, seq(0.9, 0))).toBe(2);
  });
  it('never draws the same replica twice and spreads load evenly over many picks', () => {
    const counts = [0, 0, 0, 0];
    let s = 1;
    const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 4000; i++) counts[pickReplica(counts.map(() => ({ inflight: 0, capacity: 1 })), rand)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});
