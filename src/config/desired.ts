// The declarative model shared by the config file, `mlserve config` and `mlserve apply`: what an
// operator wants per endpoint (a primary deployment, optionally a canary with its weight and
// shadow share, a rollout policy), and the daemon's state read the same way. PURE.
import { AUTOSCALING_DEFAULTS } from '../daemon/fleet/autoscaler.js';
import type { AnalysisPolicy } from '../daemon/rollout/canary-analysis.js';
import type { DeploymentSettings } from '../daemon/control/state.js';

/** The settings a file gives one deployment, in the control API's names (trackIntervalS: follow the registry). */
export type DesiredSettings = Partial<Omit<DeploymentSettings, 'track' | 'python'>> & { trackIntervalS?: number };

export interface DesiredDeployment {
  /** Unset: the daemon names it <endpoint>-v<version>. */
  name?: string;
  /** The model source; local paths are absolute when the file was parsed with a baseDir. */
  source: string;
  request: DesiredSettings;
}

export interface DesiredCanary extends DesiredDeployment {
  /** Percent of the endpoint's traffic (0..100). */
  weight: number;
  /** Percent of requests mirrored to it, answers discarded (0..100). */
  shadow: number;
}

export interface DesiredEndpoint {
  endpoint: string;
  primary: DesiredDeployment;
  canary?: DesiredCanary;
  /** The automated analysis policy (used by mlserve canary start's loop and by --track rollouts). */
  rollout?: AnalysisPolicy;
}

/** A deployment as GET /v1/status reports it (only the fields the plan reads). */
export interface CurrentDeployment {
  name: string;
  endpoint: string;
  modelUri: string;
  /** For local paths, `source` is the absolute path the daemon resolved. */
  resolved?: { kind: string; source?: string } | null;
  settings: DeploymentSettings;
}

/** An endpoint as GET /v1/status reports it. */
export interface CurrentEndpoint {
  name: string;
  primary: string;
  canary: string | null;
  canaryWeight: number;
  shadowWeight: number;
  rollout: unknown;
  nextPrimary?: string | null;
}

export interface CurrentState {
  endpoints: CurrentEndpoint[];
  deployments: CurrentDeployment[];
}

/**
 * Settings compared for a new revision: file key, and the daemon's default when it does not depend
 * on the model (an unset setting equals its default). max_batch_size and max_ongoing_requests
 * default per model (batchable or not) and max_concurrent_batches per replica kind and threads
 * (ONNX on CPU: one per engine), so there unset only equals unset.
 */
export const FIELDS = [
  { key: 'threads', label: 'threads', def: 1 },
  { key: 'gpus', label: 'num_gpus', def: 0 },
  { key: 'maxBatchSize', label: 'max_batch_size' },
  { key: 'batchWaitMs', label: 'batch_wait_ms', def: 0 },
  { key: 'maxConcurrentBatches', label: 'max_concurrent_batches' },
  { key: 'maxOngoingRequests', label: 'max_ongoing_requests' },
  { key: 'maxQueuedRequests', label: 'max_queued_requests', def: 1000 },
  { key: 'requestTimeoutMs', label: 'request_timeout_s', def: 30_000, show: (ms: number) => String(ms / 1000) },
  { key: 'healthCheckPeriodS', label: 'health_check_period_s', def: 10 },
  { key: 'healthCheckTimeoutS', label: 'health_check_timeout_s', def: 30 },
] as const satisfies ReadonlyArray<{ key: keyof DeploymentSettings; label: string; def?: number; show?: (n: number) => string }>;

/** The model a running deployment serves, comparable with a file's (absolute) source. */
export function currentSource(c: CurrentDeployment): string {
  return c.resolved?.kind === 'path' && c.resolved.source ? c.resolved.source : c.modelUri;
}

/** A running deployment as the file entry that describes it exactly. */
export function currentToDesired(c: CurrentDeployment): DesiredDeployment {
  const s = c.settings;
  const request: DesiredSettings = {};
  if (s.autoscaling) request.autoscaling = { ...AUTOSCALING_DEFAULTS, ...s.autoscaling };
  else request.replicas = s.replicas;
  if (s.runtime && s.runtime !== 'onnx') request.runtime = s.runtime;
  if (s.envManager) request.envManager = s.envManager;
  if (s.warmup === false) request.warmup = false;
  for (const f of FIELDS) {
    const v = s[f.key];
    if (v !== undefined && v !== null) request[f.key] = v;
  }
  if (s.track) request.trackIntervalS = s.track.intervalS;
  if (s.pipeline) request.pipeline = s.pipeline;
  return { name: c.name, source: currentSource(c), request };
}

/**
 * The daemon's state as the file that describes it (`mlserve config`): per endpoint the deployment
 * it is going to serve (a pending blue-green replacement counts as done), its canary with weight
 * and shadow share, its rollout policy.
 */
export function stateToDesired(state: CurrentState): DesiredEndpoint[] {
  const byName = new Map(state.deployments.map((d) => [d.name, d]));
  const out: DesiredEndpoint[] = [];
  for (const e of state.endpoints) {
    const p = byName.get(e.nextPrimary ?? e.primary) ?? byName.get(e.primary);
    if (!p) continue;
    const d: DesiredEndpoint = { endpoint: e.name, primary: currentToDesired(p) };
    const c = e.canary ? byName.get(e.canary) : undefined;
    if (c) d.canary = { ...currentToDesired(c), weight: e.canaryWeight, shadow: e.shadowWeight };
    const policy = (e.rollout as { policy?: AnalysisPolicy } | null)?.policy;
    if (policy) d.rollout = policy;
    out.push(d);
  }
  return out;
}
