import { describe, expect, it } from 'vitest';
import {
  AUTOSCALING_DEFAULTS, decide, initialReplicas, validateAutoscaling,
  type AutoscalerState, type AutoscalingConfig, type MetricSample,
} from '../../../src/daemon/fleet/autoscaler.js';
import { MlserveError } from '../../../src/errors.js';

const cfg = (over: Record<string, unknown> = {}): AutoscalingConfig =>
  validateAutoscaling({ min_replicas: 1, max_replicas: 10, ...over });

/**
 * Replays a recorded load trace through the control loop: every `loop` seconds one decision; every
 * metrics_interval_s one sample of the offered load (ongoing + queued requests over all replicas).
 * Replicas start at once. Returns every change of the target.
 */
function replay(
  config: AutoscalingConfig,
  load: (t: number) => number,
  opts: { start: number; seconds: number; loop?: number; gpuRoom?: (t: number, replicas: number) => number },
) {
  const loop = opts.loop ?? 0.1;
  const every = Math.round(config.metrics_interval_s / loop);
  let replicas = opts.start;
  let state: AutoscalerState = { decisionCounter: 0 };
  let samples: MetricSample[] = [];
  const changes: { t: number; from: number; to: number }[] = [];
  for (let k = 0; k <= Math.round(opts.seconds / loop); k++) {
    const t = Math.round(k * loop * 1e6) / 1e6;
    if (k % every === 0) {
      samples.push({ t, ongoing: load(t) });
      samples = samples.filter((s) => s.t > t - config.look_back_period_s);
    }
    const d = decide(config, state, samples, t, replicas, opts.gpuRoom?.(t, replicas), loop);
    state = d.state;
    if (d.target !== replicas) {
      changes.push({ t, from: replicas, to: d.target });
      replicas = d.target;
    }
  }
  return { changes, replicas };
}

describe('validateAutoscaling', () => {
  it("fills in Ray Serve's defaults", () => {
    const c = validateAutoscaling({});
    expect(c).toEqual(AUTOSCALING_DEFAULTS);
    expect(c).toMatchObject({
      min_replicas: 1, max_replicas: 1, initial_replicas: null, target_ongoing_requests: 2, upscale_delay_s: 30,
      downscale_delay_s: 600, smoothing_factor: 1, look_back_period_s: 30, metrics_interval_s: 10,
      upscaling_factor: null, downscaling_factor: null, aggregation_function: 'mean',
    });
    expect(validateAutoscaling(undefined)).toEqual(AUTOSCALING_DEFAULTS);
    expect(initialReplicas(c)).toBe(1);
  });
  it('takes given fields, null for optional ones, and min_replicas 0', () => {
    const c = validateAutoscaling({ min_replicas: 0, max_replicas: 4, initial_replicas: 2, upscaling_factor: 0.5, downscaling_factor: null, aggregation_function: 'max' });
    expect(c).toMatchObject({ min_replicas: 0, max_replicas: 4, initial_replicas: 2, upscaling_factor: 0.5, downscaling_factor: null, aggregation_function: 'max' });
    expect(initialReplicas(c)).toBe(2);
    expect(initialReplicas(validateAutoscaling({ min_replicas: 3, max_replicas: 4 }))).toBe(3);
  });
  it.each([
    [{ min_replicas: 5, max_replicas: 2 }, /min_replicas \(5\) must not be above max_replicas \(2\)/],
    [{ min_replicas: 2 }, /min_replicas \(2\) must not be above max_replicas \(1\)/],
    [{ max_replicas: 0 }, /max_replicas must be a whole number, 1 or more \(got 0\)/],
    [{ min_replicas: -1 }, /min_replicas must be a whole number, 0 or more/],
    [{ min_replicas: 1.5 }, /min_replicas must be a whole number/],
    [{ target_ongoing_requests: 0 }, /target_ongoing_requests must be a number above 0 \(got 0\)/],
    [{ target_ongoing_requests: '2' }, /target_ongoing_requests must be a number above 0 \(got "2"\)/],
    [{ upscale_delay_s: -1 }, /upscale_delay_s must be a number, 0 or more/],
    [{ upscaling_factor: 0 }, /upscaling_factor must be a number above 0/],
    [{ smoothing_factor: null }, /smoothing_factor cannot be null/],
    [{ max_replicas: 4, initial_replicas: 5 }, /initial_replicas \(5\) must lie between min_replicas \(1\) and max_replicas \(4\)/],
    [{ max_replicas: 4, target_ongoing_request: 3 }, /unknown field 'target_ongoing_requests?'.*target_ongoing_requests/],
    [{ aggregation_function: 'median' }, /aggregation_function must be 'mean', 'max' or 'min'/],
    [[1, 2], /must be an object/],
    ['auto', /must be an object/],
  ])('rejects %j', (raw, re) => {
    expect(() => validateAutoscaling(raw)).toThrow(MlserveError);
    expect(() => validateAutoscaling(raw)).toThrow(re);
  });
});

