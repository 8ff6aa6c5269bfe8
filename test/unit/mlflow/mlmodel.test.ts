import * as fs from 'node:fs';
import { SHARED_FIXTURES } from '../../helpers/fixtures.js';
import { caught } from '../../helpers/errors.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMlmodel, parseSessionOptions, parseSignature, readMlflowModel } from '../../../src/mlflow/mlmodel.js';

const FIXTURES = SHARED_FIXTURES;
const V1_DIR = path.join(FIXTURES, 'mlruns/0/4b9bbc01307a45d780939b81dae105bf/artifacts/model');
const SERVER_ONNX_DIR = path.join(FIXTURES, 'server-artifacts/0/d529411c2bed44fd9b44e1cd867ac47a/artifacts/model');
const SERVER_SKLEARN_DIR = path.join(FIXTURES, 'server-artifacts/0/7da795aade1e4b6b8a36700e01f279e3/artifacts/model');


let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlserve-mlmodel-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeModel(name: string, mlmodel: string, files: string[] = ['model.onnx']): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'MLmodel'), mlmodel);
  for (const f of files) fs.writeFileSync(path.join(dir, f), '');
  return dir;
}

describe('readMlflowModel on the real fixture MLmodel files', () => {
  it.each([
    ['file store v1', V1_DIR, '4b9bbc01307a45d780939b81dae105bf', '9a82f5a44acd4f4296cea374724e948c'],
    ['server artifacts', SERVER_ONNX_DIR, 'd529411c2bed44fd9b44e1cd867ac47a', '050e60de38dc4a11a61604eafe0f260a'],
  ])('%s', (_label, dir, runId, uuid) => {
    const m = readMlflowModel(dir);
    expect(m).toStrictEqual({
      dir,
      flavors: ['onnx', 'python_function'],
      runtime: 'onnx',
      onnxFile: path.join(dir, 'model.onnx'),
      signature: {
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
        columnBased: false,
        unnamedInputs: false,
        unnamedOutputs: false,
      },
      providers: ['CUDAExecutionProvider', 'CPUExecutionProvider'],
      runId,
      modelUuid: uuid,
      mlflowVersion: '2.11.4.dev0',
    });
  });

  it('accepts the MLmodel file path itself', () => {
    expect(readMlflowModel(path.join(V1_DIR, 'MLmodel')).dir).toBe(V1_DIR);
  });

  it('serves the real sklearn model with a Python replica; --runtime onnx refuses it with a conversion hint', () => {
    const m = readMlflowModel(SERVER_SKLEARN_DIR);
    expect([m.runtime, m.onnxFile, m.pyfunc?.loaderModule]).toEqual(['python', undefined, 'mlflow.sklearn']);
    const err = caught(() => readMlflowModel(SERVER_SKLEARN_DIR, 'onnx'));
    expect(err.code).toBe('UNSUPPORTED_MODEL');
    expect(err.message).toContain('has flavors python_function, sklearn but no onnx flavor');
    expect(err.message).toContain('skl2onnx');
    expect(err.message).toContain('mlflow.onnx.log_model(');
    expect(err.message).toContain('or serve it as it is with --runtime python');
  });

  it('--runtime python loads an ONNX model with pyfunc when it has python_function', () => {
    expect(readMlflowModel(V1_DIR, 'python').runtime).toBe('python');
    expect(readMlflowModel(V1_DIR).runtime).toBe('onnx');
  });
});

