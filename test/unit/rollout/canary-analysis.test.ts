import { describe, expect, it } from 'vitest';
import {
  analyze,
  histogramQuantile,
  initialState,
  parseDuration,
  parseSteps,
  validatePolicy,
  type AnalysisPolicy,
  type AnalysisState,
  type CanaryCounters,
} from '../../../src/daemon/rollout/canary-analysis.js';

// Latency buckets of the recorded series, in seconds (cumulative, +Inf last).
const LE = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, Infinity];

const POLICY: AnalysisPolicy = { steps: [10, 25, 50, 100], intervalS: 60, maxErrorRate: 0.01, maxP99Ms: 200, minRequests: 100 };

/** What the canary saw between two snapshots: `dt` seconds, `requests` of which `errors` failed,
 *  latencies as [ms, how many] (default: all at 20 ms); `reset` = the daemon restarted first. */
interface Segment { dt: number; requests: number; errors?: number; latency?: Array<[number, number]>; reset?: boolean }
interface Snapshot { t: number; counters: CanaryCounters }

const zero = (): CanaryCounters => ({ requests: 0, errors: 0, latency: { le: [...LE], counts: LE.map(() => 0) } });

/** A recorded metric series: cumulative counter snapshots, the first at t=0 with zero counters. */
function record(segments: Segment[]): Snapshot[] {
  let c = zero();
  let t = 0;
  const out: Snapshot[] = [{ t, counters: c }];
  for (const s of segments) {
    const next = s.reset ? zero() : structuredClone(c);
    next.requests += s.requests;
    next.errors += s.errors ?? 0;
    for (const [ms, n] of s.latency ?? [[20, s.requests]]) {
      LE.forEach((le, i) => { if (ms / 1000 <= le) next.latency.counts[i] += n; });
    }
    t += s.dt;
    c = next;
    out.push({ t, counters: c });
  }
  return out;
}

const healthy = (n = 300): Segment => ({ dt: 30, requests: n, errors: 1, latency: [[20, n - 3], [80, 3]] });

interface Entry { t: number; action: string; weight: number; reason: string }

/** Start the analysis at the first snapshot and call analyze at every later one. With `roundTrip`,
 *  the state goes through JSON before every call, as the store keeps it. */
function replay(policy: AnalysisPolicy, series: Snapshot[], roundTrip = false): { log: Entry[]; state: AnalysisState } {
  let state = initialState(policy, series[0].t * 1000, series[0].counters);
  const log: Entry[] = [];
  for (const snap of series.slice(1)) {
    if (roundTrip) state = JSON.parse(JSON.stringify(state)) as AnalysisState;
    const r = analyze(policy, state, snap.counters, snap.t * 1000);
    log.push({ t: snap.t, action: r.action, weight: r.weight, reason: r.reason });
    state = r.state;
  }
  return { log, state };
}

const brief = (log: Entry[]) => log.map((e) => `${e.t}s ${e.action} ${e.weight}`);

