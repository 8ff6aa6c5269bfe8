import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { SHARED_FIXTURES } from '../../helpers/fixtures.js';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { deleteAlias, registerInFileStore, setAlias, setStage, type RegisterOptions } from '../../../src/models/file-store-writer.js';
import { onnxFiles, uuid1, writeSklearnModel } from '../../../src/models/mlflow-writer.js';
import { mlp } from '../../../src/models/zoo.js';

const FIXTURE = join(SHARED_FIXTURES, 'mlruns');
const tmp = mkdtempSync(join(tmpdir(), 'mlserve-store-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Relative paths of files under `dir`; run ids and uuid1 names are replaced by <run> and <uuid>. */
function layout(dir: string, runIds: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out
    .map((p) => runIds.reduce((acc, id, i) => acc.replace(id, `<run${i + 1}>`), p))
    .map((p) => p.replace(/[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}/, '<uuid>'))
    .sort();
}

function keyTree(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keyTree(x)]));
}

const read = (p: string) => readFileSync(p, 'utf8');
const meta = (p: string) => YAML.parse(read(p), { version: '1.1' }) as Record<string, any>;

/** Register an MLP version the way the fixture's populate.py did. */
function registerLikeFixture(root: string, seed: number, extra: Partial<RegisterOptions>) {
  const model = mlp({ seed, sizes: [4, 64, 3] });
  return registerInFileStore(root, {
    name: 'ResNet50',
    modelWriter: { ...onnxFiles(model.builder.toBytes({ externalDataFile: uuid1() })), signature: model.signature },
    runName: `onnx-mlp-${seed}`,
    modelDescription: 'Tiny Gemm+Relu MLP standing in for ResNet50',
    tags: { task: 'classification' },
    runTags: { purpose: 'ts-client-check' },
    params: { seed, hidden: 64 },
    metrics: { accuracy: 0.9 + seed / 100 },
    ...extra,
  });
}

describe('registerInFileStore', () => {
  const root = join(tmp, 'mlruns');
  const v1 = registerLikeFixture(root, 1, { stage: 'Production', aliases: ['champion'], description: 'first version', versionTags: { validated: 'true' } });
  const v2 = registerLikeFixture(root, 2, { stage: 'Staging', aliases: ['challenger'] });
  const fixtureRuns = ['4b9bbc01307a45d780939b81dae105bf', '7d0df641739c4817887a89f85ae40a19'];

  it('numbers versions and returns the artifact source URI', () => {
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(v1.runId).toMatch(/^[0-9a-f]{32}$/);
    expect(v1.source).toBe(`file://${join(root, '0', v1.runId, 'artifacts', 'model')}`);
    expect(fileURLToPath(v1.source)).toBe(v1.artifactDir);
  });

  it('has the same files and folders as the real store', () => {
    expect(layout(root, [v1.runId, v2.runId])).toEqual(layout(FIXTURE, fixtureRuns));
  });

  it('writes every meta.yaml and MLmodel with the real keys and value types', () => {
    const files = layout(FIXTURE, fixtureRuns).filter((f) => f.endsWith('meta.yaml') || f.endsWith('MLmodel'));
    expect(files.length).toBeGreaterThan(5);
    const real = (f: string) => join(FIXTURE, f.replace('<run1>', fixtureRuns[0]).replace('<run2>', fixtureRuns[1]));
    const ours = (f: string) => join(root, f.replace('<run1>', v1.runId).replace('<run2>', v2.runId));
    for (const f of files) expect(keyTree(meta(ours(f))), f).toEqual(keyTree(meta(real(f))));
  });

  it('writes the registry values MLflow writes', () => {
    const rm = meta(join(root, 'models/ResNet50/meta.yaml'));
    expect(rm.aliases).toEqual({ champion: '1', challenger: '2' });
    expect(rm.description).toBe('Tiny Gemm+Relu MLP standing in for ResNet50');
    const mv = meta(join(root, 'models/ResNet50/version-1/meta.yaml'));
    expect(mv).toMatchObject({ current_stage: 'Production', description: 'first version', version: 1, status: 'READY', run_id: v1.runId, source: v1.source, storage_location: v1.source, aliases: [] });
    expect(meta(join(root, 'models/ResNet50/version-2/meta.yaml')).current_stage).toBe('Staging');
    expect(read(join(root, 'models/ResNet50/aliases/champion'))).toBe('1');
    expect(read(join(root, 'models/ResNet50/version-1/tags/validated'))).toBe('true');
    const exp = meta(join(root, '0/meta.yaml'));
    expect(exp).toMatchObject({ experiment_id: '0', name: 'Default', lifecycle_stage: 'active' });
    const run = meta(join(v1.runDir, 'meta.yaml'));
    expect(run).toMatchObject({ run_id: v1.runId, run_uuid: v1.runId, status: 3, source_type: 4, experiment_id: '0', run_name: 'onnx-mlp-1' });
    expect(read(join(v1.runDir, 'metrics/accuracy'))).toMatch(/^\d{13} 0\.91 0\n$/);
  });

  it('records the log-model history tag like MLflow', () => {
    const ours = JSON.parse(read(join(v1.runDir, 'tags/mlflow.log-model.history')));
    const real = JSON.parse(read(join(FIXTURE, '0', fixtureRuns[0], 'tags/mlflow.log-model.history')));
    expect(keyTree(ours[0])).toEqual(keyTree(real[0]));
    expect(Object.keys(ours[0])).toEqual(Object.keys(real[0]));
    expect(ours[0].run_id).toBe(v1.runId);
  });

  it('stores a model onnxruntime can load from the version source', async () => {
    const session = await ort.InferenceSession.create(join(fileURLToPath(v2.source), 'model.onnx'));
    expect(session.inputNames).toEqual(['x']);
    await session.release();
  });
});

