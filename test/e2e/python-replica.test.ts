// The Python replica (src/runtime/python/mlserve_replica.py) for real: the pinned `pyfunc` env, models
// made by MLflow's own client (test/fixtures/python/make_models.py), a replica process spawned as the
// supervisor spawns one (stdio ['ignore', log, log, 'pipe']) and spoken to with src/runtime/frame.ts.
// Every expected answer was computed in Python by mlflow.pyfunc.load_model(...).predict(...) or by
// MLflow's own scoring server (see models.json).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MLFLOW_JSON_TENSOR, MLFLOW_REQUEST_TENSOR, MLFLOW_STATUS_TENSOR, type FromPythonReplica } from '../../src/runtime/python/index.js';
import type { DType, Tensor, TensorData } from '../../src/tensor.js';
import { makePythonModels, PythonReplicaProcess, pythonEnv, type PythonModels, type TensorJson } from '../helpers/python.js';

// The first run builds a ~6 GB virtualenv (torch pulls the CUDA wheels): minutes, not seconds.
const ENV_BUILD_MS = 30 * 60_000;

let python: string;
let fixtures: PythonModels;
const replicas: PythonReplicaProcess[] = [];
const byModel = new Map<string, PythonReplicaProcess>();

function start(config: { modelDir: string; threads?: number; concurrency?: number; gpuFraction?: number; warmup?: boolean }, deployment = 'py', opts: { python?: string; args?: string[] } = {}) {
  const r = new PythonReplicaProcess(opts.python ?? python, { deployment, replica: replicas.length, ...config }, { args: opts.args });
  replicas.push(r);
  return r;
}

async function replicaFor(model: string): Promise<PythonReplicaProcess> {
  const r = byModel.get(model);
  if (!r) throw new Error(`no replica for ${model}`);
  return r;
}

function tensorFromJson(t: TensorJson): Tensor {
  const d = t.data;
  const data: TensorData = ((): TensorData => {
    switch (t.datatype) {
      case 'FP64': return Float64Array.from(d as number[]);
      case 'FP32': return Float32Array.from(d as number[]);
      case 'INT64': return BigInt64Array.from((d as number[]).map((v) => BigInt(v)));
      case 'INT32': return Int32Array.from(d as number[]);
      case 'BOOL': return Uint8Array.from((d as boolean[]).map((v) => (v ? 1 : 0)));
      case 'BYTES': return (d as string[]).slice();
      default: throw new Error(`no test conversion for ${t.datatype}`);
    }
  })();
  return { name: t.name, datatype: t.datatype, shape: t.shape, data };
}

const NUMPY_DTYPE: Record<string, DType> = { int64: 'INT64', int32: 'INT32', float64: 'FP64', float32: 'FP32', bool: 'BOOL', object: 'BYTES' };

/** Plain JS values of a tensor (BigInt as Number) to compare with models.json's lists. */
function values(t: Tensor): Array<number | string> {
  return Array.from(t.data as ArrayLike<number | bigint | string>, (v) => (typeof v === 'bigint' ? Number(v) : v));
}

function example(model: string, name: string) {
  const ex = fixtures.models[model]!.examples.find((e) => e.name === name);
  if (!ex) throw new Error(`models.json has no example '${name}' for ${model}`);
  return ex;
}

function invocation(model: string, name: string) {
  const inv = fixtures.models[model]!.invocations.find((e) => e.name === name);
  if (!inv) throw new Error(`models.json has no invocation '${name}' for ${model}`);
  return inv;
}

