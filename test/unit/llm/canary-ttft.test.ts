// The canary analysis gates LLM canaries on time to first token as well as error rate.
import { describe, expect, it } from 'vitest';
import { analyze, initialState, validatePolicy, type AnalysisPolicy, type CanaryCounters } from '../../../src/daemon/rollout/canary-analysis.js';

const LE = [0.05, 0.1, 0.25, 0.5, 1, 2.5, Infinity];
const POLICY: AnalysisPolicy = { steps: [50, 100], intervalS: 60, maxErrorRate: 0.01, maxTtftP99Ms: 500, minRequests: 10 };

/** Counters after `n` requests whose first tokens came after `ttftMs` (errors: `errors`). */
function counters(n: number, ttftMs: number | null, errors = 0): CanaryCounters {
  const hist = (ms: number | null) => ({ le: [...LE], counts: LE.map((le) => (ms !== null && ms / 1000 <= le ? n : 0)) });
  return { requests: n, errors, latency: hist(2000), ...(ttftMs === null ? {} : { ttft: hist(ttftMs) }) };
}

describe('canary analysis: the TTFT p99 gate', () => {
  const start = initialState(POLICY, 0, counters(0, 0));
  it.each([
    ['fast first tokens advance', counters(50, 80), 'advance', /TTFT p99 \d+(\.\d+)? ms <= 500 ms/],
    ['slow first tokens roll back', counters(50, 900), 'rollback', /TTFT p99 \d+ ms > 500 ms/],
    ['errors still roll back first', counters(50, 80, 10), 'rollback', /error rate 20% > 1%/],
    ['no TTFT samples on a model that should have them', counters(50, null), 'rollback', /no time-to-first-token samples/],
  ])('%s', (_n, c, action, reason) => {
    const r = analyze(POLICY, start, c, 61_000);
    expect(r.action).toBe(action);
    expect(r.reason).toMatch(reason);
  });

  it('reads --max-ttft-p99 like --max-p99 (ms or a duration)', () => {
    expect(validatePolicy({ steps: '10,100', interval: '30s', maxErrorRate: '1%', maxTtftP99Ms: '500ms' })).toMatchObject({ maxTtftP99Ms: 500 });
    expect(validatePolicy({ steps: '10,100', interval: '30s', maxErrorRate: '1%', maxTtftP99Ms: 0.25 })).toMatchObject({ maxTtftP99Ms: 0.25 });
    expect(() => validatePolicy({ steps: '10,100', interval: '30s', maxErrorRate: '1%', maxTtftP99Ms: -1 })).toThrow(/maxTtftP99Ms must be > 0 ms/);
  });
});

import { decide, INITIAL_AUTOSCALER_STATE, validateAutoscaling } from '../../../src/daemon/fleet/autoscaler.js';

describe('autoscaling LLM deployments on queued tokens', () => {
  const cfg = validateAutoscaling({ min_replicas: 1, max_replicas: 8, target_ongoing_requests: 4, target_queued_tokens: 2000, upscale_delay_s: 0, look_back_period_s: 10 });
  it.each([
    ['few requests, few tokens: hold', { ongoing: 2, queuedTokens: 100 }, 1],
    ['many requests: requests decide', { ongoing: 12, queuedTokens: 0 }, 3],
    ['few requests with long prompts waiting: tokens decide', { ongoing: 4, queuedTokens: 9000 }, 5],
  ])('%s', (_n, sample, target) => {
    const d = decide(cfg, INITIAL_AUTOSCALER_STATE, [{ t: 1, ...sample }], 1, 1, undefined, 0.5);
    expect(d.target).toBe(target);
  });
  it('without target_queued_tokens the policy is Ray\'s own', () => {
    const ray = validateAutoscaling({ max_replicas: 8, target_ongoing_requests: 4, upscale_delay_s: 0 });
    expect(ray.target_queued_tokens).toBeNull();
    expect(decide(ray, INITIAL_AUTOSCALER_STATE, [{ t: 1, ongoing: 4, queuedTokens: 1e6 }], 1, 1, undefined, 0.5).target).toBe(1);
  });
});