describe("decide: Ray's formula by hand (delays 0, one sample)", () => {
  // desired = ceil(cur + factor * (total / target - cur)); stuck downscale => cur - 1; clamp [1, 100].
  const cases: [string, number, number, Record<string, unknown>, number][] = [
    ['10 requests / target 2 on 2 replicas -> 5', 2, 10, {}, 5],
    ['2 requests / target 2 on 4 replicas -> 1', 4, 2, {}, 1],
    ['exactly at target -> hold', 3, 6, {}, 3],
    ['7 / 1.5 = 4.67 -> 5', 3, 7, { target_ongoing_requests: 1.5 }, 5],
    ['upscaling_factor 0.5: ceil(2 + 0.5 * (5 - 2)) = ceil(3.5) = 4', 2, 10, { upscaling_factor: 0.5 }, 4],
    ['upscaling_factor 2: ceil(4 + 2 * (4.5 - 4)) = 5', 4, 9, { upscaling_factor: 2 }, 5],
    ['downscaling_factor 0.5: ceil(10 + 0.5 * (2 - 10)) = 6', 10, 4, { downscaling_factor: 0.5 }, 6],
    ['stuck: ceil(10 + 0.1 * (6 - 10)) = 10, so 9', 10, 12, { downscaling_factor: 0.1 }, 9],
    ['smoothing_factor is the last fallback: 4', 2, 10, { smoothing_factor: 0.5 }, 4],
    ['upscale_smoothing_factor before smoothing_factor: 4', 2, 10, { upscale_smoothing_factor: 0.5, smoothing_factor: 3 }, 4],
    ['the downscaling factor is not used to scale up', 2, 10, { downscaling_factor: 0.1 }, 5],
    ['idle -> min_replicas', 5, 0, {}, 1],
    ['float noise does not add a replica: 5 + 0.6 * (11 / 0.3 - 5) = 24 exactly', 5, 11, { target_ongoing_requests: 0.3, upscaling_factor: 0.6 }, 24],
  ];
  it.each(cases)('%s', (_name, cur, total, over, want) => {
    const c = cfg({ max_replicas: 100, upscale_delay_s: 0, downscale_delay_s: 0, ...over });
    const d = decide(c, { decisionCounter: 0 }, [{ t: 100, ongoing: total }], 100, cur);
    expect(d.target).toBe(want);
    expect(d.state.decisionCounter).toBe(0);
  });

  it('averages the samples in the look-back window (mean, max, min) and ignores older ones', () => {
    const samples = [{ t: 60, ongoing: 100 }, { t: 80, ongoing: 2 }, { t: 90, ongoing: 4 }, { t: 100, ongoing: 12 }];
    const at = (fn: string) => decide(cfg({ upscale_delay_s: 0, downscale_delay_s: 0, aggregation_function: fn }), { decisionCounter: 0 }, samples, 100, 2);
    expect(at('mean').inputs).toMatchObject({ samples: 3, totalOngoing: 6, rawDesired: 3, desired: 3 });
    expect(at('mean').target).toBe(3);
    expect(at('max').target).toBe(6);
    expect(at('min').target).toBe(1);
  });

  it('counts floor(delay / loop period) consecutive decisions, then acts on the next', () => {
    const c = cfg({ upscale_delay_s: 0.3 });
    let state: AutoscalerState = { decisionCounter: 0 };
    const targets: number[] = [];
    for (let i = 0; i < 4; i++) {
      const d = decide(c, state, [{ t: 0, ongoing: 20 }], 0.1 * i, 2);
      state = d.state;
      targets.push(d.target);
    }
    expect(targets).toEqual([2, 2, 2, 10]);
    expect(decide(c, { decisionCounter: 0 }, [{ t: 0, ongoing: 20 }], 0, 2, undefined, 1).inputs.decisionsNeeded).toBe(0);
  });
});

