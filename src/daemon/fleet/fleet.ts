// What runs: per deployment, the revision that serves (`active`), a replacement coming up beside
// it (`next`), and revisions draining away. The reconcile loop reads it as observed state and
// tells it what to start, promote, retire and resize; nothing else creates or stops runtimes.
import type { Observed, ObservedDeployment } from '../control/reconcile.js';
import type { DeploymentRow, ReplicaRow } from '../control/state.js';
import { revisionOf } from '../control/settings.js';
import type { AutoscalingConfig } from './autoscaler.js';
import type { Assignment } from './allocator.js';
import { kindOf } from './kinds/index.js';
import { Runtime, type RuntimeDeps, type RuntimeStore } from './runtime.js';

export interface FleetStore extends RuntimeStore {
  listReplicas(deployment: string): ReplicaRow[];
}

interface Slot {
  active: Runtime | null;
  next: Runtime | null;
  /** Drains under way: retired revisions and surplus replicas. */
  retiring: Set<Promise<void>>;
  failures: ObservedDeployment['failures'];
  /** The runtime whose failure was last counted (each failed start counts once). */
  counted: Runtime | null;
  failureMessage: string | null;
}

export class Fleet {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly deps: RuntimeDeps & { store: FleetStore }) {}

  private slot(name: string): Slot {
    let s = this.slots.get(name);
    if (!s) this.slots.set(name, (s = { active: null, next: null, retiring: new Set(), failures: null, counted: null, failureMessage: null }));
    return s;
  }

  /** The observed state for the reconcile step; counts each failed start once. */
  observe(now = Date.now()): Observed {
    const deployments: ObservedDeployment[] = [];
    for (const [name, s] of this.slots) {
      for (const rt of [s.active, s.next]) {
        if (!rt) continue;
        const phase = rt.phase();
        if (phase === 'failed' && s.counted !== rt) {
          s.counted = rt;
          s.failures = { revision: rt.revision, count: s.failures?.revision === rt.revision ? s.failures.count + 1 : 1, at: now };
          s.failureMessage = rt.failed;
        } else if (phase === 'ready' && s.failures?.revision === rt.revision) {
          s.failures = null;
        }
      }
      if (!s.active && !s.next && s.retiring.size === 0 && !s.failures) {
        this.slots.delete(name);
        continue;
      }
      deployments.push({ name, active: s.active?.observe() ?? null, next: s.next?.observe() ?? null, failures: s.failures });
    }
    return { deployments };
  }

  /** The last failed start of a deployment's revision (cleared when that revision becomes ready). */
  failure(name: string): { revision: string; count: number; message: string | null } | null {
    const s = this.slots.get(name);
    return s?.failures ? { revision: s.failures.revision, count: s.failures.count, message: s.failureMessage } : null;
  }

  /** The revision that serves a deployment. */
  active(name: string): Runtime | null {
    return this.slots.get(name)?.active ?? null;
  }

  next(name: string): Runtime | null {
    return this.slots.get(name)?.next ?? null;
  }

  /** Every runtime, replacements and draining ones included (metrics, GPU watchdog, top). */
  *runtimes(): Iterable<Runtime> {
    for (const s of this.slots.values()) {
      if (s.active) yield s.active;
      if (s.next) yield s.next;
    }
  }

  /** Start a revision of `row`: as the one that serves, or as a replacement beside it. */
  start(row: DeploymentRow, role: 'active' | 'next', why: string): Runtime {
    const s = this.slot(row.name);
    const kind = kindOf(row.settings.runtime);
    const revision = revisionOf(row);
    let priors: Array<{ gpu?: Assignment | null; restarts: number }> = [];
    let firstIdx = 0;
    if (role === 'next' && s.active) firstIdx = s.active.set.nextIndex();
    else if (!s.active && s.retiring.size === 0) {
      // A fresh start (daemon start, deploy): replicas left in the store keep their GPU shares and restart counts.
      const rows = this.deps.store.listReplicas(row.name);
      priors = rows.map((r) => ({ gpu: (r.gpu as Assignment | null) ?? null, restarts: r.restarts }));
      for (const r of rows) this.deps.store.deleteReplica(row.name, r.idx);
    } else if (s.active) firstIdx = s.active.set.nextIndex();
    const retry = s.failures?.revision === revision;
    this.deps.store.addEvent(
      'starting', row.name,
      role === 'next'
        ? `starting revision ${revision} beside ${s.active?.revision} (${why}); it takes the traffic once every replica is ready`
        : `starting ${row.settings.replicas} replica(s) (${why})`,
      { revision, kind: kind.name },
    );
    const rt = new Runtime({ row, kind, revision, role, firstIdx, priors, retry }, this.deps);
    if (role === 'next') s.next = rt;
    else s.active = rt;
    return rt;
  }

  /** The replacement is ready: it serves from now on, the old revision drains and stops. */
  cutover(name: string): void {
    const s = this.slot(name);
    const next = s.next;
    if (!next) return;
    const old = s.active;
    s.active = next;
    s.next = null;
    next.promote();
    if (old) {
      this.deps.store.addEvent('switched', name, `revision ${next.revision} serves now; draining revision ${old.revision}`, { from: old.revision, to: next.revision });
      this.retire(s, old, `revision ${old.revision} of ${name} was replaced`);
    }
  }

  /** Give up the replacement (failed, or no longer wanted); the serving revision goes on. */
  discardNext(name: string, why: string): void {
    const s = this.slot(name);
    if (!s.next) return;
    this.deps.store.addEvent('replace-failed', name, `revision ${s.next.revision} discarded: ${why}`);
    this.retire(s, s.next, `revision ${s.next.revision} of ${name} was discarded`);
    s.next = null;
  }

  /** Stop the serving revision and start `row` in its place (a retry, or a failed revision replaced). */
  restart(row: DeploymentRow, why: string): void {
    const s = this.slot(row.name);
    if (s.next) this.discardNext(row.name, why);
    if (s.active) this.retire(s, s.active, `deployment ${row.name} restarts`);
    s.active = null;
    this.start(row, 'active', why);
  }

  /** The deployment is no longer wanted: drain and stop every revision. */
  stop(name: string, why: string): void {
    const s = this.slots.get(name);
    if (!s) return;
    for (const rt of [s.next, s.active]) if (rt) this.retire(s, rt, `deployment ${name} is going away (${why})`);
    s.active = null;
    s.next = null;
    s.failures = null;
  }

  scale(name: string, revision: string, replicas: number, why: string): void {
    const rt = this.revision(name, revision);
    if (!rt) return;
    const s = this.slot(name);
    const done = rt.scaleTo(replicas, why).catch((err: Error) => {
      this.deps.store.addEvent('scale-failed', name, `scaling revision ${revision} to ${replicas}: ${err.message}`);
    });
    s.retiring.add(done);
    void done.then(() => s.retiring.delete(done));
  }

  setAutoscaling(name: string, revision: string, config: AutoscalingConfig | null, replicas: number): void {
    const rt = this.revision(name, revision);
    if (!rt) return;
    rt.setAutoscaling(config, replicas);
    this.deps.store.addEvent('autoscaling', name, config
      ? `autoscaling min ${config.min_replicas}, max ${config.max_replicas}, target ${config.target_ongoing_requests} ongoing requests per replica${config.target_p99_ms != null ? `, p99 under ${config.target_p99_ms} ms` : ''} (in place)`
      : `autoscaling off: fixed at ${replicas} replica(s)`, { autoscaling: config });
  }

  private revision(name: string, revision: string): Runtime | null {
    const s = this.slots.get(name);
    return [s?.active, s?.next].find((r) => r?.revision === revision) ?? null;
  }

  /** GPU room may have appeared: place pending replicas, oldest deployment first. */
  placePending(): void {
    for (const rt of this.runtimes()) rt.placePending();
  }

  private retire(s: Slot, rt: Runtime, reason: string): void {
    const done = rt.stop(reason, true).catch((err: Error) => {
      this.deps.store.addEvent('stop-failed', rt.name, `stopping revision ${rt.revision}: ${err.message}`);
    });
    s.retiring.add(done);
    void done.then(() => {
      s.retiring.delete(done);
      this.deps.onChange();
    });
  }

  /** Resolves once no drain (retired revision, surplus replicas) of this deployment is under way. */
  async whenStopped(name: string): Promise<void> {
    for (;;) {
      const s = this.slots.get(name);
      if (!s || s.retiring.size === 0) {
        if (s && !s.active && !s.next) this.slots.delete(name);
        return;
      }
      await Promise.all([...s.retiring]);
    }
  }

  /** Daemon shutdown: stop everything, keeping replica rows (GPU shares) for the next start. */
  async shutdown(reason: string): Promise<void> {
    const all: Promise<void>[] = [];
    for (const s of this.slots.values()) {
      for (const rt of [s.active, s.next]) if (rt) all.push(rt.stop(reason, false));
      all.push(...s.retiring);
    }
    this.slots.clear();
    await Promise.all(all);
  }
}