interface Scenario {
  name: string;
  policy?: Partial<AnalysisPolicy>;
  segments: Segment[];
  expect: string[];
  /** The reason of the last decision that was not a 'wait'. */
  reason?: string | RegExp;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'a healthy canary walks 10 -> 25 -> 50 -> 100 and promotes',
    segments: [...Array.from({ length: 8 }, () => healthy()), healthy()],
    expect: ['30s wait 10', '60s advance 25', '90s wait 25', '120s advance 50', '150s wait 50', '180s advance 100', '210s wait 100', '240s promote 100', '270s wait 100'],
    reason: 'all 4 steps passed (last: error rate 0.33% <= 1%, p99 25 ms <= 200 ms over 600 requests)',
  },
  {
    name: 'errors rising at step 2 roll back at the end of the step',
    segments: [healthy(), healthy(), { dt: 30, requests: 500, errors: 8 }, { dt: 30, requests: 500, errors: 8 }, healthy()],
    expect: ['30s wait 10', '60s advance 25', '90s wait 25', '120s rollback 0', '150s wait 0'],
    reason: 'error rate 1.6% > 1%',
  },
  {
    name: 'errors at the spec example rate (3.2% over a full step, below 2x each half) roll back',
    policy: { maxErrorRate: 0.02 },
    segments: [{ dt: 30, requests: 500, errors: 10 }, { dt: 30, requests: 500, errors: 22 }],
    expect: ['30s wait 10', '60s rollback 0'],
    reason: 'error rate 3.2% > 2%',
  },
  {
    name: 'a slow p99 at step 3 rolls back; the healthy traffic of earlier steps does not dilute it',
    segments: [healthy(), healthy(), healthy(), healthy(),
      { dt: 30, requests: 500, latency: [[20, 490], [250, 10]] }, { dt: 30, requests: 500, latency: [[20, 490], [250, 10]] }],
    expect: ['30s wait 10', '60s advance 25', '90s wait 25', '120s advance 50', '150s wait 50', '180s rollback 0'],
    reason: 'p99 250 ms > 200 ms',
  },
  {
    name: 'without a latency limit a slow canary passes',
    policy: { maxP99Ms: undefined, steps: [50] },
    segments: [{ dt: 60, requests: 500, latency: [[900, 500]] }],
    expect: ['60s promote 100'],
    reason: 'the only step passed (last: error rate 0% <= 1% over 500 requests)',
  },
  {
    name: 'not enough data rolls back (Flagger counts it as a failed check)',
    segments: [{ dt: 30, requests: 20 }, { dt: 30, requests: 20 }],
    expect: ['30s wait 10', '60s rollback 0'],
    reason: 'only 40 requests in the interval (min 100): not enough data',
  },
  {
    name: 'traffic before the step does not count towards the next one',
    segments: [{ dt: 60, requests: 1000 }, { dt: 60, requests: 99 }],
    expect: ['60s advance 25', '120s rollback 0'],
    reason: 'only 99 requests in the interval (min 100): not enough data',
  },
  {
    name: 'fail fast: more than 2x the error limit over minRequests rolls back before the step ends',
    segments: [{ dt: 20, requests: 200, errors: 10 }, healthy()],
    expect: ['20s rollback 0', '50s wait 0'],
    reason: 'error rate 5% > 1% (over 2x the limit after 200 requests in 20s: failing fast)',
  },
  {
    name: 'fail fast waits for minRequests requests',
    segments: [{ dt: 10, requests: 50, errors: 25 }, { dt: 10, requests: 100 }],
    expect: ['10s wait 10', '20s rollback 0'],
    reason: /^error rate 16\.67% > 1% \(over 2x the limit after 150 requests in 20s: failing fast\)$/,
  },
  {
    name: 'an error rate above the limit but below 2x waits for the end of the step',
    segments: [{ dt: 30, requests: 1000, errors: 15 }, { dt: 30, requests: 1000, errors: 15 }],
    expect: ['30s wait 10', '60s rollback 0'],
    reason: 'error rate 1.5% > 1%',
  },
  {
    name: 'a daemon restart that resets the counters mid-step counts from the reset (like rate())',
    segments: [healthy(), healthy(), { ...healthy(), reset: true }, healthy(), healthy(), healthy()],
    expect: ['30s wait 10', '60s advance 25', '90s wait 25', '120s advance 50', '150s wait 50', '180s advance 100'],
  },
  {
    name: 'a late tick judges the whole window at once and advances one step',
    segments: [{ dt: 300, requests: 2000 }, { dt: 1, requests: 0 }],
    expect: ['300s advance 25', '301s wait 25'],
  },
];

describe('canary analysis on recorded metric series', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const policy = { ...POLICY, ...s.policy };
      const { log } = replay(policy, record(s.segments));
      expect(brief(log)).toEqual(s.expect);
      if (s.reason !== undefined) {
        const decided = log.filter((e) => e.action !== 'wait').at(-1)!;
        if (typeof s.reason === 'string') expect(decided.reason).toBe(s.reason);
        else expect(decided.reason).toMatch(s.reason);
      }
    });
  }

  it('reports the window metrics with each decision', () => {
    const series = record([healthy(), healthy()]);
    const state = initialState(POLICY, 0, series[0].counters);
    const mid = analyze(POLICY, state, series[1].counters, 30_000);
    expect(mid.state).toBe(state);
    expect(mid.reason).toBe('step 1/4 (10%): 30s of 60s, 300 requests so far');
    const r = analyze(POLICY, state, series[2].counters, 60_000);
    expect(r.action).toBe('advance');
    expect(r.metrics.requests).toBe(600);
    expect(r.metrics.errorRate).toBeCloseTo(2 / 600, 12);
    expect(r.metrics.p99Ms).toBeCloseTo(25, 9);
    expect(r.reason).toBe('step 1/4 (10%) passed: error rate 0.33% <= 1%, p99 25 ms <= 200 ms over 600 requests; advancing to 25%');
    expect(r.state).toEqual({ step: 1, stepStartedAt: 60_000, baseline: series[2].counters, status: 'running' });
    // The new baseline is a copy: the caller may reuse its counters object.
    expect(r.state.baseline).not.toBe(series[2].counters);
  });

  it('does not mutate the state it is given', () => {
    const series = record([healthy(), healthy()]);
    const state = initialState(POLICY, 0, series[0].counters);
    const before = structuredClone(state);
    analyze(POLICY, state, series[2].counters, 60_000);
    expect(state).toEqual(before);
  });

  it('answers wait forever once promoted or rolled back', () => {
    const cases: Array<[Segment[], number]> = [[[healthy(), healthy()], 100], [[{ dt: 60, requests: 10 }], 0]];
    for (const [segments, weight] of cases) {
      const policy = { ...POLICY, steps: [100] };
      const { state } = replay(policy, record(segments));
      expect(state.status).toBe(weight === 100 ? 'promoted' : 'rolled-back');
      const later = record([{ dt: 10, requests: 5000, errors: 5000, latency: [[5000, 5000]] }])[1].counters;
      for (const now of [0, 61_000, 10 ** 7, 10 ** 12]) {
        const r = analyze(policy, state, later, now);
        expect(r.action).toBe('wait');
        expect(r.weight).toBe(weight);
        expect(r.state).toBe(state);
        expect(r.reason).toBe(state.reason);
      }
    }
  });

  it('throws on a state that does not fit the policy', () => {
    const state: AnalysisState = { ...initialState(POLICY, 0, zero()), step: 4 };
    expect(() => analyze(POLICY, state, zero(), 60_000)).toThrow(/step 4, but the policy has 4 steps/);
  });
});

