// Against a live MLflow 3.17.2 server with Basic auth (`mlflow server --app-name basic-auth`):
// real users made with MLflow's auth client, a wrong password, a user without permission on the
// model, and a promote whose write-back the registry refuses (the promotion stands, and says so).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { checkForm, type LiveCtx } from '../helpers/live-checks.js';
import { LIVE_ENVS, LiveMlflow, LoggingProxy, MlflowPy, populate, type Populated } from '../helpers/mlflow-live.js';
import { pythonEnv } from '../helpers/python.js';

const ADMIN = { user: 'admin', password: 'admin-Pw-4-live-tests' };
const READER = { user: 'reader', password: 'reader-Pw-4-live-tests' };
const EDITOR = { user: 'editor', password: 'editor-Pw-4-live-tests' };
const NOBODY = { user: 'nobody', password: 'nobody-Pw-4-live-tests' };
const as = (u: { user: string; password: string }) => ({ MLFLOW_TRACKING_USERNAME: u.user, MLFLOW_TRACKING_PASSWORD: u.password });

let server: LiveMlflow;
let pop: Populated;
let py: MlflowPy;
let proxy: LoggingProxy;
let d: TestDaemon;
const timings: Record<string, number> = {};

beforeAll(async () => {
  let t = Date.now();
  await pythonEnv(LIVE_ENVS[3]);
  timings.env = Date.now() - t;
  t = Date.now();
  server = await new LiveMlflow({ major: 3, adminPassword: ADMIN.password }).start();
  timings.server = Date.now() - t;
  t = Date.now();
  [pop, py, proxy, d] = await Promise.all([
    populate(server, { onnxOnly: true, username: ADMIN.user, password: ADMIN.password }),
    new MlflowPy(3).start(),
    new LoggingProxy(server.url).start(),
    new TestDaemon().start(),
  ]);
  timings.populate = Date.now() - t;
  const admin = { tracking_uri: server.url, username: ADMIN.user, password: ADMIN.password };
  for (const u of [READER, EDITOR, NOBODY]) await py.ok({ op: 'create_user', ...admin, user: u.user, user_password: u.password });
  await py.ok({ op: 'grant', ...admin, user: EDITOR.user, name: 'LiveOnnx', permission: 'EDIT' });
  await py.ok({ op: 'grant', ...admin, user: NOBODY.user, name: 'LiveOnnx', permission: 'DENY' }); // MLflow 3's name for 2.x's NO_PERMISSIONS
}, 900_000);

afterAll(async () => {
  console.log(`live MLflow 3 basic-auth timings (ms): ${JSON.stringify(timings)}`);
  await d?.cleanup();
  py?.close();
  await proxy?.close();
  await server?.stop();
});

