// The reconcile loop: every pass reads the desired state (store), the observed state (fleet),
// asks the pure step (reconcile.ts) what to do, does it, and publishes the routing table for the
// data plane. It runs on a timer and whenever a command wrote desired state (kick). It cannot die:
// an action that throws is an event on its deployment, and the next pass tries again.
import type { Fleet } from '../fleet/fleet.js';
import type { RouteTable } from '../dataplane/routes.js';
import { reconcile, type Action, type Desired } from './reconcile.js';
import { revisionOf } from './settings.js';
import { planThreads, type ThreadPlan } from '../fleet/threads.js';
import type { DeploymentRow } from './state.js';
import type { Store } from './store.js';

/**
 * Deployments as they will run: every setting the operator left out that depends on the machine
 * filled in (CPU threads per replica: the cores shared among the CPU replicas, planThreads).
 */
export function effectiveRows(rows: DeploymentRow[], cores: number): { rows: DeploymentRow[]; threads: Map<string, ThreadPlan> } {
  const threads = planThreads(rows.map((r) => ({
    name: r.name, threads: r.settings.threads, onGpu: !!r.settings.gpus,
    replicas: r.settings.autoscaling ? Math.max(1, r.settings.autoscaling.min_replicas) : r.settings.replicas,
  })), cores);
  return {
    rows: rows.map((r) => (r.settings.threads !== undefined ? r : { ...r, settings: { ...r.settings, threads: threads.get(r.name)!.threads } })),
    threads,
  };
}

/** The desired state as the pure step reads it (rows as they will run: see effectiveRows). */
export function desiredState(rows: DeploymentRow[], store: Pick<Store, 'listEndpoints'>): Desired {
  return {
    deployments: rows.map((r) => ({
      name: r.name, endpoint: r.endpoint, revision: revisionOf(r), replicas: r.settings.replicas, autoscaling: r.settings.autoscaling ?? null,
    })),
    endpoints: store.listEndpoints().map((e) => ({ name: e.name, primary: e.primary, canary: e.canary, nextPrimary: e.nextPrimary })),
  };
}

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private rerun = false;
  private started = 0;
  private finished = 0;
  private waiters: Array<{ after: number; resolve: () => void }> = [];
  private stopped = false;
  /** Threads per replica as last planned (status shows them and why). */
  threads = new Map<string, ThreadPlan>();

  constructor(
    private readonly store: Store,
    private readonly fleet: Fleet,
    private readonly routes: RouteTable,
    /** The cores the daemon may use (affinity and cgroup quota). */
    private readonly cores: number,
    private readonly now: () => number = Date.now,
    private readonly periodMs = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), this.periodMs);
    this.timer.unref();
    void this.pass();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** Desired state changed: run a pass now. Resolves once a pass that began after this call has finished. */
  kick(): Promise<void> {
    const after = this.running ? this.started + 1 : this.started + 1;
    const p = new Promise<void>((resolve) => this.waiters.push({ after, resolve }));
    if (this.running) this.rerun = true;
    else setImmediate(() => void this.pass());
    return p;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    const seq = ++this.started;
    let again = false;
    try {
      const planned = effectiveRows(this.store.listDeployments(), this.cores);
      const rows = planned.rows;
      this.threads = planned.threads;
      this.publishRoutes();
      const actions = reconcile(desiredState(rows, this.store), this.fleet.observe(this.now()), this.now());
      const byName = new Map(rows.map((r) => [r.name, r]));
      for (const a of actions) {
        try {
          if (this.execute(a, byName)) again = true;
        } catch (err) {
          const subject = 'deployment' in a ? a.deployment : a.endpoint;
          console.error(`reconcile: ${a.kind} ${subject}: ${(err as Error).stack ?? err}`);
          this.store.addEvent('reconcile-error', subject, `${a.kind} failed: ${(err as Error).message}; retrying on the next pass`, { action: a });
        }
      }
      this.fleet.placePending();
      if (actions.length) this.publishRoutes();
    } catch (err) {
      console.error(`reconcile: pass failed: ${(err as Error).stack ?? err}`);
      try {
        this.store.addEvent('reconcile-error', 'daemon', `a reconcile pass failed: ${(err as Error).message}`);
      } catch {
        /* the store itself failed; the next pass tries again */
      }
    } finally {
      this.running = false;
      this.finished = seq;
      this.waiters = this.waiters.filter((w) => {
        if (w.after > this.finished) return true;
        w.resolve();
        return false;
      });
      if (this.rerun || again) {
        this.rerun = false;
        setImmediate(() => void this.pass());
      }
    }
  }

  /** Carry out one action; true when it changed desired state (another pass should follow). */
  private execute(a: Action, rows: Map<string, DeploymentRow>): boolean {
    const row = (name: string) => {
      const r = rows.get(name);
      if (!r) throw new Error(`deployment ${name} is not in the store`);
      return r;
    };
    switch (a.kind) {
      case 'start': {
        const r = row(a.deployment);
        const was = this.fleet.active(a.deployment)?.row.settings.threads;
        const why = a.role === 'next' && was !== undefined && was !== r.settings.threads && this.threads.get(a.deployment)?.reason !== 'set by --threads'
          ? `threads per replica ${was} -> ${r.settings.threads}: ${this.threads.get(a.deployment)?.reason}; blue-green replacement`
          : a.why;
        this.fleet.start(r, a.role, why);
        return false;
      }
      case 'cutover':
        this.fleet.cutover(a.deployment);
        return false;
      case 'discard-next':
        this.fleet.discardNext(a.deployment, a.why);
        return false;
      case 'restart':
        this.fleet.restart(row(a.deployment), a.why);
        return false;
      case 'stop':
        this.fleet.stop(a.deployment, a.why);
        return false;
      case 'scale':
        this.fleet.scale(a.deployment, a.revision, a.replicas, 'desired replica count');
        return false;
      case 'autoscaling':
        this.fleet.setAutoscaling(a.deployment, a.revision, a.config, a.replicas);
        return false;
      case 'switch-primary':
        this.store.transaction(() => {
          const e = this.store.getEndpoint(a.endpoint);
          this.store.setRouting(a.endpoint, a.to, e?.canary && e.canary !== a.to ? e.canary : null, e?.canaryWeight ?? 0);
          this.store.setNextPrimary(a.endpoint, null);
          this.store.deleteDeployment(a.from);
          this.store.addEvent('switched', a.endpoint, `all traffic to ${a.to} (blue-green); draining ${a.from}`, { from: a.from, to: a.to });
        });
        return true;
      case 'abandon-replacement':
        this.store.transaction(() => {
          this.store.setNextPrimary(a.endpoint, null);
          this.store.deleteDeployment(a.deployment);
          this.store.addEvent('replace-failed', a.endpoint, `${a.deployment} did not become the primary (${a.why}); the current primary keeps serving`, { deployment: a.deployment });
        });
        return true;
    }
  }

  /** The data plane's routing table from the desired endpoints and the revisions that serve. */
  private publishRoutes(): void {
    this.routes.publish(
      this.store.listEndpoints().map((e) => ({
        endpoint: e.name,
        primary: this.fleet.active(e.primary),
        canary: e.canary ? this.fleet.active(e.canary) : null,
        weight: e.canaryWeight,
        shadow: e.shadowWeight,
      })),
    );
  }
}