describe('resuming after a restart', () => {
  it('decides identically when the state goes through JSON before every call', () => {
    for (const s of SCENARIOS) {
      const policy = { ...POLICY, ...s.policy };
      const series = record(s.segments);
      expect(replay(policy, series, true).log, s.name).toEqual(replay(policy, series).log);
    }
  });

  it('continues a healthy walk identically after the state is stored mid-analysis and read back', () => {
    const series = record(Array.from({ length: 8 }, () => healthy()));
    const straight = replay(POLICY, series).log;

    // Run to 150 s (step 3 of 4, mid-step), store the state as the store does, restart, continue.
    const cut = series.findIndex((s) => s.t === 150);
    const first = replay(POLICY, series.slice(0, cut + 1));
    expect(first.state).toMatchObject({ step: 2, status: 'running', stepStartedAt: 120_000 });
    const stored = JSON.stringify(first.state);
    // JSON has no Infinity: the +Inf bucket bound reads back as null and must still work.
    expect(JSON.parse(stored).baseline.latency.le.at(-1)).toBeNull();

    let state = JSON.parse(stored) as AnalysisState;
    const resumed: Entry[] = [];
    for (const snap of series.slice(cut + 1)) {
      const r = analyze(POLICY, state, snap.counters, snap.t * 1000);
      resumed.push({ t: snap.t, action: r.action, weight: r.weight, reason: r.reason });
      state = r.state;
    }
    expect([...first.log, ...resumed]).toEqual(straight);
    expect(brief(resumed)).toEqual(['180s advance 100', '210s wait 100', '240s promote 100']);
  });
});

