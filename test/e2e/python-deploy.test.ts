// Any MLflow model: pyfunc models (scikit-learn, a custom PythonModel with strings and params,
// PyTorch, one that raises) logged with MLflow's own client into a file store, deployed by
// models:/ URIs onto Python replicas through the real daemon and CLI. Every OIP answer equals
// model.predict in Python; every /invocations answer equals what MLflow's own scoring server
// answered for the same body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { normalizeMlflowMessage, pythonDaemon, type PredictionJson, type PythonModels, type TensorJson } from '../helpers/python.js';
import { until } from '../helpers/wait.js';

let d: TestDaemon;
let fx: PythonModels;
let python: string;

beforeAll(async () => {
  ({ d, fx, python } = await pythonDaemon());
}, 600_000);
afterAll(async () => {
  await d?.cleanup();
});

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b));

/** The OIP outputs match what model.predict gave in Python. */
function expectOutputs(outputs: TensorJson[], want: PredictionJson): void {
  if (want.kind === 'dataframe') {
    for (const col of want.columns) {
      const out = outputs.find((o) => o.name === col.name);
      expect(out, `output column ${col.name}`).toBeDefined();
      expect(out!.shape).toEqual(col.shape);
      out!.data.forEach((v, i) => (typeof v === 'number' ? expect(close(v, col.data[i] as number), `${col.name}[${i}] ${v} vs ${col.data[i]}`).toBe(true) : expect(v).toEqual(col.data[i])));
    }
    return;
  }
  if (want.kind === 'error') throw new Error('an error is not an output');
  expect(outputs).toHaveLength(1);
  expect(outputs[0].shape).toEqual(want.shape);
  outputs[0].data.forEach((v, i) => (typeof v === 'number' ? expect(close(v, want.data[i] as number)).toBe(true) : expect(v).toEqual(want.data[i])));
}

const infer = (endpoint: string, inputs: TensorJson[], extra: Record<string, unknown> = {}) => d.http('POST', `/v2/models/${endpoint}/infer`, { inputs, ...extra });

