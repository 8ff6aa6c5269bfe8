// Write-back on promote/rollback without a registry: what is refused before anything changes, the
// events of a write and of a refusal, and tracking carried over to the promoted version only when
// the write moved the very alias/stage the old primary followed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../../src/daemon/control/store.js';
import type { DeploymentRow } from '../../../src/daemon/control/state.js';
import { CanaryCommands } from '../../../src/daemon/rollout/canary-commands.js';
import { checkRegistryWrite, writeToRegistry, type WriteOutcome } from '../../../src/mlflow/write-back.js';
import { findModelVersion } from '../../../src/mlflow/file-store.js';
import { registerInFileStore } from '../../../src/models/file-store-writer.js';
import { onnxFiles, uuid1 } from '../../../src/models/mlflow-writer.js';
import { mlp } from '../../../src/models/zoo.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function store(): Store {
  const d = mkdtempSync(join(tmpdir(), 'regwrite-'));
  dirs.push(d);
  return new Store(join(d, 'state.db'));
}

const REG = 'http://mlflow.example:5000';
const TRACK = { intervalS: 30, env: { MLFLOW_TRACKING_URI: REG }, cwd: '/' };
const row = (name: string, modelUri: string, version: string, extra: Partial<DeploymentRow> = {}) => ({
  name, endpoint: 'ep', modelUri, resolved: { kind: 'registry' as const, name: 'M', version, registry: REG },
  modelDir: `/c/${name}`, modelFile: `/c/${name}/model.onnx`, signature: null, settings: { replicas: 1 }, state: 'ready' as const, message: null, ...extra,
});

function setup(opts: { primary?: Partial<DeploymentRow>; canary?: Partial<DeploymentRow>; answer?: Partial<WriteOutcome> } = {}) {
  const s = store();
  s.createDeployment(row('ep-v1', 'models:/M@champion', '1', opts.primary));
  s.createDeployment(row('ep-v3', 'models:/M/3', '3', opts.canary));
  s.setRouting('ep', 'ep-v1', 'ep-v3', 10);
  const writes: unknown[] = [];
  const canary = new CanaryCommands({
    store: s, kick: async () => {}, whenStopped: async () => {}, counters: async () => ({}) as never, resetShadow: () => {},
    writeRegistry: async (target, write, env) => {
      writes.push({ target, write, env });
      return { ok: true, ...target, ...write, calls: ['POST /api/2.0/mlflow/registered-models/alias'], ...opts.answer };
    },
  });
  return { s, canary, writes };
}

describe('checkRegistryWrite', () => {
  it('takes aliases MLflow takes and Staging/Production in any case', () => {
    expect(checkRegistryWrite({ alias: 'champion', stage: 'production' })).toEqual({ alias: 'champion', stage: 'Production' });
    expect(checkRegistryWrite({ stage: 'STAGING' })).toEqual({ stage: 'Staging' });
  });
  it('refuses reserved, path-like and empty aliases, other stages, and nothing at all', () => {
    for (const alias of ['latest', 'V3', '', '../x', 'a/b', 'a:b', '..']) expect(() => checkRegistryWrite({ alias }), alias).toThrow(/--registry-alias/);
    expect(() => checkRegistryWrite({ stage: 'Archived' })).toThrow(/Staging or Production/);
    expect(() => checkRegistryWrite({ stage: 'Prod' })).toThrow(/Invalid Model Version stage/);
    expect(() => checkRegistryWrite({})).toThrow(/nothing to write back/);
  });
});

