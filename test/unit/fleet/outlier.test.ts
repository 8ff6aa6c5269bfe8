// The outlier rule (fleet/outlier.ts), table-driven: one health check or one request timing out
// makes a replica suspect, an answer restores it, `misses` missed checks in a row replace it.
import { describe, expect, it } from 'vitest';
import { judge, silenceLimitMs, type OutlierState, type Signal, type Verdict } from '../../../src/daemon/fleet/outlier.js';

const ready = (misses = 0): OutlierState => ({ state: 'ready', misses });
const suspect = (misses = 0): OutlierState => ({ state: 'suspect', misses });
const pong: Signal = { kind: 'pong' };
const miss: Signal = { kind: 'ping-timeout' };
const stuck = (silentMs: number, budgetMs = 30_000): Signal => ({ kind: 'request-timeout', silentMs, budgetMs });
const policy = { misses: 3, healthTimeoutMs: 1000 };

describe('judge', () => {
  it.each([
    // name, before, signal, after
    ['a ready replica answers: nothing changes', ready(), pong, { state: 'ready', misses: 0, action: 'none' }],
    ['a ready replica with an old miss answers: misses reset', ready(1), pong, { state: 'ready', misses: 0, action: 'none' }],
    ['ONE missed health check: suspect at once', ready(), miss, { state: 'suspect', misses: 1, action: 'suspect' }],
    ['a suspect replica answers: back in service', suspect(1), pong, { state: 'ready', misses: 0, action: 'restore' }],
    ['a suspect replica (by a request) answers: back in service', suspect(0), pong, { state: 'ready', misses: 0, action: 'restore' }],
    ['a second miss: still suspect, nothing new to do', suspect(1), miss, { state: 'suspect', misses: 2, action: 'none' }],
    ['the third miss in a row: replace', suspect(2), miss, { state: 'suspect', misses: 3, action: 'replace' }],
    ['a miss after the replacement was asked: nothing more', suspect(3), miss, { state: 'suspect', misses: 4, action: 'none' }],
    ['a request held past its deadline by a silent replica: suspect', ready(), stuck(15_000), { state: 'suspect', misses: 0, action: 'suspect' }],
    ['silent for a health-check timeout (shorter than half the budget): suspect', ready(), stuck(1000), { state: 'suspect', misses: 0, action: 'suspect' }],
    ['it answered other work meanwhile (silent briefly): slow, not frozen', ready(), stuck(999), { state: 'ready', misses: 0, action: 'none' }],
    ['a request timeout keeps the misses it had', ready(2), stuck(5000), { state: 'suspect', misses: 2, action: 'suspect' }],
    ['a request timeout on a suspect replica changes nothing', suspect(1), stuck(60_000), { state: 'suspect', misses: 1, action: 'none' }],
    ['a request timeout never replaces by itself', suspect(2), stuck(60_000), { state: 'suspect', misses: 2, action: 'none' }],
  ] as [string, OutlierState, Signal, Verdict][])('%s', (_n, before, signal, after) => {
    expect(judge(before, signal, policy)).toEqual(after);
  });

  it.each([
    ['misses 1: the first miss replaces', 1, ready(), { state: 'suspect', misses: 1, action: 'replace' }],
    ['misses 0 counts as 1', 0, ready(), { state: 'suspect', misses: 1, action: 'replace' }],
    ['misses 5: the second miss does not', 5, suspect(1), { state: 'suspect', misses: 2, action: 'none' }],
    ['misses 5: the fifth does', 5, suspect(4), { state: 'suspect', misses: 5, action: 'replace' }],
  ] as [string, number, OutlierState, Verdict][])('%s', (_n, misses, before, after) => {
    expect(judge(before, miss, { misses, healthTimeoutMs: 1000 })).toEqual(after);
  });

  it('a frozen replica, signal by signal: suspect, two more misses, replaced; a live one comes back', () => {
    const run = (signals: Signal[]) => {
      let s: OutlierState = ready();
      const actions: string[] = [];
      for (const sig of signals) {
        const v = judge(s, sig, policy);
        actions.push(v.action);
        s = { state: v.state, misses: v.misses };
      }
      return actions;
    };
    expect(run([pong, stuck(2000), miss, miss, miss])).toEqual(['none', 'suspect', 'none', 'none', 'replace']);
    expect(run([miss, miss, pong, miss, pong])).toEqual(['suspect', 'none', 'restore', 'suspect', 'restore']);
  });
});

describe('silenceLimitMs', () => {
  it.each([
    ['defaults: half the 30 s request timeout (shorter than the 30 s health timeout)', 30_000, 30_000, 15_000],
    ['a short health timeout wins', 1000, 30_000, 1000],
    ['a short request timeout: half of it', 30_000, 500, 250],
  ] as [string, number, number, number][])('%s', (_n, health, budget, want) => {
    expect(silenceLimitMs(health, budget)).toBe(want);
  });
});