describe('Python replicas for pyfunc models', () => {
  it('deploys a scikit-learn model by models:/ on a Python replica; OIP answers equal model.predict', async () => {
    const r = await d.deploy('models:/iris_sklearn/1', ['--endpoint', 'iris']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.settings).toMatchObject({ runtime: 'python', python, envManager: 'local' });
    const st = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'iris-v1');
    expect(st.runtime).toBe('python');
    expect(st.spec.inputs.map((s: any) => [s.name, s.datatype, s.shape])).toEqual([
      ['sepal_length', 'FP64', [-1]], ['sepal_width', 'FP64', [-1]], ['petal_length', 'FP64', [-1]], ['petal_width', 'FP64', [-1]],
    ]);
    const meta = await d.http('GET', '/v2/models/iris');
    expect(meta.json.platform).toBe('mlflow');
    for (const ex of fx.models.iris_sklearn.examples) {
      const res = await infer('iris', ex.inputs);
      expect(res.status, res.text).toBe(200);
      expectOutputs(res.json.outputs, ex.expected);
    }
  });

  it('takes one 2-D table whose columns follow the signature order', async () => {
    const ex = fx.models.iris_sklearn.examples[0];
    const rows = ex.inputs[0].shape[0];
    const table = Array.from({ length: rows }, (_, i) => ex.inputs.map((c) => c.data[i]));
    const res = await infer('iris', [{ name: 'table', datatype: 'FP64', shape: [rows, 4], data: table.flat() }]);
    expect(res.status, res.text).toBe(200);
    expectOutputs(res.json.outputs, ex.expected);
    const bad = await infer('iris', [{ name: 'table', datatype: 'FP64', shape: [1, 3], data: [1, 2, 3] }]);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/needs 4 columns, one per model input in order \(sepal_length, sepal_width, petal_length, petal_width\)/);
  });

  it('answers /invocations exactly as MLflow\'s scoring server does, for every payload form', async () => {
    for (const [model, endpoint] of [['iris_sklearn', 'iris']] as const) {
      for (const inv of fx.models[model].invocations) {
        const res = await d.http('POST', `/${endpoint}/invocations`, inv.body, { 'content-type': 'application/json' });
        expect(res.status, `${inv.name}: ${res.text}`).toBe(inv.status);
        const got = JSON.parse(res.text);
        if (inv.status === 200) expect(got, inv.name).toEqual(JSON.parse(inv.response));
        else {
          expect({ error_code: got.error_code, message: normalizeMlflowMessage(got.message) }, inv.name)
            .toEqual({ error_code: (inv.json as any).error_code, message: normalizeMlflowMessage((inv.json as any).message) });
        }
      }
    }
  });

  it('serves a custom PythonModel with strings in and out, and params', async () => {
    const r = await d.deploy('models:/echo_text/1', ['--endpoint', 'echo']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const ex of fx.models.echo_text.examples) {
      const res = await infer('echo', ex.inputs, ex.params ? { parameters: ex.params } : {});
      if (ex.params) continue; // OIP parameters are not model params; /invocations carries them
      expect(res.status, res.text).toBe(200);
      expectOutputs(res.json.outputs, ex.expected);
    }
    for (const inv of fx.models.echo_text.invocations) {
      const res = await d.http('POST', '/echo/invocations', inv.body, { 'content-type': 'application/json' });
      expect(res.status, `${inv.name}: ${res.text}`).toBe(inv.status);
      if (inv.status === 200) expect(JSON.parse(res.text), inv.name).toEqual(JSON.parse(inv.response));
    }
  });

  it('batches a PyTorch model under load (mean batch > 1), each answer equal to PyTorch', async () => {
    const r = await d.deploy('models:/torch_mlp/1', ['--endpoint', 'mlp', '--threads', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ex = fx.models.torch_mlp.examples[0];
    const answers = await Promise.all(Array.from({ length: 64 }, () => infer('mlp', ex.inputs)));
    for (const a of answers) {
      expect(a.status, a.text).toBe(200);
      expectOutputs(a.json.outputs, ex.expected);
    }
    const st = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'mlp-v1');
    expect(st.dispatch.maxBatchSize).toBe(32);
    expect(st.stats.batchedRequests / st.stats.batches).toBeGreaterThan(1);
  });

  it('a model that raises answers 500 with the Python exception, and the replica stays up', async () => {
    const r = await d.deploy('models:/raiser/1', ['--endpoint', 'raiser']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ok = fx.models.raiser.examples.find((e) => e.expected.kind !== 'error')!;
    const boom = fx.models.raiser.examples.find((e) => e.expected.kind === 'error')!;
    const pid = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'raiser-v1').replicas[0].pid;
    const bad = await infer('raiser', boom.inputs);
    expect(bad.status).toBe(500);
    expect(bad.json.error).toMatch(/ValueError: boom/);
    const good = await infer('raiser', ok.inputs);
    expect(good.status, good.text).toBe(200);
    expectOutputs(good.json.outputs, ok.expected);
    expect((await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'raiser-v1').replicas[0].pid).toBe(pid);
  });

  it('wrong column names or types are 400s that say what the model expects', async () => {
    const wrongName = await infer('iris', [{ name: 'sepal_len', datatype: 'FP64', shape: [1], data: [1] }]);
    expect(wrongName.status).toBe(400);
    expect(wrongName.json.error).toMatch(/input 'sepal_len' is not an input of the model; the model expects inputs 'sepal_length', 'sepal_width'/);
    const wrongType = await infer('iris', fx.models.iris_sklearn.examples[0].inputs.map((t) => ({ ...t, datatype: 'BYTES', data: t.data.map(String) })));
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.error).toMatch(/input 'sepal_length': datatype BYTES \(strings\), but the model takes FP64 tensors/);
  });

  it('a replica killed with SIGKILL mid-load loses no request and comes back', async () => {
    const st = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'mlp-v1');
    const victim = st.replicas[0].pid;
    expect((await d.cli(['scale', 'mlp', '--replicas', '2'])).exitCode).toBe(0);
    await until(async () => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'mlp-v1'), (x) => x.replicas.filter((r: any) => r.state === 'ready').length === 2, 60_000);
    const ex = fx.models.torch_mlp.examples[0];
    const load = Promise.all(Array.from({ length: 200 }, (_, i) => new Promise((res) => setTimeout(res, i * 5)).then(() => infer('mlp', ex.inputs))));
    await new Promise((res) => setTimeout(res, 300));
    process.kill(victim, 'SIGKILL');
    for (const a of await load) expect(a.status, a.text).toBe(200);
    const back = await until(async () => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'mlp-v1'), (x) => x.replicas.every((r: any) => r.state === 'ready' && r.pid !== victim), 60_000);
    expect(back.replicas.some((r: any) => r.restarts >= 1)).toBe(true);
  });

  it('a Python without mlflow fails the deployment with what is missing and how to install it', async () => {
    const r = await d.deploy('models:/iris_sklearn/1', ['--endpoint', 'nomlflow', '--python', '/usr/bin/python3', '--env-manager', 'local', '--timeout', '60']);
    expect(r.exitCode).toBe(1);
    expect(r.json.error).toMatch(/mlflow/);
    expect(r.json.error).toMatch(/pip install/);
    // Refused before anything is recorded.
    expect((await d.cli(['status', '--json'])).json.deployments.map((x: any) => x.name)).not.toContain('nomlflow-v1');
  });
});
