// Replica kinds: how each starts a replica (program, arguments, environment: GPU share, threads),
// what it batches and which header a batch carries. PURE plans; nothing is spawned here.
import { describe, expect, it } from 'vitest';
import { findKind, kindOf, KIND_NAMES } from '../../../src/daemon/fleet/kinds/index.js';
import { withKindDefaults } from '../../../src/daemon/fleet/kinds/kind.js';
import { MAX_DEFAULT_CPU_ENGINES, onnxConcurrency, onnxEngines, onnxKind } from '../../../src/daemon/fleet/kinds/onnx.js';
import { mallocEnv, NODE_FLAGS } from '../../../src/daemon/process-tuning.js';
import { defaultPython, pythonKind } from '../../../src/daemon/fleet/kinds/python.js';
import { MLFLOW_REQUEST_TENSOR, PYTHON_REPLICA_MAIN } from '../../../src/runtime/python/index.js';
import type { Signature } from '../../../src/tensor.js';

const input = { deployment: 'd', replica: 2, modelDir: '/cache/m', modelFile: '/cache/m/model.onnx', threads: 3, concurrency: 2 };
const gpuEnv = { CUDA_VISIBLE_DEVICES: 'GPU-1234', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '33' };

describe('replica kinds', () => {
  it('knows onnx, python, llamacpp and openai, and refuses other names with the list', () => {
    expect(KIND_NAMES).toEqual(['onnx', 'python', 'llamacpp', 'openai']);
    expect(kindOf(undefined)).toBe(onnxKind);
    expect(kindOf('python')).toBe(pythonKind);
    expect(() => kindOf('tensorflow')).toThrow(/unknown runtime 'tensorflow'; mlserve runs: onnx, python, llamacpp, openai/);
    expect(findKind('tensorflow')).toBeUndefined();
  });

  it('onnx: a Node replica with its config as one argument and the GPU environment', () => {
    const plan = onnxKind.spawnPlan({ ...input, gpuEnv, providers: ['cuda', 'cpu'] });
    expect(plan.command).toBe(process.execPath);
    // Node flags first (process-tuning.ts), then the replica program and its config.
    expect(plan.args.slice(0, -2)).toEqual([...NODE_FLAGS]);
    expect(plan.args.at(-2)).toMatch(/runtime\/replica\.js$/);
    // On a GPU: one engine (session); the two concurrent batches take turns on it.
    expect(JSON.parse(plan.args.at(-1)!)).toEqual({ deployment: 'd', replica: 2, modelFile: '/cache/m/model.onnx', threads: 3, concurrency: 2, engines: 1, providers: ['cuda', 'cpu'] });
    expect(plan.env).toEqual({ ...mallocEnv(process.env), ...gpuEnv });
    expect(onnxKind.batchHeader).toBeUndefined();
    // On CPU: an engine per concurrent batch.
    expect(JSON.parse(onnxKind.spawnPlan(input).args.at(-1)!)).toMatchObject({ concurrency: 2, engines: 2 });
  });

  it.each([
    // threads, onGpu -> batches at once (= engines on CPU)
    [undefined, false, 1],
    [1, false, 1],
    [2, false, 2],
    [3, false, 2],
    [64, false, MAX_DEFAULT_CPU_ENGINES],
    [8, true, 1],
  ])('onnx default concurrency: %s threads, on GPU %s -> %i', (threads, onGpu, want) => {
    expect(onnxConcurrency({ threads, onGpu })).toBe(want);
    expect(onnxKind.defaultConcurrency?.({ threads, onGpu })).toBe(want);
  });

  it.each([
    [1, undefined, 1],
    [3, ['cpu'], 3],
    [3, ['cuda', 'cpu'], 1],
    [0, undefined, 1],
  ])('onnx engines: concurrency %i with providers %j -> %i', (concurrency, providers, want) => {
    expect(onnxEngines(concurrency, providers)).toBe(want);
  });

  it('other kinds keep one batch at a time unless told (no defaultConcurrency)', () => {
    expect(pythonKind.defaultConcurrency).toBeUndefined();
  });

  it.each([
    // settings, kind -> maxConcurrentBatches after the kind's defaults
    ['onnx, 2 threads, unset', { threads: 2 }, onnxKind, 2],
    ['onnx, 2 threads on a GPU', { threads: 2, gpus: 0.5 }, onnxKind, 1],
    ['onnx, set by the operator', { threads: 2, maxConcurrentBatches: 1 }, onnxKind, 1],
    ['python: no default of its own', { threads: 2 }, pythonKind, undefined],
    ['unknown kind', { threads: 2 }, undefined, undefined],
  ])('withKindDefaults: %s', (_what, s: { threads: number; gpus?: number; maxConcurrentBatches?: number }, kind, want) => {
    const got = withKindDefaults(s, kind);
    expect(got.maxConcurrentBatches).toBe(want);
    expect(got.threads).toBe(s.threads);
    if (s.maxConcurrentBatches !== undefined || want === undefined) expect(got).toBe(s);
  });

  it('python: the env\'s interpreter runs mlserve_replica.py; its GPU share becomes the torch memory fraction; its own working dir', () => {
    const plan = pythonKind.spawnPlan({ ...input, gpuEnv, gpuShare: 0.33, interpreter: '/envs/abc/bin/python', workDir: '/home/run' });
    expect(plan.command).toBe('/envs/abc/bin/python');
    expect(plan.args).toEqual([PYTHON_REPLICA_MAIN, JSON.stringify({ deployment: 'd', replica: 2, modelDir: '/cache/m', threads: 3, concurrency: 2, gpuFraction: 0.33 })]);
    expect(plan.env).toEqual({ ...gpuEnv, PYTHONUNBUFFERED: '1' });
    expect(plan.removeEnv).toEqual(['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP']);
    expect(plan.cwd).toBe('/home/run');
    const cpu = pythonKind.spawnPlan(input);
    expect(JSON.parse(cpu.args[1]).gpuFraction).toBeUndefined();
    expect(cpu.command).toBe(defaultPython());
  });

  it.each([
    [{ MLSERVE_PYTHON: '/opt/py/bin/python' }, '/opt/py/bin/python'],
    [{ MLSERVE_PYTHON: '' }, 'python3'],
    [{}, 'python3'],
  ])('default interpreter with %j is %s', (env, want) => expect(defaultPython(env)).toBe(want));

  const sig = (inputs: number[][], outputs: number[][] = []): Signature => ({
    inputs: inputs.map((shape, i) => ({ name: `i${i}`, datatype: 'FP32', shape })),
    outputs: outputs.map((shape, i) => ({ name: `o${i}`, datatype: 'FP32', shape })),
  });
  it.each([
    ['columns', sig([[-1], [-1]], [[-1]]), true, true],
    ['columns without an output signature', sig([[-1], [-1]]), true, false],
    ['a tensor with a variable first dim', sig([[-1, 4]], [[-1, 3]]), true, true],
    ['a fixed first dim', sig([[1, 4]], [[1, 3]]), false, false],
    ['no signature', sig([]), false, false],
  ])('batchable (%s): python %s, onnx %s', (_what, s, python, onnx) => {
    expect(pythonKind.batchable(s)).toBe(python);
    expect(onnxKind.batchable(s)).toBe(onnx);
  });

  it('python batches say how to answer: tensors with the rows per request, or MLflow JSON for raw /invocations bodies', () => {
    const t = { name: 'x', datatype: 'FP32' as const, shape: [3, 4], data: new Float32Array(12) };
    expect(pythonKind.batchHeader!([t], [1, 2])).toEqual({ reply: 'tensors', requests: [1, 2] });
    const raw = { name: MLFLOW_REQUEST_TENSOR, datatype: 'BYTES' as const, shape: [2], data: ['{}', '{}'] };
    expect(pythonKind.batchHeader!([raw], [1, 1])).toEqual({ reply: 'mlflow' });
  });

  it('python metadata is what the replica reported; onnx merges dim names from MLflow', () => {
    const reported = sig([[-1, 4]], [[-1, 3]]);
    expect(pythonKind.metadata(sig([[5, 4]]), reported)).toBe(reported);
    expect(onnxKind.metadata(null, reported)).toBe(reported);
  });
});
