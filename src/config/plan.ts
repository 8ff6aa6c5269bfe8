// What `mlserve apply` must change to make the daemon's desired state match a config file:
// per endpoint, the primary deployment (create, replace by another deployment, update in place,
// scale), its canary (add, remove, replace, update, weight, shadow), its rollout policy; endpoints
// missing from the file are deleted only with --prune, else listed and left alone. Every change of
// a running deployment happens without downtime (the reconcile loop replaces revisions
// blue-green). PURE: the same inputs give the same plan.
import { AUTOSCALING_DEFAULTS, type AutoscalingConfig } from '../daemon/fleet/autoscaler.js';
import type { AnalysisPolicy } from '../daemon/rollout/canary-analysis.js';
import {
  FIELDS, currentSource, currentToDesired, type CurrentDeployment, type CurrentEndpoint, type CurrentState, type DesiredCanary,
  type DesiredDeployment, type DesiredEndpoint, type DesiredSettings,
} from './desired.js';

export type ActionKind = 'create' | 'delete' | 'unmanaged' | 'replace' | 'update' | 'scale' | 'canary' | 'rollout';

/** One row of the plan as shown: what happens to which endpoint and deployment, and what differs. */
export interface PlanAction {
  action: ActionKind;
  endpoint: string;
  /** The deployment acted on (null when the daemon will name it). */
  deployment: string | null;
  changes: string[];
}

/** What happens to one deployment slot (an endpoint's primary, or its canary). */
export type DeploymentOp =
  | { op: 'none' }
  /** A new deployment (its model is resolved first). */
  | { op: 'create'; want: DesiredDeployment }
  /** Another model or name: a new deployment replaces `current` once ready (in place when it resolves to the same name). */
  | { op: 'replace'; want: DesiredDeployment; current: string }
  /** Same deployment, new settings (a new revision, blue-green) and, when `resolve`, a new model. */
  | { op: 'update'; want: DesiredDeployment; current: string; resolve: boolean }
  | { op: 'remove'; current: string };

export interface EndpointPlan {
  endpoint: string;
  /** Delete the whole endpoint (only with --prune). */
  remove?: boolean;
  primary: DeploymentOp;
  canary: DeploymentOp;
  /** The canary's traffic and shadow shares when the file has a canary. */
  weight?: number;
  shadow?: number;
  /** A new rollout policy (null: remove it), when it changes. */
  rollout?: { policy: AnalysisPolicy | null };
}

export interface Plan {
  actions: PlanAction[];
  endpoints: EndpointPlan[];
}

type NumField = (typeof FIELDS)[number];
const gpuHundredths = (g: number | undefined) => (g ? Math.round(g * 100) : 0);
const norm = (f: NumField, v: number | undefined) => (f.key === 'gpus' ? gpuHundredths(v) : (v ?? ('def' in f ? f.def : undefined)));
const show = (f: NumField, v: number | undefined) => {
  const fmt = (n: number) => ('show' in f ? f.show(n) : String(n));
  if (v !== undefined) return fmt(v);
  return 'def' in f ? `${fmt(f.def)} (default)` : 'default';
};
const AUTOSCALING_KEYS = Object.keys(AUTOSCALING_DEFAULTS) as Array<keyof AutoscalingConfig>;
const autoVal = (a: Partial<AutoscalingConfig>, k: keyof AutoscalingConfig) => (a[k] === undefined ? AUTOSCALING_DEFAULTS[k] : a[k]);
const bounds = (a: AutoscalingConfig) =>
  `autoscaling_config (min_replicas ${a.min_replicas}, max_replicas ${a.max_replicas}, target_ongoing_requests ${a.target_ongoing_requests})`;

/** Differences that need a new revision: the replica kind and every setting but counts and tracking. */
function revisionChanges(want: DesiredSettings, have: DesiredSettings): string[] {
  const out: string[] = [];
  // Unset in the file: the runtime follows the model's flavors (whatever runs is right).
  if (want.runtime !== undefined && want.runtime !== (have.runtime ?? 'onnx')) out.push(`runtime ${have.runtime ?? 'onnx'} -> ${want.runtime}`);
  if (want.envManager !== undefined && want.envManager !== have.envManager) out.push(`env_manager ${have.envManager ?? 'auto'} -> ${want.envManager}`);
  const warm = (s: DesiredSettings) => (s.warmup === false ? 'off' : 'on');
  if (warm(want) !== warm(have)) out.push(`warmup ${warm(have)} -> ${warm(want)}`);
  const pipe = (s: DesiredSettings) => (s.pipeline ? JSON.stringify(s.pipeline) : 'none');
  if (pipe(want) !== pipe(have)) out.push(want.pipeline ? (have.pipeline ? 'pipeline changed' : 'pipeline added') : 'pipeline removed');
  for (const f of FIELDS) {
    if (norm(f, want[f.key]) !== norm(f, have[f.key])) out.push(`${f.label} ${show(f, have[f.key])} -> ${show(f, want[f.key])}`);
  }
  return out;
}

