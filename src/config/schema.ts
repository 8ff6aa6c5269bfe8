// The declarative config file (`mlserve apply -f mlserve.yaml`): Ray Serve's config format where
// the concepts match (applications -> endpoints, deployments, num_replicas, autoscaling_config,
// ray_actor_options.num_gpus, max_ongoing_requests, health_check_*), checked by a small
// hand-written schema whose every error names the line and column and what is accepted. PURE.
import type { DeploymentSettings } from '../daemon/control/store.js';
import { resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document, type Node, type Pair } from 'yaml';
import { AUTOSCALING_DEFAULTS, validateAutoscaling, type AutoscalingConfig } from '../daemon/fleet/autoscaler.js';
import { normalizeFraction } from '../daemon/fleet/allocator.js';
import { parseModelSource } from '../mlflow/uri.js';

/**
 * The settings a file gives one deployment, in the control API's (DeployRequest) names; `replicas`
 * is 1 when neither num_replicas nor autoscaling_config is set, and `autoscaling` has Ray's
 * defaults filled in.
 */
export type DesiredSettings = Partial<Omit<DeploymentSettings, 'track'>>;

/** One deployment the file asks for. */
export interface DesiredDeployment {
  endpoint: string;
  /** Unset: the daemon names it <endpoint>-v<version>. */
  name?: string;
  /** The model source; local paths are absolute when parseConfig had a baseDir. */
  source: string;
  request: DesiredSettings;
}

export interface ConfigIssue {
  line: number;
  col: number;
  message: string;
}

export interface ParsedConfig {
  desired: DesiredDeployment[];
  issues: ConfigIssue[];
}

/** What the daemon accepts as an endpoint or deployment name. */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const NAME_TEXT = "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters";

type Range = { min: number; max: number };
/** Whole-number settings: file key -> request key and range (the daemon's own limits). */
const INTS: Record<string, { to: keyof DesiredSettings } & Range> = {
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
const SECONDS: Record<string, { to: keyof DesiredSettings } & Range> = {
  batch_wait_timeout_s: { to: 'batchWaitMs', min: 0, max: 60 },
  request_timeout_s: { to: 'requestTimeoutMs', min: 0.001, max: 3600 },
};
const DEPLOYMENT_KEYS = [
  'name', 'model', 'num_replicas', 'autoscaling_config', 'ray_actor_options', 'gpus', 'threads', 'max_batch_size',
  'batch_wait_timeout_s', 'batch_wait_ms', 'max_concurrent_batches', 'max_ongoing_requests', 'max_queued_requests',
  'request_timeout_s', 'health_check_period_s', 'health_check_timeout_s', 'canary_weight',
];
const APPLICATION_KEYS = ['name', 'deployments'];
const TOP_KEYS = ['applications'];
/** Ray Serve keys with no meaning here, and what to do instead. */
const RAY_HINTS: Record<string, string> = {
  import_path: 'mlserve serves models, not Python code: give the model source as model: in the deployment',
  route_prefix: 'every endpoint is served at /v2/models/<name>/infer and /<name>/invocations',
  runtime_env: 'replicas run onnxruntime, with no Python environment',
  num_cpus: 'set threads, the onnxruntime intra-op threads per replica',
  http_options: 'the daemon\'s host and port are flags of mlserve daemon start',
  proxy_location: 'one daemon serves every endpoint',
  user_config: 'replicas take no user config',
};

const got = (node: unknown): string => {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const v = isScalar(node) ? node.value : node;
  if (v === null || v === undefined) return 'nothing';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
};
const num = (n: number) => String(n);

class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(
    private readonly lc: LineCounter,
    private readonly doc: Document,
  ) {}

  at(node: unknown, message: string): void {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const p = range ? this.lc.linePos(range[0]) : { line: 1, col: 1 };
    this.issues.push({ line: p.line, col: p.col, message });
  }

  deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /** A mapping's pairs as [key, keyNode, valueNode]; reports non-mappings and unknown keys. */
  entries(node: unknown, where: string, accepted: string[], what: string): Array<[string, Node, unknown]> | undefined {
    node = this.deref(node);
    if (!isMap(node)) {
      this.at(node, `${where} must be a mapping with ${accepted.join(', ')} (got ${got(node)})`);
      return undefined;
    }
    const out: Array<[string, Node, unknown]> = [];
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      if (!accepted.includes(key)) {
        const hint = RAY_HINTS[key] ? ` (${RAY_HINTS[key]})` : '';
        this.at(keyNode, `unknown key ${JSON.stringify(key || got(keyNode))} in ${what}${hint}; accepted: ${accepted.join(', ')}`);
        continue;
      }
      out.push([key, keyNode, this.deref(pair.value)]);
    }
    return out;
  }

  scalar(node: unknown): unknown {
    return isScalar(node) ? node.value : node === null || node === undefined ? null : undefined;
  }

  name(keyNode: Node, node: unknown, what: string): string | undefined {
    const v = this.scalar(node);
    if (typeof v !== 'string' || !NAME_RE.test(v)) {
      this.at(keyNode, `${what} must be ${NAME_TEXT} (got ${got(node)})`);
      return undefined;
    }
    return v;
  }

  number(keyNode: Node, node: unknown, key: string, r: Range, whole: boolean, text: string): number | undefined {
    const v = this.scalar(node);
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max && (!whole || Number.isInteger(v));
    if (!ok) {
      this.at(keyNode, `${key} must be ${text} (got ${got(node)})`);
      return undefined;
    }
    return v as number;
  }
}

