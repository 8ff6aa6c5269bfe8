// Latency-SLO autoscaling (mlserve's `target_p99_ms`, beside Ray's ongoing-requests policy): the
// signal `decide` (autoscaler.ts) consults when the field is set. PURE.
//
//   latency    : per answered request, the time from its arrival at the ingress to its answer (ms),
//                as mlserve_request_duration_seconds records it (what clients see, less the network).
//                For language models it is the whole answer's time, which grows with its length
//                (target_queued_tokens usually suits them better).
//   p99        : nearest-rank 99th percentile of the latencies of requests finished in
//                (now - look_back_period_s, now] that arrived after `since`, when the replica count
//                last settled (every replica ready after the last change): a step is judged on the
//                requests that came after it, not on the queue left from before.
//   up         : p99 > target, at least SLO_MIN_SAMPLES latencies, and requests wait in the queue
//                (aggregated `queued` > 0, i.e. ongoing > what the replicas hold): proposes
//                ceil(cur + factor * (min(2, p99 / target) * cur - cur)), at least cur + 1.
//                The larger of this and Ray's desired count wins; the upscale delay applies as usual.
//   down       : only when Ray's policy wants it, no replica added is still loading, and p99 as it
//                would be on fewer replicas (scaled as queueing scales: p99 x cur / n) stays under
//                SLO_DOWNSCALE_BELOW (0.8) x target: down to the fewest n where it does (at most to
//                Ray's count); no request finished in the window (idle) lets Ray's count stand.
//   stop adding: each upscale records the p99 before it. When the next upscale is due and p99 is not
//                SLO_MIN_IMPROVEMENT (10 %) better than before the previous one, that step did not
//                help; after SLO_STALL_STEPS (2) such steps in a row the latency signal adds no more
//                replicas (Ray's queue policy still may) and the decision reports it once (the
//                daemon's `slo-stalled` event). It clears when p99 is back under the target
//                or the replica count goes down.

/** A downscale needs p99 under this fraction of the target (a margin against flapping). */
export const SLO_DOWNSCALE_BELOW = 0.8;
/** Fewest finished requests in the window before p99 may ask for replicas (or judge a step). */
export const SLO_MIN_SAMPLES = 10;
/** An upscale helped when p99 fell by at least this fraction. */
export const SLO_MIN_IMPROVEMENT = 0.1;
/** Upscales in a row that did not help before the latency signal stops adding replicas. */
export const SLO_STALL_STEPS = 2;
/** A replica that has not become ready after this long no longer holds the window back. */
export const SLO_SETTLE_MAX_S = 120;

/** One finished request: at `t` seconds it had taken `ms` (queue + compute). */
export interface LatencySample {
  t: number;
  ms: number;
}

/** What the daemon passes to `decide` for the latency signal. */
export interface SloInputs {
  latencies: readonly LatencySample[];
  readyReplicas: number;
}

export interface SloStall {
  p99Ms: number;
  targetMs: number;
  from: number;
  to: number;
}

/** Carried between decisions (inside AutoscalerState). */
export interface SloState {
  /** Start of the judged window: when the count last settled (or changed, while settling). */
  since: number;
  /** A change is under way: replicas added are not all ready yet. */
  settling: boolean;
  /** The last upscale and the p99 before it (null p99: not measured then). */
  lastUp: { from: number; to: number; p99Ms: number | null } | null;
  /** The count the current run of upscales started from. */
  chainFrom: number | null;
  /** Upscales in a row that did not improve p99. */
  flat: number;
  stalled: SloStall | null;
}

export const INITIAL_SLO_STATE: Readonly<SloState> = Object.freeze({
  since: -Infinity, settling: false, lastUp: null, chainFrom: null, flat: 0, stalled: null,
});

/** Nearest-rank 99th percentile; null for no samples. */
export function p99(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)];
}

export interface SloView {
  state: SloState;
  p99Ms: number | null;
  count: number;
}

/** Settle the state (all replicas ready => the window restarts now) and measure p99 over it. */
export function observeSlo(prev: SloState, input: SloInputs, now: number, lookBackS: number, current: number, targetMs: number): SloView {
  let state = prev;
  if (state.settling && (input.readyReplicas >= current || now - state.since > SLO_SETTLE_MAX_S)) {
    state = { ...state, settling: false, since: now };
  }
  // Requests that came after the count settled: one queued before it tells of the old count.
  const from = now - lookBackS;
  const values = input.latencies.filter((s) => s.t > from && s.t <= now && s.t - s.ms / 1000 >= state.since).map((s) => s.ms);
  const p = p99(values);
  // Back under the target: the run of upscales is over, and so is a stall.
  if (p !== null && values.length >= SLO_MIN_SAMPLES && p <= targetMs && (state.lastUp || state.stalled || state.flat)) {
    state = { ...state, lastUp: null, chainFrom: null, flat: 0, stalled: null };
  }
  return { state, p99Ms: p, count: values.length };
}