describe('moving stages and aliases', () => {
  it('setAlias moves an alias, setStage transitions and can archive', () => {
    const root = join(tmp, 'moves');
    const a = registerLikeFixture(root, 1, { stage: 'Production', aliases: ['champion'] });
    const b = registerLikeFixture(root, 2, {});
    expect(meta(join(root, 'models/ResNet50/version-2/meta.yaml')).current_stage).toBe('None');
    setAlias(root, 'ResNet50', 'champion', b.version);
    expect(read(join(root, 'models/ResNet50/aliases/champion'))).toBe('2');
    expect(meta(join(root, 'models/ResNet50/meta.yaml')).aliases).toEqual({ champion: '2' });
    setStage(root, 'ResNet50', b.version, 'Production', true);
    expect(meta(join(root, 'models/ResNet50/version-1/meta.yaml')).current_stage).toBe('Archived');
    expect(meta(join(root, 'models/ResNet50/version-2/meta.yaml')).current_stage).toBe('Production');
    deleteAlias(root, 'ResNet50', 'champion');
    expect(meta(join(root, 'models/ResNet50/meta.yaml')).aliases).toEqual({});
    expect(() => setAlias(root, 'ResNet50', 'x', 9)).toThrow(/no version 9/);
    expect(a.version).toBe(1);
  });

  it('accepts a writer function, e.g. for a non-ONNX model', () => {
    const root = join(tmp, 'sk');
    const r = registerInFileStore(root, { name: 'Sklearn', aliases: ['prod'], modelWriter: (dir, runId) => writeSklearnModel(dir, { runId }) });
    const mlmodel = meta(join(r.artifactDir, 'MLmodel'));
    expect(Object.keys(mlmodel.flavors).sort()).toEqual(['python_function', 'sklearn']);
    expect(mlmodel.run_id).toBe(r.runId);
    expect(read(join(root, 'models/Sklearn/aliases/prod'))).toBe('1');
  });
});