function byName(tensors: Tensor[], name: string): Tensor {
  const t = tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor '${name}' in [${tensors.map((x) => x.name).join(', ')}]`);
  return t;
}

/**
 * MLflow formats a Python set into some of its messages ("exactly one of the input fields {...}"), and
 * a set of strings iterates in an order that changes with each process's hash seed: `mlflow models
 * serve` itself answers in a different order from one start to the next. Sort those sets to compare.
 */
function stableSets(body: string): string {
  return body.replace(/\{('[a-z_]+'(?:, '[a-z_]+')+)\}/g, (_m, items: string) => `{${items.split(', ').sort().join(', ')}}`);
}

async function mlflowCall(r: PythonReplicaProcess, bodies: string[]) {
  const reply = await r.request({ t: 'infer', reply: 'mlflow', requests: bodies.map(() => 1) }, [
    { name: MLFLOW_REQUEST_TENSOR, datatype: 'BYTES', shape: [bodies.length], data: bodies },
  ]);
  expect(reply.header.t, JSON.stringify(reply.header)).toBe('result');
  const json = byName(reply.tensors, MLFLOW_JSON_TENSOR);
  const status = byName(reply.tensors, MLFLOW_STATUS_TENSOR);
  expect(json.datatype).toBe('BYTES');
  expect(status.datatype).toBe('INT32');
  expect(json.shape).toEqual([bodies.length]);
  return { header: reply.header as Extract<FromPythonReplica, { t: 'result' }>, bodies: json.data as string[], status: Array.from(status.data as Int32Array) };
}

beforeAll(async () => {
  python = await pythonEnv('pyfunc');
  fixtures = await makePythonModels();
  for (const name of ['iris_sklearn', 'echo_text', 'torch_mlp', 'raiser']) {
    byModel.set(name, start({ modelDir: fixtures.models[name]!.modelDir, threads: 1 }, name));
  }
}, ENV_BUILD_MS);

afterAll(() => {
  for (const r of replicas) r.kill();
});

describe('python replica: ready', () => {
  it('iris_sklearn: four FP64 columns in, the INT64 tensor out', async () => {
    const r = await replicaFor('iris_sklearn');
    const { header } = await r.ready();
    expect(header, r.log()).toMatchObject({ t: 'ready' });
    if (header.t !== 'ready') return;
    expect(header.inputs).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width'].map((name) => ({ name, datatype: 'FP64', shape: [-1] })));
    expect(header.outputs).toEqual([{ name: 'output', datatype: 'INT64', shape: [-1] }]);
    expect(header.pid).toBe(r.child.pid);
    expect(header.loadMs).toBeGreaterThan(0);
    // The warm-up predict ran on an example built from the signature before ready.
    expect(header.warmupMs, r.log()).toBeGreaterThan(0);
    expect(r.log()).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z python replica iris_sklearn#0: warm-up run in \d+ ms$/m);
    expect(header.python).toEqual({
      version: fixtures.python,
      mlflow: fixtures.mlflow,
      flavors: fixtures.models.iris_sklearn!.flavors,
      signature: 'columns',
      params: null,
    });
    expect(header.python.flavors).toEqual(['python_function', 'sklearn']);
  });

  it('echo_text: a BYTES column in, BYTES + INT64 columns out, the suffix param', async () => {
    const { header } = await (await replicaFor('echo_text')).ready();
    if (header.t !== 'ready') throw new Error(JSON.stringify(header));
    expect(header.inputs).toEqual([{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
    expect(header.outputs).toEqual([{ name: 'upper', datatype: 'BYTES', shape: [-1] }, { name: 'length', datatype: 'INT64', shape: [-1] }]);
    expect(header.python.signature).toBe('columns');
    expect(header.python.params).toEqual([{ name: 'suffix', type: 'string', default: '', shape: null }]);
  });

  it('torch_mlp: the FP32 [-1, 4] tensor signature', async () => {
    const { header } = await (await replicaFor('torch_mlp')).ready();
    if (header.t !== 'ready') throw new Error(JSON.stringify(header));
    expect(header.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
    expect(header.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [-1, 3] }]);
    expect(header.python.signature).toBe('tensors');
    expect(header.python.flavors).toContain('pytorch');
    expect(header.python.params).toBeNull();
  });

  it('warm-up: off with warmup: false; none for a model without a signature is not an error', async () => {
    const off = start({ modelDir: fixtures.models.iris_sklearn!.modelDir, warmup: false }, 'nowarm');
    const { header } = await off.ready();
    if (header.t !== 'ready') throw new Error(JSON.stringify(header));
    expect(header.warmupMs).toBeUndefined();
    expect(off.log()).not.toContain('warm-up');
    off.kill();
  });

  it('raiser: a FP64 column in', async () => {
    const { header } = await (await replicaFor('raiser')).ready();
    if (header.t !== 'ready') throw new Error(JSON.stringify(header));
    expect(header.inputs).toEqual([{ name: 'x', datatype: 'FP64', shape: [-1] }]);
    expect(header.outputs).toEqual([{ name: 'output', datatype: 'FP64', shape: [-1] }]);
  });
});

describe('python replica: tensors (Open Inference Protocol) path', () => {
  it('iris_sklearn answers what model.predict gave in Python', async () => {
    const r = await replicaFor('iris_sklearn');
    const ex = example('iris_sklearn', 'three rows');
    const reply = await r.request({ t: 'infer', reply: 'tensors' }, ex.inputs.map(tensorFromJson));
    expect(reply.header, r.log()).toMatchObject({ t: 'result' });
    expect(reply.header.t === 'result' && reply.header.computeMs).toBeGreaterThan(0);
    expect(ex.expected.kind).toBe('ndarray');
    if (ex.expected.kind !== 'ndarray') return;
    expect(reply.tensors).toHaveLength(1);
    const out = reply.tensors[0]!;
    expect(out.name).toBe('output');
    expect(out.datatype).toBe(NUMPY_DTYPE[ex.expected.dtype]);
    expect(out.shape).toEqual(ex.expected.shape);
    expect(values(out)).toEqual(ex.expected.data);
  });

  it('a batch of 3 requests (1 + 2 + 1 rows) gives 4 rows', async () => {
    const r = await replicaFor('iris_sklearn');
    const ex = example('iris_sklearn', 'batch of 1+2+1 rows');
    const reply = await r.request({ t: 'infer', reply: 'tensors', requests: ex.requests }, ex.inputs.map(tensorFromJson));
    expect(reply.header.t).toBe('result');
    if (ex.expected.kind !== 'ndarray') throw new Error('expected an ndarray');
    expect(reply.tensors[0]!.shape).toEqual([4]);
    expect(values(reply.tensors[0]!)).toEqual(ex.expected.data);
  });

  it('requests whose rows do not add up to the output rows are an error', async () => {
    const r = await replicaFor('iris_sklearn');
    const ex = example('iris_sklearn', 'three rows');
    const reply = await r.request({ t: 'infer', reply: 'tensors', requests: [2, 2] }, ex.inputs.map(tensorFromJson));
    expect(reply.header.t).toBe('error');
    expect(reply.header.t === 'error' && reply.header.message).toMatch(/returned 3 rows .* for 4 input rows from 2 batched requests/);
  });

  it('columns are taken by name, in the signature order whatever the frame order', async () => {
    const r = await replicaFor('iris_sklearn');
    const ex = example('iris_sklearn', 'three rows');
    const reply = await r.request({ t: 'infer', reply: 'tensors' }, ex.inputs.map(tensorFromJson).reverse());
    expect(reply.header.t).toBe('result');
    if (ex.expected.kind !== 'ndarray') throw new Error('expected an ndarray');
    expect(values(reply.tensors[0]!)).toEqual(ex.expected.data);
  });

  it('outputs: only the requested ones; an unknown name is an error', async () => {
    const r = await replicaFor('echo_text');
    const ex = example('echo_text', 'no params');
    const only = await r.request({ t: 'infer', reply: 'tensors', outputs: ['length'] }, ex.inputs.map(tensorFromJson));
    expect(only.tensors.map((t) => t.name)).toEqual(['length']);
    const bad = await r.request({ t: 'infer', reply: 'tensors', outputs: ['nope'] }, ex.inputs.map(tensorFromJson));
    expect(bad.header).toMatchObject({ t: 'error', message: expect.stringContaining("no output 'nope'") });
  });

  for (const name of ['no params', 'suffix param']) {
    it(`echo_text: BYTES in and out, INT64 lengths (${name})`, async () => {
      const r = await replicaFor('echo_text');
      const ex = example('echo_text', name);
      const reply = await r.request({ t: 'infer', reply: 'tensors', ...(ex.params ? { params: ex.params } : {}) }, ex.inputs.map(tensorFromJson));
      expect(reply.header, r.log()).toMatchObject({ t: 'result' });
      if (ex.expected.kind !== 'dataframe') throw new Error('expected a DataFrame');
      expect(reply.tensors.map((t) => t.name)).toEqual(ex.expected.columns.map((c) => c.name));
      const upper = byName(reply.tensors, 'upper');
      expect(upper.datatype).toBe('BYTES');
      expect(upper.data).toEqual(ex.expected.columns[0]!.data);
      const length = byName(reply.tensors, 'length');
      expect(length.datatype).toBe('INT64');
      expect(values(length)).toEqual(ex.expected.columns[1]!.data);
      if (ex.params) expect((upper.data as string[]).every((s) => s.endsWith('!'))).toBe(true);
    });
  }

  it('torch_mlp: a FP32 [5, 4] tensor in, FP32 [5, 3] out, equal to the Python prediction', async () => {
    const r = await replicaFor('torch_mlp');
    const ex = example('torch_mlp', 'five rows');
    const input = tensorFromJson(ex.inputs[0]!);
    expect(input.shape).toEqual([5, 4]);
    const reply = await r.request({ t: 'infer', reply: 'tensors' }, [input]);
    expect(reply.header, r.log()).toMatchObject({ t: 'result' });
    if (ex.expected.kind !== 'ndarray') throw new Error('expected an ndarray');
    const out = reply.tensors[0]!;
    expect(out).toMatchObject({ name: 'output', datatype: 'FP32', shape: [5, 3] });
    expect(out.data).toBeInstanceOf(Float32Array);
    expect(values(out)).toEqual(ex.expected.data);
  });

  it('raiser: a predict that raises is an error reply, and the replica keeps answering', async () => {
    const r = await replicaFor('raiser');
    const bad = example('raiser', 'negative');
    expect(bad.expected.kind).toBe('error');
    if (bad.expected.kind !== 'error') return;
    const reply = await r.request({ t: 'infer', reply: 'tensors' }, bad.inputs.map(tensorFromJson));
    expect(reply.header).toEqual({ t: 'error', id: expect.any(Number), message: `${bad.expected.type}: ${bad.expected.message}` });
    expect(bad.expected.message).toMatch(/^boom: x=-3.5/);
    const pong = await r.request({ t: 'ping' });
    expect(pong.header).toEqual({ t: 'pong', id: expect.any(Number) });
    const ok = example('raiser', 'positive');
    const good = await r.request({ t: 'infer', reply: 'tensors' }, ok.inputs.map(tensorFromJson));
    expect(good.header.t).toBe('result');
    if (ok.expected.kind !== 'ndarray') throw new Error('expected an ndarray');
    expect(values(good.tensors[0]!)).toEqual(ok.expected.data);
  });
});

describe('python replica: mlflow (/invocations) path', () => {
  const cases: Array<[string, string[]]> = [
    ['iris_sklearn', ['dataframe_split', 'dataframe_records', 'instances', 'inputs', 'bad column name', 'no input field', 'not JSON', 'a list', 'string for a double']],
    ['echo_text', ['dataframe_split + params', 'dataframe_records', 'inputs', 'inputs + params', 'unknown param']],
    ['torch_mlp', ['inputs', 'instances', 'wrong width']],
    ['raiser', ['positive', 'negative']],
  ];
  for (const [model, names] of cases) {
    for (const name of names) {
      it(`${model} / ${name}: the status and body of MLflow's scoring server`, async () => {
        const inv = invocation(model, name);
        const got = await mlflowCall(await replicaFor(model), [inv.body]);
        expect(got.status).toEqual([inv.status]);
        expect(JSON.parse(stableSets(got.bodies[0]!))).toEqual(JSON.parse(stableSets(inv.response)));
        expect(stableSets(got.bodies[0]!)).toBe(stableSets(inv.response));
      });
    }
  }

  it('the recorded answers cover 200s and MLflow\'s 400s', () => {
    const iris = fixtures.models.iris_sklearn!;
    expect(invocation('iris_sklearn', 'bad column name')).toMatchObject({ status: 400, json: { error_code: 'INVALID_PARAMETER_VALUE' } });
    expect((invocation('iris_sklearn', 'bad column name').json as { message: string }).message).toContain("Model is missing inputs ['petal_width']");
    expect(invocation('echo_text', 'dataframe_split + params').json).toEqual({ predictions: [{ upper: 'HELLO?!', length: 5 }, { upper: 'GRÜSSE?!', length: 5 }] });
    expect(invocation('raiser', 'negative')).toMatchObject({ status: 400, json: { error_code: 'BAD_REQUEST' } });
    expect(iris.invocations.filter((i) => i.status === 200).length).toBeGreaterThanOrEqual(4);
  });

  it('a batch of agreeing DataFrame requests is one predict, sliced back per request', async () => {
    const names = ['dataframe_split', 'dataframe_records', 'one row', 'dataframe_split'];
    const invs = names.map((n) => invocation('iris_sklearn', n));
    const got = await mlflowCall(await replicaFor('iris_sklearn'), invs.map((i) => i.body));
    expect(got.status).toEqual(invs.map((i) => i.status));
    expect(got.bodies).toEqual(invs.map((i) => i.response));
    expect(got.header.batched).toBe(4);
  });

  it('a mixed batch: bad requests get their own MLflow errors, the good ones still batch', async () => {
    const names = ['dataframe_split', 'bad column name', 'not JSON', 'dataframe_records', 'inputs'];
    const invs = names.map((n) => invocation('iris_sklearn', n));
    const got = await mlflowCall(await replicaFor('iris_sklearn'), invs.map((i) => i.body));
    expect(got.status).toEqual([200, 400, 400, 200, 200]);
    expect(got.bodies.map(stableSets)).toEqual(invs.map((i) => stableSets(i.response)));
    // split and records parse to DataFrames and share one predict; MLflow parses `inputs` to a dict
    // of columns, which is predicted on its own.
    expect(got.header.batched).toBe(2);
  });

  it('params split batches; each group answers as MLflow does', async () => {
    const names = ['dataframe_split + params', 'dataframe_records', 'inputs + params', 'inputs'];
    const invs = names.map((n) => invocation('echo_text', n));
    const got = await mlflowCall(await replicaFor('echo_text'), invs.map((i) => i.body));
    expect(got.status).toEqual(invs.map((i) => i.status));
    expect(got.bodies).toEqual(invs.map((i) => i.response));
  });

  it('a batch whose predict raises is answered one by one: the 200 and MLflow\'s 400 with its stack trace', async () => {
    const invs = ['positive', 'negative', 'positive'].map((n) => invocation('raiser', n));
    const got = await mlflowCall(await replicaFor('raiser'), invs.map((i) => i.body));
    expect(got.status).toEqual([200, 400, 200]);
    expect(got.bodies).toEqual(invs.map((i) => i.response));
    expect(got.header.batched).toBe(0);
    expect((JSON.parse(got.bodies[1]!) as { stack_trace: string }).stack_trace).toContain('ValueError: boom: x=-3.5 is negative');
  });

  it('tensor-signature requests (torch_mlp) are answered one by one', async () => {
    const invs = ['inputs', 'instances', 'wrong width'].map((n) => invocation('torch_mlp', n));
    const got = await mlflowCall(await replicaFor('torch_mlp'), invs.map((i) => i.body));
    expect(got.status).toEqual(invs.map((i) => i.status));
    expect(got.bodies).toEqual(invs.map((i) => i.response));
  });
});

