// An endpoint's canary, beyond routing: shadow traffic (mirrored requests, compared answers),
// the automated analysis loop (its state in SQLite), and the per-version numbers of canary status.
import { MlserveError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import { analyze, histogramQuantile, initialState, validatePolicy, type AnalysisPolicy, type AnalysisState, type CanaryCounters } from './canary-analysis.js';
import type { Controller } from '../control/controller.js';
import type { Runtime } from '../fleet/runtime.js';
import { emptyShadowStats, recordShadow, type ShadowStats } from '../dataplane/shadow.js';
import { latencyByDeployment } from '../snapshot.js';

export class CanaryControl {
  private rolling = false;

  constructor(private readonly c: Controller) {}

  /** A canary's cumulative counters: requests and model errors from its queue, latency from metrics. */
  private async canaryCounters(deployment: string): Promise<CanaryCounters> {
    const st = this.c.runtimes.get(deployment)?.dispatcher.snapshot();
    const lat = (await latencyByDeployment(this.c.metrics)).get(deployment) ?? new Map<number, number>();
    const buckets = [...lat.entries()].sort((a, b) => a[0] - b[0]);
    return { requests: st?.requests ?? 0, errors: st?.errors ?? 0, latency: { le: buckets.map((b) => b[0]), counts: buckets.map((b) => b[1]) } };
  }

  /** Start the automated analysis: walk the steps, check each interval, promote or roll back by itself. */
  async startRollout(raw: unknown, endpoint?: string) {
    const e = this.c.canaryEndpoint(endpoint);
    const policy = validatePolicy(raw);
    const state = initialState(policy, Date.now(), await this.canaryCounters(e.canary!));
    this.c.store.setRollout(e.name, { policy, state });
    this.c.route(e.name, e.primary, e.canary, policy.steps[0]);
    this.c.store.addEvent('rollout-started', e.name, `analysis of ${e.canary}: steps ${policy.steps.join(', ')}% every ${policy.intervalS}s, max error rate ${policy.maxErrorRate * 100}%${policy.maxP99Ms ? `, max p99 ${policy.maxP99Ms} ms` : ''}, min ${policy.minRequests} requests`, { policy });
    return this.c.store.getEndpoint(e.name)!;
  }

  /** One tick of every running analysis (state in SQLite: a restart resumes it). */
  async rolloutTick(): Promise<void> {
    if (this.rolling) return;
    this.rolling = true;
    try {
      for (const e of this.c.store.listEndpoints()) {
        const r = e.rollout as { policy: AnalysisPolicy; state: AnalysisState } | null;
        if (!r || r.state.status !== 'running' || !e.canary) continue;
        const v = analyze(r.policy, r.state, await this.canaryCounters(e.canary), Date.now());
        if (v.action === 'wait') continue;
        this.c.store.setRollout(e.name, { policy: r.policy, state: v.state });
        this.c.store.addEvent(`rollout-${v.action}`, e.name, v.reason, { metrics: v.metrics });
        if (v.action === 'advance') this.c.route(e.name, e.primary, e.canary, v.weight);
        else if (v.action === 'promote') await this.c.promote(e.name);
        else await this.c.rollback(e.name, `automated analysis: ${v.reason}`);
      }
    } catch (err) {
      console.error(`rollout: ${(err as Error).message}`);
    } finally {
      this.rolling = false;
    }
  }

  /** Mirror `weight` percent of an endpoint's requests to its canary (answers discarded, compared). */
  setShadow(weight: number, endpoint?: string) {
    const e = this.c.canaryEndpoint(endpoint);
    if (!(weight >= 0 && weight <= 100)) throw new MlserveError('BAD_REQUEST', `shadow share must be 0..100% (got ${weight})`);
    this.c.store.setShadow(e.name, weight);
    this.c.refreshRoutes();
    this.shadowStats.set(e.name, emptyShadowStats());
    this.c.store.addEvent('canary-shadow', e.name, `mirroring ${weight}% of requests to canary ${e.canary}`, { weight });
    return this.c.store.getEndpoint(e.name)!;
  }

  /** After the primary answered: maybe send the same inputs to the canary and compare. */
  shadow(endpoint: string, served: Runtime, inputs: Tensor[], outputs: string[] | undefined, answer: Tensor[]): void {
    const ep = this.c.routes.get(endpoint);
    if (!ep?.canary || !(ep.shadowWeight > 0) || served.row.name !== ep.primary) return;
    if (Math.random() * 100 >= ep.shadowWeight) return;
    const canary = this.c.runtimes.get(ep.canary);
    if (!canary || canary.set.ready().length === 0) return;
    canary.dispatcher.submit(inputs, outputs).then(
      (r) => this.shadowStats.set(endpoint, recordShadow(this.shadowStats.get(endpoint) ?? emptyShadowStats(), answer, r.outputs)),
      () => this.shadowStats.set(endpoint, recordShadow(this.shadowStats.get(endpoint) ?? emptyShadowStats(), answer, null)),
    );
  }

  private readonly shadowStats = new Map<string, ShadowStats>();

  /** Weights, shadow results, the analysis, and per version: req/s, error rate, p50/p99 since the canary started. */
  async canaryStatus() {
    const latency = await latencyByDeployment(this.c.metrics);
    const base = this.canaryBaselines;
    return this.c.store.listEndpoints().filter((e) => e.canary).map((e) => {
      const seconds = e.canaryStartedAt ? Math.max(0.001, (Date.now() - e.canaryStartedAt) / 1000) : 0;
      return {
        endpoint: e.name,
        weight: e.canaryWeight,
        startedAt: e.canaryStartedAt,
        shadow: { weight: e.shadowWeight, ...(this.shadowStats.get(e.name) ?? emptyShadowStats()) },
        rollout: e.rollout,
        versions: [e.primary, e.canary!].map((name) => {
          const rt = this.c.runtimes.get(name);
          const st = rt?.dispatcher.snapshot();
          // Counters and latency since the canary started (the baseline taken then).
          const key = `${e.name}:${e.canaryStartedAt}:${name}`;
          const lat = [...(latency.get(name) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]);
          const now = { requests: st?.requests ?? 0, errors: st?.errors ?? 0, le: lat.map((b) => b[0]), counts: lat.map((b) => b[1]) };
          // No baseline: the deployment started with the canary, or the daemon restarted since (counters restart too).
          const b = base.get(key) ?? { requests: 0, errors: 0, le: now.le, counts: now.counts.map(() => 0) };
          const counts = now.counts.map((c, i) => c - (b.le.length === now.le.length ? b.counts[i] ?? 0 : 0));
          const requests = now.requests - b.requests;
          const q = (p: number) => {
            const v = histogramQuantile(p, now.le, counts);
            return v === null ? null : v * 1000;
          };
          return {
            deployment: name, role: name === e.primary ? 'primary' : 'canary', version: rt?.row.resolved.version ?? '?', ready: rt?.set.ready().length ?? 0,
            requests, errors: now.errors - b.errors, rps: seconds ? requests / seconds : 0, p50Ms: q(0.5), p99Ms: q(0.99),
          };
        }),
      };
    });
  }

  /** The primary's counters when a canary starts, so canary status compares like with like. */
  async captureBaseline(endpoint: string, primary: string): Promise<void> {
    const started = this.c.store.getEndpoint(endpoint)?.canaryStartedAt;
    const st = this.c.runtimes.get(primary)?.dispatcher.snapshot();
    const lat = [...((await latencyByDeployment(this.c.metrics)).get(primary) ?? new Map<number, number>()).entries()].sort((a, b) => a[0] - b[0]);
    this.canaryBaselines.set(`${endpoint}:${started}:${primary}`, { requests: st?.requests ?? 0, errors: st?.errors ?? 0, le: lat.map((b) => b[0]), counts: lat.map((b) => b[1]) });
  }

  /** Counters per version when the canary started. */
  private readonly canaryBaselines = new Map<string, { requests: number; errors: number; le: number[]; counts: number[] }>();

}
