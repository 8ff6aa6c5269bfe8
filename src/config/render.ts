// The config file written back (`mlserve config`): the daemon's desired state in the shape
// `mlserve apply -f` takes, so printing then applying plans nothing. PURE.
import { stringify } from 'yaml';
import { AUTOSCALING_DEFAULTS, type AutoscalingConfig } from '../daemon/fleet/autoscaler.js';
import type { AnalysisPolicy } from '../daemon/rollout/canary-analysis.js';
import { toFilePipeline } from '../pipeline/spec.js';
import { INTS } from './deployment-schema.js';
import type { DesiredDeployment, DesiredEndpoint } from './desired.js';

type FileApplication = { name: string; deployments: Record<string, unknown>[]; canary?: Record<string, unknown>; rollout?: Record<string, unknown> };

/** The file's shape of one desired deployment. */
export function toFileDeployment(d: DesiredDeployment): Record<string, unknown> {
  const r = d.request;
  const out: Record<string, unknown> = {};
  if (d.name !== undefined) out.name = d.name;
  out.model = d.source;
  if (r.runtime) out.runtime = r.runtime;
  if (r.envManager) out.env_manager = r.envManager;
  if (r.autoscaling) {
    const a: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.autoscaling)) {
      if (k === 'min_replicas' || k === 'max_replicas' || k === 'target_ongoing_requests' || v !== AUTOSCALING_DEFAULTS[k as keyof AutoscalingConfig]) a[k] = v;
    }
    out.autoscaling_config = a;
  } else out.num_replicas = r.replicas ?? 1;
  if (r.gpus !== undefined) out.ray_actor_options = { num_gpus: r.gpus };
  for (const [key, spec] of Object.entries(INTS)) {
    if (key !== 'num_replicas' && r[spec.to] !== undefined) out[key] = r[spec.to];
  }
  if (r.requestTimeoutMs !== undefined) out.request_timeout_s = r.requestTimeoutMs / 1000;
  if (r.trackIntervalS !== undefined) out.track_interval_s = r.trackIntervalS;
  if (r.warmup === false) out.warmup = false;
  if (r.pipeline) out.pipeline = toFilePipeline(r.pipeline);
  return out;
}

function toFileRollout(p: AnalysisPolicy): Record<string, unknown> {
  const out: Record<string, unknown> = { steps: p.steps, interval_s: p.intervalS, max_error_rate: p.maxErrorRate };
  if (p.maxP99Ms !== undefined) out.max_p99_ms = p.maxP99Ms;
  out.min_requests = p.minRequests;
  return out;
}

/** The file's shape of these endpoints (one application each). */
export function toFileConfig(desired: DesiredEndpoint[]): { applications: FileApplication[] } {
  return {
    applications: desired.map((d) => {
      const app: FileApplication = { name: d.endpoint, deployments: [toFileDeployment(d.primary)] };
      if (d.canary) app.canary = { ...toFileDeployment(d.canary), weight: d.canary.weight, ...(d.canary.shadow ? { shadow: d.canary.shadow } : {}) };
      if (d.rollout) app.rollout = toFileRollout(d.rollout);
      return app;
    }),
  };
}

/** A whole config file (YAML, with a header comment) for these endpoints. */
export function renderConfig(desired: DesiredEndpoint[], header: string[] = []): string {
  const body = stringify(toFileConfig(desired), { lineWidth: 0 });
  return `${header.map((h) => `# ${h}`.trimEnd()).join('\n')}${header.length ? '\n' : ''}${body}`;
}
