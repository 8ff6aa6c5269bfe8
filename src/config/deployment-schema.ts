// One deployment entry of the config file (an application's primary, or its canary): Ray Serve's
// deployment keys where they mean the same, checked with line and column. PURE.
import type { LineCounter, Node } from 'yaml';
import { validateAutoscaling, AUTOSCALING_DEFAULTS, type AutoscalingConfig } from '../daemon/fleet/autoscaler.js';
import { normalizeFraction } from '../daemon/fleet/allocator.js';
import { KIND_NAMES } from '../daemon/fleet/kinds/index.js';
import { parseModelSource } from '../mlflow/uri.js';
import { parsePipeline } from '../pipeline/spec.js';
import { got, num, type Checker, type Range } from './checker.js';
import type { DesiredDeployment, DesiredSettings } from './desired.js';

/** Whole-number settings: file key -> request key and range (the daemon's own limits). */
export const INTS: Record<string, { to: keyof DesiredSettings } & Range> = {
  num_replicas: { to: 'replicas', min: 1, max: 64 },
  threads: { to: 'threads', min: 1, max: 256 },
  max_batch_size: { to: 'maxBatchSize', min: 1, max: 4096 },
  batch_wait_ms: { to: 'batchWaitMs', min: 0, max: 60_000 },
  max_concurrent_batches: { to: 'maxConcurrentBatches', min: 1, max: 64 },
  max_ongoing_requests: { to: 'maxOngoingRequests', min: 1, max: 100_000 },
  max_queued_requests: { to: 'maxQueuedRequests', min: 1, max: 1_000_000 },
  health_check_period_s: { to: 'healthCheckPeriodS', min: 1, max: 3600 },
  health_check_timeout_s: { to: 'healthCheckTimeoutS', min: 1, max: 3600 },
};
/** Settings in seconds (fractions allowed, in whole milliseconds), sent as milliseconds. */
export const SECONDS: Record<string, { to: keyof DesiredSettings } & Range> = {
  batch_wait_timeout_s: { to: 'batchWaitMs', min: 0, max: 60 },
  request_timeout_s: { to: 'requestTimeoutMs', min: 0.001, max: 3600 },
};
export const DEPLOYMENT_KEYS = [
  'name', 'model', 'runtime', 'env_manager', 'num_replicas', 'autoscaling_config', 'ray_actor_options', 'gpus', 'threads', 'max_batch_size',
  'batch_wait_timeout_s', 'batch_wait_ms', 'max_concurrent_batches', 'max_ongoing_requests', 'max_queued_requests',
  'request_timeout_s', 'health_check_period_s', 'health_check_timeout_s', 'track_interval_s', 'canary_weight', 'warmup', 'pipeline',
];

