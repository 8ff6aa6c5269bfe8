// An endpoint's canary in numbers: per version requests, errors and latency since the canary
// started (counters baselined when it started), the cumulative counters the analysis reads, and
// the shadow comparison. Reads narrow sources; writes nothing.
import { histogramQuantile, type CanaryCounters } from './canary-analysis.js';
import type { DispatchStats } from '../dataplane/dispatcher.js';
import { emptyShadowStats, type ShadowStats } from '../dataplane/shadow.js';
import type { EndpointRow } from '../control/state.js';

/** Where the numbers come from (the fleet, the metrics registry, the shadow mirror). */
export interface CanaryStatsSources {
  /** Cumulative request-latency buckets per deployment: upper bound (s) -> count. */
  latency(): Promise<Map<string, Map<number, number>>>;
  /** Cumulative time-to-first-token buckets per LLM deployment. */
  ttft?(): Promise<Map<string, Map<number, number>>>;
  /** The serving revision's queue counters, its version and ready replicas. */
  deployment(name: string): { stats: DispatchStats; version: string; ready: number } | undefined;
  shadow(endpoint: string): ShadowStats | undefined;
  endpoints(): EndpointRow[];
}

interface Baseline {
  requests: number;
  errors: number;
  le: number[];
  counts: number[];
}

const sortedBuckets = (m: Map<number, number> | undefined) => [...(m ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]);

export class CanaryStats {
  /** Counters per version when the canary started. */
  private readonly baselines = new Map<string, Baseline>();

  constructor(private readonly src: CanaryStatsSources) {}

  /** A canary's cumulative counters: requests and model errors from its queue, latency from metrics. */
  async counters(deployment: string): Promise<CanaryCounters> {
    const st = this.src.deployment(deployment)?.stats;
    const buckets = sortedBuckets((await this.src.latency()).get(deployment));
    const ttft = this.src.ttft ? (await this.src.ttft()).get(deployment) : undefined;
    const t = ttft ? sortedBuckets(ttft) : null;
    return {
      requests: st?.requests ?? 0, errors: st?.errors ?? 0, latency: { le: buckets.map((b) => b[0]), counts: buckets.map((b) => b[1]) },
      ...(t ? { ttft: { le: t.map((b) => b[0]), counts: t.map((b) => b[1]) } } : {}),
    };
  }

  /** The primary's counters when a canary starts, so canary status compares like with like. */
  async captureBaseline(endpoint: string, primary: string): Promise<void> {
    const started = this.src.endpoints().find((e) => e.name === endpoint)?.canaryStartedAt;
    const c = await this.counters(primary);
    this.baselines.set(`${endpoint}:${started}:${primary}`, { requests: c.requests, errors: c.errors, le: c.latency.le, counts: c.latency.counts });
  }

  /** Weights, shadow results, the analysis, and per version: req/s, error rate, p50/p99 since the canary started. */
  async status(now = Date.now()) {
    const latency = await this.src.latency();
    return this.src.endpoints().filter((e) => e.canary).map((e) => {
      const seconds = e.canaryStartedAt ? Math.max(0.001, (now - e.canaryStartedAt) / 1000) : 0;
      return {
        endpoint: e.name,
        weight: e.canaryWeight,
        startedAt: e.canaryStartedAt,
        shadow: { weight: e.shadowWeight, ...(this.src.shadow(e.name) ?? emptyShadowStats()) },
        rollout: e.rollout,
        versions: [e.primary, e.canary!].map((name) => {
          const d = this.src.deployment(name);
          const lat = sortedBuckets(latency.get(name));
          const cur = { requests: d?.stats.requests ?? 0, errors: d?.stats.errors ?? 0, le: lat.map((b) => b[0]), counts: lat.map((b) => b[1]) };
          // No baseline: the deployment started with the canary, or the daemon restarted since (counters restart too).
          const b = this.baselines.get(`${e.name}:${e.canaryStartedAt}:${name}`) ?? { requests: 0, errors: 0, le: cur.le, counts: cur.counts.map(() => 0) };
          const counts = cur.counts.map((c, i) => c - (b.le.length === cur.le.length ? b.counts[i] ?? 0 : 0));
          const requests = cur.requests - b.requests;
          const q = (p: number) => {
            const v = histogramQuantile(p, cur.le, counts);
            return v === null ? null : v * 1000;
          };
          return {
            deployment: name, role: name === e.primary ? 'primary' : 'canary', version: d?.version ?? '?', ready: d?.ready ?? 0,
            requests, errors: cur.errors - b.errors, rps: seconds ? requests / seconds : 0, p50Ms: q(0.5), p99Ms: q(0.99),
          };
        }),
      };
    });
  }
}