describe('readMlflowModel on synthetic models', () => {
  it('maps a ColSpec signature to 1-D column tensors', () => {
    const dir = writeModel('colspec', `
flavors:
  onnx:
    data: model.onnx
    onnx_session_options:
      intra_op_num_threads: 4
      inter_op_num_threads: 2
      graph_optimization_level: 99
      execution_mode: PARALLEL
      extra_session_config: {session.use_env_allocators: 1}
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "float", "name": "b"},
    {"type": "long", "name": "c"}, {"type": "integer", "name": "d"}, {"type": "boolean", "name": "e"},
    {"type": "string", "name": "f"}]'
  outputs: '[{"type": "long"}]'
  params: null
`);
    const m = readMlflowModel(dir);
    expect(m.signature).toStrictEqual({
      inputs: [
        { name: 'a', datatype: 'FP64', shape: [-1] },
        { name: 'b', datatype: 'FP32', shape: [-1] },
        { name: 'c', datatype: 'INT64', shape: [-1] },
        { name: 'd', datatype: 'INT32', shape: [-1] },
        { name: 'e', datatype: 'BOOL', shape: [-1] },
        { name: 'f', datatype: 'BYTES', shape: [-1] },
      ],
      outputs: [{ name: 'output_0', datatype: 'INT64', shape: [-1] }],
      columnBased: true,
      unnamedInputs: false,
      unnamedOutputs: true,
    });
    expect(m.sessionOptions).toStrictEqual({
      intraOpNumThreads: 4,
      interOpNumThreads: 2,
      graphOptimizationLevel: 'all',
      executionMode: 'parallel',
      extraSessionConfig: { 'session.use_env_allocators': '1' },
    });
    expect(m.runId).toBeUndefined();
  });

  it('names unnamed tensor specs by position and flags them', () => {
    const sig = parseSignature({
      inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "uint8", "shape": [-1, 3, 224, 224]}}, {"name": "k", "type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]',
      outputs: [{ name: 'logits', type: 'tensor', 'tensor-spec': { dtype: 'float16', shape: [-1, 1000] } }],
    });
    expect(sig).toStrictEqual({
      inputs: [
        { name: 'input_0', datatype: 'UINT8', shape: [-1, 3, 224, 224] },
        { name: 'k', datatype: 'INT64', shape: [-1] },
      ],
      outputs: [{ name: 'logits', datatype: 'FP16', shape: [-1, 1000] }],
      columnBased: false,
      unnamedInputs: true,
      unnamedOutputs: false,
    });
  });

  it('has no signature when none was logged', () => {
    const m = parseMlmodel('flavors: {onnx: {data: model.onnx}}\nsignature: null\n', '/m');
    expect(m.signature).toBeUndefined();
    expect(m.sessionOptions).toBeUndefined();
  });

  // [flavors, --runtime, the runtime chosen or the error]
  it.each([
    [['onnx', 'python_function'], undefined, 'onnx'],
    [['onnx'], undefined, 'onnx'],
    [['sklearn', 'python_function'], undefined, 'python'],
    [['python_function'], undefined, 'python'],
    [['onnx', 'python_function'], 'python', 'python'],
    [['sklearn', 'python_function'], 'onnx', /has flavors sklearn, python_function but no onnx flavor.*skl2onnx.*or serve it as it is with --runtime python/],
    [['pytorch', 'python_function'], 'onnx', /torch\.onnx\.export/],
    [['xgboost', 'python_function'], 'onnx', /onnxmltools/],
    [['keras'], 'onnx', /tf2onnx/],
    [['onnx'], 'python', /has no python_function flavor \(flavors: onnx\), so --runtime python cannot load it; deploy it with the onnx runtime/],
    [['keras'], undefined, /has flavors keras but neither onnx nor python_function: mlserve serves ONNX models .* and anything mlflow\.pyfunc\.load_model can load/],
    [['tensorflow', 'lightgbm'], undefined, /has flavors tensorflow, lightgbm but neither onnx nor python_function/],
    [[], undefined, /has no flavors but neither onnx nor python_function/],
  ] as Array<[string[], 'onnx' | 'python' | undefined, string | RegExp]>)('flavors %j with runtime %s: %s', (flavors, runtime, want) => {
    const yaml = flavors.length ? `flavors:\n${flavors.map((f) => `  ${f}: ${f === 'onnx' ? '{data: model.onnx}' : '{}'}`).join('\n')}\n` : 'flavors: {}\n';
    const dir = writeModel(`flavors-${flavors.join('-')}-${runtime}`, yaml, flavors.includes('onnx') ? ['model.onnx'] : []);
    if (typeof want === 'string') {
      expect(readMlflowModel(dir, runtime).runtime).toBe(want);
      return;
    }
    const err = caught(() => readMlflowModel(dir, runtime));
    expect(err.code).toBe('UNSUPPORTED_MODEL');
    expect(err.message).toMatch(want);
  });

  it.each([
    ['/etc/model.onnx', /relative to the model directory/],
    ['../other/model.onnx', /outside the model directory/],
    ['sub/../../model.onnx', /outside the model directory/],
    ['.', /outside the model directory/],
  ])('refuses flavors.onnx.data %s', (data, message) => {
    const err = caught(() => parseMlmodel(`flavors:\n  onnx:\n    data: ${data}\n`, '/m'));
    expect(err.code).toBe('MODEL_SOURCE');
    expect(err.message).toMatch(message);
  });

  it('accepts onnx data in a sub-folder', () => {
    expect(parseMlmodel('flavors: {onnx: {data: sub/net.onnx}}', '/m').onnxFile).toBe('/m/sub/net.onnx');
  });

  it('says which file it expected when MLmodel is missing', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    const err = caught(() => readMlflowModel(dir));
    expect(err.code).toBe('MODEL_SOURCE');
    expect(err.message).toContain(`expected ${path.join(dir, 'MLmodel')}`);
    expect(caught(() => readMlflowModel(path.join(tmp, 'nope'))).message).toContain('does not exist');
  });

  it('reports a missing ONNX file', () => {
    const dir = writeModel('no-onnx-file', 'flavors: {onnx: {data: model.onnx}}', []);
    expect(caught(() => readMlflowModel(dir)).message).toMatch(/names model\.onnx .* does not exist/);
  });

  it.each([
    ['not: [valid', /not valid YAML/],
    ['flavors: {onnx: {data: m.onnx}}\nsignature: {inputs: "[{"}', /signature\.inputs is not valid JSON/],
    ['flavors: {onnx: {data: m.onnx}}\nsignature: {inputs: \'[{"type": "datetime", "name": "t"}]\'}', /column 't' has type "datetime"/],
    ['flavors: {onnx: {data: m.onnx}}\nsignature: {inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "complex64", "shape": [1]}}]\'}', /numpy dtype complex64/],
    ['flavors: {onnx: {data: m.onnx, onnx_session_options: {execution_mode: FAST}}}', /SEQUENTIAL or PARALLEL/],
    ['flavors: {onnx: {data: m.onnx, onnx_session_options: {graph_optimization_level: 7}}}', /0, 1, 2 or 99/],
  ])('rejects malformed MLmodel %#', (text, message) => {
    expect(() => parseMlmodel(text, '/m')).toThrow(message);
  });

  it('maps session option spellings', () => {
    expect(parseSessionOptions({ graph_optimization_level: 0, execution_mode: 'sequential' })).toStrictEqual({
      graphOptimizationLevel: 'disabled',
      executionMode: 'sequential',
    });
    expect(parseSessionOptions({ graph_optimization_level: 'ORT_ENABLE_EXTENDED' })).toStrictEqual({
      graphOptimizationLevel: 'extended',
    });
    expect(parseSessionOptions(null)).toBeUndefined();
  });
});
