// Deploy from a tracking server that answers like MLflow 2.11 (test/mlflow-server, checked against
// 74 recorded exchanges): every URI form, 2.x and 3.x sources, a base path, Basic and Bearer
// auth, retries, an unreachable server, HTML from a proxy, hostile listings, cut downloads, and a
// cache that survives a killed download and serves a restart without the server.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMlflowServer, type MlflowTestServer } from '../mlflow-server/server.js';
import { TestDaemon } from '../helpers/daemon.js';
import { runInProcess, SHARED_FIXTURES } from '../helpers/fixtures.js';

const RUN_V1 = 'd529411c2bed44fd9b44e1cd867ac47a';
const RUN_V2 = '56a00120282640199284e93e772e3ae7';
const X = [0.5, -1, 2, 3.25, 1, 1, 1, 1];
const FAST_RETRY = { MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.01', MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: '0' };

let server: MlflowTestServer;
let d: TestDaemon;
let env: Record<string, string>;
const modelDir = (run: string) => join(SHARED_FIXTURES, 'server-artifacts', '0', run, 'artifacts', 'model');

async function expected(run: string): Promise<number[]> {
  const out = await runInProcess(join(modelDir(run), 'model.onnx'), { x: { type: 'float32', data: Float32Array.from(X), dims: [2, 4] } });
  return Array.from(out.y.data as Float32Array);
}
async function infer(endpoint: string) {
  return d.http('POST', `/v2/models/${endpoint}/infer`, { inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: X }] });
}
let n = 0;
async function deployOk(uri: string, extraEnv: Record<string, string> = {}, args: string[] = []) {
  const ep = `e${n++}`;
  const r = await d.deploy(uri, ['--endpoint', ep, ...args], { ...env, ...extraEnv });
  expect(r.exitCode, `${uri}: ${r.stderr}`).toBe(0);
  return { ep, json: r.json };
}
const deployFails = async (uri: string, extraEnv: Record<string, string> = {}, args: string[] = []) => {
  const r = await d.cli(['deploy', uri, '--endpoint', `f${n++}`, ...args], { env: { ...env, ...extraEnv } });
  expect(r.exitCode).toBe(1);
  return r.stderr;
};
const cacheKeys = async () => (await d.cli(['cache', 'ls', '--json'])).json.entries.map((e: any) => e.key);
const partials = () => (existsSync(join(d.home, 'cache')) ? readdirSync(join(d.home, 'cache')).filter((f) => f.startsWith('.tmp-')) : []);

beforeAll(async () => {
  server = await startMlflowServer();
  env = { MLFLOW_TRACKING_URI: server.url, ...FAST_RETRY };
  d = new TestDaemon();
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
  await server.close();
});
afterEach(() => server.knobs.reset());