export function deployment(
  c: Checker, node: unknown, lc: LineCounter, names: Map<string, number>, what = 'a deployment', extraKeys: string[] = [],
): { d: DesiredDeployment; extra: Map<string, [Node, unknown]> } | undefined {
  const entries = c.entries(node, what, [...DEPLOYMENT_KEYS, ...extraKeys], what);
  if (!entries) return undefined;
  const extra = new Map<string, [Node, unknown]>();
  const before = c.issues.length;
  const request: DesiredSettings = {};
  const out: DesiredDeployment = { source: '', request };
  const seen = new Map<string, Node>();
  const exclusive = (a: string, b: string, why: string) => {
    if (seen.has(a) && seen.has(b)) {
      const [, second] = [seen.get(a)!, seen.get(b)!].sort((x, y) => x.range![0] - y.range![0]);
      c.at(second, `${a} and ${b} exclude each other: ${why}`);
    }
  };
  for (const [key, keyNode, value] of entries) {
    seen.set(key, keyNode);
    if (extraKeys.includes(key)) {
      extra.set(key, [keyNode, value]);
    } else if (key === 'name') {
      const n = c.name(keyNode, value, 'a deployment name');
      if (n === undefined) continue;
      const line = lc.linePos(keyNode.range![0]).line;
      if (names.has(n)) c.at(keyNode, `duplicate deployment name '${n}' (first at line ${names.get(n)}); deployment names are unique across endpoints`);
      else names.set(n, line);
      out.name = n;
    } else if (key === 'model') {
      const v = c.scalar(value);
      if (typeof v !== 'string' || v.trim() === '') {
        c.at(keyNode, `model must be a model source: a .onnx file, an MLflow model directory, models:/Name/<version|Stage|latest>, models:/Name@alias or runs:/<run>/<path> (got ${got(value)})`);
        continue;
      }
      try {
        parseModelSource(v);
        out.source = v.trim();
      } catch (err) {
        c.at(keyNode, `model: ${(err as Error).message}`);
      }
    } else if (key in INTS) {
      const r = INTS[key];
      const v = c.number(keyNode, value, key, r, true, `a whole number from ${num(r.min)} to ${num(r.max)}`);
      if (v !== undefined) (request as unknown as Record<string, number>)[r.to] = v;
    } else if (key in SECONDS) {
      const r = SECONDS[key];
      const v = c.number(keyNode, value, key, r, false, `a number of seconds from ${num(r.min)} to ${num(r.max)}, in whole milliseconds`);
      if (v === undefined) continue;
      const ms = v * 1000;
      if (Math.abs(ms - Math.round(ms)) > 1e-6) c.at(keyNode, `${key} must be a number of seconds from ${num(r.min)} to ${num(r.max)}, in whole milliseconds (got ${v})`);
      else (request as unknown as Record<string, number>)[r.to] = Math.round(ms);
    } else if (key === 'gpus') {
      const g = gpus(c, keyNode, value, 'gpus');
      if (g !== undefined) request.gpus = g;
    } else if (key === 'ray_actor_options') {
      const opts = c.entries(value, 'ray_actor_options', ['num_gpus'], 'ray_actor_options');
      for (const [k, kNode, v] of opts ?? []) {
        seen.set('ray_actor_options.num_gpus', kNode);
        const g = gpus(c, kNode, v, `ray_actor_options.${k}`);
        if (g !== undefined) request.gpus = g;
      }
    } else if (key === 'autoscaling_config') {
      const a = autoscaling(c, keyNode, value);
      if (a) request.autoscaling = a;
    } else if (key === 'runtime') {
      const v = c.scalar(value);
      if (typeof v !== 'string' || !KIND_NAMES.includes(v)) c.at(keyNode, `runtime must be one of ${KIND_NAMES.join(', ')} (got ${got(value)})`);
      else request.runtime = v as 'onnx' | 'python';
    } else if (key === 'env_manager') {
      const v = c.scalar(value);
      if (v !== 'local' && v !== 'virtualenv' && v !== 'uv') c.at(keyNode, `env_manager must be local, virtualenv or uv (got ${got(value)}): how a Python model's environment is made, as mlflow models serve --env-manager`);
      else request.envManager = v;
    } else if (key === 'track_interval_s') {
      const v = c.number(keyNode, value, key, { min: 1, max: 86_400 }, true, 'a whole number of seconds from 1 to 86400 (how often to check the registry for a new version of an alias or stage)');
      if (v !== undefined) request.trackIntervalS = v;
    } else if (key === 'warmup') {
      const v = c.scalar(value);
      if (typeof v !== 'boolean') c.at(keyNode, `warmup must be true or false (got ${got(value)}): whether each replica runs one request built from the signature before it reports ready`);
      else if (!v) request.warmup = false;
    } else if (key === 'pipeline') {
      try {
        request.pipeline = parsePipeline((value as Node | null)?.toJSON?.() ?? value);
      } catch (err) {
        c.at(keyNode, (err as Error).message);
      }
    } else if (key === 'canary_weight') {
      const w = c.number(keyNode, value, key, { min: 0, max: 100 }, false, 'a number from 0 to 100');
      if (w !== undefined && w !== 0) c.at(keyNode, `canary_weight ${w}: a canary is the application's canary: mapping (model:, weight:, shadow:), beside deployments:`);
    }
  }
  exclusive('num_replicas', 'autoscaling_config', 'set a fixed num_replicas, or autoscaling_config for load-based scaling');
  exclusive('batch_wait_ms', 'batch_wait_timeout_s', 'give the batch wait once, in milliseconds or in seconds');
  exclusive('gpus', 'ray_actor_options.num_gpus', 'give the GPUs per replica once');
  if (!seen.has('model')) c.at(node, 'a deployment needs model: its model source (a .onnx file, an MLflow model directory, models:/Name/Stage, ...)');
  if (request.replicas === undefined && request.autoscaling === undefined) request.replicas = 1;
  return c.issues.length > before ? undefined : { d: out, extra };
}

function gpus(c: Checker, keyNode: Node, value: unknown, key: string): number | undefined {
  const v = c.number(keyNode, value, key, { min: 0, max: 1024 }, false, 'a number of GPUs per replica: 0, a fraction such as 0.25 or 0.33, or a whole number');
  if (v === undefined || v === 0) return undefined;
  try {
    return normalizeFraction(v);
  } catch (err) {
    c.at(keyNode, `${key}: ${(err as Error).message}`);
    return undefined;
  }
}

function autoscaling(c: Checker, keyNode: Node, value: unknown): AutoscalingConfig | undefined {
  const fields = Object.keys(AUTOSCALING_DEFAULTS);
  const entries = c.entries(value, 'autoscaling_config', fields, 'autoscaling_config');
  if (!entries) return undefined;
  const raw: Record<string, unknown> = {};
  let ok = true;
  for (const [k, kNode, v] of entries) {
    const val = c.scalar(v);
    try {
      if (val === undefined) throw new Error(`autoscaling_config: ${k} must be a single value (got ${got(v)})`);
      // Check the field alone (wide bounds, so min/max are compared only once all are known).
      validateAutoscaling({ min_replicas: 0, max_replicas: Number.MAX_SAFE_INTEGER, [k]: val });
      raw[k] = val;
    } catch (err) {
      c.at(kNode, (err as Error).message);
      ok = false;
    }
  }
  if (!ok) return undefined;
  try {
    return validateAutoscaling(raw);
  } catch (err) {
    c.at(keyNode, (err as Error).message);
    return undefined;
  }
}

