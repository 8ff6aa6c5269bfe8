// The latency-SLO signal (target_p99_ms) of the autoscaler, on recorded traces: a simulated model
// whose latency grows with queueing (requests per replica), replicas that take a while to load,
// and the real `decide` called every loop period as the daemon calls it.
import { describe, expect, it } from 'vitest';
import {
  decide, validateAutoscaling, type AutoscalerState, type AutoscalingConfig, type MetricSample,
} from '../../../src/daemon/fleet/autoscaler.js';
import {
  p99, parseLatencyTarget, stallMessage, SLO_DOWNSCALE_BELOW, type LatencySample, type SloStall,
} from '../../../src/daemon/fleet/latency-slo.js';
import { MlserveError } from '../../../src/errors.js';
import { mulberry32 } from '../../../src/models/zoo.js';

/** Fast delays so a trace is a few minutes; target_ongoing_requests high so Ray's queue policy alone stays put. */
const cfg = (over: Record<string, unknown> = {}): AutoscalingConfig =>
  validateAutoscaling({
    min_replicas: 1, max_replicas: 10, target_ongoing_requests: 100, upscale_delay_s: 2, downscale_delay_s: 5,
    look_back_period_s: 3, metrics_interval_s: 0.5, target_p99_ms: 250, ...over,
  });

const rng = mulberry32;

interface World {
  /** Clients with a request in flight (closed loop) at t. */
  clients: (t: number) => number;
  /** One finished request's latency (ms) with `ready` replicas serving `clients`. */
  latencyMs: (t: number, ready: number, clients: number, rand: () => number) => number;
}

/** Queueing: each replica runs one request of `serviceMs` at a time; the rest wait their turn. */
const queueing = (serviceMs: number, jitter = 0): World['latencyMs'] => (_t, ready, clients, rand) =>
  serviceMs * Math.ceil(clients / Math.max(1, ready)) * (1 + jitter * (rand() - 0.5));

/**
 * The daemon's control loop over a world: every `loop` s one decision; every metrics_interval_s a
 * sample of ongoing and queued requests; the requests finished in each period with their latency.
 * New replicas become ready `readyAfterS` later.
 */
function simulate(config: AutoscalingConfig, world: World, opts: { start: number; seconds: number; loop?: number; readyAfterS?: number; seed?: number; serviceMs?: number }) {
  const loop = opts.loop ?? 0.5;
  const every = Math.max(1, Math.round(config.metrics_interval_s / loop));
  const rand = rng(opts.seed ?? 1);
  let readyAt: number[] = Array.from({ length: opts.start }, () => 0);
  let state: AutoscalerState = { decisionCounter: 0 };
  let samples: MetricSample[] = [];
  let latencies: LatencySample[] = [];
  const changes: { t: number; from: number; to: number }[] = [];
  const stalls: SloStall[] = [];
  const p99s: { t: number; replicas: number; p99: number | null }[] = [];
  for (let k = 0; k <= Math.round(opts.seconds / loop); k++) {
    const t = Math.round(k * loop * 1e6) / 1e6;
    const replicas = readyAt.length;
    const ready = readyAt.filter((r) => r <= t).length;
    const clients = world.clients(t);
    if (ready > 0 && clients > 0) {
      const served = Math.max(1, Math.round((Math.min(clients, ready) * loop * 1000) / (opts.serviceMs ?? 100)));
      for (let i = 0; i < served; i++) latencies.push({ t, ms: world.latencyMs(t, ready, clients, rand) });
    }
    latencies = latencies.filter((s) => s.t > t - config.look_back_period_s);
    if (k % every === 0) {
      samples.push({ t, ongoing: clients, queued: Math.max(0, clients - ready) });
      samples = samples.filter((s) => s.t > t - config.look_back_period_s);
    }
    const d = decide(config, state, samples, t, replicas, undefined, loop, { latencies, readyReplicas: ready });
    state = { ...d.state };
    p99s.push({ t, replicas, p99: d.inputs.p99Ms ?? null });
    if (d.sloStall) stalls.push(d.sloStall);
    if (d.target !== replicas) {
      changes.push({ t, from: replicas, to: d.target });
      readyAt = d.target > replicas ? [...readyAt, ...Array.from({ length: d.target - replicas }, () => t + (opts.readyAfterS ?? 1))] : readyAt.slice(0, d.target);
      state = { ...state, decisionCounter: 0 }; // as the daemon does after acting
    }
  }
  return { changes, stalls, p99s, replicas: readyAt.length, state };
}

