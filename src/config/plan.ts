// What `mlserve apply` must do to make the daemon match a config file: compare the file's desired
// deployments with the running ones (GET /v1/status) and list creates, deletes, in-place scales
// and replacements, each with what differs. PURE: no I/O; the same inputs give the same plan.
import { AUTOSCALING_DEFAULTS, type AutoscalingConfig } from '../daemon/fleet/autoscaler.js';
import type { DeploymentSettings } from '../daemon/control/store.js';
import type { DesiredDeployment, DesiredSettings } from './schema.js';

/** A running deployment as GET /v1/status reports it (only the fields the plan reads). */
export interface CurrentDeployment {
  name: string;
  endpoint: string;
  modelUri: string;
  /** For local paths, `source` is the absolute path the daemon resolved. */
  resolved?: { kind: string; source?: string } | null;
  settings: DeploymentSettings;
}

/** A POST /v1/deployments body, without the CLI's env and cwd. */
export interface DeployBody extends DesiredSettings {
  source: string;
  endpoint: string;
  name?: string;
}

export type ActionKind = 'create' | 'delete' | 'update' | 'scale';

export interface PlanAction {
  action: ActionKind;
  endpoint: string;
  /** The deployment acted on (create: the file's name, null when the daemon picks it). */
  deployment: string | null;
  /** What differs, one item per setting ("num_replicas 1 -> 2"). */
  changes: string[];
  /** delete, update: what DELETE /v1/deployments/:target removes first. */
  undeploy?: string;
  /** create, update: what POST /v1/deployments deploys. */
  deploy?: DeployBody;
  /** scale: the POST /v1/deployments/:name/scale body. */
  scale?: { replicas: number } | { autoscaling: AutoscalingConfig };
}

type NumKey = Exclude<keyof DesiredSettings, 'replicas' | 'autoscaling' | 'runtime'>;
/**
 * Settings compared for a replacement: file key, and the daemon's default when it does not depend
 * on the model (an unset setting equals its default). max_batch_size and max_ongoing_requests
 * default per model (batchable or not), so there unset only equals unset.
 */
const FIELDS: Array<{ key: NumKey; label: string; def?: number; show?: (n: number) => string }> = [
  { key: 'threads', label: 'threads', def: 1 },
  { key: 'gpus', label: 'num_gpus', def: 0 },
  { key: 'maxBatchSize', label: 'max_batch_size' },
  { key: 'batchWaitMs', label: 'batch_wait_ms', def: 0 },
  { key: 'maxConcurrentBatches', label: 'max_concurrent_batches', def: 1 },
  { key: 'maxOngoingRequests', label: 'max_ongoing_requests' },
  { key: 'maxQueuedRequests', label: 'max_queued_requests', def: 1000 },
  { key: 'requestTimeoutMs', label: 'request_timeout_s', def: 30_000, show: (ms) => String(ms / 1000) },
  { key: 'healthCheckPeriodS', label: 'health_check_period_s', def: 10 },
  { key: 'healthCheckTimeoutS', label: 'health_check_timeout_s', def: 30 },
];
const AUTOSCALING_KEYS = Object.keys(AUTOSCALING_DEFAULTS) as Array<keyof AutoscalingConfig>;

/** The model a running deployment serves, comparable with a file's (absolute) source. */
export function currentSource(c: CurrentDeployment): string {
  return c.resolved?.kind === 'path' && c.resolved.source ? c.resolved.source : c.modelUri;
}

/** A running deployment as the file entry that describes it exactly (`mlserve config`). */
export function currentToDesired(c: CurrentDeployment): DesiredDeployment {
  const s = c.settings;
  const request: DesiredSettings = {};
  if (s.autoscaling) request.autoscaling = { ...AUTOSCALING_DEFAULTS, ...s.autoscaling };
  else request.replicas = s.replicas;
  for (const f of FIELDS) {
    const v = s[f.key];
    if (v !== undefined && v !== null) request[f.key] = v;
  }
  return { endpoint: c.endpoint, name: c.name, source: currentSource(c), request };
}

const gpuHundredths = (g: number | undefined) => (g ? Math.round(g * 100) : 0);
const norm = (f: (typeof FIELDS)[number], v: number | undefined) => (f.key === 'gpus' ? gpuHundredths(v) : (v ?? f.def));
const show = (f: (typeof FIELDS)[number], v: number | undefined) =>
  v === undefined ? (f.def === undefined ? 'default' : `${f.show ? f.show(f.def) : f.def} (default)`) : f.show ? f.show(v) : String(v);
const autoVal = (a: Partial<AutoscalingConfig>, k: keyof AutoscalingConfig) => (a[k] === undefined ? AUTOSCALING_DEFAULTS[k] : a[k]);
const bounds = (a: AutoscalingConfig) =>
  `autoscaling_config (min_replicas ${a.min_replicas}, max_replicas ${a.max_replicas}, target_ongoing_requests ${a.target_ongoing_requests})`;

/** Replacement-worthy differences: everything but the replica count and autoscaling. */
function settingChanges(want: DesiredSettings, have: DesiredSettings): string[] {
  const out: string[] = [];
  for (const f of FIELDS) {
    if (norm(f, want[f.key]) !== norm(f, have[f.key])) out.push(`${f.label} ${show(f, have[f.key])} -> ${show(f, want[f.key])}`);
  }
  return out;
}

