// The control plane's decision: compare what the operator asked for (desired state, from the
// store) with what runs (observed state, from the fleet) and list the actions that move the one
// towards the other. The reconcile loop (reconciler.ts) calls it every pass and carries out the
// actions; this file decides. PURE: time comes in as an argument, no I/O.
//
// A deployment runs as one *revision* (a hash of everything that needs new replica processes:
// model, kind, threads, batching, GPUs, health checks). A change of revision is a blue-green
// replacement: the new revision starts beside the serving one (`next`), takes the traffic once
// every replica is ready (`cutover`), and the old one drains. Replica counts and autoscaling bounds
// change in place. An endpoint may also be replaced by another deployment (`nextPrimary`, from
// deploy --replace, a new version in apply or registry tracking): it switches once that
// deployment is ready, and the old deployment is removed.
import type { AutoscalingConfig } from '../fleet/autoscaler.js';

export interface DesiredDeployment {
  name: string;
  endpoint: string;
  revision: string;
  /** The fixed replica count (when autoscaling is null). */
  replicas: number;
  autoscaling: AutoscalingConfig | null;
}

export interface DesiredEndpoint {
  name: string;
  primary: string;
  canary: string | null;
  /** A deployment that takes over as primary once it is ready (blue-green). */
  nextPrimary: string | null;
}

export interface Desired {
  deployments: DesiredDeployment[];
  endpoints: DesiredEndpoint[];
}

export type Phase = 'starting' | 'pending' | 'ready' | 'failed' | 'unhealthy';

export interface ObservedRevision {
  revision: string;
  phase: Phase;
  /** The replica count it runs towards (fixed, or the autoscaler's current decision). */
  replicas: number;
  autoscaling: AutoscalingConfig | null;
  /** When it was started (ms). */
  startedAt: number;
}

export interface ObservedDeployment {
  name: string;
  /** The revision that serves (or failed to). */
  active: ObservedRevision | null;
  /** A replacement revision coming up beside it. */
  next: ObservedRevision | null;
  /** Failed starts of one revision in a row, and when the last one failed (ms). */
  failures: { revision: string; count: number; at: number } | null;
}

export interface Observed {
  deployments: ObservedDeployment[];
}

export type Action =
  | { kind: 'start'; deployment: string; role: 'active' | 'next'; why: string }
  | { kind: 'cutover'; deployment: string }
  | { kind: 'discard-next'; deployment: string; why: string }
  | { kind: 'restart'; deployment: string; why: string }
  | { kind: 'stop'; deployment: string; why: string }
  | { kind: 'scale'; deployment: string; revision: string; replicas: number }
  | { kind: 'autoscaling'; deployment: string; revision: string; config: AutoscalingConfig | null; replicas: number }
  | { kind: 'switch-primary'; endpoint: string; from: string; to: string }
  | { kind: 'abandon-replacement'; endpoint: string; deployment: string; why: string };

/** How long to wait before starting a revision again after it failed `count` times in a row. */
export function retryDelayMs(count: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, count - 1));
}

/** A replacement deployment that has not become ready in this long is given up. */
export const REPLACE_DEADLINE_MS = 600_000;

/** Autoscaling configs compared field by field (key order does not matter). */
const canonical = (c: AutoscalingConfig | null) => (c ? JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k as keyof AutoscalingConfig]])) : 'null');
const sameConfig = (a: AutoscalingConfig | null, b: AutoscalingConfig | null) => canonical(a) === canonical(b);

/** Failed starts of `revision` still waiting out their backoff at `now`. */
function backingOff(o: ObservedDeployment, revision: string, now: number): boolean {
  const f = o.failures;
  return f !== null && f.revision === revision && now - f.at < retryDelayMs(f.count);
}

/** Bring a running revision's replica count or autoscaling bounds to what is desired, in place. */
function resize(d: DesiredDeployment, r: ObservedRevision): Action | null {
  if (!sameConfig(d.autoscaling, r.autoscaling)) {
    return { kind: 'autoscaling', deployment: d.name, revision: r.revision, config: d.autoscaling, replicas: d.autoscaling ? r.replicas : d.replicas };
  }
  if (!d.autoscaling && r.replicas !== d.replicas) return { kind: 'scale', deployment: d.name, revision: r.revision, replicas: d.replicas };
  return null;
}