const during = (r: ReturnType<typeof simulate>, from: number, to: number) => r.changes.filter((c) => c.t >= from && c.t < to);

describe('parseLatencyTarget (--target-p99)', () => {
  it.each([
    ['200ms', 200], ['0.2s', 200], ['1.5s', 1500], ['1 s', 1000], ['250 MS', 250], ['.5s', 500], ['12.5ms', 12.5],
  ])('%s -> %d ms', (text, want) => expect(parseLatencyTarget(text)).toBe(want));
  it.each(['abc', '-5ms', '0', '0ms', '0s', '200', '200 m', 'ms', '', '1e3ms', '200ms200'])('refuses %j', (text) => {
    expect(() => parseLatencyTarget(text)).toThrow(/a latency target must be a duration above 0 with its unit, like 200ms or 0.5s/);
  });
});

describe('target_p99_ms in autoscaling_config', () => {
  it('is off by default and takes a number of ms', () => {
    expect(validateAutoscaling({}).target_p99_ms).toBeNull();
    expect(validateAutoscaling({ target_p99_ms: 200 }).target_p99_ms).toBe(200);
    expect(validateAutoscaling({ target_p99_ms: null }).target_p99_ms).toBeNull();
  });
  it.each([0, -5, '200ms', Number.NaN])('refuses %s', (v) => {
    expect(() => validateAutoscaling({ target_p99_ms: v })).toThrow(MlserveError);
    expect(() => validateAutoscaling({ target_p99_ms: v })).toThrow(/target_p99_ms must be a number above 0/);
  });
});

describe('p99', () => {
  it('is the nearest-rank 99th percentile', () => {
    expect(p99([])).toBeNull();
    expect(p99([5])).toBe(5);
    expect(p99(Array.from({ length: 100 }, (_, i) => i + 1))).toBe(99);
    expect(p99(Array.from({ length: 200 }, (_, i) => 200 - i))).toBe(198);
    expect(p99([1, 1, 1, 1, 1, 1, 1, 1, 1, 50])).toBe(50);
  });
});