/** Replica count / autoscaling differences, and the scale request that makes them true. */
function scaleChanges(want: DesiredSettings, have: DesiredSettings): { changes: string[]; scale?: PlanAction['scale'] } {
  const wa = want.autoscaling;
  const ha = have.autoscaling;
  if (!wa && !ha) {
    const w = want.replicas ?? 1;
    const h = have.replicas ?? 1;
    return w === h ? { changes: [] } : { changes: [`num_replicas ${h} -> ${w}`], scale: { replicas: w } };
  }
  if (wa && !ha) return { changes: [`num_replicas ${have.replicas ?? 1} -> ${bounds(wa)}`], scale: { autoscaling: wa } };
  if (!wa && ha) return { changes: [`autoscaling_config -> num_replicas ${want.replicas ?? 1}`], scale: { replicas: want.replicas ?? 1 } };
  const changes = AUTOSCALING_KEYS.filter((k) => autoVal(wa!, k) !== autoVal(ha!, k)).map(
    (k) => `autoscaling_config.${k} ${autoVal(ha!, k)} -> ${autoVal(wa!, k)}`,
  );
  return changes.length ? { changes, scale: { autoscaling: { ...AUTOSCALING_DEFAULTS, ...wa! } } } : { changes: [] };
}

/** What a new deployment will run, for the plan's CHANGE column. */
function summary(d: DesiredDeployment): string[] {
  const r = d.request;
  const out = [`model ${d.source}`, r.autoscaling ? bounds(r.autoscaling) : `num_replicas ${r.replicas ?? 1}`];
  for (const f of FIELDS) if (r[f.key] !== undefined) out.push(`${f.label} ${show(f, r[f.key])}`);
  return out;
}

const deployBody = (d: DesiredDeployment): DeployBody => ({
  source: d.source, endpoint: d.endpoint, ...(d.name !== undefined ? { name: d.name } : {}), ...d.request,
});

/**
 * The actions that turn `current` into `desired`, in the order to run them: deletes (endpoints
 * and deployments not in the file), updates (a new model, name or any other setting: undeploy,
 * then deploy), creates (new endpoints), scales (only num_replicas or autoscaling_config differ:
 * changed in place). A desired deployment matches the running one on its endpoint (with the same
 * name when the file names it). Settings the file leaves out mean the daemon's defaults, so a
 * file that `mlserve config` printed, or one just applied, plans nothing.
 */
export function plan(desired: DesiredDeployment[], current: CurrentDeployment[]): PlanAction[] {
  const used = new Set<string>();
  const updates: PlanAction[] = [];
  const creates: PlanAction[] = [];
  const scales: PlanAction[] = [];
  for (const d of desired) {
    const onEndpoint = current.filter((c) => c.endpoint === d.endpoint && !used.has(c.name));
    const match = d.name === undefined ? onEndpoint[0] : onEndpoint.find((c) => c.name === d.name);
    const replaced = match ?? onEndpoint[0];
    if (!replaced) {
      creates.push({ action: 'create', endpoint: d.endpoint, deployment: d.name ?? null, changes: [`new endpoint: ${summary(d).join(', ')}`], deploy: deployBody(d) });
      continue;
    }
    used.add(replaced.name);
    const have = currentToDesired(replaced);
    const changes: string[] = [];
    if (!match) changes.push(`deployment ${replaced.name} -> ${d.name}`);
    if (have.source !== d.source) changes.push(`model ${have.source} -> ${d.source}`);
    changes.push(...settingChanges(d.request, have.request));
    const sc = scaleChanges(d.request, have.request);
    if (changes.length > 0) {
      // A replacement starts the new deployment with the file's replica settings anyway.
      const target = current.filter((c) => c.endpoint === replaced.endpoint).length === 1 ? replaced.endpoint : replaced.name;
      updates.push({ action: 'update', endpoint: d.endpoint, deployment: replaced.name, changes: [...changes, ...sc.changes], undeploy: target, deploy: deployBody(d) });
    } else if (sc.scale) {
      scales.push({ action: 'scale', endpoint: d.endpoint, deployment: replaced.name, changes: sc.changes, scale: sc.scale });
    }
  }
  const deletes: PlanAction[] = [];
  const byEndpoint = new Map<string, CurrentDeployment[]>();
  for (const c of current) if (!used.has(c.name)) byEndpoint.set(c.endpoint, [...(byEndpoint.get(c.endpoint) ?? []), c]);
  for (const [endpoint, gone] of byEndpoint) {
    const whole = gone.length === current.filter((c) => c.endpoint === endpoint).length;
    if (whole && gone.length > 0) {
      deletes.push({
        action: 'delete', endpoint, deployment: gone.map((g) => g.name).join(', '),
        changes: [`endpoint not in the file (serves ${gone.map(currentSource).join(', ')})`], undeploy: endpoint,
      });
    } else {
      for (const g of gone) {
        deletes.push({ action: 'delete', endpoint, deployment: g.name, changes: [`deployment not in the file (serves ${currentSource(g)})`], undeploy: g.name });
      }
    }
  }
  return [...deletes, ...updates, ...creates, ...scales];
}

/** One line per action for the CHANGE column. */
export const describeChange = (a: PlanAction): string => a.changes.join('; ');
