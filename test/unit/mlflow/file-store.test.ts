import * as fs from 'node:fs';
import { SHARED_FIXTURES } from '../../helpers/fixtures.js';
import { caught } from '../../helpers/errors.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listRegisteredModels,
  relocateByLayout,
  resolveArtifactUri,
  resolveInFileStore,
  resolveLoggedModel,
  resolveRunArtifacts,
} from '../../../src/mlflow/file-store.js';
import { readMlflowModel } from '../../../src/mlflow/mlmodel.js';
import { parseModelSource, type RegistrySource } from '../../../src/mlflow/uri.js';

const FIXTURE = path.join(SHARED_FIXTURES, 'mlruns');
const RECORDED_PREFIX = '/srv/mlflow/mlruns';
const RUN_V1 = '4b9bbc01307a45d780939b81dae105bf';
const RUN_V2 = '7d0df641739c4817887a89f85ae40a19';
const UUID_FILE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.data)?$/;

/** The uuid-named external-data file beside model.onnx in the fixture for `runId`. */
function externalDataFile(runId: string): string {
  const files = fs.readdirSync(path.join(FIXTURE, '0', runId, 'artifacts/model')).filter((f) => UUID_FILE.test(f));
  expect(files).toHaveLength(1);
  return files[0];
}

function makeWritable(p: string): void {
  const st = fs.statSync(p);
  fs.chmodSync(p, st.mode | 0o200 | (st.isDirectory() ? 0o100 : 0));
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) makeWritable(path.join(p, e));
}

function allFiles(dir: string, name: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name === name)
    .map((e) => path.join(e.parentPath, e.name));
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlserve-filestore-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function copyStore(label: string, rewrite: boolean): string {
  const root = path.join(tmp, label, 'mlruns');
  fs.cpSync(FIXTURE, root, { recursive: true });
  makeWritable(path.join(tmp, label));
  if (rewrite) {
    const url = pathToFileURL(root).href;
    for (const f of allFiles(root, 'meta.yaml')) {
      const text = fs.readFileSync(f, 'utf8');
      fs.writeFileSync(f, text.replaceAll(`file://${RECORDED_PREFIX}`, url).replaceAll(RECORDED_PREFIX, root));
    }
  }
  return root;
}

const registry = (s: string) => parseModelSource(s) as RegistrySource;


