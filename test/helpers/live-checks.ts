// The check every URI form gets against a live MLflow server: MLflow's own client (Python) and
// mlserve, both through a logging proxy, must resolve the same version, make the same registry
// calls in the same order (up to the documented differences below), fetch the same files, and
// mlserve must serve what onnxruntime computes on the file MLflow's client downloaded.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { TestDaemon } from './daemon.js';
import { registryCalls, type LoggingProxy, type MlflowPy } from './mlflow-live.js';

export interface LiveCtx {
  d: TestDaemon;
  py: MlflowPy;
  proxy: LoggingProxy;
  x: number[][];
  /** Extra CLI variables (credentials). */
  env?: Record<string, string>;
}

/**
 * What mlserve calls, given what MLflow's client called for `uri` (README, "What MLflow's client
 * does"): the same, except
 *  1. models:/<name>/<version>: mlserve first reads the version (model-versions/get) to record its
 *     run id, stage and source (status shows them; the run-artifact routes need the run id);
 *  2. runs:/ of an MLflow 3 logged model: MLflow's client reads runs/get a second time (for the
 *     experiment id, which mlserve keeps from the first).
 */
export function expectedMlserveCalls(uri: string, mlflowCalls: string[]): string[] {
  const out = [...mlflowCalls];
  const version = /^models:\/([^/@]+)\/(\d+)$/.exec(uri);
  if (version) out.unshift(`GET /api/2.0/mlflow/model-versions/get name=${version[1]}&version=${version[2]}`);
  if (uri.startsWith('runs:/')) {
    const runsGet = out.filter((c) => c.startsWith('GET /api/2.0/mlflow/runs/get '));
    if (runsGet.length === 2) out.splice(out.lastIndexOf(runsGet[1]), 1);
  }
  return out;
}

export function expectClose(got: number[], want: number[], what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i])));
  }
}

export async function inferY(d: TestDaemon, endpoint: string, x: number[][]): Promise<number[]> {
  const r = await d.http('POST', `/v2/models/${endpoint}/infer`, { inputs: [{ name: 'x', shape: [x.length, x[0].length], datatype: 'FP32', data: x.flat() }] });
  expect(r.status, r.text).toBe(200);
  return r.json.outputs[0].data;
}

let n = 0;

function listFiles(dir: string, rel = ''): { path: string; size: number }[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return listFiles(dir, p);
    return p === '.mlserve-cache.json' ? [] : [{ path: p, size: statSync(join(dir, p)).size }];
  });
}

/**
 * Deploy `uri` with mlserve and download it with MLflow's client, and compare. The registry calls
 * are all made whatever the cache holds, except for models:/<name>/<version> of a version already
 * cached (no network at all): list those first for each version, or pass `cold` (undeploy and
 * prune afterwards). Returns MLflow's answer and mlserve's row.
 */
export async function checkForm(ctx: LiveCtx, uri: string, opts: { cold?: boolean } = {}) {
  const { d, py, proxy } = ctx;
  const from = proxy.calls.length;
  const mlflow = await py.ok<{ version?: string; name?: string; outputs: number[][]; files: { path: string; size: number }[] }>({
    op: 'download', uri, tracking_uri: proxy.url, x: ctx.x, username: ctx.env?.MLFLOW_TRACKING_USERNAME, password: ctx.env?.MLFLOW_TRACKING_PASSWORD,
  });
  const mlflowCalls = registryCalls(proxy.since(from));

  const endpoint = `form${n++}`;
  const before = proxy.calls.length;
  const r = await d.deploy(uri, ['--endpoint', endpoint], { MLFLOW_TRACKING_URI: proxy.url, ...ctx.env });
  expect(r.exitCode, `${uri}: ${r.stderr}${r.stdout}`).toBe(0);
  const mlserveCalls = registryCalls(proxy.since(before));
  expect(mlserveCalls, `${uri}: registry calls (MLflow's client made: ${mlflowCalls.join(' | ')})`).toEqual(expectedMlserveCalls(uri, mlflowCalls));

  const st = await d.cli(['status', '--json']);
  const row = st.json.deployments.find((x: any) => x.endpoint === endpoint);
  if (mlflow.version !== undefined && uri.startsWith('models:/') && !/^models:\/m-/.test(uri)) {
    expect(row.resolved, uri).toMatchObject({ kind: 'registry', name: mlflow.name, version: mlflow.version });
  }

  // The same files in the cache (MLflow's client adds registered_model_meta itself).
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  const theirs = mlflow.files.filter((f) => f.path !== 'registered_model_meta').sort(byPath);
  expect(listFiles(row.modelDir).sort(byPath), uri).toEqual(theirs);
  expect(theirs.some((f) => f.path.endsWith('.data')), `${uri}: the weights are an external-data file`).toBe(true);

  expectClose(await inferY(d, endpoint, ctx.x), mlflow.outputs.flat(), uri);
  if (opts.cold) {
    expect((await d.cli(['undeploy', endpoint])).exitCode).toBe(0);
    await d.cli(['cache', 'prune']);
  }
  return { mlflow, row, endpoint, mlflowCalls, mlserveCalls };
}
