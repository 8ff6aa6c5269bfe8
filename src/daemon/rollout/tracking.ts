// Registry tracking for every endpoint whose primary was deployed with --track: one Tracker per
// endpoint, made and dropped as the desired state changes (checked once a second). When a tracker
// sees its alias or stage name a new version, the endpoint rolls to it: through the automated
// analysis when the endpoint has a rollout policy, else blue-green. Credentials from the deploy
// that asked for tracking stay in memory only (never in SQLite).
import type { DeployRequest } from '../control/settings.js';
import type { DeploymentRow } from '../control/state.js';
import type { Store } from '../control/store.js';
import type { AnalysisPolicy } from './canary-analysis.js';
import { Tracker } from './tracker.js';
import { splitSecrets } from '../../mlflow/credentials.js';
import { parseModelSource } from '../../mlflow/uri.js';

function modelName(source: string): string | undefined {
  try {
    const s = parseModelSource(source);
    return s.kind === 'registry' ? s.name : undefined;
  } catch {
    return undefined;
  }
}

export interface TrackingDeps {
  store: Store;
  /** Where the credentials of tracked endpoints survive a daemon restart (a 0600 file each). */
  secrets: { save(endpoint: string, secret: Record<string, string>): void; load(endpoint: string): Record<string, string> };
  deploy: (req: DeployRequest) => Promise<DeploymentRow>;
  startRollout: (policy: AnalysisPolicy, endpoint: string) => Promise<unknown>;
}

export class TrackingLoop {
  private readonly trackers = new Map<string, { deployment: string; tracker: Tracker }>();
  private readonly env = new Map<string, Record<string, string>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: TrackingDeps) {}

  /** The MLflow environment (with credentials) of the deploy that asked to track this endpoint. */
  remember(endpoint: string, env: Record<string, string>): void {
    const split = splitSecrets(env);
    const full = { ...split.public, ...split.secret };
    this.env.set(endpoint, full);
    this.deps.secrets.save(endpoint, split.secret);
  }

  start(periodMs = 1000): void {
    this.sync();
    this.timer = setInterval(() => this.sync(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const t of this.trackers.values()) t.tracker.stop();
    this.trackers.clear();
  }

  /**
   * Look at the registry now (a registry webhook said `model` changed; every tracker without a
   * model name): how many trackers look. Polling goes on as before.
   */
  poke(model?: string): number {
    this.sync();
    let n = 0;
    for (const { tracker } of this.trackers.values()) {
      if (model !== undefined && modelName(tracker.source) !== model) continue;
      n++;
      void tracker.tick();
    }
    return n;
  }

  /** One tracker per endpoint whose primary tracks the registry; none for the others. */
  sync(): void {
    const want = new Map<string, DeploymentRow>();
    for (const e of this.deps.store.listEndpoints()) {
      const p = this.deps.store.getDeployment(e.primary);
      // While a canary or a replacement runs, tracking waits (it resumes on whatever then serves).
      if (p?.settings.track && !e.canary && !e.nextPrimary) want.set(e.name, p);
    }
    for (const [endpoint, t] of this.trackers) {
      if (want.get(endpoint)?.name !== t.deployment || t.tracker.stopped) {
        t.tracker.stop();
        this.trackers.delete(endpoint);
      }
    }
    for (const [endpoint, row] of want) if (!this.trackers.has(endpoint)) this.follow(endpoint, row);
  }

  private follow(endpoint: string, row: DeploymentRow): void {
    const t = row.settings.track!;
    const { store } = this.deps;
    // After a restart: where the registry is (stored), its credentials (the 0600 file), and ~/.mlflow/credentials (read by the client).
    const env = this.env.get(endpoint) ?? { ...t.env, ...this.deps.secrets.load(endpoint) };
    const tracker = new Tracker(row.modelUri, env, t.cwd, t.intervalS * 1000, {
      stillPrimary: () => store.getEndpoint(endpoint)?.primary === row.name,
      currentVersion: () => row.resolved.version,
      event: (kind, message, data) => store.addEvent(kind, endpoint, message, data),
      rollTo: async () => {
        const ep = store.getEndpoint(endpoint);
        if (ep?.canary || ep?.nextPrimary) {
          store.addEvent('track-waiting', endpoint, `${ep.canary ? `a canary (${ep.canary})` : `a replacement (${ep.nextPrimary})`} is already running; the new version waits for it to finish`);
          return;
        }
        // The new version gets its own Python environment (its requirements may differ): not the old interpreter.
        const { replicas: _r, track: _t, python: _p, ...rest } = row.settings;
        const policy = (ep?.rollout as { policy?: AnalysisPolicy } | null)?.policy;
        const next = await this.deps.deploy({
          ...rest, replicas: row.settings.replicas, source: row.modelUri, endpoint,
          ...(policy ? { canary: 0 } : { replace: true }),
          trackIntervalS: t.intervalS, env, cwd: t.cwd,
        });
        if (policy) {
          // The endpoint has a rollout policy: analyse the new version once it is ready.
          for (let i = 0; i < 6000 && store.getDeployment(next.name)?.state !== 'ready'; i++) await new Promise((res) => setTimeout(res, 100));
          await this.deps.startRollout(policy, endpoint);
        }
      },
    });
    this.trackers.set(endpoint, { deployment: row.name, tracker });
    tracker.start();
  }
}