describe('histogramQuantile (PromQL semantics)', () => {
  const le = [0.1, 0.2, 0.5, Infinity];
  it.each<{ what: string; counts: number[]; q: number; want: number | null; le?: number[] }>([
    { what: 'interpolates within the bucket holding the rank', counts: [0, 50, 100, 100], q: 0.99, want: 0.2 + 0.3 * (49 / 50) },
    { what: 'starts the first bucket at 0', counts: [100, 100, 100, 100], q: 0.5, want: 0.05 },
    { what: 'gives the highest finite bound for a rank in +Inf', counts: [0, 0, 10, 100], q: 0.99, want: 0.5 },
    { what: 'is null without observations', counts: [0, 0, 0, 0], q: 0.99, want: null },
    { what: 'accepts null (JSON) as the +Inf bound', counts: [0, 0, 0, 5], q: 0.5, want: 0.5, le: [0.1, 0.2, 0.5, null as unknown as number] },
  ])('$what', ({ counts, q, want, le: l }) => {
    const got = histogramQuantile(q, l ?? le, counts);
    if (want === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(want, 12);
  });
});

describe('policy parsing and validation', () => {
  it('parses steps and durations', () => {
    expect(parseSteps('10,25,50,100')).toEqual([10, 25, 50, 100]);
    expect(parseSteps(' 5%, 20% ,100 ')).toEqual([5, 20, 100]);
    expect(parseDuration('60s')).toBe(60);
    expect(parseDuration('2m')).toBe(120);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('1.5s')).toBe(1.5);
  });

  it.each([
    ['', /empty/],
    ['10,,50', /'' is not a weight/],
    ['10,abc', /'abc' is not a weight/],
    ['50,25', /weights must ascend, but 25 follows 50/],
    ['10,10', /weights must ascend, but 10 follows 10/],
    ['0,50', /weight 0 is outside 1\.\.100/],
    ['50,150', /weight 150 is outside 1\.\.100/],
  ])('rejects steps %j', (text, err) => {
    expect(() => parseSteps(text)).toThrow(err);
  });

  it.each([
    ['', /empty duration/],
    ['60', /'60' has no unit; write 60s, 60m or 60ms/],
    ['5x', /'5x' is not a duration/],
    ['-1s', /'-1s' is not a duration/],
    ['1 m', /'1 m' is not a duration/],
  ])('rejects duration %j', (text, err) => {
    expect(() => parseDuration(text)).toThrow(err);
  });

  it('accepts a policy and fills in the defaults', () => {
    expect(validatePolicy({ steps: [10, 25, 50, 100], intervalS: 60, maxErrorRate: 0.01 }))
      .toEqual({ steps: [10, 25, 50, 100], intervalS: 60, maxErrorRate: 0.01, minRequests: 100 });
    expect(validatePolicy({ steps: '10,50', interval: '2m', maxErrorRate: '1%', maxP99Ms: '250ms', minRequests: 20 }))
      .toEqual({ steps: [10, 50], intervalS: 120, maxErrorRate: 0.01, maxP99Ms: 250, minRequests: 20 });
    expect(validatePolicy({ steps: [100], intervalS: '30s', maxErrorRate: 0, maxP99Ms: 50 }))
      .toEqual({ steps: [100], intervalS: 30, maxErrorRate: 0, maxP99Ms: 50, minRequests: 100 });
  });

  const ok = { steps: [10, 50, 100], intervalS: 60, maxErrorRate: 0.01 };
  it.each([
    ['not an object', null, /expected an object with steps/],
    ['an array', [10, 50], /expected an object with steps/],
    ['no steps', { ...ok, steps: undefined }, /steps is missing/],
    ['empty steps', { ...ok, steps: [] }, /no steps/],
    ['descending steps', { ...ok, steps: [50, 10] }, /weights must ascend, but 10 follows 50/],
    ['a step above 100', { ...ok, steps: [50, 120] }, /weight 120 is outside 1\.\.100/],
    ['a step of 0', { ...ok, steps: [0, 100] }, /weight 0 is outside 1\.\.100/],
    ['a non-numeric step', { ...ok, steps: [10, 'x'] }, /'x' is not a weight/],
    ['steps as bad text', { ...ok, steps: '10;20' }, /'10;20' is not a weight/],
    ['no interval', { ...ok, intervalS: undefined }, /interval is missing/],
    ['a zero interval', { ...ok, intervalS: 0 }, /intervalS must be > 0/],
    ['a negative interval', { ...ok, intervalS: -5 }, /intervalS must be > 0/],
    ['an interval of 0s', { ...ok, intervalS: undefined, interval: '0s' }, /interval must be > 0/],
    ['a bad interval', { ...ok, intervalS: undefined, interval: 'soon' }, /'soon' is not a duration/],
    ['both intervals', { ...ok, interval: '60s' }, /give interval or intervalS, not both/],
    ['no maxErrorRate', { ...ok, maxErrorRate: undefined }, /maxErrorRate is missing/],
    ['maxErrorRate as a percent number', { ...ok, maxErrorRate: 5 }, /maxErrorRate 5 is outside 0\.\.1; it is a fraction/],
    ['a negative maxErrorRate', { ...ok, maxErrorRate: -0.1 }, /maxErrorRate -0\.1 is outside 0\.\.1/],
    ['maxErrorRate above 100%', { ...ok, maxErrorRate: '150%' }, /maxErrorRate '150%' is outside 0\.\.1/],
    ['a zero maxP99Ms', { ...ok, maxP99Ms: 0 }, /maxP99Ms must be > 0 ms/],
    ['a non-numeric maxP99Ms', { ...ok, maxP99Ms: true }, /maxP99Ms true is not a number/],
    ['a fractional minRequests', { ...ok, minRequests: 1.5 }, /minRequests must be a whole number >= 0, got 1\.5/],
    ['a negative minRequests', { ...ok, minRequests: -1 }, /minRequests must be a whole number >= 0/],
    ['a misspelt field', { ...ok, maxP99ms: 200 }, /unknown field 'maxP99ms'/],
  ])('rejects %s', (_what, raw, err) => {
    expect(() => validatePolicy(raw)).toThrow(err);
  });

  it('names every problem at once, as a BAD_REQUEST', () => {
    let caught: unknown;
    try {
      validatePolicy({ steps: [50, 10], intervalS: 0, maxErrorRate: 2 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    const msg = (caught as Error).message;
    expect(msg).toMatch(/^invalid canary analysis policy: /);
    expect(msg).toMatch(/ascend/);
    expect(msg).toMatch(/intervalS must be > 0/);
    expect(msg).toMatch(/maxErrorRate 2 is outside 0\.\.1/);
  });
});
