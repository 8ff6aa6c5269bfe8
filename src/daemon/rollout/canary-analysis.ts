// PURE: automated canary analysis, as a decision function (no I/O, no timers). The daemon calls
// `analyze` on every control-loop tick with the canary deployment's cumulative counters and the
// current time, applies the returned weight, and keeps the returned `state` (JSON, in the store's
// `rollout` column) for the next call, so a daemon restart resumes the analysis where it was.
//
// The model is Flagger's / Argo Rollouts' step analysis (reference notes, section 8):
//   * the canary walks `steps` (weights in percent); each step lasts `intervalS`, then the window
//     since the step started (counters minus the step's baseline) is judged;
//   * too few requests in the window is a FAILED check, as in Flagger ("no values found ... not
//     receiving traffic"), not Argo's Inconclusive: nobody is around to decide by hand;
//   * one failed check rolls back (Flagger `threshold: 1`, Argo `failureLimit: 0`): weight 0, the
//     primary keeps serving;
//   * the last step passing promotes (weight 100: the canary becomes the primary);
//   * fail fast: an error rate above 2x the limit, over at least `minRequests` requests, rolls back
//     at once, without waiting for the end of the step.
// Counter resets (the daemon restarted and its in-memory Prometheus counters began again at zero)
// are handled like Prometheus' rate(): when a counter is below the step's baseline, the baseline
// becomes zero and the window is what was counted since the reset. A reset is only seen while the
// counters are still below the baseline, so the daemon should tick soon after it starts.
import { badRequest } from '../../errors.js';

export { DEFAULT_MIN_REQUESTS, parseDuration, parseSteps, validatePolicy, type AnalysisPolicy } from './canary-policy.js';
import type { AnalysisPolicy } from './canary-policy.js';
import { STEPS_EXAMPLE } from './canary-policy.js';


/** Cumulative counters of the canary deployment, as the daemon's metrics hold them. */
export interface CanaryCounters {
  requests: number;
  errors: number;
  /** A cumulative Prometheus-style histogram in seconds: `counts[i]` observations were <= `le[i]`;
   *  `le` ascends with +Infinity last (after a JSON round trip +Infinity reads back as null, which
   *  is accepted). */
  latency: { le: number[]; counts: number[] };
  /** LLM endpoints: the time-to-first-token histogram (seconds), same layout rules as `latency`. */
  ttft?: { le: number[]; counts: number[] };
}

export interface AnalysisState {
  /** Index into `policy.steps` of the current weight. */
  step: number;
  /** When the current step started (ms since the epoch, the caller's clock). */
  stepStartedAt: number;
  /** The canary's counters when the step started. */
  baseline: CanaryCounters;
  status: 'running' | 'promoted' | 'rolled-back';
  /** Why the analysis ended (set with 'promoted' and 'rolled-back'). */
  reason?: string;
}

export type AnalysisAction = 'wait' | 'advance' | 'promote' | 'rollback';

/** The canary's captured inputs and outputs against the primary's over the step (payload capture). */
export interface DriftWindow {
  /** The largest PSI over the compared columns, and which column; null when no column could be compared. */
  psi: number | null;
  column: string | null;
  /** Captured rows in the window. */
  rows: { primary: number; canary: number };
}

/** Fewest captured rows of each side before drift can be judged. */
export const MIN_DRIFT_ROWS = 50;

export interface AnalysisMetrics {
  /** Requests in the window since the step started. */
  requests: number;
  /** errors / requests over the window (0 without requests). */
  errorRate: number;
  /** p99 latency over the window (histogram_quantile), null without latency samples. */
  p99Ms: number | null;
  /** p99 time to first token over the window (LLM endpoints), null without samples. */
  ttftP99Ms?: number | null;
}

export interface AnalysisResult {
  action: AnalysisAction;
  /** The canary weight (percent) to apply now: the current step's on 'wait', the next step's on
   *  'advance', 100 on 'promote' (and once promoted), 0 on 'rollback' (and once rolled back). */
  weight: number;
  /** The state to keep for the next call (on 'wait' the same object, unless a counter reset
   *  re-based the window; and always the same object once promoted or rolled back). */
  state: AnalysisState;
  reason: string;
  metrics: AnalysisMetrics;
}

