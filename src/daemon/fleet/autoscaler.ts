// Ray Serve compatible autoscaling, as a pure decision function. The daemon calls `decide` once per
// control-loop tick with the samples it has recorded (total ongoing + queued requests over all
// replicas), the current time and the current replica count, and carries `state` to the next call.
//
// The policy is Ray Serve's replica-queue-length policy with its decision counter
// (serve/autoscaling_policy.py, Ray 2.x):
//   total      = mean (or max/min) of the samples in the last look_back_period_s
//   desired    = total / target_ongoing_requests                          (float)
//   scaled     = ceil(current + factor * (desired - current))             factor = upscaling_factor
//                when desired >= current, downscaling_factor otherwise (both fall back to
//                upscale_/downscale_smoothing_factor, then smoothing_factor = 1.0)
//   stuck      : ceil(desired) < current but scaled == current  =>  scaled = current - 1
//   scaled is clamped to [min_replicas, max_replicas];
//   delay      : a scale-up happens once "want up" has been decided more than
//                floor(upscale_delay_s / loop period) times in a row (downscale likewise with
//                downscale_delay_s); a decision the other way, or "hold", resets the counter.
//   cold start : 0 replicas and any request => max(ceil(1 * upscaling_factor), ...) at once.
// mlserve adds: the result never exceeds current + gpuRoom when gpuRoom is given; and for language
// models `target_queued_tokens` (not Ray's): desired = max(total / target_ongoing_requests,
// queued prompt tokens / target_queued_tokens), so long prompts piling up scale out too; and
// `target_p99_ms` (not Ray's), a latency SLO: see latency-slo.ts (up when p99 is over it with
// requests queued, no downscale while p99 is not comfortably under it, stop adding when it does
// not help).
import { MlserveError } from '../../errors.js';
import {
  afterChange, beforeUpscale, INITIAL_SLO_STATE, observeSlo, sloDesired, type SloInputs, type SloStall, type SloState,
} from './latency-slo.js';

/** Ray Serve's CONTROL_LOOP_INTERVAL_S: how often the decision runs. */
export const CONTROL_LOOP_PERIOD_S = 0.1;

export type AggregationFunction = 'mean' | 'max' | 'min';

/** Ray Serve's `autoscaling_config`, same field names and defaults. */
export interface AutoscalingConfig {
  min_replicas: number;
  max_replicas: number;
  /** null => min_replicas. */
  initial_replicas: number | null;
  /** Target running + queued requests per replica. */
  target_ongoing_requests: number;
  upscale_delay_s: number;
  downscale_delay_s: number;
  /** Delay for the last step 1 -> 0; null => downscale_delay_s (and no special 1 -> 0 step). */
  downscale_to_zero_delay_s: number | null;
  /** Gain on each upscale decision; null => upscale_smoothing_factor => smoothing_factor. */
  upscaling_factor: number | null;
  downscaling_factor: number | null;
  upscale_smoothing_factor: number | null;
  downscale_smoothing_factor: number | null;
  /** Deprecated in Ray; the last fallback of both factors. */
  smoothing_factor: number;
  look_back_period_s: number;
  /** How often replicas report (the daemon's sampling period). */
  metrics_interval_s: number;
  aggregation_function: AggregationFunction;
  /** mlserve, LLM deployments: prompt tokens waiting per replica to aim for (null: requests only). */
  target_queued_tokens: number | null;
  /** mlserve: a latency SLO, the p99 (ms) of request latency (arrival to answer) to keep under (null: off). */
  target_p99_ms: number | null;
}

export const AUTOSCALING_DEFAULTS: Readonly<AutoscalingConfig> = Object.freeze({
  min_replicas: 1,
  max_replicas: 1,
  initial_replicas: null,
  target_ongoing_requests: 2,
  upscale_delay_s: 30,
  downscale_delay_s: 600,
  downscale_to_zero_delay_s: null,
  upscaling_factor: null,
  downscaling_factor: null,
  upscale_smoothing_factor: null,
  downscale_smoothing_factor: null,
  smoothing_factor: 1.0,
  look_back_period_s: 30,
  metrics_interval_s: 10,
  target_queued_tokens: null,
  target_p99_ms: null,
  aggregation_function: 'mean',
});

