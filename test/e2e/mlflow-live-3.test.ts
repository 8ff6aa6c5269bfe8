// Against a live MLflow 3 server (`mlflow server`, sqlite backend, --serve-artifacts) populated by
// MLflow's own client: every URI form resolves to the version MLflow's client resolves, with the
// same registry calls, and serves what onnxruntime computes on the logged file; a base path behind
// a reverse proxy; a scikit-learn model on Python replicas; promote/rollback write-back read back
// with MLflow's client; registry webhooks that make tracking react at once, without a loop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { checkForm, expectClose, inferY, type LiveCtx } from '../helpers/live-checks.js';
import { LIVE_ENVS, LiveMlflow, LoggingProxy, MlflowPy, populate, type Populated } from '../helpers/mlflow-live.js';
import { pythonEnv } from '../helpers/python.js';
import { until } from '../helpers/wait.js';

const SECRET = 'whsec-live-tests';
let server: LiveMlflow;
let pop: Populated;
let py: MlflowPy;
let proxy: LoggingProxy;
let d: TestDaemon;
let ctx: LiveCtx;
const timings: Record<string, number> = {};

beforeAll(async () => {
  let t = Date.now();
  await pythonEnv(LIVE_ENVS[3]);
  timings.env = Date.now() - t;
  t = Date.now();
  // Webhooks to 127.0.0.1 over http: MLflow allows only public https targets by default.
  server = await new LiveMlflow({ major: 3, env: { MLFLOW_WEBHOOK_ALLOWED_SCHEMES: 'http,https', MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS: 'true', MLFLOW_WEBHOOK_CACHE_TTL: '1' } }).start();
  timings.server = Date.now() - t;
  t = Date.now();
  [pop, py, proxy, d] = await Promise.all([
    populate(server),
    new MlflowPy(3).start(),
    new LoggingProxy(server.url).start(),
    new TestDaemon({ MLSERVE_WEBHOOK_SECRET: SECRET }).start(),
  ]);
  timings.populate = Date.now() - t;
  ctx = { d, py, proxy, x: pop.x };
}, 900_000);

afterAll(async () => {
  console.log(`live MLflow 3 timings (ms): ${JSON.stringify(timings)}`);
  await d?.cleanup();
  py?.close();
  await proxy?.close();
  await server?.stop();
});

describe(`live MLflow ${'3.17.2'}`, () => {
  it('is the pinned release, and the populated ONNX models keep their weights in an external-data file', () => {
    expect(pop.mlflow).toBe('3.17.2');
    expect(pop.onnxModelFiles.some((f) => f.endsWith('.data'))).toBe(true);
    expect(pop.versions.find((v) => v.version === '1')!.source).toMatch(/^models:\/m-[0-9a-f]{32}$/);
  });

  it('every URI form: the version MLflow resolves, its registry calls, its files, onnxruntime\'s answers', async () => {
    const t = Date.now();
    // Each version's models:/<name>/<version> first (see checkForm).
    const forms: Array<[string, string | undefined]> = [
      ['models:/LiveOnnx/1', '1'],
      ['models:/LiveOnnx/2', '2'],
      ['models:/LiveOnnx/3', '3'],
      ['models:/LiveOnnx/latest', '3'],
      ['models:/LiveOnnx@champion', '1'],
      ['models:/LiveOnnx@challenger', '2'],
      ...(pop.stages ? ([['models:/LiveOnnx/Production', '1'], ['models:/LiveOnnx/staging', '2']] as Array<[string, string]>) : []),
      [`runs:/${pop.runs.v2}/model`, undefined],
      [`models:/${pop.loggedModels.v3}`, undefined],
      [`models:/${pop.loggedModels.unregistered}`, undefined],
    ];
    for (const [uri, version] of forms) {
      const { mlflow, row } = await checkForm(ctx, uri);
      if (version) expect(mlflow.version, uri).toBe(version);
      if (uri.startsWith('runs:/')) expect(row.resolved).toMatchObject({ kind: 'run', runId: pop.runs.v2 });
      if (/^models:\/m-/.test(uri)) expect(row.resolved).toMatchObject({ kind: 'logged-model', name: uri.slice('models:/'.length) });
    }
    // runs:/ of an MLflow 3 model is the logged model the run logged: v2's weights.
    const v2 = await py.ok({ op: 'download', uri: 'models:/LiveOnnx/2', tracking_uri: server.url, x: pop.x });
    const run = await py.ok({ op: 'download', uri: `runs:/${pop.runs.v2}/model`, tracking_uri: server.url, x: pop.x });
    expect(run.outputs).toEqual(v2.outputs);
    timings.forms = Date.now() - t;
  });

  it('behind a reverse proxy that mounts MLflow under /mlflow/', async () => {
    const mounted = await new LoggingProxy(server.url, { basePath: '/mlflow' }).start();
    try {
      expect(mounted.url).toMatch(/\/mlflow$/);
      const { mlflow } = await checkForm({ ...ctx, proxy: mounted }, 'models:/LiveOnnx@challenger');
      expect(mlflow.version).toBe('2');
      expect(mounted.calls.length).toBeGreaterThan(0);
      expect(mounted.calls.every((c) => c.status === 200 || c.status === 404)).toBe(true);
    } finally {
      await mounted.close();
    }
  });

  it('serves the scikit-learn model on Python replicas as MLflow predicts', async () => {
    const python = await pythonEnv(LIVE_ENVS[3]);
    const r = await d.deploy('models:/LiveSklearn/1', ['--endpoint', 'sk', '--python', python, '--env-manager', 'local'], { MLFLOW_TRACKING_URI: server.url });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.resolved).toMatchObject({ name: 'LiveSklearn', version: '1' });
    const res = await d.http('POST', '/sk/invocations', { dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: pop.sklearnRows } });
    expect(res.status, res.text).toBe(200);
    expect(res.json.predictions).toEqual(pop.sklearnPredictions);
    expect((await d.cli(['undeploy', 'sk'])).exitCode).toBe(0);
  });
});