/** Roll back before the step ends when the error rate exceeds the limit by this factor. */
export const FAIL_FAST_FACTOR = 2;

// ---------------------------------------------------------------------------------------------
// Parsing and validation

function cloneCounters(c: CanaryCounters): CanaryCounters {
  return {
    requests: c.requests,
    errors: c.errors,
    latency: { le: [...(c.latency?.le ?? [])], counts: [...(c.latency?.counts ?? [])] },
    ...(c.ttft ? { ttft: { le: [...c.ttft.le], counts: [...c.ttft.counts] } } : {}),
  };
}

/** Same bucket bounds? +Infinity and null (JSON's +Infinity) count as equal. */
function sameBounds(a: readonly (number | null)[], b: readonly (number | null)[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    const xInf = x === null || !Number.isFinite(x);
    const yInf = y === null || !Number.isFinite(y);
    if (xInf !== yInf || (!xInf && x !== y)) return false;
  }
  return true;
}

/**
 * The q-quantile of a cumulative histogram, as PromQL's histogram_quantile computes it: linear
 * interpolation within the bucket that holds the rank (the first bucket starts at 0); a rank in
 * the +Inf bucket gives the highest finite bound. Null without observations. Result in `le`'s unit.
 */
export function histogramQuantile(q: number, le: readonly number[], counts: readonly number[]): number | null {
  const n = Math.min(le.length, counts.length);
  if (n === 0) return null;
  // Cumulative counts must not go down (Prometheus' ensureMonotonic).
  const cum: number[] = [];
  let max = 0;
  for (let i = 0; i < n; i++) {
    max = Math.max(max, Number(counts[i]) || 0);
    cum.push(max);
  }
  const total = cum[n - 1];
  if (!(total > 0)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const rank = q * total;
  let i = 0;
  while (i < n - 1 && cum[i] < rank) i++;
  const upper = le[i];
  if (upper === null || !Number.isFinite(upper)) return i > 0 ? le[i - 1] : null;
  if (i === 0 && upper <= 0) return upper;
  const lower = i === 0 ? 0 : le[i - 1];
  const below = i === 0 ? 0 : cum[i - 1];
  const inBucket = cum[i] - below;
  if (inBucket <= 0) return lower;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}

/** Did a counter go down since `base`? Then the daemon restarted and its counters began again at 0. */
function counterReset(base: CanaryCounters, cur: CanaryCounters): boolean {
  if (cur.requests < base.requests || cur.errors < base.errors) return true;
  const counts = cur.latency?.counts ?? [];
  const baseCounts = base.latency?.counts ?? [];
  return baseCounts.length === counts.length && sameBounds(base.latency?.le ?? [], cur.latency?.le ?? [])
    && counts.some((c, i) => c < baseCounts[i]);
}

/** All-zero counters with `c`'s bucket layout: the baseline after a counter reset. */
function zeroCounters(c: CanaryCounters): CanaryCounters {
  const le = [...(c.latency?.le ?? [])];
  return { requests: 0, errors: 0, latency: { le, counts: le.map(() => 0) } };
}

/** p99 in ms of the observations a cumulative histogram gained since `base` (null without any). */
function windowP99Ms(base: CanaryCounters['latency'] | undefined, cur: CanaryCounters['latency'] | undefined): number | null {
  const le = cur?.le ?? [];
  const counts = cur?.counts ?? [];
  const baseCounts = base?.counts ?? [];
  // A changed bucket layout (e.g. a baseline taken before the histogram had any observation)
  // means "count from zero".
  const comparable = baseCounts.length === counts.length && sameBounds(base?.le ?? [], le);
  const delta = comparable ? counts.map((c, i) => Math.max(0, c - baseCounts[i])) : [...counts];
  const p99 = histogramQuantile(0.99, le, delta);
  return p99 === null ? null : p99 * 1000;
}

/** The canary's metrics since `base`. */
function windowMetrics(base: CanaryCounters, cur: CanaryCounters): AnalysisMetrics {
  const requests = cur.requests - base.requests;
  const errors = cur.errors - base.errors;
  return {
    requests, errorRate: requests > 0 ? errors / requests : 0, p99Ms: windowP99Ms(base.latency, cur.latency),
    ...(cur.ttft ? { ttftP99Ms: windowP99Ms(base.ttft, cur.ttft) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting for reasons

function fmt(x: number, decimals: number): string {
  return String(Number(x.toFixed(decimals)));
}

/** Format a value and its limit, with enough decimals that they do not read as equal. */
function fmtPair(value: number, limit: number, decimals: number): [string, string] {
  let d = decimals;
  while (d < 4 && value !== limit && fmt(value, d) === fmt(limit, d)) d++;
  return [fmt(value, d), fmt(limit, d)];
}

function msDecimals(ms: number): number {
  return ms >= 100 ? 0 : ms >= 10 ? 1 : 2;
}

function errorRateText(rate: number, limit: number, op: string): string {
  const [a, b] = fmtPair(rate * 100, limit * 100, 2);
  return `error rate ${a}% ${op} ${b}%`;
}

function p99Text(p99Ms: number, limitMs: number, op: string): string {
  const [a, b] = fmtPair(p99Ms, limitMs, msDecimals(p99Ms));
  return `p99 ${a} ms ${op} ${b} ms`;
}

function durationText(ms: number): string {
  if (Math.abs(ms) < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 120) return `${fmt(s, 1)}s`;
  return `${Math.floor(s / 60)}m${fmt(s % 60, 0)}s`;
}

// ---------------------------------------------------------------------------------------------
// The decision

/** The state of a new analysis: at the first step from `now`, with the canary's counters as baseline. */
export function initialState(policy: AnalysisPolicy, now: number, counters: CanaryCounters): AnalysisState {
  if (!policy.steps || policy.steps.length === 0) throw badRequest(`canary analysis policy has no steps; ${STEPS_EXAMPLE}`);
  return { step: 0, stepStartedAt: now, baseline: cloneCounters(counters), status: 'running' };
}

/**
 * One analysis tick. `counters` are the canary's cumulative counters now, `now` is ms since the
 * epoch. Waits until the current step has lasted `intervalS`, then judges the window since the
 * step started: fewer than `minRequests` requests, an error rate above `maxErrorRate` or a p99
 * above `maxP99Ms` roll back; otherwise advance to the next weight, or promote after the last
 * step. Rolls back before the step ends when the error rate over at least `minRequests` requests
 * is above FAIL_FAST_FACTOR x the limit. Once promoted or rolled back it answers 'wait' forever.
 * `policy` must have passed validatePolicy; `state` may come back from JSON.
 */
export function analyze(policy: AnalysisPolicy, state: AnalysisState, counters: CanaryCounters, now: number, drift?: DriftWindow | null): AnalysisResult {
  if (state.status !== 'running') {
    const metrics = windowMetrics(counterReset(state.baseline, counters) ? zeroCounters(counters) : state.baseline, counters);
    return { action: 'wait', weight: state.status === 'promoted' ? 100 : 0, state, reason: state.reason ?? state.status, metrics };
  }
  // After a counter reset the window is everything counted since the reset (as rate() does); the
  // zeroed baseline is kept, so later ticks, whose counters may have grown past the old baseline
  // again, still count from the reset.
  const st: AnalysisState = counterReset(state.baseline, counters) ? { ...state, baseline: zeroCounters(counters) } : state;
  const metrics = windowMetrics(st.baseline, counters);

  const steps = policy.steps;
  if (!Number.isInteger(st.step) || st.step < 0 || st.step >= steps.length) {
    throw new Error(`canary analysis state is at step ${st.step}, but the policy has ${steps.length} steps (${steps.join(', ')})`);
  }
  const weight = steps[st.step];
  const where = `step ${st.step + 1}/${steps.length} (${weight}%)`;
  const elapsedMs = now - st.stepStartedAt;
  const intervalMs = policy.intervalS * 1000;
  const limit = policy.maxErrorRate;

  const rollback = (reason: string): AnalysisResult => ({
    action: 'rollback',
    weight: 0,
    state: { ...st, baseline: cloneCounters(st.baseline), status: 'rolled-back', reason },
    reason,
    metrics,
  });

  if (elapsedMs < intervalMs) {
    if (metrics.requests >= policy.minRequests && metrics.errorRate > FAIL_FAST_FACTOR * limit) {
      return rollback(`${errorRateText(metrics.errorRate, limit, '>')} (over ${FAIL_FAST_FACTOR}x the limit after `
        + `${metrics.requests} requests in ${durationText(elapsedMs)}: failing fast)`);
    }
    return {
      action: 'wait', weight, state: st, metrics,
      reason: `${where}: ${durationText(Math.max(0, elapsedMs))} of ${durationText(intervalMs)}, ${metrics.requests} requests so far`,
    };
  }

  // The step has lasted its interval: judge it.
  if (metrics.requests < policy.minRequests) {
    return rollback(`only ${metrics.requests} requests in the interval (min ${policy.minRequests}): not enough data`);
  }
  if (metrics.errorRate > limit) return rollback(errorRateText(metrics.errorRate, limit, '>'));
  const checks = [errorRateText(metrics.errorRate, limit, '<=')];
  if (policy.maxP99Ms !== undefined) {
    if (metrics.p99Ms === null) {
      if (metrics.requests > 0) {
        return rollback(`no latency samples for ${metrics.requests} requests in the interval: cannot check p99 <= ${fmt(policy.maxP99Ms, 2)} ms`);
      }
    } else {
      if (metrics.p99Ms > policy.maxP99Ms) return rollback(p99Text(metrics.p99Ms, policy.maxP99Ms, '>'));
      checks.push(p99Text(metrics.p99Ms, policy.maxP99Ms, '<='));
    }
  }
  if (policy.maxTtftP99Ms !== undefined) {
    const ttft = metrics.ttftP99Ms ?? null;
    if (ttft === null) {
      if (metrics.requests > 0) return rollback(`no time-to-first-token samples for ${metrics.requests} requests in the interval: cannot check TTFT p99 <= ${fmt(policy.maxTtftP99Ms, 2)} ms (is it a language model?)`);
    } else {
      if (ttft > policy.maxTtftP99Ms) return rollback(`TTFT ${p99Text(ttft, policy.maxTtftP99Ms, '>')}`);
      checks.push(`TTFT ${p99Text(ttft, policy.maxTtftP99Ms, '<=')}`);
    }
  }
  if (policy.maxDriftPsi !== undefined) {
    const d = drift ?? { psi: null, column: null, rows: { primary: 0, canary: 0 } };
    if (d.rows.primary < MIN_DRIFT_ROWS || d.rows.canary < MIN_DRIFT_ROWS) {
      return rollback(`only ${d.rows.canary} canary and ${d.rows.primary} primary rows captured in the interval (min ${MIN_DRIFT_ROWS} each): cannot check drift; is payload capture on with a large enough --sample?`);
    }
    if (d.psi === null) return rollback('no captured column to compare between canary and primary: cannot check drift');
    const [a, b] = fmtPair(d.psi, policy.maxDriftPsi, 3);
    if (d.psi > policy.maxDriftPsi) return rollback(`drift: PSI ${a} of ${d.column} (canary vs primary) > ${b}`);
    checks.push(`drift PSI ${a} <= ${b}`);
  }
  const passed = `${checks.join(', ')} over ${metrics.requests} requests`;

  if (st.step === steps.length - 1) {
    const reason = `${steps.length === 1 ? 'the only step' : `all ${steps.length} steps`} passed (last: ${passed})`;
    return {
      action: 'promote', weight: 100, metrics, reason,
      state: { ...st, baseline: cloneCounters(st.baseline), status: 'promoted', reason },
    };
  }
  const next = steps[st.step + 1];
  return {
    action: 'advance',
    weight: next,
    metrics,
    reason: `${where} passed: ${passed}; advancing to ${next}%`,
    state: { step: st.step + 1, stepStartedAt: now, baseline: cloneCounters(counters), status: 'running' },
  };
}