/** Replica count / autoscaling differences (changed in place). */
function scaleChanges(want: DesiredSettings, have: DesiredSettings): string[] {
  const wa = want.autoscaling;
  const ha = have.autoscaling;
  if (!wa && !ha) {
    const w = want.replicas ?? 1;
    const h = have.replicas ?? 1;
    return w === h ? [] : [`num_replicas ${h} -> ${w}`];
  }
  if (wa && !ha) return [`num_replicas ${have.replicas ?? 1} -> ${bounds(wa)}`];
  if (!wa && ha) return [`autoscaling_config -> num_replicas ${want.replicas ?? 1}`];
  return AUTOSCALING_KEYS.filter((k) => autoVal(wa!, k) !== autoVal(ha!, k)).map((k) => `autoscaling_config.${k} ${autoVal(ha!, k)} -> ${autoVal(wa!, k)}`);
}

function trackChanges(want: DesiredSettings, have: DesiredSettings): string[] {
  if (want.trackIntervalS === have.trackIntervalS) return [];
  const s = (v: number | undefined) => (v === undefined ? 'off' : `${v}s`);
  return [`track_interval_s ${s(have.trackIntervalS)} -> ${s(want.trackIntervalS)}`];
}

/** What a new deployment will run, for the CHANGE column. */
export function summary(d: DesiredDeployment): string[] {
  const r = d.request;
  const out = [`model ${d.source}`, r.autoscaling ? bounds(r.autoscaling) : `num_replicas ${r.replicas ?? 1}`];
  if (r.runtime) out.push(`runtime ${r.runtime}`);
  for (const f of FIELDS) if (r[f.key] !== undefined) out.push(`${f.label} ${show(f, r[f.key])}`);
  if (r.warmup === false) out.push('warmup off');
  if (r.pipeline) out.push(`pipeline ${[...r.pipeline.pre, ...r.pipeline.post].map((s) => s.kind).join(' > ')}`);
  if (r.trackIntervalS !== undefined) out.push(`track_interval_s ${r.trackIntervalS}`);
  return out;
}

/** Compare one desired deployment with the one running in its place. */
function compare(want: DesiredDeployment, have: CurrentDeployment): { op: DeploymentOp; kind: ActionKind | null; changes: string[] } {
  const h = currentToDesired(have);
  const renamed = want.name !== undefined && want.name !== have.name;
  const moved = h.source !== want.source;
  const rev = revisionChanges(want.request, h.request);
  const scale = scaleChanges(want.request, h.request);
  const track = trackChanges(want.request, h.request);
  if (renamed || (moved && want.name === undefined)) {
    const changes = [renamed ? `deployment ${have.name} -> ${want.name}` : '', moved ? `model ${h.source} -> ${want.source}` : '', ...rev, ...scale, ...track].filter(Boolean);
    return { op: { op: 'replace', want, current: have.name }, kind: 'replace', changes };
  }
  if (moved || rev.length || track.length) {
    return { op: { op: 'update', want, current: have.name, resolve: moved }, kind: 'update', changes: [...(moved ? [`model ${h.source} -> ${want.source}`] : []), ...rev, ...scale, ...track] };
  }
  if (scale.length) return { op: { op: 'update', want, current: have.name, resolve: false }, kind: 'scale', changes: scale };
  return { op: { op: 'none' }, kind: null, changes: [] };
}

/** A policy as a canonical string (key order does not matter). */
const policyKey = (p: AnalysisPolicy | undefined | null) => (p ? JSON.stringify(Object.keys(p).sort().map((k) => [k, (p as unknown as Record<string, unknown>)[k]])) : '');