describe('decide on recorded traces', () => {
  it('steady load: stays', () => {
    const r = replay(cfg(), () => 6, { start: 3, seconds: 1200 });
    expect(r.changes).toEqual([]);
  });

  it('a burst: scales up only after upscale_delay_s (30 s) of wanting to', () => {
    const r = replay(cfg(), (t) => (t < 100 ? 4 : 12), { start: 2, seconds: 300 });
    // The burst is first seen at t = 100; 301 consecutive decisions (0.1 s apart) later, 2 -> 6.
    expect(r.changes).toEqual([{ t: 130, from: 2, to: 6 }]);
  });

  it('a short burst (shorter than the delay) does nothing', () => {
    const r = replay(cfg({ look_back_period_s: 10 }), (t) => (t >= 100 && t < 120 ? 40 : 4), { start: 2, seconds: 300 });
    expect(r.changes).toEqual([]);
  });

  it('idleness: scales down only after downscale_delay_s (600 s)', () => {
    const r = replay(cfg(), () => 0, { start: 4, seconds: 900 });
    expect(r.changes).toEqual([{ t: 600, from: 4, to: 1 }]);
  });

  it('to zero: with min_replicas 0 straight down after 600 s', () => {
    const r = replay(cfg({ min_replicas: 0 }), () => 0, { start: 3, seconds: 900 });
    expect(r.changes).toEqual([{ t: 600, from: 3, to: 0 }]);
  });

  it('to zero with downscale_to_zero_delay_s: down to 1 after 600 s, then 1 -> 0 after 60 s more', () => {
    const r = replay(cfg({ min_replicas: 0, downscale_to_zero_delay_s: 60 }), () => 0, { start: 3, seconds: 900 });
    expect(r.changes).toEqual([{ t: 600, from: 3, to: 1 }, { t: 660.1, from: 1, to: 0 }]);
  });

  it('flapping load, high and low on alternate samples: suppressed (each sample seen alone)', () => {
    const r = replay(cfg({ look_back_period_s: 10 }), (t) => (Math.round(t / 10) % 2 === 0 ? 8 : 0), { start: 2, seconds: 1200 });
    expect(r.changes).toEqual([]);
  });

  it('flapping load with the default 30 s window: suppressed', () => {
    const r = replay(cfg(), (t) => (Math.round(t / 10) % 2 === 0 ? 8 : 0), { start: 2, seconds: 1200 });
    expect(r.changes).toEqual([]);
  });

  it('the same trace with no delays would have flapped', () => {
    const c = cfg({ look_back_period_s: 10, upscale_delay_s: 0, downscale_delay_s: 0 });
    const r = replay(c, (t) => (Math.round(t / 10) % 2 === 0 ? 8 : 0), { start: 2, seconds: 60 });
    expect(r.changes.length).toBeGreaterThan(4);
  });

  it('cold start from 0: the first request starts a replica at once', () => {
    const r = replay(cfg({ min_replicas: 0 }), (t) => (t < 50 ? 0 : 1), { start: 0, seconds: 120 });
    expect(r.changes).toEqual([{ t: 50, from: 0, to: 1 }]);
  });

  it('GPU room caps a scale-up; the rest follows as soon as room appears', () => {
    // Room for 3 replicas until t = 200, then for 10.
    const r = replay(cfg(), (t) => (t < 100 ? 4 : 12), { start: 2, seconds: 300, gpuRoom: (t, n) => (t < 200 ? 3 : 10) - n });
    expect(r.changes).toEqual([
      { t: 130, from: 2, to: 3 },
      { t: 200, from: 3, to: 6 },
    ]);
  });
});