describe('one decision: the latency signal beside Ray\'s', () => {
  // 2 replicas, Ray's policy alone: with target_ongoing_requests 1, `ongoing` asks for that many replicas.
  const at = (over: Record<string, unknown>, o: { ongoing: number; queued: number; latencyMs: number[]; ready?: number; counter?: number }) => {
    const c = cfg({ target_ongoing_requests: 1, upscale_delay_s: 0, downscale_delay_s: 0, ...over });
    const lat = o.latencyMs.map((ms, i) => ({ t: 10 - i * 0.01, ms }));
    return decide(c, { decisionCounter: o.counter ?? 0 }, [{ t: 10, ongoing: o.ongoing, queued: o.queued }], 10, 2, undefined, 0.5, { latencies: lat, readyReplicas: o.ready ?? 2 });
  };
  const many = (ms: number) => Array.from({ length: 20 }, () => ms);
  it.each([
    ['p99 over target with requests queued: up, by p99 / target (600 / 250 -> 2x, capped)', {}, { ongoing: 2, queued: 3, latencyMs: many(600) }, 4],
    ['p99 over target by 20 %: ceil(2 * 1.2) = 3', {}, { ongoing: 2, queued: 1, latencyMs: many(300) }, 3],
    ['p99 over target, nothing queued: no upscale from latency', {}, { ongoing: 2, queued: 0, latencyMs: many(600) }, 2],
    ['p99 over target but fewer than 10 latencies: not enough to act on', {}, { ongoing: 2, queued: 3, latencyMs: [600, 600, 600] }, 2],
    ['Ray wants more than the latency signal: Ray wins', {}, { ongoing: 8, queued: 6, latencyMs: many(300) }, 8],
    ['Ray wants down, p99 over target: held', {}, { ongoing: 1, queued: 0, latencyMs: many(300) }, 2],
    [`Ray wants down, p99 under target but over ${SLO_DOWNSCALE_BELOW} x: held`, {}, { ongoing: 1, queued: 0, latencyMs: many(220) }, 2],
    [`Ray wants down, p99 150 ms on 2 would be 300 ms on 1, over ${SLO_DOWNSCALE_BELOW} x target: held`, {}, { ongoing: 1, queued: 0, latencyMs: many(150) }, 2],
    [`Ray wants down, p99 90 ms on 2 would be 180 ms on 1, under ${SLO_DOWNSCALE_BELOW} x target: down`, {}, { ongoing: 1, queued: 0, latencyMs: many(90) }, 1],
    ['Ray wants down, no request finished in the window (idle): down', {}, { ongoing: 1, queued: 0, latencyMs: [] }, 1],
    ['target_p99_ms null: Ray alone (down)', { target_p99_ms: null }, { ongoing: 1, queued: 0, latencyMs: many(300) }, 1],
    ['target_p99_ms null: Ray alone (no upscale on latency)', { target_p99_ms: null }, { ongoing: 2, queued: 3, latencyMs: many(600) }, 2],
    ['max_replicas caps the latency signal', { max_replicas: 3 }, { ongoing: 2, queued: 3, latencyMs: many(600) }, 3],
  ] as [string, Record<string, unknown>, { ongoing: number; queued: number; latencyMs: number[]; ready?: number }, number][])('%s', (_n, over, o, want) => {
    expect(at(over, o).target).toBe(want);
  });

  it('keeps the upscale delay: the counter counts latency-driven decisions too', () => {
    const c = cfg({ upscale_delay_s: 1 });
    let state: AutoscalerState = { decisionCounter: 0 };
    const targets: number[] = [];
    for (let i = 0; i < 4; i++) {
      const now = 10 + i * 0.5;
      const lat = Array.from({ length: 20 }, (_, k) => ({ t: now - k * 0.01, ms: 600 }));
      const d = decide(c, state, [{ t: now, ongoing: 4, queued: 3 }], now, 1, undefined, 0.5, { latencies: lat, readyReplicas: 1 });
      state = d.state;
      targets.push(d.target);
    }
    expect(targets).toEqual([1, 1, 2, 1]); // (the last still at 1 replica: the counter starts again)
  });

  it('holds a downscale while replicas it added are still loading', () => {
    const c = cfg({ target_ongoing_requests: 1, downscale_delay_s: 0 });
    const slo = { since: 9, settling: true, lastUp: { from: 1, to: 2, p99Ms: 600 }, chainFrom: 1, flat: 0, stalled: null };
    const d = decide(c, { decisionCounter: 0, slo }, [{ t: 10, ongoing: 1, queued: 0 }], 10, 2, undefined, 0.5, { latencies: [], readyReplicas: 1 });
    expect(d.target).toBe(2);
    expect(d.reason).toMatch(/downscale held: replicas just added are still loading$/);
    // Once both are ready (and nothing finished since), the downscale may go ahead.
    expect(decide(c, { decisionCounter: 0, slo }, [{ t: 10, ongoing: 1, queued: 0 }], 10, 2, undefined, 0.5, { latencies: [], readyReplicas: 2 }).target).toBe(1);
  });

  it('judges a step on requests that arrived after the count settled, not on the queue left from before', () => {
    const c = cfg({ target_ongoing_requests: 1, upscale_delay_s: 0 });
    const slo = { since: 10, settling: false, lastUp: { from: 1, to: 2, p99Ms: 1200 }, chainFrom: 1, flat: 0, stalled: null };
    // Finished at 10.5-10.7 after 1200 ms: they arrived before 10, when there was one replica.
    const stale = Array.from({ length: 20 }, (_, i) => ({ t: 10.5 + i * 0.01, ms: 1200 }));
    const fresh = Array.from({ length: 20 }, (_, i) => ({ t: 10.6 + i * 0.01, ms: 200 }));
    const at = (latencies: LatencySample[]) => decide(c, { decisionCounter: 0, slo }, [{ t: 10.8, ongoing: 2, queued: 2 }], 10.8, 2, undefined, 0.5, { latencies, readyReplicas: 2 });
    expect(at(stale).inputs).toMatchObject({ p99Ms: null, latencySamples: 0 });
    expect(at(stale).target).toBe(2);
    expect(at([...stale, ...fresh]).inputs).toMatchObject({ p99Ms: 200, latencySamples: 20 });
  });

  it('explains itself and reports p99 in the inputs', () => {
    const d = at({}, { ongoing: 2, queued: 3, latencyMs: many(600) });
    expect(d.reason).toBe('scaling up 2 -> 4: 2 ongoing requests (mean over 3 s) / target 1 wants 2; p99 600 ms over target 250 ms with 3 queued wants 4, decided once in a row (upscale_delay_s 0)');
    expect(d.inputs).toMatchObject({ p99Ms: 600, latencySamples: 20 });
    expect(at({}, { ongoing: 1, queued: 0, latencyMs: many(220) }).reason).toMatch(/downscale held: p99 220 ms on 2 would be about 440 ms on 1, not under 0.8 x target 250 ms$/);
  });

  it('scales down only as far as p99 (scaled by replicas) stays under the margin', () => {
    // 4 replicas, Ray wants 1; p99 100 ms would be 133 ms on 3, 200 ms on 2 (not under 0.8 x 250): down to 3.
    const c = cfg({ target_ongoing_requests: 1, downscale_delay_s: 0 });
    const lat = Array.from({ length: 20 }, (_, i) => ({ t: 10 - i * 0.01, ms: 100 }));
    const d = decide(c, { decisionCounter: 0 }, [{ t: 10, ongoing: 1, queued: 0 }], 10, 4, undefined, 0.5, { latencies: lat, readyReplicas: 4 });
    expect(d.target).toBe(3);
    expect(d.reason).toMatch(/downscale limited to 3: p99 100 ms on 4 would be about 200 ms on 2, not under 0.8 x target 250 ms/);
  });
});

