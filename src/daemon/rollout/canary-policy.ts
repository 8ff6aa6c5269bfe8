// Parsing and checking an analysis policy (what `mlserve canary start` is given). PURE.
import { badRequest } from '../../errors.js';

export interface AnalysisPolicy {
  /** Canary weights in percent, strictly ascending within 1..100, e.g. [10, 25, 50, 100]. */
  steps: number[];
  /** How long each step lasts before it is judged, in seconds. */
  intervalS: number;
  /** Highest acceptable error rate over a step, a fraction (0.01 = 1%). */
  maxErrorRate: number;
  /** Highest acceptable p99 latency over a step, in ms; no latency check when absent. */
  maxP99Ms?: number;
  /** LLM endpoints: highest acceptable time-to-first-token p99 over a step, in ms. */
  maxTtftP99Ms?: number;
  /** Fewest requests a step must see to be judged; fewer fails the step (as in Flagger). Default 100. */
  minRequests: number;
  /** Highest population stability index allowed between the canary's captured inputs and outputs
   *  and the primary's over a step (the largest over columns); needs payload capture on. */
  maxDriftPsi?: number;
}

/** Fewest requests a step must see when the operator gives no --min-requests. */
export const DEFAULT_MIN_REQUESTS = 100;

export const STEPS_EXAMPLE = 'give ascending weights in percent such as 10,25,50,100';

function stepsProblem(steps: readonly number[]): string | null {
  if (steps.length === 0) return `no steps; ${STEPS_EXAMPLE}`;
  for (let i = 0; i < steps.length; i++) {
    const w = steps[i];
    if (typeof w !== 'number' || !Number.isFinite(w)) return `'${String(w)}' is not a weight; ${STEPS_EXAMPLE}`;
    if (w < 1 || w > 100) return `weight ${w} is outside 1..100 (percent)`;
    if (i > 0 && w <= steps[i - 1]) return `weights must ascend, but ${w} follows ${steps[i - 1]}`;
  }
  return null;
}

/** Parse "10,25,50,100" (a % after a weight is allowed) into ascending weights within 1..100. */
export function parseSteps(text: string): number[] {
  const parts = String(text).split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) throw badRequest(`steps '${text}' is empty; ${STEPS_EXAMPLE}`);
  const steps = parts.map((p) => {
    const n = p === '' ? NaN : Number(p.endsWith('%') ? p.slice(0, -1).trim() : p);
    if (!Number.isFinite(n)) throw badRequest(`steps '${text}': '${p}' is not a weight; ${STEPS_EXAMPLE}`);
    return n;
  });
  const problem = stepsProblem(steps);
  if (problem) throw badRequest(`steps '${text}': ${problem}`);
  return steps;
}

const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
const DURATION_EXAMPLE = 'write e.g. 60s, 2m, 500ms or 1m30s';

/** Parse a duration such as "60s", "2m", "500ms", "1h" or "1m30s" into SECONDS. */
export function parseDuration(text: string): number {
  const s = String(text).trim();
  if (s === '') throw badRequest(`empty duration; ${DURATION_EXAMPLE}`);
  if (/^\d+(\.\d+)?$/.test(s)) throw badRequest(`duration '${text}' has no unit; write ${s}s, ${s}m or ${s}ms`);
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (!m) throw badRequest(`'${text}' is not a duration; ${DURATION_EXAMPLE}`);
    total += Number(m[1]) * UNIT_S[m[2]];
    pos = part.lastIndex;
  }
  return Math.round(total * 1e6) / 1e6;
}

const KNOWN_FIELDS = ['steps', 'intervalS', 'interval', 'maxErrorRate', 'maxP99Ms', 'maxTtftP99Ms', 'minRequests', 'maxDriftPsi'];

/** A number, or a string holding one; undefined otherwise. */
function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v) ?? String(v);
}

/**
 * Check a policy from the CLI, the control API or the store and return it with defaults.
 * Accepts `steps` as an array or "10,25,50,100"; the interval as `intervalS` (seconds, or a
 * duration string) or `interval` ("60s", or seconds); `maxErrorRate` as a fraction or "1%";
 * `maxP99Ms` as ms or a duration ("200ms"). Throws a BAD_REQUEST naming every problem.
 */