describe('decide: bounds, cold start and GPU room', () => {
  const one = (c: AutoscalingConfig, cur: number, ongoing: number | null, gpuRoom?: number, counter = 0) =>
    decide(c, { decisionCounter: counter }, ongoing === null ? [] : [{ t: 10, ongoing }], 10, cur, gpuRoom);

  it.each([
    ['capped at max_replicas', cfg({ max_replicas: 5, upscale_delay_s: 0 }), 2, 100, undefined, 5],
    ['raised to min_replicas at once, even without metrics', cfg({ min_replicas: 3 }), 1, null, undefined, 3],
    ['lowered to max_replicas at once', cfg({ max_replicas: 5 }), 8, 16, undefined, 5],
    ['no metrics: hold', cfg(), 4, null, undefined, 4],
    ['cold start with the default delays', cfg({ min_replicas: 0 }), 0, 1, undefined, 1],
    ['cold start: ceil(1 * upscaling_factor 2.5) = 3', cfg({ min_replicas: 0, upscaling_factor: 2.5 }), 0, 1, undefined, 3],
    ['cold start within max_replicas', cfg({ min_replicas: 0, max_replicas: 2, upscaling_factor: 5 }), 0, 1, undefined, 2],
    ['0 replicas, no requests: stays 0', cfg({ min_replicas: 0 }), 0, 0, undefined, 0],
    ['0 replicas, no metrics: stays 0', cfg({ min_replicas: 0 }), 0, null, undefined, 0],
    ['GPU room 1: 2 -> 3 instead of 6', cfg({ upscale_delay_s: 0 }), 2, 12, 1, 3],
    ['GPU room 0: no scale-up', cfg({ upscale_delay_s: 0 }), 2, 12, 0, 2],
    ['GPU room 0 stops a cold start', cfg({ min_replicas: 0 }), 0, 5, 0, 0],
    ['GPU room does not stop a scale-down', cfg({ downscale_delay_s: 0 }), 4, 0, 0, 1],
    ['GPU room caps even min_replicas', cfg({ min_replicas: 3 }), 1, null, 1, 2],
  ] as [string, AutoscalingConfig, number, number | null, number | undefined, number][])('%s', (_n, c, cur, ongoing, room, want) => {
    expect(one(c, cur, ongoing, room).target).toBe(want);
  });

  it('explains itself', () => {
    expect(one(cfg(), 2, 12).reason).toBe(
      'holding 2: 12 ongoing requests (mean over 30 s) / target 2 wants 6; upscale decision 1 of 301 (upscale_delay_s 30)',
    );
    expect(one(cfg(), 2, 12, undefined, 300).reason).toBe(
      'scaling up 2 -> 6: 12 ongoing requests (mean over 30 s) / target 2 wants 6, decided 301 times in a row (upscale_delay_s 30)',
    );
    expect(one(cfg({ upscale_delay_s: 0 }), 2, 12, 1).reason).toMatch(/limited to 3 by GPU room \(1 more replica fits, wanted 6\)$/);
    expect(one(cfg({ min_replicas: 0 }), 0, 3).reason).toBe('cold start: 3 requests waiting with 0 replicas, starting 1 at once');
    expect(one(cfg({ max_replicas: 5 }), 8, 16).reason).toMatch(/lowered to max_replicas 5$/);
    expect(one(cfg(), 3, null).reason).toBe('no metrics in the last 30 s: holding 3');
  });

  it('a change of direction resets the counter', () => {
    const c = cfg();
    expect(one(c, 2, 12, undefined, -500).state.decisionCounter).toBe(1);
    expect(one(c, 4, 0, undefined, 200).state.decisionCounter).toBe(-1);
    expect(one(c, 3, 6, undefined, 200).state.decisionCounter).toBe(0);
    expect(one(c, 3, 6, undefined, -200).state.decisionCounter).toBe(0);
  });
});