type Kind = 'int>=0' | 'int>=1' | 'pos' | 'nonneg';
const FIELDS: Record<Exclude<keyof AutoscalingConfig, 'aggregation_function'>, { kind: Kind; nullable: boolean }> = {
  min_replicas: { kind: 'int>=0', nullable: false },
  max_replicas: { kind: 'int>=1', nullable: false },
  initial_replicas: { kind: 'int>=0', nullable: true },
  target_ongoing_requests: { kind: 'pos', nullable: false },
  upscale_delay_s: { kind: 'nonneg', nullable: false },
  downscale_delay_s: { kind: 'nonneg', nullable: false },
  downscale_to_zero_delay_s: { kind: 'nonneg', nullable: true },
  upscaling_factor: { kind: 'pos', nullable: true },
  downscaling_factor: { kind: 'pos', nullable: true },
  upscale_smoothing_factor: { kind: 'pos', nullable: true },
  downscale_smoothing_factor: { kind: 'pos', nullable: true },
  smoothing_factor: { kind: 'pos', nullable: false },
  look_back_period_s: { kind: 'pos', nullable: false },
  metrics_interval_s: { kind: 'pos', nullable: false },
  target_queued_tokens: { kind: 'pos', nullable: true },
  target_p99_ms: { kind: 'pos', nullable: true },
};
const KIND_TEXT: Record<Kind, string> = {
  'int>=0': 'a whole number, 0 or more',
  'int>=1': 'a whole number, 1 or more',
  pos: 'a number above 0',
  nonneg: 'a number, 0 or more',
};

/**
 * Checks a user's autoscaling_config (Ray Serve field names) and fills in Ray's defaults.
 * Throws BAD_REQUEST naming the field: unknown fields, wrong types, min > max, initial outside
 * [min, max], target_ongoing_requests <= 0, negative delays, factors <= 0.
 */
export function validateAutoscaling(raw: unknown): AutoscalingConfig {
  const bad = (msg: string) => new MlserveError('BAD_REQUEST', `autoscaling_config: ${msg}`);
  if (raw === undefined || raw === null) return { ...AUTOSCALING_DEFAULTS };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw bad('must be an object of Ray Serve autoscaling fields');
  const cfg: AutoscalingConfig = { ...AUTOSCALING_DEFAULTS };
  const known = [...Object.keys(FIELDS), 'aggregation_function'];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!known.includes(key)) throw bad(`unknown field '${key}'; the fields are ${known.join(', ')}`);
    if (key === 'aggregation_function') {
      if (value === null || value === undefined) continue;
      if (value !== 'mean' && value !== 'max' && value !== 'min') {
        throw bad(`aggregation_function must be 'mean', 'max' or 'min' (got ${JSON.stringify(value)})`);
      }
      cfg.aggregation_function = value;
      continue;
    }
    const f = FIELDS[key as keyof typeof FIELDS];
    if (value === undefined) continue;
    if (value === null) {
      if (!f.nullable) throw bad(`${key} cannot be null; it must be ${KIND_TEXT[f.kind]}`);
      (cfg as unknown as Record<string, unknown>)[key] = null;
      continue;
    }
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (f.kind === 'int>=0' ? Number.isInteger(value) && value >= 0
        : f.kind === 'int>=1' ? Number.isInteger(value) && value >= 1
          : f.kind === 'pos' ? value > 0
            : value >= 0);
    if (!ok) throw bad(`${key} must be ${KIND_TEXT[f.kind]} (got ${JSON.stringify(value)})`);
    (cfg as unknown as Record<string, unknown>)[key] = value;
  }
  if (cfg.min_replicas > cfg.max_replicas) {
    throw bad(`min_replicas (${cfg.min_replicas}) must not be above max_replicas (${cfg.max_replicas})`);
  }
  if (cfg.initial_replicas !== null && (cfg.initial_replicas < cfg.min_replicas || cfg.initial_replicas > cfg.max_replicas)) {
    throw bad(`initial_replicas (${cfg.initial_replicas}) must lie between min_replicas (${cfg.min_replicas}) and max_replicas (${cfg.max_replicas})`);
  }
  return cfg;
}