describe.each([
  ['rewritten to the copy', true],
  ['relocated by layout (untouched /srv/mlflow/mlruns paths)', false],
])('file store %s', (label, rewrite) => {
  let root: string;
  beforeAll(() => {
    root = copyStore(rewrite ? 'rewritten' : 'untouched', rewrite);
    const sample = fs.readFileSync(path.join(root, 'models/ResNet50/version-1/meta.yaml'), 'utf8');
    expect(sample.includes(RECORDED_PREFIX)).toBe(!rewrite);
  });

  it.each([
    ['models:/ResNet50/1', '1', 'Production', RUN_V1, ['champion']],
    ['models:/ResNet50/2', '2', 'Staging', RUN_V2, ['challenger']],
    ['models:/ResNet50/Production', '1', 'Production', RUN_V1, ['champion']],
    ['models:/ResNet50/production', '1', 'Production', RUN_V1, ['champion']],
    ['models:/ResNet50/Staging', '2', 'Staging', RUN_V2, ['challenger']],
    ['models:/ResNet50/latest', '2', 'Staging', RUN_V2, ['challenger']],
    ['models:/ResNet50@champion', '1', 'Production', RUN_V1, ['champion']],
    ['models:/ResNet50@challenger', '2', 'Staging', RUN_V2, ['challenger']],
  ])('%s -> version %s', (uri, version, stage, runId, aliases) => {
    const r = resolveInFileStore(root, registry(uri));
    expect(r).toMatchObject({ name: 'ResNet50', version, stage, runId, aliases, trackingRoot: root, status: 'READY' });
    expect(r.source).toBe(`file://${rewrite ? root : RECORDED_PREFIX}/0/${runId}/artifacts/model`);
    expect(r.localDir).toBe(path.join(root, '0', runId, 'artifacts/model'));
    const files = fs.readdirSync(r.localDir);
    expect(files).toContain('model.onnx');
    expect(files).toContain('MLmodel');
    expect(files).toContain(externalDataFile(runId));
    expect(readMlflowModel(r.localDir).onnxFile).toBe(path.join(r.localDir, 'model.onnx'));
  });

  it('carries descriptions and version tags', () => {
    const v1 = resolveInFileStore(root, registry('models:/ResNet50/1'));
    expect(v1.description).toBe('first version');
    expect(v1.tags).toStrictEqual({ validated: 'true' });
    expect(resolveInFileStore(root, registry('models:/ResNet50/2')).description).toBeUndefined();
  });

  it('applies a sub-path', () => {
    const r = resolveInFileStore(root, registry('models:/ResNet50/1/metadata'));
    expect(r.localDir).toBe(path.join(root, '0', RUN_V1, 'artifacts/model/metadata'));
  });

  it.each([
    ['models:/Nope/1', /^Registered Model with name=Nope not found \(tracking store: .*\)\. Registered models here: ResNet50\.$/],
    ['models:/resnet50/1', /Registered Model with name=resnet50 not found .*Did you mean ResNet50\?/],
    ['models:/ResNet50/9', /^Model Version \(name=ResNet50, version=9\) not found \(tracking store: .*\)\. Versions here: 1 \(Production\), 2 \(Staging\)\.$/],
    ['models:/ResNet50/Archived', /^No versions of model with name 'ResNet50' and stage 'Archived' found \(tracking store: /],
    ['models:/ResNet50/Shipping', /Invalid Model Version stage: Shipping\. Value must be one of None, Staging, Production, Archived\./],
    ['models:/ResNet50@nope', /^Registered model alias nope not found \(tracking store: .*\)\. Aliases of ResNet50: challenger, champion\.$/],
    ['models:/Nope@champion', /^Registered Model with name=Nope not found/],
  ])('%s fails clearly', (uri, message) => {
    const err = caught(() => resolveInFileStore(root, registry(uri)));
    expect(err.code).toBe('MODEL_SOURCE');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(root);
  });

  it('resolves runs:/ URIs through the run meta.yaml', () => {
    expect(resolveRunArtifacts(root, RUN_V2, 'model')).toBe(path.join(root, '0', RUN_V2, 'artifacts/model'));
    expect(resolveArtifactUri(root, `runs:/${RUN_V1}/model`)).toBe(path.join(root, '0', RUN_V1, 'artifacts/model'));
    expect(caught(() => resolveRunArtifacts(root, 'ffff', 'model')).message).toMatch(/^Run 'ffff' not found/);
    expect(caught(() => resolveRunArtifacts(root, RUN_V1, 'nothing')).message).toMatch(/has no artifact 'nothing'/);
  });

  it('lists registered models', () => {
    const models = listRegisteredModels(root);
    expect(models).toHaveLength(1);
    const [m] = models;
    expect(m).toMatchObject({
      name: 'ResNet50',
      description: 'Tiny Gemm+Relu MLP standing in for ResNet50',
      aliases: { champion: '1', challenger: '2' },
      tags: { task: 'classification' },
    });
    expect(m.versions.map((v) => [v.version, v.stage, v.runId, v.aliases])).toStrictEqual([
      ['1', 'Production', RUN_V1, ['champion']],
      ['2', 'Staging', RUN_V2, ['challenger']],
    ]);
    expect(m.versions[0].source).toContain(`/0/${RUN_V1}/artifacts/model`);
  });
});

describe('file store edge cases (synthetic additions to a copy)', () => {
  let root: string;
  const modelId = 'm-4f2a9c0e1b7d4e6f8a3b2c1d0e9f8a7b';
  const write = (rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  const version = (name: string, v: number, source: string, extra = '') =>
    write(`models/${name}/version-${v}/meta.yaml`, `current_stage: None\nname: ${name}\nsource: ${source}\nstatus: READY\nversion: ${v}\n${extra}`);

  beforeAll(() => {
    root = copyStore('synthetic', false);
    // An MLflow 3 LoggedModel in experiment 0, recorded on another machine.
    write(`0/models/${modelId}/meta.yaml`, `artifact_location: file:///elsewhere/mlruns/0/models/${modelId}/artifacts\nmodel_id: ${modelId}\nname: net\nsource_run_id: ${RUN_V1}\n`);
    write(`0/models/${modelId}/artifacts/MLmodel`, 'flavors: {onnx: {data: model.onnx}}\n');
    write(`0/models/${modelId}/artifacts/model.onnx`, '');
    write('models/Three/meta.yaml', 'name: Three\n');
    version('Three', 1, `models:/${modelId}`, `storage_location: file:///elsewhere/mlruns/0/models/${modelId}/artifacts\n`);
    version('Three', 2, 'mlflow-artifacts:/0/abc/artifacts/model');
    version('Three', 3, 'models:/ResNet50/2');
    version('Three', 4, `runs:/${RUN_V1}/net`);
    version('Three', 10, `${RECORDED_PREFIX}/0/${RUN_V2}/artifacts/model`);
  });

  it('resolves a logged model source (models:/m-…) by layout', () => {
    const dir = path.join(root, '0/models', modelId, 'artifacts');
    expect(resolveInFileStore(root, registry('models:/Three/1')).localDir).toBe(dir);
    expect(resolveLoggedModel(root, modelId)).toBe(dir);
    expect(caught(() => resolveLoggedModel(root, 'm-00')).message).toMatch(/Logged model with ID 'm-00' not found/);
  });

  it('names an unreadable scheme', () => {
    const err = caught(() => resolveInFileStore(root, registry('models:/Three/2')));
    expect(err.code).toBe('MODEL_SOURCE');
    expect(err.message).toMatch(/mlflow-artifacts: scheme/);
  });

  it('follows a models:/Name/Version source', () => {
    expect(resolveInFileStore(root, registry('models:/Three/3')).localDir).toBe(path.join(root, '0', RUN_V2, 'artifacts/model'));
  });

  it('falls back from a run path to the LoggedModel the run logged (MLflow 3)', () => {
    expect(resolveInFileStore(root, registry('models:/Three/4')).localDir).toBe(path.join(root, '0/models', modelId, 'artifacts'));
  });

  it('relocates bare absolute paths and orders versions numerically', () => {
    const latest = resolveInFileStore(root, registry('models:/Three/latest'));
    expect(latest.version).toBe('10');
    expect(latest.localDir).toBe(path.join(root, '0', RUN_V2, 'artifacts/model'));
    expect(resolveInFileStore(root, registry('models:/Three/None')).version).toBe('10');
  });

  it('relocateByLayout returns undefined when nothing matches', () => {
    expect(relocateByLayout(root, '/srv/other/9/abc/artifacts/model')).toBeUndefined();
    expect(relocateByLayout(root, '/no/layout/here')).toBeUndefined();
  });

  it('reports a missing store and an empty one', () => {
    expect(caught(() => resolveInFileStore(path.join(tmp, 'missing'), registry('models:/A/1'))).message)
      .toMatch(/MLflow tracking store .*missing does not exist/);
    const empty = path.join(tmp, 'empty-store');
    fs.mkdirSync(empty);
    expect(caught(() => resolveInFileStore(empty, registry('models:/A/1'))).message)
      .toMatch(/Registered Model with name=A not found .*There are no registered models here\./);
    expect(listRegisteredModels(empty)).toStrictEqual([]);
  });

  it('refuses names that would climb out of the store', () => {
    expect(caught(() => resolveInFileStore(root, registry('models:/../1'))).message).toMatch(/name=\.\. not found/);
    expect(caught(() => resolveInFileStore(root, registry('models:/ResNet50@..'))).message).toMatch(/alias \.\. not found/);
  });
});
