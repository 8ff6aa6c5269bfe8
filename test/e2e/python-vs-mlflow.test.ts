// mlserve's /invocations against `mlflow models serve --env-manager local` itself (started here,
// same model directories, same payloads): status codes and bodies (parsed) are equal. Error bodies
// are compared on error_code and message: MLflow's stack_trace names its own call stack. And a
// canary between a Python (PyTorch) and an ONNX version of one model on one endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { normalizeMlflowMessage, pythonDaemon, type PythonModels } from '../helpers/python.js';
import { until } from '../helpers/wait.js';

let d: TestDaemon;
let fx: PythonModels;
let python: string;

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => {
    const port = (s.address() as { port: number }).port;
    s.close(() => resolve(port));
  });
});

/** `mlflow models serve` for one model directory; resolves once /ping answers. */
async function mlflowServe(modelDir: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(python, ['-m', 'mlflow', 'models', 'serve', '-m', modelDir, '--env-manager', 'local', '-h', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, PATH: `${dirname(python)}:${process.env.PATH}` },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  const url = `http://127.0.0.1:${port}`;
  const up = await until(() => request(`${url}/ping`).then((r) => r.statusCode, () => 0), (s) => s === 200 || proc.exitCode !== null, 60_000, 250);
  if (up !== 200) throw new Error(`mlflow models serve did not start: ${err.slice(-2000)}`);
  return { url, proc };
}

const post = async (url: string, body: string) => {
  const r = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await r.body.text();
  return { status: r.statusCode, json: JSON.parse(text) };
};

beforeAll(async () => {
  ({ d, fx, python } = await pythonDaemon());
}, 600_000);
afterAll(async () => {
  await d?.cleanup();
});

/** Payloads beyond the recorded ones: bad JSON, no input field, a wrong column, extra columns, an empty frame. */
const EXTRA: Record<string, string[]> = {
  iris_sklearn: [
    '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}}',
    '{"dataframe_records": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "extra": 1}]}',
    '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length"], "data": [[5.1, 3.5, 1.4]]}}',
    '{"instances": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}',
    '{"inputs": {"sepal_length": [5.1], "sepal_width": [3.5], "petal_length": [1.4], "petal_width": [0.2]}}',
    '{"nothing": 1}',
    '{"dataframe_split": ',
    '[1, 2, 3]',
  ],
  echo_text: [
    '{"dataframe_split": {"columns": ["text"], "data": [["hello"], ["wörld ✓"]]}, "params": {"suffix": "!"}}',
    '{"dataframe_records": [{"text": ""}]}',
    '{"inputs": {"text": ["a", "bb"]}, "params": {"suffix": 7}}',
  ],
};

describe('mlserve /invocations equals mlflow models serve', () => {
  it.each(['iris_sklearn', 'echo_text'])('%s: every payload answers with the same status and body', async (name) => {
    const model = fx.models[name];
    const endpoint = name.replace('_', '-');
    const r = await d.deploy(`models:/${name}/1`, ['--endpoint', endpoint]);
    expect(r.exitCode, r.stderr).toBe(0);
    const served = await mlflowServe(model.modelDir);
    try {
      const bodies = [...model.invocations.map((i) => i.body), ...(EXTRA[name] ?? [])];
      let compared = 0;
      for (const body of bodies) {
        const want = await post(`${served.url}/invocations`, body);
        const got = await post(`${d.url}/${endpoint}/invocations`, body);
        expect(got.status, `${body}\nmlflow: ${JSON.stringify(want.json)}\nmlserve: ${JSON.stringify(got.json)}`).toBe(want.status);
        if (want.status === 200) expect(got.json, body).toEqual(want.json);
        else {
          expect({ error_code: got.json.error_code, message: normalizeMlflowMessage(got.json.message) }, body)
            .toEqual({ error_code: want.json.error_code, message: normalizeMlflowMessage(want.json.message) });
        }
        compared++;
      }
      expect(compared).toBe(bodies.length);
    } finally {
      served.proc.kill('SIGTERM');
    }
  }, 180_000);
});

describe('a canary between a Python and an ONNX version of one model', () => {
  it('splits traffic between the kinds, mirrors shadow traffic, and promotes with no failed request', async () => {
    const r = await d.deploy('models:/torch_mlp/1', ['--endpoint', 'mix', '--name', 'mix-py']);
    expect(r.exitCode, r.stderr).toBe(0);
    const onnx = writeOnnx(mlp({ seed: 4, sizes: [4, 8, 3] }), 'mix');
    const c = await d.deploy(onnx, ['--endpoint', 'mix', '--name', 'mix-onnx', '--canary', '50%']);
    expect(c.exitCode, c.stderr).toBe(0);
    const body = JSON.stringify({ inputs: [[0.1, 0.2, 0.3, 0.4]] });
    const seen = new Map<string, number>();
    for (let i = 0; i < 80; i++) {
      const res = await d.http('POST', '/mix/invocations', body, { 'content-type': 'application/json' });
      expect(res.status, res.text).toBe(200);
      const who = String(res.headers['x-mlserve-deployment']);
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['mix-onnx', 'mix-py']);
    const status = (await d.cli(['canary', 'status', '--json'])).json.find((e: any) => e.endpoint === 'mix');
    expect(status.versions.map((v: any) => [v.deployment, v.requests > 0])).toEqual([['mix-py', true], ['mix-onnx', true]]);
    expect((await d.cli(['canary', 'shadow', '100%', '--endpoint', 'mix'])).exitCode).toBe(0);
    expect((await d.cli(['canary', 'set', '0', '--endpoint', 'mix'])).exitCode).toBe(0);
    for (let i = 0; i < 10; i++) expect((await d.http('POST', '/mix/invocations', body, { 'content-type': 'application/json' })).headers['x-mlserve-deployment']).toBe('mix-py');
    const shadow = await until(async () => (await d.cli(['canary', 'status', '--json'])).json.find((e: any) => e.endpoint === 'mix').shadow, (s) => s.mirrored >= 10);
    expect(shadow.mirrored).toBeGreaterThanOrEqual(10);
    // The two versions name their input differently (input vs x): /invocations' {"inputs": [[...]]} feeds both.
    let stop = false;
    const statuses: number[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) statuses.push((await d.http('POST', '/mix/invocations', body, { 'content-type': 'application/json' })).status);
    });
    await until(async () => statuses.length, (n) => n >= 50);
    expect((await d.cli(['canary', 'promote', '--endpoint', 'mix'])).exitCode).toBe(0);
    const after = statuses.length;
    await until(async () => statuses.length, (n) => n >= after + 50);
    stop = true;
    await Promise.all(clients);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((await d.http('POST', '/mix/invocations', body, { 'content-type': 'application/json' })).headers['x-mlserve-deployment']).toBe('mix-onnx');
  }, 120_000);
});