export function validatePolicy(raw: unknown): AnalysisPolicy {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw badRequest('invalid canary analysis policy: expected an object with steps, intervalS, maxErrorRate '
      + 'and optionally maxP99Ms and minRequests');
  }
  const r = raw as Record<string, unknown>;
  const problems: string[] = [];
  const attempt = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };

  const unknown = Object.keys(r).filter((k) => !KNOWN_FIELDS.includes(k));
  if (unknown.length > 0) {
    problems.push(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} `
      + `(known: ${KNOWN_FIELDS.join(', ')})`);
  }

  // steps
  let steps: number[] | undefined;
  if (r.steps === undefined) problems.push(`steps is missing; ${STEPS_EXAMPLE}`);
  else if (typeof r.steps === 'string') steps = attempt(() => parseSteps(r.steps as string));
  else if (Array.isArray(r.steps)) {
    const list = r.steps.map(numeric);
    const bad = list.findIndex((n) => n === undefined);
    const problem = bad >= 0 ? `'${String(r.steps[bad])}' is not a weight; ${STEPS_EXAMPLE}` : stepsProblem(list as number[]);
    if (problem) problems.push(`steps ${JSON.stringify(r.steps)}: ${problem}`);
    else steps = list as number[];
  } else problems.push(`steps must be a list of weights or a string; ${STEPS_EXAMPLE}`);

  // interval
  let intervalS: number | undefined;
  if (r.intervalS !== undefined && r.interval !== undefined) problems.push('give interval or intervalS, not both');
  else if (r.intervalS === undefined && r.interval === undefined) problems.push('interval is missing; give intervalS in seconds or interval such as "60s"');
  else {
    const name = r.intervalS !== undefined ? 'intervalS' : 'interval';
    const v = r[name];
    const n = typeof v === 'string' && numeric(v) === undefined ? attempt(() => parseDuration(v)) : numeric(v);
    if (n === undefined) {
      if (typeof v !== 'string') problems.push(`${name} ${show(v)} is not a duration; give seconds or e.g. "60s"`);
    } else if (!Number.isFinite(n) || n <= 0) problems.push(`${name} must be > 0, got ${show(v)}`);
    else intervalS = n;
  }

  // maxErrorRate
  let maxErrorRate: number | undefined;
  if (r.maxErrorRate === undefined) problems.push('maxErrorRate is missing; give a fraction such as 0.01 (= 1%)');
  else {
    const v = r.maxErrorRate;
    const n = typeof v === 'string' && v.trim().endsWith('%') ? (numeric(v.trim().slice(0, -1)) ?? NaN) / 100 : numeric(v);
    if (n === undefined || !Number.isFinite(n)) problems.push(`maxErrorRate ${show(v)} is not a number; give a fraction such as 0.01 (= 1%)`);
    else if (n < 0 || n > 1) problems.push(`maxErrorRate ${show(v)} is outside 0..1; it is a fraction (0.01 = 1%)`);
    else maxErrorRate = n;
  }

  // maxP99Ms and maxTtftP99Ms (optional): ms, or a duration such as "200ms"
  const millis = (key: 'maxP99Ms' | 'maxTtftP99Ms'): number | undefined => {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && numeric(v) === undefined
      ? (() => { const s = attempt(() => parseDuration(v)); return s === undefined ? undefined : s * 1000; })()
      : numeric(v);
    if (n === undefined) {
      if (typeof v !== 'string') problems.push(`${key} ${show(v)} is not a number of milliseconds`);
    } else if (!Number.isFinite(n) || n <= 0) problems.push(`${key} must be > 0 ms, got ${show(v)}`);
    else return n;
    return undefined;
  };
  const maxP99Ms = millis('maxP99Ms');
  const maxTtftP99Ms = millis('maxTtftP99Ms');

  // minRequests (optional)
  let minRequests = DEFAULT_MIN_REQUESTS;
  if (r.minRequests !== undefined && r.minRequests !== null) {
    const n = numeric(r.minRequests);
    if (n === undefined || !Number.isInteger(n) || n < 0) problems.push(`minRequests must be a whole number >= 0, got ${show(r.minRequests)}`);
    else minRequests = n;
  }

  // maxDriftPsi (optional): a PSI such as 0.2 (0.1 is a small shift, 0.25 a large one)
  let maxDriftPsi: number | undefined;
  if (r.maxDriftPsi !== undefined && r.maxDriftPsi !== null) {
    const n = numeric(r.maxDriftPsi);
    if (n === undefined || !(n > 0)) problems.push(`maxDriftPsi must be a number > 0 such as 0.2 (a population stability index), got ${show(r.maxDriftPsi)}`);
    else maxDriftPsi = n;
  }

  if (problems.length > 0) throw badRequest(`invalid canary analysis policy: ${problems.join('; ')}`);
  const policy: AnalysisPolicy = { steps: steps!, intervalS: intervalS!, maxErrorRate: maxErrorRate!, minRequests };
  if (maxP99Ms !== undefined) policy.maxP99Ms = maxP99Ms;
  if (maxTtftP99Ms !== undefined) policy.maxTtftP99Ms = maxTtftP99Ms;
  if (maxDriftPsi !== undefined) policy.maxDriftPsi = maxDriftPsi;
  return policy;
}

// ---------------------------------------------------------------------------------------------
// Metrics over a window

