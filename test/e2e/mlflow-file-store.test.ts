// Deploy the real MLflow fixture store's ResNet50 through every local URI form, infer over OIP and
// /invocations, compare with onnxruntime in-process, restart the daemon, undeploy.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSklearnModel } from '../../src/models/mlflow-writer.js';
import { TestDaemon } from '../helpers/daemon.js';
import { copyFixtureStore, FILE_STORE_RUNS, fixtureModelDir, runInProcess } from '../helpers/fixtures.js';

let d: TestDaemon;
let store: string;
const X = [0.5, -1, 2, 3.25, 1, 1, 1, 1, -2, 0, 0.125, 4];

async function expected(version: 1 | 2): Promise<number[]> {
  const out = await runInProcess(join(fixtureModelDir(store, version), 'model.onnx'), {
    x: { type: 'float32', data: Float32Array.from(X), dims: [3, 4] },
  });
  return Array.from(out.y.data as Float32Array);
}

beforeAll(async () => {
  store = copyFixtureStore();
  d = new TestDaemon({ MLFLOW_TRACKING_URI: `file://${store}` });
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
});

describe('deploy from a local MLflow file store', () => {
  it('resolves models:/ResNet50/Production, serves OIP and /invocations equal to in-process ORT', async () => {
    const r = await d.deploy('models:/ResNet50/Production');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ name: 'resnet50-v1', endpoint: 'resnet50', state: 'ready' });
    expect(r.json.resolved).toMatchObject({ name: 'ResNet50', version: '1', runId: FILE_STORE_RUNS.v1, stage: 'Production' });
    expect(r.json.signature.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 4] }]);

    const want = await expected(1);
    const oip = await d.http('POST', '/v2/models/resnet50/infer', {
      id: 'req-1',
      inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: X }],
    });
    expect(oip.status, oip.text).toBe(200);
    expect(oip.json).toMatchObject({ model_name: 'resnet50', model_version: '1', id: 'req-1' });
    expect(oip.json.outputs[0]).toMatchObject({ name: 'y', datatype: 'FP32', shape: [3, 3] });
    expect(oip.json.outputs[0].data).toEqual(want);

    const nested = [X.slice(0, 4), X.slice(4, 8), X.slice(8)];
    const versioned = await d.http('POST', '/v2/models/resnet50/versions/1/infer', {
      inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: nested }],
    });
    expect(versioned.json.outputs[0].data).toEqual(want);

    const wantNested = [want.slice(0, 3), want.slice(3, 6), want.slice(6)];
    for (const body of [{ inputs: nested }, { inputs: { x: nested } }, { instances: nested }, { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: nested } }]) {
      const inv = await d.http('POST', '/resnet50/invocations', body);
      expect(inv.status, `${JSON.stringify(body)}: ${inv.text}`).toBe(200);
      expect(inv.json).toEqual({ predictions: { y: wantNested } });
    }

    const meta = await d.http('GET', '/v2/models/resnet50');
    expect(meta.json).toMatchObject({ name: 'resnet50', versions: ['1'], platform: 'onnxruntime_onnx' });
    expect((await d.http('GET', '/v2/models/resnet50/ready')).status).toBe(200);
    expect((await d.http('GET', '/v2/health/ready')).status).toBe(200);
    expect((await d.http('GET', '/ping')).status).toBe(200);
  });

  it('resolves every URI form to the version MLflow would pick', async () => {
    const forms: Array<[string, string]> = [
      ['models:/ResNet50/1', '1'],
      ['models:/ResNet50/2', '2'],
      ['models:/ResNet50/staging', '2'],
      ['models:/ResNet50/latest', '2'],
      ['models:/ResNet50@champion', '1'],
      ['models:/ResNet50@challenger', '2'],
    ];
    const want2 = await expected(2);
    for (const [i, [uri, version]] of forms.entries()) {
      const r = await d.deploy(uri, ['--endpoint', `form${i}`]);
      expect(r.exitCode, `${uri}: ${r.stderr}`).toBe(0);
      expect(r.json.resolved.version, uri).toBe(version);
      expect(r.json.name).toBe(`form${i}-v${version}`);
      if (version === '2') {
        const res = await d.http('POST', `/v2/models/form${i}/infer`, { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: X }] });
        expect(res.json.outputs[0].data).toEqual(want2);
      }
      const u = await d.cli(['undeploy', `form${i}`]);
      expect(u.exitCode).toBe(0);
    }
    expect(await expected(1)).not.toEqual(want2);
  });

  it('deploys an MLflow model directory by path (weights in an external-data file)', async () => {
    const r = await d.deploy(fixtureModelDir(store, 2), ['--endpoint', 'bypath']);
    expect(r.exitCode, r.stderr).toBe(0);
    const res = await d.http('POST', '/v2/models/bypath/infer', { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: X }] });
    expect(res.json.outputs[0].data).toEqual(await expected(2));
    await d.cli(['undeploy', 'bypath']);
  });

  it('refuses a non-ONNX flavor on the onnx runtime, and unknown models, with what to do', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sk-')), 'model');
    writeSklearnModel(dir);
    const sk = await d.cli(['deploy', dir, '--runtime', 'onnx']);
    expect(sk.exitCode).toBe(1);
    expect(sk.stderr).toContain('sklearn');
    expect(sk.stderr).toContain('skl2onnx');
    expect(sk.stderr).toContain('--runtime python');
    // Without --runtime it is a Python model: a Python without mlflow says so and how to install it.
    const py = await d.cli(['deploy', dir, '--endpoint', 'sk', '--python', '/usr/bin/python3', '--env-manager', 'local', '--timeout', '60']);
    expect(py.exitCode).toBe(1);
    expect(py.stderr).toMatch(/mlflow itself is not installed.*pip install 'mlflow==2\.11\.3'/s);
    expect(py.stderr).toContain('--env-manager virtualenv');
    // Refused before anything is recorded: nothing to undeploy.
    expect((await d.cli(['status', '--json'])).json.deployments.map((x: any) => x.name)).not.toContain('sk-v1');

    const unknown = await d.cli(['deploy', 'models:/Nope/1']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('Registered Model with name=Nope not found');
    expect(unknown.stderr).toContain('ResNet50');

    const stage = await d.cli(['deploy', 'models:/ResNet50/Archived']);
    expect(stage.exitCode).toBe(1);
    expect(stage.stderr).toContain("No versions of model with name 'ResNet50' and stage 'Archived' found");

    const alias = await d.cli(['deploy', 'models:/ResNet50@nope']);
    expect(alias.stderr).toContain('Registered model alias nope not found');

    const gpu = await d.cli(['deploy', 'models:/ResNet50/1', '--endpoint', 'g', '--gpus', '0.5']);
    expect(gpu.exitCode).toBe(1);
    expect(gpu.stderr).toContain('no GPU');
  });

  it('serves every deployment again after daemon stop + start, and undeploys', async () => {
    const want = await expected(1);
    expect((await d.cli(['daemon', 'stop'])).exitCode).toBe(0);
    await d.start();
    const st = await d.cli(['status', '--json']);
    expect(st.json.deployments.map((x: any) => x.name)).toEqual(['resnet50-v1']);
    // Replicas come back on their own; wait for ready.
    let res;
    for (let i = 0; i < 100; i++) {
      res = await d.http('POST', '/v2/models/resnet50/infer', { inputs: [{ name: 'x', shape: [3, 4], datatype: 'FP32', data: X }] });
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(res!.status).toBe(200);
    expect(res!.json.outputs[0].data).toEqual(want);

    const u = await d.cli(['undeploy', 'resnet50', '--json']);
    expect(u.json.undeployed).toEqual(['resnet50-v1']);
    const gone = await d.http('POST', '/v2/models/resnet50/infer', { inputs: [] });
    expect(gone.status).toBe(404);
    expect(gone.json.error).toContain('unknown endpoint');
  });
});