describe('on recorded traces', () => {
  it('a burst: replicas added until p99 is back under target, removed after the load ends', () => {
    // 1 client, then 8 from t = 20 to 80, then none. 100 ms per request, one at a time per replica.
    const world: World = { clients: (t) => (t < 20 ? 1 : t < 80 ? 8 : 0), latencyMs: queueing(100, 0.1) };
    const r = simulate(cfg(), world, { start: 1, seconds: 120 });
    const ups = during(r, 20, 80);
    expect(ups.length).toBeGreaterThan(0);
    expect(ups.every((c) => c.to > c.from)).toBe(true);
    const peak = Math.max(...ups.map((c) => c.to));
    // 8 clients / 4 replicas: 200 ms (under 250); 3 replicas would be 300 ms.
    expect(peak).toBe(4);
    const late = r.p99s.filter((p) => p.t > 60 && p.t < 80);
    expect(late.every((p) => p.replicas === 4 && p.p99 !== null && p.p99 <= 250)).toBe(true);
    expect(during(r, 80, 200)).toEqual([{ t: expect.any(Number), from: 4, to: 1 }]);
    expect(r.replicas).toBe(1);
    expect(r.stalls).toEqual([]);
    // Ray's queue policy alone (target_ongoing_requests 100) would never have moved.
    expect(simulate(cfg({ target_p99_ms: null }), world, { start: 1, seconds: 120 }).changes).toEqual([]);
  });

  it('a load 2 replicas serve just under the target: 1 -> 2 and no flapping back to 1 while it lasts', () => {
    // 6 clients, 100 ms each: 600 ms on 1 replica, 300 ms on 2 (under 400, and over 0.8 x 400 only
    // as 600 ms on 1 would be): a rule that looked at p99 alone would go 2 -> 1 -> 2 -> ...
    const world: World = { clients: (t) => (t < 300 ? 6 : 0), latencyMs: queueing(100, 0.1) };
    const r = simulate(cfg({ target_p99_ms: 400 }), world, { start: 1, seconds: 330 });
    expect(during(r, 0, 300).map((c) => [c.from, c.to])).toEqual([[1, 2]]);
    expect(during(r, 300, 400).map((c) => [c.from, c.to])).toEqual([[2, 1]]);
  });

  it('slow drift: load creeping up over 4 minutes is followed, only upwards, and p99 ends under target', () => {
    const world: World = { clients: (t) => 1 + Math.floor(t / 24), latencyMs: queueing(100, 0.1) };
    const r = simulate(cfg(), world, { start: 1, seconds: 240 });
    expect(r.changes.length).toBeGreaterThan(2);
    expect(r.changes.every((c) => c.to > c.from)).toBe(true);
    // 10 clients at the end: 5 replicas give 200 ms.
    expect(r.replicas).toBeGreaterThanOrEqual(5);
    expect(r.replicas).toBeLessThanOrEqual(10);
    expect(r.p99s.at(-1)!.p99).toBeLessThanOrEqual(250);
  });

  it('noisy p99 (rare 2.5x stragglers over a steady load): no flapping', () => {
    // 4 clients on 2 replicas: 200 ms +- 10 %, under the 300 ms target; 1 request in 500 takes 2.5x,
    // so now and then a 10 s window (200 requests) holds two and its p99 jumps over the target.
    const world: World = {
      clients: () => 4,
      latencyMs: (t, ready, clients, rand) => queueing(100, 0.2)(t, ready, clients, rand) * (rand() < 1 / 500 ? 2.5 : 1),
    };
    const c = cfg({ target_p99_ms: 300, target_ongoing_requests: 2, upscale_delay_s: 10, look_back_period_s: 10 });
    const r = simulate(c, world, { start: 2, seconds: 600, seed: 7 });
    // p99 does cross the target now and then, but never for the whole upscale delay...
    expect(r.p99s.some((p) => p.p99 !== null && p.p99 > 300)).toBe(true);
    expect(r.changes).toEqual([]);
    // ...and the same trace without the delay would have scaled up on a straggler.
    expect(simulate({ ...c, upscale_delay_s: 0 }, world, { start: 2, seconds: 600, seed: 7 }).changes.length).toBeGreaterThan(0);
  });

  it('latency that does not improve with replicas: stops adding after 2 steps and says so once', () => {
    // A shared bottleneck: 600 ms whatever the replica count, with requests queued.
    const world: World = { clients: (t) => (t < 150 ? 12 : 0), latencyMs: (_t, _r, _c, rand) => 600 * (1 + 0.05 * (rand() - 0.5)) };
    const r = simulate(cfg(), world, { start: 1, seconds: 200 });
    const ups = during(r, 0, 150);
    expect(ups.map((c) => [c.from, c.to])).toEqual([[1, 2], [2, 4]]);
    expect(r.stalls).toHaveLength(1);
    expect(r.stalls[0]).toMatchObject({ from: 1, to: 4, targetMs: 250 });
    expect(stallMessage('slow-v1', r.stalls[0])).toMatch(/^p99 6\d\d ms \(target 250 ms\) did not improve after scaling 1 -> 4; not adding more replicas for slow-v1 on latency$/);
    // Held at 4 for the rest of the load (max_replicas is 10), then down when it ends.
    expect(r.p99s.filter((p) => p.t > 30 && p.t < 150).every((p) => p.replicas === 4)).toBe(true);
    expect(r.replicas).toBe(1);
    expect(r.state.slo?.stalled ?? null).toBeNull();
  });

  it('a stall clears when p99 is back under target, so a later slow-down is handled again', () => {
    // Bottleneck until t = 100 (stall), then fine, then a queueing burst from t = 150.
    const world: World = {
      clients: (t) => (t < 100 ? 12 : t < 150 ? 1 : 8),
      latencyMs: (t, ready, clients, rand) => (t < 100 ? 600 : queueing(100)(t, ready, clients, rand)),
    };
    const r = simulate(cfg({ downscale_delay_s: 1000 }), world, { start: 1, seconds: 220 });
    expect(r.stalls).toHaveLength(1);
    expect(r.p99s.filter((p) => p.t > 200).every((p) => p.p99 !== null && p.p99 <= 250)).toBe(true);
    expect(r.replicas).toBeGreaterThanOrEqual(4);
  });
});