describe('python replica: process', () => {
  it('answers a ping while a predict runs, and runs `concurrency` predicts at once', async () => {
    const dir = fixtures.models.sleeper!.modelDir;
    const x: Tensor = { name: 'x', datatype: 'FP64', shape: [2], data: new Float64Array([1, 2]) };
    const one = start({ modelDir: dir, concurrency: 1 }, 'sleeper');
    const two = start({ modelDir: dir, concurrency: 2 }, 'sleeper');
    expect((await one.ready()).header.t).toBe('ready');
    expect((await two.ready()).header.t).toBe('ready');

    // concurrency 1: the ping is answered at once although a 0.6 s predict is running.
    const t0 = Date.now();
    const slow = one.request({ t: 'infer', reply: 'tensors', params: { seconds: 0.6 } }, [x]);
    await new Promise((r) => setTimeout(r, 100));
    const pong = await one.request({ t: 'ping' });
    const pongMs = Date.now() - t0;
    expect(pong.header.t).toBe('pong');
    const res = await slow;
    expect(res.header.t).toBe('result');
    expect(values(res.tensors[0]!)).toEqual([1, 2]);
    expect(pongMs).toBeLessThan(450);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);

    // Two 0.5 s predicts: back to back with concurrency 1, together with concurrency 2.
    const timed = async (r: PythonReplicaProcess) => {
      const s = Date.now();
      const replies = await Promise.all([0, 1].map(() => r.request({ t: 'infer', reply: 'tensors', params: { seconds: 0.5 } }, [x])));
      for (const rep of replies) expect(rep.header.t).toBe('result');
      return Date.now() - s;
    };
    expect(await timed(one)).toBeGreaterThanOrEqual(1000);
    expect(await timed(two)).toBeLessThan(900);
  });

  it('a model directory that does not exist: fatal, exit 1', async () => {
    const r = start({ modelDir: '/nonexistent/mlserve/model' }, 'missing');
    const { header } = await r.ready();
    expect(header.t).toBe('fatal');
    expect(header.t === 'fatal' && header.message).toContain('/nonexistent/mlserve/model does not exist');
    expect(await r.exited).toEqual({ code: 1, signal: null });
  });

  it('a python without mlflow: fatal naming mlflow and the pip command, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlserve-empty-venv-'));
    try {
      execFileSync('python3', ['-m', 'venv', '--without-pip', join(dir, 'venv')]);
      const bare = join(dir, 'venv', 'bin', 'python');
      const r = start({ modelDir: fixtures.models.iris_sklearn!.modelDir }, 'nomlflow', { python: bare });
      const { header } = await r.ready();
      expect(header.t).toBe('fatal');
      if (header.t !== 'fatal') return;
      expect(header.message).toContain("cannot import 'mlflow'");
      expect(header.message).toContain(`${bare} -m pip install mlflow`);
      expect(await r.exited).toEqual({ code: 1, signal: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closing the pipe makes the replica exit 0', async () => {
    const r = start({ modelDir: fixtures.models.raiser!.modelDir }, 'close');
    expect((await r.ready()).header.t).toBe('ready');
    r.close();
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  it('closing the pipe while the model loads also ends the replica with 0', async () => {
    const r = start({ modelDir: fixtures.models.torch_mlp!.modelDir }, 'close-early');
    await new Promise((res) => setTimeout(res, 200));
    r.close();
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });
});
