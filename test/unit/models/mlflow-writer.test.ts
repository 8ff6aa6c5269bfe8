import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { SHARED_FIXTURES } from '../../helpers/fixtures.js';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import {
  onnxFiles, pyJson, pyYamlDump, signatureToMlflow, uuid1, writeMlflowModel, writeSklearnModel,
} from '../../../src/models/mlflow-writer.js';
import { mlp, seededInput } from '../../../src/models/zoo.js';
import { DTYPES, dtypeFromNumpy } from '../../../src/tensor.js';

const FIXTURES = SHARED_FIXTURES;
const ONNX_FIXTURE = join(FIXTURES, 'mlruns/0/4b9bbc01307a45d780939b81dae105bf/artifacts/model');
const SKLEARN_FIXTURE = join(FIXTURES, 'server-artifacts/0/7da795aade1e4b6b8a36700e01f279e3/artifacts/model');
const UUID1 = /^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const tmp = mkdtempSync(join(tmpdir(), 'mlserve-mlflow-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Relative file paths under `dir`, with uuid1 file names replaced by <uuid>. */
function layout(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).replace(/[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/, '<uuid>'));
    }
  };
  walk(dir);
  return out.sort();
}

/** The nested key structure of a parsed YAML document. */
function keyTree(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return typeof v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keyTree(x)]));
}

const read = (p: string) => readFileSync(p, 'utf8');
const parseYaml = (p: string) => YAML.parse(read(p), { version: '1.1' }) as Record<string, any>;

function writeFixtureLikeOnnx(dir: string) {
  const model = mlp({ seed: 1, sizes: [4, 64, 3] });
  const built = model.builder.toBytes({ externalDataFile: uuid1() });
  const info = writeMlflowModel(dir, {
    ...onnxFiles(built), signature: model.signature, runId: '4b9bbc01307a45d780939b81dae105bf',
    modelUuid: '9a82f5a44acd4f4296cea374724e948c', created: new Date('2026-11-23T18:01:57.931Z'),
  });
  return { model, built, info };
}

describe('writeMlflowModel', () => {
  const dir = join(tmp, 'onnx');
  const { model, built, info } = writeFixtureLikeOnnx(dir);

  it('lays out the directory like mlflow.onnx.log_model', () => {
    expect(layout(dir)).toEqual(layout(ONNX_FIXTURE));
  });

  it('writes an MLmodel identical to the recorded one but for size and time', () => {
    const normalize = (s: string) => s.replace(/model_size_bytes: \d+/, 'model_size_bytes: N').replace(/utc_time_created: '.*'/, "utc_time_created: 'T'");
    expect(normalize(read(join(dir, 'MLmodel')))).toBe(normalize(read(join(ONNX_FIXTURE, 'MLmodel'))));
    expect(read(join(dir, 'metadata/MLmodel'))).toBe(read(join(dir, 'MLmodel')));
    for (const f of ['conda.yaml', 'python_env.yaml', 'requirements.txt']) expect(read(join(dir, f))).toBe(read(join(ONNX_FIXTURE, f)));
  });

  it('parses back with the right signature and size', () => {
    const mlmodel = parseYaml(join(dir, 'MLmodel'));
    expect(keyTree(mlmodel)).toEqual(keyTree(parseYaml(join(ONNX_FIXTURE, 'MLmodel'))));
    expect(JSON.parse(mlmodel.signature.inputs)).toEqual([{ name: 'x', type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 4] } }]);
    expect(JSON.parse(mlmodel.signature.outputs)).toEqual([{ name: 'y', type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 3] } }]);
    expect(mlmodel.signature.params).toBeNull();
    expect(mlmodel.model_size_bytes).toBe(built.model.byteLength + built.externalData!.byteLength);
    expect(mlmodel.utc_time_created).toBe('2026-11-23 18:01:57.931000');
    expect(info.mlmodel.model_uuid).toBe('9a82f5a44acd4f4296cea374724e948c');
  });

  it('loads in onnxruntime from the model directory', async () => {
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const out = await session.run({ x: new ort.Tensor('float32', seededInput(1, 8), [2, 4]) });
    expect(out.y.dims).toEqual([2, 3]);
    await session.release();
    expect(model.signature.inputs[0].shape).toEqual([-1, 4]);
  });

  it('writes a plain save_model directory without run fields or metadata/', () => {
    const d = join(tmp, 'saved');
    writeMlflowModel(d, { model: mlp({ seed: 2, sizes: [4, 3] }).builder.toBytes().model, signature: model.signature });
    const mlmodel = parseYaml(join(d, 'MLmodel'));
    expect(mlmodel.run_id).toBeUndefined();
    expect(mlmodel.artifact_path).toBeUndefined();
    expect(mlmodel.model_uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(layout(d)).toEqual(['MLmodel', 'conda.yaml', 'model.onnx', 'python_env.yaml', 'requirements.txt']);
  });
});

describe('writeSklearnModel', () => {
  it('mirrors the recorded sklearn MLmodel (no onnx flavor)', () => {
    const d = join(tmp, 'sk');
    writeSklearnModel(d, { runId: '7da795aade1e4b6b8a36700e01f279e3', modelUuid: '20059295c9cb4f1bba6aab52f1af8661' });
    expect(layout(d)).toEqual(layout(SKLEARN_FIXTURE));
    const normalize = (s: string) => s.replace(/model_size_bytes: \d+/, 'N').replace(/utc_time_created: '.*'/, 'T');
    expect(normalize(read(join(d, 'MLmodel')))).toBe(normalize(read(join(SKLEARN_FIXTURE, 'MLmodel'))));
    for (const f of ['conda.yaml', 'python_env.yaml', 'requirements.txt']) expect(read(join(d, f))).toBe(read(join(SKLEARN_FIXTURE, f)));
    expect(parseYaml(join(d, 'MLmodel')).flavors.onnx).toBeUndefined();
  });
});

describe('helpers', () => {
  it('maps every DType to a numpy name mlserve reads back', () => {
    const sig = signatureToMlflow({ inputs: DTYPES.map((d) => ({ name: d, datatype: d, shape: [-1] })), outputs: [] });
    const specs = JSON.parse(sig.inputs) as { name: string; 'tensor-spec': { dtype: string } }[];
    for (const s of specs) expect(dtypeFromNumpy(s['tensor-spec'].dtype)).toBe(s.name);
    expect(sig.outputs).toBe('[]');
  });

  it('writes Python json.dumps and PyYAML text', () => {
    expect(pyJson({ a: [1, -1], b: null, c: 'é"' })).toBe('{"a": [1, -1], "b": null, "c": "\\u00e9\\""}');
    for (const f of ['mlruns/0/meta.yaml', 'mlruns/models/ResNet50/meta.yaml', 'mlruns/models/ResNet50/version-1/meta.yaml',
      'mlruns/0/4b9bbc01307a45d780939b81dae105bf/meta.yaml', 'mlruns/0/4b9bbc01307a45d780939b81dae105bf/artifacts/model/MLmodel']) {
      const text = read(join(FIXTURES, f));
      expect(pyYamlDump(YAML.parse(text, { version: '1.1' }))).toBe(text);
    }
  });

  it('names external data like str(uuid.uuid1())', () => {
    expect(uuid1()).toMatch(UUID1);
    expect(uuid1()).not.toBe(uuid1());
  });
});