describe('promote/rollback with write-back', () => {
  it('promotes, then writes to the registry the version came from, with the CLI\'s credentials, as events', async () => {
    const { s, canary, writes } = setup();
    const e = await canary.promote('ep', { alias: 'champion', env: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' } });
    expect(e).toMatchObject({ primary: 'ep-v3', canary: null, registryWrite: { ok: true, alias: 'champion', version: '3' } });
    expect(writes).toEqual([{ target: { registry: REG, name: 'M', version: '3' }, write: { alias: 'champion' }, env: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' } }]);
    const kinds = s.listEvents({ subject: 'ep' }).map((x) => x.kind);
    expect(kinds).toEqual(expect.arrayContaining(['canary-promoted', 'registry-write', 'registry-written']));
    expect(JSON.stringify(s.listEvents({}))).not.toContain('"p"');
  });

  it('a refused write keeps the promotion and says so', async () => {
    const { s, canary } = setup({ answer: { ok: false, error: 'MLflow answered 403 Forbidden' } });
    const e = await canary.promote('ep', { alias: 'champion' });
    expect(e).toMatchObject({ primary: 'ep-v3', canary: null, registryWrite: { ok: false, error: 'MLflow answered 403 Forbidden' } });
    expect(s.getEndpoint('ep')).toMatchObject({ primary: 'ep-v3', canary: null });
    const failed = s.listEvents({ subject: 'ep' }).find((x) => x.kind === 'registry-write-failed');
    expect(failed?.message).toMatch(/403 Forbidden; ep-v3 still serves \(mlserve does not undo it\)/);
  });

  it('refuses before promoting when the canary is not a registered version', async () => {
    const { s, canary, writes } = setup({ canary: { modelUri: './model.onnx', resolved: { kind: 'path', version: '1' } } });
    await expect(canary.promote('ep', { alias: 'champion' })).rejects.toThrow(/ep-v3 was deployed from \.\/model\.onnx, not a registered model version/);
    expect(s.getEndpoint('ep')).toMatchObject({ primary: 'ep-v1', canary: 'ep-v3' });
    expect(writes).toEqual([]);
  });

  it('rollback writes on the primary\'s version', async () => {
    const { canary, writes } = setup();
    const e = await canary.rollback('ep', undefined, { alias: 'stable' });
    expect(e).toMatchObject({ primary: 'ep-v1', canary: null, registryWrite: { ok: true, version: '1' } });
    expect(writes).toMatchObject([{ target: { version: '1' }, write: { alias: 'stable' } }]);
  });

  it('the promoted version takes over tracking of the alias the write moved, and only that one', async () => {
    let t = setup({ primary: { settings: { replicas: 1, track: TRACK } } });
    await t.canary.promote('ep', { alias: 'champion' });
    expect(t.s.getDeployment('ep-v3')).toMatchObject({ modelUri: 'models:/M@champion', settings: { track: TRACK }, resolved: { version: '3' } });
    expect(t.s.listEvents({ subject: 'ep' }).some((x) => x.kind === 'track-continued')).toBe(true);

    t = setup({ primary: { settings: { replicas: 1, track: TRACK } } });
    await t.canary.promote('ep', { alias: 'challenger' });
    expect(t.s.getDeployment('ep-v3')).toMatchObject({ modelUri: 'models:/M/3' });
    expect(t.s.getDeployment('ep-v3')!.settings.track).toBeUndefined();

    t = setup({ primary: { settings: { replicas: 1, track: TRACK } }, answer: { ok: false, error: 'refused' } });
    await t.canary.promote('ep', { alias: 'champion' });
    expect(t.s.getDeployment('ep-v3')!.settings.track).toBeUndefined();

    t = setup({ primary: { modelUri: 'models:/M/Production', settings: { replicas: 1, track: TRACK } } });
    await t.canary.promote('ep', { stage: 'production' });
    expect(t.s.getDeployment('ep-v3')).toMatchObject({ modelUri: 'models:/M/Production', settings: { track: TRACK } });
  });
});

describe('writeToRegistry on a local file store', () => {
  it('sets the alias and the stage (archiving the old Production) where MLflow keeps them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'regwrite-fs-'));
    dirs.push(dir);
    const root = join(dir, 'mlruns');
    for (const seed of [1, 2]) {
      const model = mlp({ seed, sizes: [4, 8, 3] });
      registerInFileStore(root, { name: 'M', modelWriter: { ...onnxFiles(model.builder.toBytes({ externalDataFile: uuid1() })), signature: model.signature }, stage: seed === 1 ? 'Production' : 'None', aliases: seed === 1 ? ['champion'] : [] });
    }
    const out = await writeToRegistry({ registry: root, name: 'M', version: '2' }, { alias: 'champion', stage: 'Production' }, { MLFLOW_TRACKING_URI: `file://${root}` }, '/');
    expect(out).toMatchObject({ ok: true, calls: ['file store: set alias champion -> version 2', 'file store: transition version 2 to Production (archive existing)'] });
    expect(findModelVersion(root, { kind: 'registry', name: 'M', alias: 'champion' }).version).toBe('2');
    expect(findModelVersion(root, { kind: 'registry', name: 'M', stage: 'Production' }).version).toBe('2');
    expect(findModelVersion(root, { kind: 'registry', name: 'M', version: '1' }).stage).toBe('Archived');
    const elsewhere = await writeToRegistry({ registry: root, name: 'M', version: '1' }, { alias: 'champion' }, { MLFLOW_TRACKING_URI: 'http://other:5000' }, '/');
    expect(elsewhere).toMatchObject({ ok: false, error: expect.stringContaining('came from the registry at') });
    expect(findModelVersion(root, { kind: 'registry', name: 'M', alias: 'champion' }).version).toBe('2');
  });
});
