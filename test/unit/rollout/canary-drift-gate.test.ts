// The drift gate of the canary analysis, table-driven: the step's verdict with a drift window
// (canary vs primary captured rows) against maxDriftPsi; and canaryDrift on rows drawn from the same
// and from shifted distributions.
import { describe, expect, it } from 'vitest';
import { analyze, initialState, MIN_DRIFT_ROWS, validatePolicy, type CanaryCounters, type DriftWindow } from '../../../src/daemon/rollout/canary-analysis.js';
import { canaryDrift as driftOf, fromRows } from '../../../src/monitor/canary-drift.js';

const LE = [0.01, 0.1, 1, Infinity];
const counters = (requests: number): CanaryCounters => ({ requests, errors: 0, latency: { le: LE, counts: [requests, requests, requests, requests] } });
const policy = validatePolicy({ steps: '50,100', interval: '10s', maxErrorRate: '1%', minRequests: 10, maxDriftPsi: 0.2 });
const win = (psi: number | null, primary = 500, canary = 500, column: string | null = 'input.x_0'): DriftWindow => ({ psi, column, rows: { primary, canary } });

describe('the drift gate', () => {
  it.each([
    ['PSI under the limit: the step passes', win(0.05), 'advance', /drift PSI 0.05 <= 0.2/],
    ['PSI over the limit: rolled back, naming the column', win(0.43, 500, 500, 'output.label'), 'rollback', /drift: PSI 0.43 of output.label \(canary vs primary\) > 0.2/],
    ['too few canary rows captured: cannot judge, rolled back', win(0.01, 500, MIN_DRIFT_ROWS - 1), 'rollback', /only 49 canary and 500 primary rows captured/],
    ['no window at all (capture lost): rolled back', null, 'rollback', /only 0 canary and 0 primary rows/],
    ['no comparable column: rolled back', win(null), 'rollback', /no captured column to compare/],
  ] as [string, DriftWindow | null, string, RegExp][])('%s', (_n, drift, action, reason) => {
    const state = initialState(policy, 0, counters(0));
    const r = analyze(policy, state, counters(100), 10_000, drift);
    expect(r.action).toBe(action);
    expect(r.reason).toMatch(reason);
  });

  it('is not asked before the step ends, and a policy without it ignores drift', () => {
    const state = initialState(policy, 0, counters(0));
    expect(analyze(policy, state, counters(100), 5_000, win(9)).action).toBe('wait');
    const plain = validatePolicy({ steps: '50,100', interval: '10s', maxErrorRate: '1%', minRequests: 10 });
    expect(analyze(plain, initialState(plain, 0, counters(0)), counters(100), 10_000, win(9)).action).toBe('advance');
  });

  it.each([['0'], ['-1'], ['lots']])('maxDriftPsi %s is refused', (v) => {
    expect(() => validatePolicy({ steps: '100', interval: '10s', maxErrorRate: '1%', maxDriftPsi: v })).toThrow(/maxDriftPsi must be a number > 0/);
  });
});

/** A seeded normal sample (Box-Muller on a linear congruential generator). */
function normal(n: number, mean: number, seed: number): number[] {
  let s = seed;
  const u = () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31) + 1) / (2 ** 31 + 1);
  return Array.from({ length: n }, () => mean + Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}
const canaryDrift = (a: Array<Record<string, number | string | null>>, b: Array<Record<string, number | string | null>>) => driftOf(fromRows(a), fromRows(b));
const rows = (xs: number[], label: (x: number) => string) => xs.map((x) => ({ 'input.x_0': x, 'output.label': label(x), request_id: 'r' }));

describe('canaryDrift', () => {
  it('same distribution: small PSI; a shifted input: large PSI on that column', () => {
    const same = canaryDrift(rows(normal(1000, 0, 1), () => 'a'), rows(normal(1000, 0, 2), () => 'a'));
    expect(same.psi!).toBeLessThan(0.1);
    expect(same.rows).toEqual({ primary: 1000, canary: 1000 });
    const shifted = canaryDrift(rows(normal(1000, 0, 1), () => 'a'), rows(normal(1000, 1, 2), () => 'a'));
    expect(shifted.psi!).toBeGreaterThan(0.25);
    expect(shifted.column).toBe('input.x_0');
  });

  it('a shift in the predictions (categorical) is caught on the output column', () => {
    const p = canaryDrift(rows(normal(800, 0, 3), (x) => (x > 0 ? 'cat' : 'dog')), rows(normal(800, 0, 4), (x) => (x > 1 ? 'cat' : 'dog')));
    expect(p.column).toBe('output.label');
    expect(p.psi!).toBeGreaterThan(0.2);
  });

  it('no rows or no common column: no PSI', () => {
    expect(canaryDrift([], [])).toEqual({ psi: null, column: null, rows: { primary: 0, canary: 0 } });
    expect(canaryDrift([{ 'input.a': 1 }], [{ 'input.b': 1 }]).psi).toBeNull();
  });
});