function canaryPlan(e: DesiredEndpoint, cur: CurrentEndpoint | undefined, byName: Map<string, CurrentDeployment>, ep: EndpointPlan, actions: PlanAction[]): void {
  const want: DesiredCanary | undefined = e.canary;
  const have = cur?.canary ? byName.get(cur.canary) : undefined;
  const row = (deployment: string | null, changes: string[]) => actions.push({ action: 'canary', endpoint: e.endpoint, deployment, changes });
  if (!want) {
    if (have) {
      ep.canary = { op: 'remove', current: have.name };
      row(have.name, [`remove canary ${have.name} (serves ${currentSource(have)})`]);
    }
    return;
  }
  ep.weight = want.weight;
  ep.shadow = want.shadow;
  const shares: string[] = [];
  if (!have) {
    ep.canary = { op: 'create', want };
    row(want.name ?? null, [`add canary at ${want.weight}%${want.shadow ? `, shadow ${want.shadow}%` : ''}: ${summary(want).join(', ')}`]);
    return;
  }
  if (cur!.canaryWeight !== want.weight) shares.push(`weight ${cur!.canaryWeight}% -> ${want.weight}%`);
  if (cur!.shadowWeight !== want.shadow) shares.push(`shadow ${cur!.shadowWeight}% -> ${want.shadow}%`);
  const c = compare(want, have);
  ep.canary = c.op;
  if (c.kind || shares.length) row(have.name, [...c.changes, ...shares]);
}

/**
 * The plan that makes `current` match `desired`. Endpoints in the file are compared one by one (a
 * pending blue-green replacement counts as the primary it will become); endpoints not in the file
 * are deleted with `prune`, else listed as unmanaged and left alone. A file that `mlserve config`
 * printed, or one just applied, plans nothing.
 */
export function plan(desired: DesiredEndpoint[], current: CurrentState, opts: { prune?: boolean } = {}): Plan {
  const byName = new Map(current.deployments.map((d) => [d.name, d]));
  const endpoints = new Map(current.endpoints.map((e) => [e.name, e]));
  const actions: PlanAction[] = [];
  const eps: EndpointPlan[] = [];
  const inFile = new Set(desired.map((d) => d.endpoint));
  for (const e of current.endpoints) {
    if (inFile.has(e.name)) continue;
    const serves = [e.primary, e.canary].filter((x): x is string => !!x);
    const what = `(serves ${serves.map((n) => (byName.get(n) ? currentSource(byName.get(n)!) : n)).join(', ')})`;
    if (opts.prune) {
      actions.push({ action: 'delete', endpoint: e.name, deployment: serves.join(', '), changes: [`endpoint not in the file ${what}`] });
      eps.push({ endpoint: e.name, remove: true, primary: { op: 'none' }, canary: { op: 'none' } });
    } else {
      actions.push({ action: 'unmanaged', endpoint: e.name, deployment: serves.join(', '), changes: [`not in the file ${what}; left alone (mlserve apply --prune deletes it)`] });
    }
  }
  for (const d of desired) {
    const cur = endpoints.get(d.endpoint);
    const ep: EndpointPlan = { endpoint: d.endpoint, primary: { op: 'none' }, canary: { op: 'none' } };
    const p = cur ? (byName.get(cur.nextPrimary ?? cur.primary) ?? byName.get(cur.primary)) : undefined;
    if (!p) {
      ep.primary = { op: 'create', want: d.primary };
      actions.push({ action: 'create', endpoint: d.endpoint, deployment: d.primary.name ?? null, changes: [`new endpoint: ${summary(d.primary).join(', ')}`] });
    } else {
      const c = compare(d.primary, p);
      ep.primary = c.op;
      if (c.kind) actions.push({ action: c.kind, endpoint: d.endpoint, deployment: p.name, changes: c.changes });
    }
    canaryPlan(d, cur, byName, ep, actions);
    const had = (cur?.rollout as { policy?: AnalysisPolicy } | null | undefined)?.policy;
    if (policyKey(had) !== policyKey(d.rollout)) {
      ep.rollout = { policy: d.rollout ?? null };
      actions.push({
        action: 'rollout', endpoint: d.endpoint, deployment: null,
        changes: [d.rollout ? `rollout policy: steps ${d.rollout.steps.join(',')}% every ${d.rollout.intervalS}s, max error rate ${d.rollout.maxErrorRate}` : 'rollout policy removed'],
      });
    }
    if (ep.primary.op !== 'none' || ep.canary.op !== 'none' || ep.rollout || (cur && (ep.weight !== undefined && (ep.weight !== cur.canaryWeight || ep.shadow !== cur.shadowWeight)))) eps.push(ep);
  }
  return { actions, endpoints: eps };
}

/** Rows that change something (unmanaged endpoints are only listed). */
export const changesOf = (p: Plan): PlanAction[] => p.actions.filter((a) => a.action !== 'unmanaged');

/** One line per action for the CHANGE column. */
export const describeChange = (a: PlanAction): string => a.changes.join('; ');