describe('live MLflow 3.17.2 with --app-name basic-auth', () => {
  it('a user with READ deploys every URI form as MLflow\'s client resolves it', async () => {
    const ctx: LiveCtx = { d, py, proxy, x: pop.x, env: as(READER) };
    for (const [uri, version] of [['models:/LiveOnnx/1', '1'], ['models:/LiveOnnx@champion', '1'], ['models:/LiveOnnx/latest', '3']] as const) {
      const { mlflow } = await checkForm(ctx, uri);
      expect(mlflow.version).toBe(version);
    }
    // Every call, MLflow's client's and mlserve's, carried the reader's credentials as Basic auth.
    const basic = `Basic ${Buffer.from(`${READER.user}:${READER.password}`).toString('base64')}`;
    const calls = proxy.calls.filter((c) => c.path !== '/__mark__');
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.filter((c) => c.authorization !== basic).map((c) => c.path)).toEqual([]);
    expect(calls.filter((c) => c.status === 401 || c.status === 403)).toEqual([]);
  });

  it('a wrong password and a user without permission fail like MLflow\'s client, saying what to do', async () => {
    const wrong = { MLFLOW_TRACKING_USERNAME: READER.user, MLFLOW_TRACKING_PASSWORD: 'not-the-password' };
    const mlflowWrong = await py.call({ op: 'download', uri: 'models:/LiveOnnx/2', tracking_uri: server.url, username: wrong.MLFLOW_TRACKING_USERNAME, password: wrong.MLFLOW_TRACKING_PASSWORD });
    expect(mlflowWrong.ok).toBe(false);
    expect(mlflowWrong.error).toMatch(/401|Unauthorized|credentials/i);
    let r = await d.cli(['deploy', 'models:/LiveOnnx/2', '--endpoint', 'wrong'], { env: { MLFLOW_TRACKING_URI: server.url, ...wrong } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('401 Unauthorized');
    expect(r.stderr).toContain('MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD');
    expect(r.stderr).not.toContain('not-the-password');

    const mlflowNobody = await py.call({ op: 'download', uri: 'models:/LiveOnnx/2', tracking_uri: server.url, username: NOBODY.user, password: NOBODY.password });
    expect(mlflowNobody.ok).toBe(false);
    expect(mlflowNobody.error).toMatch(/403|Permission denied|PERMISSION_DENIED/i);
    r = await d.cli(['deploy', 'models:/LiveOnnx/2', '--endpoint', 'nobody'], { env: { MLFLOW_TRACKING_URI: server.url, ...as(NOBODY) } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('403 Forbidden');
    expect(r.stderr).toContain('ask an MLflow admin for READ permission');
  });

  it('promote as a user without EDIT keeps mlserve\'s promotion and reports MLflow\'s refusal; with EDIT it moves the alias', async () => {
    const env = { MLFLOW_TRACKING_URI: server.url, ...as(READER) };
    let r = await d.deploy('models:/LiveOnnx@champion', ['--endpoint', 'auth'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    r = await d.deploy('models:/LiveOnnx/3', ['--endpoint', 'auth', '--canary', '10'], env);
    expect(r.exitCode, r.stderr).toBe(0);

    const p = await d.cli(['canary', 'promote', '--endpoint', 'auth', '--registry-alias', 'champion'], { env });
    expect(p.exitCode).toBe(1);
    expect(p.stdout).toContain('auth: auth-v3 is now primary');
    expect(p.stderr).toMatch(/the alias champion write-back failed, mlserve's change stands: .*403 Forbidden.*needs EDIT \(or MANAGE\) permission/);
    expect(p.stderr).not.toContain(READER.password);
    const ep = (await d.cli(['status', '--json'])).json.endpoints.find((e: any) => e.name === 'auth');
    expect(ep).toMatchObject({ primary: 'auth-v3', canary: null });
    const ev = (await d.cli(['events', 'auth', '--json'])).json as Array<{ kind: string; message: string }>;
    expect(ev.find((e) => e.kind === 'registry-write-failed')?.message).toMatch(/auth-v3 still serves \(mlserve does not undo it\)/);
    const admin = { tracking_uri: server.url, username: ADMIN.user, password: ADMIN.password };
    expect((await py.ok({ op: 'alias', ...admin, name: 'LiveOnnx', alias: 'champion' })).version).toBe('1');

    // JSON: the error line carries the endpoint and the outcome.
    r = await d.deploy('models:/LiveOnnx/2', ['--endpoint', 'auth', '--canary', '10'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const pj = await d.cli(['canary', 'promote', '--endpoint', 'auth', '--registry-alias', 'champion', '--json'], { env });
    expect(pj.exitCode).toBe(1);
    expect(pj.json).toMatchObject({ code: 'REGISTRY_WRITE', primary: 'auth-v2', registryWrite: { ok: false, alias: 'champion', version: '2' } });

    r = await d.deploy('models:/LiveOnnx/3', ['--endpoint', 'auth', '--canary', '10'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const ok = await d.cli(['canary', 'promote', '--endpoint', 'auth', '--registry-alias', 'champion'], { env: { ...env, ...as(EDITOR) } });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await py.ok({ op: 'alias', ...admin, name: 'LiveOnnx', alias: 'champion' })).version).toBe('3');
  });
});