describe('every URI form against the tracking server', () => {
  it('resolves stages, aliases, latest and versions as MLflow does, and pins what it resolved', async () => {
    const [v1, v2] = [await expected(RUN_V1), await expected(RUN_V2)];
    expect(v1).not.toEqual(v2);
    for (const [uri, version, want] of [
      ['models:/ResNet50/Production', '1', v1],
      ['models:/ResNet50/staging', '2', v2],
      ['models:/ResNet50@champion', '1', v1],
      ['models:/ResNet50@challenger', '2', v2],
      ['models:/ResNet50/latest', '2', v2],
      ['models:/ResNet50/1', '1', v1],
    ] as const) {
      const { ep, json } = await deployOk(uri);
      expect(json.resolved, uri).toMatchObject({ name: 'ResNet50', version, registry: server.url });
      expect(json.resolved.source).toMatch(/^mlflow-artifacts:\/0\//);
      const res = await infer(ep);
      expect(res.json.outputs[0].data, uri).toEqual(want);
    }
    const st = await d.cli(['status']);
    expect(st.stdout).toContain('models:/ResNet50/Production -> version 1');
  });

  it('follows runs:/ and MLflow 3 models:/m-<id> sources, and a tracking URI with a base path', async () => {
    const run = await deployOk(`runs:/${RUN_V2}/model`);
    expect((await infer(run.ep)).json.outputs[0].data).toEqual(await expected(RUN_V2));

    const mv = server.state.addModelVersion({ name: 'Modern', shape: '3.x', copyFrom: modelDir(RUN_V1), stage: 'Production', aliases: ['champion'] });
    expect(mv.source).toMatch(/^models:\/m-[0-9a-f]{32}$/);
    const modern = await deployOk('models:/Modern@champion');
    expect(modern.json.resolved.source).toBe(mv.source);
    expect((await infer(modern.ep)).json.outputs[0].data).toEqual(await expected(RUN_V1));
    const logged = await deployOk(mv.source);
    expect((await infer(logged.ep)).json.outputs[0].data).toEqual(await expected(RUN_V1));

    const prefixed = await startMlflowServer({ basePath: '/mlflow' });
    try {
      expect(prefixed.url).toMatch(/\/mlflow$/);
      const r = await deployOk('models:/ResNet50/2', { MLFLOW_TRACKING_URI: prefixed.url });
      expect((await infer(r.ep)).json.outputs[0].data).toEqual(await expected(RUN_V2));
      expect(prefixed.requests.every((q) => q.path.startsWith('/mlflow/'))).toBe(true);
    } finally {
      await prefixed.close();
    }
  });

  it('lists models and versions with mlserve models', async () => {
    const list = await d.cli(['models', '--json'], { env });
    expect(list.json.models.map((m: any) => m.name)).toEqual(expect.arrayContaining(['ResNet50', 'Sklearn']));
    const show = await d.cli(['models', 'show', 'ResNet50', '--json'], { env });
    expect(show.json.versions.map((v: any) => [v.version, v.stage, v.aliases])).toEqual([['1', 'Production', ['champion']], ['2', 'Staging', ['challenger']]]);
    expect(show.json.versions[0].signature.inputs[0]).toMatchObject({ name: 'x', datatype: 'FP32' });
  });
});

describe('errors that say what to do', () => {
  it('refuses a non-ONNX flavor, unknown models, stages and aliases', async () => {
    expect(await deployFails('models:/Sklearn/1', {}, ['--runtime', 'onnx'])).toMatch(/sklearn.*skl2onnx.*--runtime python/s);
    expect(await deployFails('models:/NoSuch/1')).toMatch(/Model Version \(name=NoSuch, version=1\) not found.*Registered models there: .*ResNet50/s);
    expect(await deployFails('models:/NoSuch/Production')).toMatch(/Registered Model with name=NoSuch not found.*ResNet50/s);
    expect(await deployFails('models:/ResNet50/Archived')).toContain("No versions of model with name 'ResNet50' and stage 'Archived' found");
    expect(await deployFails('models:/ResNet50@nope')).toContain('Registered model alias nope not found');
    expect(await deployFails('models:/ResNet50/99')).toContain('Model Version (name=ResNet50, version=99) not found');
  });

  it('names the variables to set for Basic and Bearer auth, and works once they are set', async () => {
    server.knobs.auth = { basic: { user: 'alice', pass: 's3cret' } };
    expect(await deployFails('models:/ResNet50/Production')).toMatch(/401.*MLFLOW_TRACKING_USERNAME/);
    await deployOk('models:/ResNet50/Production', { MLFLOW_TRACKING_USERNAME: 'alice', MLFLOW_TRACKING_PASSWORD: 's3cret' });
    server.knobs.auth = { bearer: 'tok-123' };
    expect(await deployFails('models:/ResNet50/Staging', { MLFLOW_TRACKING_TOKEN: 'wrong' })).toMatch(/403/);
    const ok = await deployOk('models:/ResNet50/Staging', { MLFLOW_TRACKING_TOKEN: 'tok-123' });
    expect(ok.json.resolved.version).toBe('2');
    expect(server.requests.at(-1)!.headers.authorization).toBe('Bearer tok-123');
  });

  it('retries 503 and 429 with Retry-After, as MLflow does', async () => {
    const before = server.requests.length;
    server.knobs.failNext(2, 503, { retryAfter: 0 });
    await deployOk('models:/ResNet50@champion');
    server.knobs.failNext(1, 429, { retryAfter: 0 });
    await deployOk('models:/ResNet50@champion');
    expect(server.requests.length - before).toBeGreaterThan(3);
  });

  it('says which URI it could not reach, within the time budget', async () => {
    const r = await d.cli(['deploy', 'models:/ResNet50/1', '--endpoint', 'down'], {
      env: { ...env, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2', MLSERVE_REGISTRY_TIMEOUT: '5' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot reach MLflow at http:\/\/127\.0\.0\.1:9\/api\/2\.0\/mlflow\/model-versions\/get.*MLFLOW_TRACKING_URI/);
  });

  it('recognises an HTML page from a proxy', async () => {
    server.knobs.htmlProxy = 200;
    expect(await deployFails('models:/ResNet50/Production')).toMatch(/HTML page.*instead of JSON/);
  });
});

describe('a safe cache', () => {
  it('refuses hostile artifact paths and writes nothing outside the cache', async () => {
    const mv = server.state.addModelVersion({ name: 'Hostile', shape: '2.x', copyFrom: modelDir(RUN_V1) });
    for (const kind of ['dotdot', 'absolute'] as const) {
      server.knobs.hostileListing = kind;
      expect(await deployFails(`models:/Hostile/${mv.version}`)).toMatch(/refusing artifact/);
      expect(partials()).toEqual([]);
    }
    expect(existsSync('/tmp/evil')).toBe(false);
  });

  it('checks each file against the listing and keeps nothing from a cut download', async () => {
    const mv = server.state.addModelVersion({ name: 'Cut', shape: '2.x', copyFrom: modelDir(RUN_V1) });
    server.knobs.truncateDownloads = true;
    expect(await deployFails(`models:/Cut/${mv.version}`)).toMatch(/listing says|broke off/);
    server.knobs.truncateDownloads = false;
    server.knobs.killAfterBytes = 100;
    expect(await deployFails(`models:/Cut/${mv.version}`)).toMatch(/broke off|listing|cannot reach|socket/i);
    server.knobs.killAfterBytes = null as unknown as number;
    expect(partials()).toEqual([]);
    expect((await cacheKeys()).some((k: string) => k.includes('/Cut/'))).toBe(false);
    await deployOk(`models:/Cut/${mv.version}`);
  });

  it('a daemon killed mid-download leaves nothing half-cached; restarts and pinned deploys need no server', async () => {
    const mv = server.state.addModelVersion({ name: 'Slow', shape: '2.x', copyFrom: modelDir(RUN_V2) });
    server.knobs.stallMs = 60_000;
    server.knobs.stallPath = '/api/2.0/mlflow-artifacts/artifacts/';
    const pending = d.cli(['deploy', `models:/Slow/${mv.version}`, '--endpoint', 'slow'], { env });
    for (let i = 0; i < 100 && partials().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(partials().length).toBe(1);
    process.kill(d.pid, 'SIGKILL');
    expect((await pending).exitCode).toBe(1);
    server.knobs.reset();
    await d.start();
    expect(partials()).toEqual([]);
    expect((await cacheKeys()).some((k: string) => k.includes('/Slow/'))).toBe(false);

    // Everything deployed so far comes back from the cache with the server gone.
    const before = (await d.cli(['status', '--json'])).json.deployments.length;
    const closed = server;
    await closed.close();
    await d.stop();
    await d.start();
    const st = await d.cli(['status', '--json']);
    expect(st.json.deployments.length).toBe(before);
    let res;
    for (let i = 0; i < 100; i++) {
      res = await infer('e0');
      if (res.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(res!.status).toBe(200);
    // A pinned version already in the cache deploys without the server.
    await deployOk('models:/ResNet50/1');
    server = await startMlflowServer(); // for afterAll
  });
});