const ms = (x: number) => `${Math.round(x)} ms`;

/**
 * The latency signal's say on Ray's desired count: raise it (p99 over target with requests queued),
 * or hold a downscale. `desired` is Ray's (already within [lo, hi]).
 */
export function sloDesired(
  o: { targetMs: number; factor: number; lo: number; hi: number },
  view: SloView,
  queued: number,
  current: number,
  desired: number,
): { desired: number; note: string | null } {
  const { p99Ms, count, state } = view;
  const t = o.targetMs;
  const over = p99Ms !== null && p99Ms > t && count >= SLO_MIN_SAMPLES && !state.settling;
  let note: string | null = null;
  if (over && queued <= 0) note = `p99 ${ms(p99Ms)} over target ${ms(t)} but no request is queued`;
  else if (over && state.stalled) {
    note = `p99 ${ms(p99Ms)} over target ${ms(t)}; not adding replicas for latency (it did not improve after scaling ${state.stalled.from} -> ${state.stalled.to})`;
  } else if (over) {
    const ratio = Math.min(2, p99Ms / t);
    const proposed = Math.min(o.hi, Math.max(o.lo, current + 1, Math.ceil(current + o.factor * (ratio * current - current) - 1e-9)));
    note = `p99 ${ms(p99Ms)} over target ${ms(t)} with ${Math.round(queued * 100) / 100} queued wants ${proposed}`;
    if (proposed > desired) return { desired: proposed, note };
  }
  if (desired < current) {
    if (state.settling) return { desired: current, note: 'downscale held: replicas just added are still loading' };
    if (p99Ms !== null) {
      // Fewest replicas n whose p99, scaled as queueing scales (p99 x current / n), stays under the margin.
      const fewest = Math.floor((p99Ms * current) / (SLO_DOWNSCALE_BELOW * t) + 1e-9) + 1;
      const guess = (n: number) => `p99 ${ms(p99Ms)} on ${current} would be about ${ms((p99Ms * current) / n)} on ${n}`;
      if (fewest >= current) {
        return { desired: current, note: `downscale held: ${guess(current - 1)}, not under ${SLO_DOWNSCALE_BELOW} x target ${ms(t)}` };
      }
      if (fewest > desired) return { desired: fewest, note: `downscale limited to ${fewest}: ${guess(fewest - 1)}, not under ${SLO_DOWNSCALE_BELOW} x target ${ms(t)}` };
    }
  }
  return { desired, note };
}

/**
 * An upscale cur -> to is due. Judge the previous upscale (did p99 improve?); a stall stops a
 * latency-only upscale (`rayDesired` <= cur) and is reported once.
 */
export function beforeUpscale(view: SloView, current: number, to: number, rayDesired: number, targetMs: number): { to: number; state: SloState; stall: SloStall | null } {
  let state = view.state;
  let stall: SloStall | null = null;
  const last = state.lastUp;
  if (last && last.p99Ms !== null && view.p99Ms !== null && view.count >= SLO_MIN_SAMPLES && !state.stalled) {
    const improved = view.p99Ms < last.p99Ms * (1 - SLO_MIN_IMPROVEMENT);
    state = { ...state, flat: improved ? 0 : state.flat + 1 };
    if (state.flat >= SLO_STALL_STEPS) {
      stall = { p99Ms: view.p99Ms, targetMs, from: state.chainFrom ?? last.from, to: current };
      state = { ...state, stalled: stall };
    }
  }
  if (state.stalled) to = Math.min(to, Math.max(rayDesired, current));
  return { to, state, stall };
}

/** The state after the count changed from `current` to `to` at `now`. */
export function afterChange(state: SloState, p99Ms: number | null, current: number, to: number, now: number): SloState {
  if (to < current) return { ...INITIAL_SLO_STATE, since: now, settling: true };
  return { ...state, since: now, settling: true, chainFrom: state.chainFrom ?? current, lastUp: { from: current, to, p99Ms } };
}

/** The event a stall produces (once). */
export function stallMessage(deployment: string, s: SloStall): string {
  return `p99 ${ms(s.p99Ms)} (target ${ms(s.targetMs)}) did not improve after scaling ${s.from} -> ${s.to}; not adding more replicas for ${deployment} on latency`;
}

/**
 * A latency target as typed on the command line: `200ms`, `0.2s`, `1.5 s`. Returns milliseconds;
 * throws a message naming the accepted form for anything else (no unit, 0, negative, not a number).
 */
export function parseLatencyTarget(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)\s*$/i.exec(text);
  const value = m ? Number(m[1]) * (m[2].toLowerCase() === 's' ? 1000 : 1) : NaN;
  if (!m || !Number.isFinite(value) || value <= 0) {
    throw new Error(`a latency target must be a duration above 0 with its unit, like 200ms or 0.5s (got '${text}')`);
  }
  return Math.round(value * 1000) / 1000;
}