describe('write-back, webhooks and tracking', () => {
  const env = () => ({ MLFLOW_TRACKING_URI: server.url });
  const events = async (subject = 'champ') => (await d.cli(['events', subject, '--json', '-n', '200'])).json as Array<{ kind: string; message: string; data?: any }>;
  const deployments = async () => ((await d.cli(['status', '--json'])).json.deployments as any[]).filter((x) => x.endpoint === 'champ');

  it('refuses unsigned and wrongly signed webhook deliveries', async () => {
    const body = JSON.stringify({ entity: 'model_version_alias', action: 'created', data: { name: 'LiveOnnx', alias: 'champion', version: '1' } });
    const unsigned = await d.http('POST', '/v1/mlflow/webhook', body);
    expect(unsigned.status).toBe(401);
    const ts = String(Math.floor(Date.now() / 1000));
    const { createHmac } = await import('node:crypto');
    const sig = (secret: string) => `v1,${createHmac('sha256', secret).update(`d1.${ts}.${body}`).digest('base64')}`;
    const wrong = await d.http('POST', '/v1/mlflow/webhook', body, { 'content-type': 'application/json', 'x-mlflow-delivery-id': 'd1', 'x-mlflow-timestamp': ts, 'x-mlflow-signature': sig('not-the-secret') });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toContain('bad signature');
    const right = await d.http('POST', '/v1/mlflow/webhook', body, { 'content-type': 'application/json', 'x-mlflow-delivery-id': 'd1', 'x-mlflow-timestamp': ts, 'x-mlflow-signature': sig(SECRET) });
    expect(right.status, right.text).toBe(200);
  });

  it('promote --registry-alias champion moves the alias in MLflow; the tracked endpoint keeps following it without a loop; a moved alias rolls out at once by webhook', async () => {
    const hook = await py.ok({ op: 'create_webhook', tracking_uri: server.url, url: `${d.url}/v1/mlflow/webhook`, events: ['model_version_alias.created', 'model_version.created'], secret: SECRET });
    expect(hook.webhook_id).toBeTruthy();
    // Polling once an hour: only a webhook can make it react within the test.
    let r = await d.deploy('models:/LiveOnnx@champion', ['--endpoint', 'champ', '--track', '--track-interval', '3600'], env());
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.resolved.version).toBe('1');
    r = await d.deploy('models:/LiveOnnx/3', ['--endpoint', 'champ', '--canary', '10'], env());
    expect(r.exitCode, r.stderr).toBe(0);

    const p = await d.cli(['canary', 'promote', '--endpoint', 'champ', '--registry-alias', 'champion', '--json'], { env: env() });
    expect(p.exitCode, p.stdout + p.stderr).toBe(0);
    expect(p.json).toMatchObject({ primary: 'champ-v3', registryWrite: { ok: true, alias: 'champion', version: '3', name: 'LiveOnnx', calls: ['POST /api/2.0/mlflow/registered-models/alias'] } });
    expect((await py.ok({ op: 'alias', tracking_uri: server.url, name: 'LiveOnnx', alias: 'champion' })).version).toBe('3');

    // MLflow tells mlserve about the alias it set (that delivery may even arrive before the
    // promoted deployment took tracking over), and again when someone sets it once more: tracking
    // looks, sees the version it serves, does nothing.
    const isHook = (e: { kind: string; data?: any }) => e.kind === 'registry-webhook' && e.data?.alias === 'champion' && e.data?.version === '3';
    await until(() => events('daemon'), (ev) => ev.some(isHook), 20_000);
    await until(events, (ev) => ev.some((e) => e.kind === 'track-continued'), 10_000);
    await py.ok({ op: 'set_alias', tracking_uri: server.url, name: 'LiveOnnx', alias: 'champion', version: '3' });
    const daemonEvents = await until(() => events('daemon'), (ev) => ev.filter(isHook).length >= 2, 20_000);
    expect(daemonEvents.filter(isHook).map((e) => e.data.trackers)).toContain(1);
    await new Promise((res) => setTimeout(res, 1500));
    let ev = await events();
    expect(ev.map((e) => e.kind)).toEqual(expect.arrayContaining(['registry-write', 'registry-written', 'track-continued']));
    expect(ev.filter((e) => e.kind === 'track-moved')).toEqual([]);
    let deps = await deployments();
    expect(deps.map((x) => [x.name, x.modelUri, x.resolved.version])).toEqual([['champ-v3', 'models:/LiveOnnx@champion', '3']]);

    // Someone moves @champion in MLflow: the webhook rolls the endpoint out within seconds.
    const t = Date.now();
    await py.ok({ op: 'set_alias', tracking_uri: server.url, name: 'LiveOnnx', alias: 'champion', version: '2' });
    deps = await until(deployments, (x) => x.length === 1 && x[0].resolved.version === '2' && x[0].state === 'ready', 60_000);
    expect(deps.map((x) => x.name)).toEqual(['champ-v2']);
    timings.webhookRollout = Date.now() - t;
    ev = await events();
    expect(ev.some((e) => e.kind === 'track-moved' && /now names version 2/.test(e.message))).toBe(true);
    const v2 = await py.ok({ op: 'download', uri: 'models:/LiveOnnx/2', tracking_uri: server.url, x: pop.x });
    expectClose(await inferY(d, 'champ', pop.x), v2.outputs.flat(), 'champ after the webhook');
  });

  it('rollback --registry-alias sets the alias on the version that stays', async () => {
    const r = await d.deploy('models:/LiveOnnx/1', ['--endpoint', 'champ', '--canary', '10'], env());
    expect(r.exitCode, r.stderr).toBe(0);
    const rb = await d.cli(['canary', 'rollback', '--endpoint', 'champ', '--registry-alias', 'stable'], { env: env() });
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect(rb.stdout).toContain('MLflow: alias stable now on version 2 of LiveOnnx');
    expect((await py.ok({ op: 'alias', tracking_uri: server.url, name: 'LiveOnnx', alias: 'stable' })).version).toBe('2');
    expect((await deployments()).map((x) => x.name)).toEqual(['champ-v2']);
  });

  it('refuses write-back for a canary that did not come from the registry, before changing anything', async () => {
    const r = await d.deploy(`models:/${pop.loggedModels.unregistered}`, ['--endpoint', 'champ', '--canary', '10', '--name', 'champ-logged'], env());
    expect(r.exitCode, r.stderr).toBe(0);
    const p = await d.cli(['canary', 'promote', '--endpoint', 'champ', '--registry-alias', 'champion'], { env: env() });
    expect(p.exitCode).toBe(2); // a refused value (BAD_REQUEST)
    expect(p.stderr).toMatch(/champ-logged was deployed from models:\/m-[0-9a-f]+, not a registered model version/);
    const ep = (await d.cli(['status', '--json'])).json.endpoints.find((e: any) => e.name === 'champ');
    expect(ep).toMatchObject({ primary: 'champ-v2', canary: 'champ-logged' });
    expect((await d.cli(['canary', 'rollback', '--endpoint', 'champ'])).exitCode).toBe(0);
  });
});