function deploymentActions(d: DesiredDeployment, o: ObservedDeployment | undefined, now: number): Action[] {
  if (!o || (!o.active && !o.next)) {
    if (o && backingOff(o, d.revision, now)) return [];
    return [{ kind: 'start', deployment: d.name, role: 'active', why: o?.failures ? `retry ${o.failures.count + 1}` : 'deploy' }];
  }
  const out: Action[] = [];
  const active = o.active;
  if (!active) {
    // Only a replacement runs (its predecessor is gone): it serves as it is.
    return [{ kind: 'cutover', deployment: d.name }];
  }
  if (active.revision === d.revision) {
    if (o.next) out.push({ kind: 'discard-next', deployment: d.name, why: 'the running revision is wanted again' });
    if (active.phase === 'failed') {
      if (!backingOff(o, d.revision, now)) out.push({ kind: 'restart', deployment: d.name, why: `retry ${(o.failures?.count ?? 0) + 1} after a failed start` });
      return out;
    }
    const r = resize(d, active);
    if (r) out.push(r);
    return out;
  }
  // The desired revision differs from the one that runs.
  if (active.phase === 'failed') return [{ kind: 'restart', deployment: d.name, why: 'settings changed (the running revision had failed)' }];
  if (!o.next) {
    if (!backingOff(o, d.revision, now)) out.push({ kind: 'start', deployment: d.name, role: 'next', why: 'settings changed: blue-green replacement' });
    return out;
  }
  if (o.next.revision !== d.revision) return [{ kind: 'discard-next', deployment: d.name, why: 'settings changed again' }];
  if (o.next.phase === 'ready') return [{ kind: 'cutover', deployment: d.name }];
  if (o.next.phase === 'failed') return [{ kind: 'discard-next', deployment: d.name, why: 'the new revision failed to start; the old one keeps serving' }];
  const r = resize(d, o.next);
  if (r) out.push(r);
  return out;
}

function endpointActions(e: DesiredEndpoint, desired: Map<string, DesiredDeployment>, observed: Map<string, ObservedDeployment>, now: number): Action[] {
  if (!e.nextPrimary || e.nextPrimary === e.primary) return [];
  const want = desired.get(e.nextPrimary);
  if (!want) return [{ kind: 'abandon-replacement', endpoint: e.name, deployment: e.nextPrimary, why: 'it is no longer deployed' }];
  const o = observed.get(e.nextPrimary);
  const a = o?.active;
  if (o?.failures && o.failures.revision === want.revision && (!a || a.phase === 'failed')) {
    return [{ kind: 'abandon-replacement', endpoint: e.name, deployment: e.nextPrimary, why: 'it failed to start' }];
  }
  if (a && a.revision === want.revision && a.phase === 'ready' && !o!.next) {
    return [{ kind: 'switch-primary', endpoint: e.name, from: e.primary, to: e.nextPrimary }];
  }
  if (a && now - a.startedAt > REPLACE_DEADLINE_MS) {
    return [{ kind: 'abandon-replacement', endpoint: e.name, deployment: e.nextPrimary, why: `not ready after ${REPLACE_DEADLINE_MS / 1000} s` }];
  }
  return [];
}

/**
 * The actions that move `observed` towards `desired` at time `now`, deployments in the order
 * desired lists them, then endpoint switches, then stops of deployments no longer desired.
 * Running it again on the state the actions produce gives no further action (convergence).
 */
export function reconcile(desired: Desired, observed: Observed, now: number): Action[] {
  const want = new Map(desired.deployments.map((d) => [d.name, d]));
  const have = new Map(observed.deployments.map((o) => [o.name, o]));
  const out: Action[] = [];
  for (const d of desired.deployments) out.push(...deploymentActions(d, have.get(d.name), now));
  for (const e of desired.endpoints) out.push(...endpointActions(e, want, have, now));
  for (const o of observed.deployments) {
    if (!want.has(o.name) && (o.active || o.next)) out.push({ kind: 'stop', deployment: o.name, why: 'no longer deployed' });
  }
  return out;
}
