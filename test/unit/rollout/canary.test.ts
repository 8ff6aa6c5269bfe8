import { describe, expect, it } from 'vitest';
import { keyPoint, parseWeight, toCanary } from '../../../src/daemon/rollout/canary.js';

let seed = 7;
const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);

describe('canary routing', () => {
  it('sends the weight\'s share of 10k random requests to the canary, within statistical bounds', () => {
    for (const w of [1, 10, 25, 50, 90]) {
      let n = 0;
      for (let i = 0; i < 10_000; i++) if (toCanary(w, undefined, rand)) n++;
      // 4 standard deviations of a binomial(10000, w%).
      const sd = Math.sqrt(10_000 * (w / 100) * (1 - w / 100));
      expect(Math.abs(n - w * 100)).toBeLessThan(4 * sd);
    }
  });

  it('spreads 10k sticky keys by the weight, and each key always gets the same answer', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    const at20 = keys.filter((k) => toCanary(20, k, rand));
    expect(Math.abs(at20.length - 2000)).toBeLessThan(4 * Math.sqrt(10_000 * 0.2 * 0.8));
    for (const k of keys.slice(0, 500)) expect(toCanary(20, k, rand)).toBe(at20.includes(k));
  });

  it('only moves keys towards the canary when the weight rises', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `k${i}`);
    let prev = new Set<string>();
    for (const w of [0, 5, 10, 25, 50, 75, 100]) {
      const now = new Set(keys.filter((k) => toCanary(w, k, rand)));
      for (const k of prev) expect(now.has(k)).toBe(true);
      prev = now;
    }
    expect(prev.size).toBe(10_000);
    expect(keyPoint('k1')).toBe(keyPoint('k1'));
  });

  it('reads a bare number as a percent, the % optional, decimals allowed (0.5 is half a percent, 1 is 1%)', () => {
    expect(parseWeight('10%')).toBe(10);
    expect(parseWeight('25')).toBe(25);
    expect(parseWeight('1')).toBe(1);
    expect(parseWeight('0.5')).toBe(0.5);
    expect(parseWeight('0.1')).toBe(0.1);
    expect(parseWeight('12.5%')).toBe(12.5);
    expect(parseWeight(' 7 % ')).toBe(7);
    expect(parseWeight('100')).toBe(100);
    expect(parseWeight(0)).toBe(0);
    expect(parseWeight('33.333')).toBe(33.33);
    expect(() => parseWeight('150%')).toThrow(/0..100/);
    expect(() => parseWeight('-1')).toThrow(/0..100/);
    expect(() => parseWeight('lots')).toThrow(/not a weight/);
    expect(() => parseWeight('%')).toThrow(/not a weight/);
    expect(() => parseWeight('')).toThrow(/not a weight/);
  });
});
