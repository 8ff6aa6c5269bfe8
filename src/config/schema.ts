// The declarative config file (`mlserve apply -f mlserve.yaml`): Ray Serve's config format where
// the concepts match (applications -> endpoints, deployments, num_replicas, autoscaling_config,
// ray_actor_options.num_gpus, max_ongoing_requests, health_check_*), plus what an endpoint has
// beyond Ray: a canary (model, weight, shadow share) and a rollout policy. Every error names the
// line and column and what is accepted. PURE.
import { resolve } from 'node:path';
import { isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { validatePolicy, type AnalysisPolicy } from '../daemon/rollout/canary-analysis.js';
import { parseModelSource } from '../mlflow/uri.js';
import { Checker, got, NAME_TEXT, type ConfigIssue } from './checker.js';
import { deployment } from './deployment-schema.js';
import type { DesiredCanary, DesiredDeployment, DesiredEndpoint } from './desired.js';

export type { ConfigIssue } from './checker.js';
export { NAME_RE } from './checker.js';

export interface ParsedConfig {
  desired: DesiredEndpoint[];
  issues: ConfigIssue[];
}

const APPLICATION_KEYS = ['name', 'deployments', 'canary', 'rollout'];
const TOP_KEYS = ['applications'];
const ROLLOUT_KEYS: Record<string, string> = { steps: 'steps', interval_s: 'intervalS', max_error_rate: 'maxErrorRate', max_p99_ms: 'maxP99Ms', min_requests: 'minRequests' };

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
  const desired: DesiredEndpoint[] = [];
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
    let primary: DesiredDeployment | undefined;
    depsNode.items.forEach((depNode, i) => {
      if (i > 0) {
        c.at(depNode, 'an endpoint takes one deployment under deployments:; put a second version under canary: (model:, weight:, shadow:) beside deployments:');
        return;
      }
      primary = deployment(c, depNode, lc, names)?.d;
    });
    const canaryEntry = app.find(([k]) => k === 'canary');
    const canary = canaryEntry ? canaryOf(c, canaryEntry[2], lc, names) : undefined;
    const rolloutEntry = app.find(([k]) => k === 'rollout');
    const rollout = rolloutEntry ? rolloutOf(c, rolloutEntry[1], rolloutEntry[2]) : undefined;
    if (primary && endpoint !== undefined) {
      const d: DesiredEndpoint = { endpoint, primary: withAbsolute(primary, opts.baseDir) };
      if (canary) d.canary = withAbsolute(canary, opts.baseDir);
      if (rollout) d.rollout = rollout;
      desired.push(d);
    }
  }
  c.issues.sort((a, b) => a.line - b.line || a.col - b.col);
  return { desired: c.issues.length ? [] : desired, issues: c.issues };
}

function withAbsolute<T extends DesiredDeployment>(d: T, baseDir: string | undefined): T {
  return { ...d, source: absolute(d.source, baseDir) };
}

function absolute(source: string, baseDir: string | undefined): string {
  if (baseDir === undefined) return source;
  const parsed = parseModelSource(source);
  return parsed.kind === 'path' ? resolve(baseDir, parsed.path) : source;
}


/** An application's canary: a deployment entry plus weight: (percent of traffic) and shadow: (percent mirrored). */
function canaryOf(c: Checker, node: unknown, lc: LineCounter, names: Map<string, number>): DesiredCanary | undefined {
  const r = deployment(c, node, lc, names, 'the canary', ['weight', 'shadow']);
  if (!r) return undefined;
  const share = (key: string, what: string) => {
    const e = r.extra.get(key);
    if (!e) return 0;
    return c.number(e[0], e[1], key, { min: 0, max: 100 }, false, `a number from 0 to 100 (${what})`) ?? 0;
  };
  if (!r.extra.has('weight')) c.at(node, 'the canary needs weight: the percent of the endpoint\'s traffic it takes (0 to start dark)');
  return { ...r.d, weight: share('weight', "percent of the endpoint's traffic"), shadow: share('shadow', 'percent of requests mirrored to the canary') };
}

/** An application's rollout policy, in the file's snake_case, checked as mlserve canary start checks it. */
function rolloutOf(c: Checker, keyNode: Node, node: unknown): AnalysisPolicy | undefined {
  const entries = c.entries(node, 'rollout', Object.keys(ROLLOUT_KEYS), 'rollout');
  if (!entries) return undefined;
  const raw: Record<string, unknown> = {};
  for (const [k, kNode, v] of entries) {
    if (isSeq(v)) raw[ROLLOUT_KEYS[k]] = v.items.map((i) => c.scalar(i));
    else {
      const val = c.scalar(v);
      if (val === undefined) c.at(kNode, `rollout: ${k} must be a single value (got ${got(v)})`);
      else raw[ROLLOUT_KEYS[k]] = val;
    }
  }
  try {
    return validatePolicy(raw);
  } catch (err) {
    const snake = Object.fromEntries(Object.entries(ROLLOUT_KEYS).map(([a, b]) => [b, a]));
    c.at(keyNode, `rollout: ${(err as Error).message.replace(/\b(intervalS|maxErrorRate|maxP99Ms|minRequests)\b/g, (m) => snake[m] ?? m)}`);
    return undefined;
  }
}

/** A parse result's issues as `file:line:col: message` lines. */
export function formatIssues(file: string, issues: ConfigIssue[]): string[] {
  return issues.map((i) => `${file}:${i.line}:${i.col}: ${i.message}`);
}