/** Parse and check a config file's text. `baseDir` makes relative model paths absolute. */
export function parseConfig(text: string, opts: { baseDir?: string } = {}): ParsedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const c = new Checker(lc, doc);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const p = lc.linePos(e.pos[0]);
      const msg = e.code === 'DUPLICATE_KEY' ? `${e.message.replace(/\.$/, '')}: each key may appear once` : e.message;
      c.issues.push({ line: p.line, col: p.col, message: `YAML: ${msg}` });
    }
    return { desired: [], issues: c.issues };
  }
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    c.at(null, 'the file is empty; it needs applications: a list of endpoints, each with name: and deployments:');
    return { desired: [], issues: c.issues };
  }
  const top = c.entries(doc.contents, 'the file', TOP_KEYS, 'the file');
  if (!top) return { desired: [], issues: c.issues };
  const apps = top.find(([k]) => k === 'applications');
  if (!apps) {
    c.at(doc.contents, 'the file needs applications: a list of endpoints, each with name: and deployments:');
    return { desired: [], issues: c.issues };
  }
  const desired: DesiredDeployment[] = [];
  const [, appsKey, appsNode] = apps;
  if (!isSeq(appsNode)) {
    c.at(appsKey, `applications must be a list of endpoints, each with name: and deployments: (got ${got(appsNode)}); to remove every endpoint write applications: []`);
    return { desired, issues: c.issues };
  }
  const endpoints = new Map<string, number>();
  const names = new Map<string, number>();
  for (const item of appsNode.items) {
    const app = c.entries(item, 'an application', APPLICATION_KEYS, 'an application');
    if (!app) continue;
    const nameEntry = app.find(([k]) => k === 'name');
    const deps = app.find(([k]) => k === 'deployments');
    let endpoint: string | undefined;
    if (!nameEntry) c.at(item, `an application needs name: its endpoint's name (${NAME_TEXT})`);
    else {
      endpoint = c.name(nameEntry[1], nameEntry[2], 'an application name (the endpoint)');
      if (endpoint !== undefined) {
        const line = lc.linePos(nameEntry[1].range![0]).line;
        if (endpoints.has(endpoint)) c.at(nameEntry[1], `duplicate endpoint '${endpoint}' (first at line ${endpoints.get(endpoint)}); each application name must be unique`);
        else endpoints.set(endpoint, line);
      }
    }
    if (!deps) {
      c.at(item, 'an application needs deployments: a list with one deployment (name:, model:, num_replicas:, ...)');
      continue;
    }
    const [, depsKey, depsNode] = deps;
    if (!isSeq(depsNode) || depsNode.items.length === 0) {
      c.at(depsKey, `deployments must be a list with one deployment (name:, model:, num_replicas:, ...) (got ${isSeq(depsNode) ? 'an empty list' : got(depsNode)})`);
      continue;
    }
    depsNode.items.forEach((depNode, i) => {
      if (i > 0) {
        c.at(depNode, 'an endpoint takes one deployment in this file; run a canary beside it with mlserve deploy <model> --endpoint <name> --canary 10% and manage it with mlserve canary');
        return;
      }
      const d = deployment(c, depNode, lc, names);
      if (d && endpoint !== undefined) desired.push({ endpoint, ...d, source: absolute(d.source, opts.baseDir) });
    });
  }
  c.issues.sort((a, b) => a.line - b.line || a.col - b.col);
  return { desired: c.issues.length ? [] : desired, issues: c.issues };
}

