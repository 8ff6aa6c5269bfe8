// The automated canary analysis as a loop of its own (as Flagger runs beside Kubernetes): once a
// second, each endpoint with a running analysis is judged (canary-analysis.ts, PURE) and the
// verdict becomes a desired-state change through the canary commands. Its state lives in SQLite,
// so a daemon restart resumes it.
import type { Store } from '../control/store.js';
import { analyze, type AnalysisPolicy, type AnalysisState, type CanaryCounters, type DriftWindow } from './canary-analysis.js';
import type { CanaryCommands } from './canary-commands.js';

export class AnalysisLoop {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly store: Store,
    private readonly canary: CanaryCommands,
    private readonly counters: (deployment: string) => Promise<CanaryCounters>,
    /** Canary vs primary on captured rows since a time (ms); only asked when a policy has maxDriftPsi. */
    private readonly drift: (primary: string, canary: string, sinceMs: number) => Promise<DriftWindow | null> = async () => null,
  ) {}

  start(periodMs = 1000): void {
    this.timer = setInterval(() => void this.tick(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One tick of every running analysis. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const e of this.store.listEndpoints()) {
        const r = e.rollout as { policy: AnalysisPolicy; state: AnalysisState } | null;
        if (!r?.state || r.state.status !== 'running' || !e.canary) continue;
        try {
          const now = Date.now();
          // Drift is judged only when a step ends: not computed on every tick.
          const stepEnded = now - r.state.stepStartedAt >= r.policy.intervalS * 1000;
          const drift = r.policy.maxDriftPsi !== undefined && stepEnded ? await this.drift(e.primary, e.canary, r.state.stepStartedAt) : null;
          const v = analyze(r.policy, r.state, await this.counters(e.canary), now, drift);
          if (v.action === 'wait') continue;
          this.store.setRollout(e.name, { policy: r.policy, state: v.state });
          this.store.addEvent(`rollout-${v.action}`, e.name, v.reason, { metrics: v.metrics });
          if (v.action === 'advance') await this.canary.setWeight(v.weight, e.name);
          else if (v.action === 'promote') await this.canary.promote(e.name);
          else await this.canary.rollback(e.name, `automated analysis: ${v.reason}`);
        } catch (err) {
          this.store.addEvent('rollout-error', e.name, `analysis step failed: ${(err as Error).message}; trying again next tick`);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