export const upscalingFactor = (c: AutoscalingConfig): number =>
  c.upscaling_factor ?? c.upscale_smoothing_factor ?? c.smoothing_factor;
export const downscalingFactor = (c: AutoscalingConfig): number =>
  c.downscaling_factor ?? c.downscale_smoothing_factor ?? c.smoothing_factor;
/** The replica count a new autoscaled deployment starts with. */
export const initialReplicas = (c: AutoscalingConfig): number => c.initial_replicas ?? c.min_replicas;

/** Carried between decisions: > 0 consecutive "want up" decisions, < 0 consecutive "want down". */
export interface AutoscalerState {
  decisionCounter: number;
  /** The latency signal's memory (target_p99_ms); absent until it is used. */
  slo?: SloState;
}
export const INITIAL_AUTOSCALER_STATE: Readonly<AutoscalerState> = Object.freeze({ decisionCounter: 0 });

/** One metrics sample: at `t` seconds, `ongoing` running + queued requests over all replicas. */
export interface MetricSample {
  t: number;
  ongoing: number;
  /** LLM deployments: estimated prompt tokens of the requests waiting. */
  queuedTokens?: number;
  /** Requests waiting in the daemon's queue (all replicas at capacity), for target_p99_ms. */
  queued?: number;
}

export interface DecisionInputs {
  now: number;
  currentReplicas: number;
  /** Samples inside the look-back window (now - look_back_period_s, now]. */
  samples: number;
  /** The aggregated total ongoing requests, null without samples. */
  totalOngoing: number | null;
  /** The aggregated queued prompt tokens (with target_queued_tokens), else absent. */
  queuedTokens?: number;
  /** total / target_ongoing_requests (the unsmoothed desired count), null without samples. */
  rawDesired: number | null;
  /** The factor applied (upscaling or downscaling), null when not computed. */
  factor: number | null;
  /** Desired replicas after factor, stuck rule and bounds, before the delay. */
  desired: number | null;
  /** Consecutive decisions that must be exceeded before acting: floor(delay_s / loopPeriodS). */
  decisionsNeeded: number | null;
  loopPeriodS: number;
  gpuRoom: number | null;
  /** With target_p99_ms: p99 (ms) of the latencies judged, and how many there were. */
  p99Ms?: number | null;
  latencySamples?: number;
}

export interface Decision {
  target: number;
  state: AutoscalerState;
  reason: string;
  inputs: DecisionInputs;
  /** Set on the one decision where the latency signal stopped adding replicas (report it once). */
  sloStall?: SloStall;
}

// A float like 2.0000000000000004 (from averaging) must not ceil to 3.
const EPS = 1e-9;
const ceil = (x: number) => Math.ceil(x - EPS);
const periods = (delayS: number, loopS: number) => Math.floor(delayS / loopS + EPS);
const times = (n: number) => (n === 1 ? 'once' : `${n} times`);
const num = (x: number) => String(Math.round(x * 100) / 100);