function absolute(source: string, baseDir: string | undefined): string {
  if (baseDir === undefined) return source;
  const parsed = parseModelSource(source);
  return parsed.kind === 'path' ? resolve(baseDir, parsed.path) : source;
}

function deployment(c: Checker, node: unknown, lc: LineCounter, names: Map<string, number>): Omit<DesiredDeployment, 'endpoint'> | undefined {
  const entries = c.entries(node, 'a deployment', DEPLOYMENT_KEYS, 'a deployment');
  if (!entries) return undefined;
  const before = c.issues.length;
  const request: DesiredSettings = {};
  const out: Omit<DesiredDeployment, 'endpoint'> = { source: '', request };
  const seen = new Map<string, Node>();
  const exclusive = (a: string, b: string, why: string) => {
    if (seen.has(a) && seen.has(b)) {
      const [, second] = [seen.get(a)!, seen.get(b)!].sort((x, y) => x.range![0] - y.range![0]);
      c.at(second, `${a} and ${b} exclude each other: ${why}`);
    }
  };
  for (const [key, keyNode, value] of entries) {
    seen.set(key, keyNode);
    if (key === 'name') {
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
    } else if (key === 'canary_weight') {
      const w = c.number(keyNode, value, key, { min: 0, max: 100 }, false, 'a number from 0 to 100 (percent of the endpoint\'s traffic)');
      if (w !== undefined && w !== 0) c.at(keyNode, `canary_weight ${w}: canaries are not managed from this file; leave canary_weight out (or 0) and use mlserve deploy --canary and mlserve canary`);
    }
  }
  exclusive('num_replicas', 'autoscaling_config', 'set a fixed num_replicas, or autoscaling_config for load-based scaling');
  exclusive('batch_wait_ms', 'batch_wait_timeout_s', 'give the batch wait once, in milliseconds or in seconds');
  exclusive('gpus', 'ray_actor_options.num_gpus', 'give the GPUs per replica once');
  if (!seen.has('model')) c.at(node, 'a deployment needs model: its model source (a .onnx file, an MLflow model directory, models:/Name/Stage, ...)');
  if (request.replicas === undefined && request.autoscaling === undefined) request.replicas = 1;
  return c.issues.length > before ? undefined : out;
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

/** A parse result's issues as `file:line:col: message` lines. */
export function formatIssues(file: string, issues: ConfigIssue[]): string[] {
  return issues.map((i) => `${file}:${i.line}:${i.col}: ${i.message}`);
}

/** The file's shape of one desired deployment (what `mlserve config` prints). */
export function toFileDeployment(d: DesiredDeployment): Record<string, unknown> {
  const r = d.request;
  const out: Record<string, unknown> = {};
  if (d.name !== undefined) out.name = d.name;
  out.model = d.source;
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
  return out;
}

/** The file's shape of these deployments (one application per endpoint). */
export function toFileConfig(desired: DesiredDeployment[]): { applications: Array<{ name: string; deployments: Record<string, unknown>[] }> } {
  const applications: Array<{ name: string; deployments: Record<string, unknown>[] }> = [];
  for (const d of desired) {
    const app = applications.find((a) => a.name === d.endpoint);
    if (app) app.deployments.push(toFileDeployment(d));
    else applications.push({ name: d.endpoint, deployments: [toFileDeployment(d)] });
  }
  return { applications };
}

/** A whole config file (YAML, with a header comment) for these deployments. */
export function renderConfig(desired: DesiredDeployment[], header: string[] = []): string {
  const body = stringify(toFileConfig(desired), { lineWidth: 0 });
  return `${header.map((h) => `# ${h}`.trimEnd()).join('\n')}${header.length ? '\n' : ''}${body}`;
}