function aggregate(fn: AggregationFunction, xs: number[]): number {
  if (fn === 'max') return Math.max(...xs);
  if (fn === 'min') return Math.min(...xs);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * One autoscaling decision (see the file header for the formula). `loopPeriodS` is how often the
 * caller runs decide: the delays count consecutive decisions, floor(delay_s / loopPeriodS).
 * `gpuRoom`, when given, is how many more replicas fit on the GPUs: the target never exceeds
 * currentReplicas + gpuRoom (a scale-up it cuts short keeps its counter, so the rest follows as
 * soon as room appears). `slo`, with target_p99_ms set, carries the request latencies and how many
 * replicas are ready (see latency-slo.ts); without it the latency signal is off.
 */
export function decide(
  config: AutoscalingConfig,
  state: AutoscalerState,
  samples: MetricSample[],
  now: number,
  currentReplicas: number,
  gpuRoom?: number,
  loopPeriodS: number = CONTROL_LOOP_PERIOD_S,
  slo?: SloInputs,
): Decision {
  if (!(loopPeriodS > 0)) throw new Error(`loopPeriodS must be above 0 (got ${loopPeriodS})`);
  const cur = currentReplicas;
  const lo = config.min_replicas;
  const hi = config.max_replicas;
  const clamp = (n: number) => Math.min(hi, Math.max(lo, n));
  const room = gpuRoom === undefined ? null : Math.max(0, Math.floor(gpuRoom));
  const windowed = samples.filter((s) => s.t > now - config.look_back_period_s && s.t <= now);
  const inputs: DecisionInputs = {
    now, currentReplicas: cur, samples: windowed.length, totalOngoing: null, rawDesired: null, factor: null,
    desired: null, decisionsNeeded: null, loopPeriodS, gpuRoom: room,
  };
  let counter = state.decisionCounter;
  let decision = cur;
  let why: string;
  let fired = false;
  const targetMs = slo ? (config.target_p99_ms ?? null) : null;
  let sloState = state.slo ?? INITIAL_SLO_STATE;
  let p99Now: number | null = null;
  let sloStall: SloStall | undefined;

  if (windowed.length === 0) {
    why = `no metrics in the last ${num(config.look_back_period_s)} s: holding ${cur}`;
  } else {
    const total = aggregate(config.aggregation_function, windowed.map((s) => s.ongoing));
    let raw = total / config.target_ongoing_requests;
    inputs.totalOngoing = total;
    let load = `${num(total)} ongoing requests (${config.aggregation_function} over ${num(config.look_back_period_s)} s) / target ${num(config.target_ongoing_requests)}`;
    if (config.target_queued_tokens !== null) {
      const tokens = aggregate(config.aggregation_function, windowed.map((s) => s.queuedTokens ?? 0));
      inputs.queuedTokens = tokens;
      if (tokens / config.target_queued_tokens > raw) {
        raw = tokens / config.target_queued_tokens;
        load = `${num(tokens)} queued prompt tokens (${config.aggregation_function} over ${num(config.look_back_period_s)} s) / target ${num(config.target_queued_tokens)}`;
      }
    }
    inputs.rawDesired = raw;
    if (cur === 0) {
      if (total > 0) {
        // Cold start: Ray scales from zero at once, bypassing the delay (and leaves the counter).
        decision = Math.max(ceil(1 * upscalingFactor(config)), cur);
        inputs.factor = upscalingFactor(config);
        inputs.desired = clamp(decision);
        fired = true;
        why = `cold start: ${num(total)} requests waiting with 0 replicas, starting ${decision} at once`;
      } else {
        why = `no requests and 0 replicas: holding 0`;
      }
    } else {
      const factor = raw >= cur ? upscalingFactor(config) : downscalingFactor(config);
      let scaled = ceil(cur + factor * (raw - cur));
      if (ceil(raw) < cur && scaled === cur) scaled = cur - 1; // stuck because of a small downscaling factor
      let desired = clamp(scaled);
      const rayDesired = desired;
      let view: ReturnType<typeof observeSlo> | null = null;
      let note: string | null = null;
      if (targetMs !== null) {
        view = observeSlo(sloState, slo!, now, config.look_back_period_s, cur, targetMs);
        sloState = view.state;
        p99Now = view.p99Ms;
        const recent = windowed.filter((s) => s.t > view!.state.since);
        const queued = recent.length ? aggregate(config.aggregation_function, recent.map((s) => s.queued ?? 0)) : 0;
        ({ desired, note } = sloDesired({ targetMs, factor: upscalingFactor(config), lo, hi }, view, queued, cur, desired));
        inputs.p99Ms = view.p99Ms;
        inputs.latencySamples = view.count;
      }
      let delayS = desired > cur ? config.upscale_delay_s : config.downscale_delay_s;
      let zeroStep = false;
      if (desired < cur && desired === 0 && config.downscale_to_zero_delay_s !== null) {
        // Ray's newer policy: down to 1 on downscale_delay_s, then 1 -> 0 on downscale_to_zero_delay_s.
        if (cur > 1) desired = 1;
        else {
          delayS = config.downscale_to_zero_delay_s;
          zeroStep = true;
        }
      }
      const needed = periods(delayS, loopPeriodS);
      inputs.factor = factor;
      inputs.desired = desired;
      inputs.decisionsNeeded = desired === cur ? null : needed;
      const wants = `${load} wants ${rayDesired}${note ? `; ${note}` : ''}`;
      if (desired > cur) {
        counter = Math.max(counter, 0) + 1;
        let to = desired;
        if (counter > needed && view) {
          const b = beforeUpscale({ ...view, state: sloState }, cur, desired, rayDesired, targetMs!);
          sloState = b.state;
          to = b.to;
          if (b.stall) sloStall = b.stall;
        }
        if (counter > needed && to > cur) {
          decision = to;
          fired = true;
          counter = 0;
          why = `scaling up ${cur} -> ${to}: ${wants}, decided ${times(needed + 1)} in a row (upscale_delay_s ${num(delayS)})`;
        } else if (counter > needed) {
          counter = 0;
          why = `holding ${cur}: ${wants}; p99 did not improve after scaling ${sloState.stalled!.from} -> ${sloState.stalled!.to}, so no more replicas for latency`;
        } else {
          why = `holding ${cur}: ${wants}; upscale decision ${counter} of ${needed + 1} (upscale_delay_s ${num(delayS)})`;
        }
      } else if (desired < cur) {
        counter = Math.min(counter, 0) - 1;
        const which = zeroStep ? 'downscale_to_zero_delay_s' : 'downscale_delay_s';
        if (counter < -needed) {
          decision = desired;
          fired = true;
          counter = 0;
          why = `scaling down ${cur} -> ${desired}: ${wants}, decided ${times(needed + 1)} in a row (${which} ${num(delayS)})`;
        } else {
          why = `holding ${cur}: ${wants}; downscale decision ${-counter} of ${needed + 1} (${which} ${num(delayS)})`;
        }
      } else {
        counter = 0;
        why = `holding ${cur}: ${wants}`;
      }
    }
  }

  // Bounds apply to every decision (a replica count outside [min, max] is corrected at once).
  let target = clamp(decision);
  if (target !== decision) {
    why += `; ${target > decision ? `raised to min_replicas ${lo}` : `lowered to max_replicas ${hi}`}`;
  }
  if (room !== null && target > cur + room) {
    const wanted = target;
    target = Math.max(cur, cur + room);
    why += `; limited to ${target} by GPU room (${room === 0 ? 'no replica fits' : `${room} more replica${room === 1 ? ' fits' : 's fit'}`}, wanted ${wanted})`;
    // The demand has held for the delay already: act on the rest as soon as room appears.
    if (fired && cur > 0) counter = periods(config.upscale_delay_s, loopPeriodS) + 1;
  }
  if (targetMs !== null && target !== cur) sloState = afterChange(sloState, p99Now, cur, target, now);
  return {
    target, state: { decisionCounter: counter, ...(targetMs !== null ? { slo: sloState } : {}) }, reason: why, inputs, ...(sloStall ? { sloStall } : {}),
  };
}
