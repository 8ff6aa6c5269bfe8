// Against live MLflow 2.22.5 servers populated by MLflow's own client: a sqlite backend with
// --serve-artifacts (mlflow-artifacts:) and a file backend with a file: artifact root. Every URI
// form agrees with MLflow's client; promote writes the stage and the alias back; a server killed
// in the middle of a download leaves nothing half-cached, and a deploy after its restart works.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { checkForm, expectClose, inferY, type LiveCtx } from '../helpers/live-checks.js';
import { LIVE_ENVS, LiveMlflow, LoggingProxy, MlflowPy, populate, type Populated } from '../helpers/mlflow-live.js';
import { pythonEnv } from '../helpers/python.js';
import { until } from '../helpers/wait.js';

let server: LiveMlflow;
let fileServer: LiveMlflow;
let pop: Populated;
let filePop: Populated;
let py: MlflowPy;
let proxy: LoggingProxy;
let d: TestDaemon;
let ctx: LiveCtx;
const timings: Record<string, number> = {};

beforeAll(async () => {
  let t = Date.now();
  await pythonEnv(LIVE_ENVS[2]);
  timings.env = Date.now() - t;
  t = Date.now();
  [server, fileServer] = await Promise.all([
    new LiveMlflow({ major: 2 }).start(),
    new LiveMlflow({ major: 2, backend: 'file', artifacts: 'file' }).start(),
  ]);
  timings.servers = Date.now() - t;
  t = Date.now();
  [pop, filePop, py, proxy, d] = await Promise.all([
    populate(server),
    populate(fileServer, { onnxOnly: true }),
    new MlflowPy(2).start(),
    new LoggingProxy(server.url).start(),
    new TestDaemon().start(),
  ]);
  timings.populate = Date.now() - t;
  ctx = { d, py, proxy, x: pop.x };
}, 900_000);

afterAll(async () => {
  console.log(`live MLflow 2 timings (ms): ${JSON.stringify(timings)}`);
  await d?.cleanup();
  py?.close();
  await proxy?.close();
  await Promise.all([server?.stop(), fileServer?.stop()]);
});

// Each version's models:/<name>/<version> first (see checkForm).
const FORMS = (p: Populated): Array<[string, string | undefined]> => [
  ['models:/LiveOnnx/1', '1'],
  ['models:/LiveOnnx/2', '2'],
  ['models:/LiveOnnx/3', '3'],
  ['models:/LiveOnnx/Production', '1'],
  ['models:/LiveOnnx/staging', '2'],
  ['models:/LiveOnnx/latest', '3'],
  ['models:/LiveOnnx@champion', '1'],
  ['models:/LiveOnnx@challenger', '2'],
  [`runs:/${p.runs.v2}/model`, undefined],
];

describe('live MLflow 2.22.5', () => {
  it('every URI form with mlflow-artifacts: (sqlite backend, --serve-artifacts)', async () => {
    expect(pop.mlflow).toBe('2.22.5');
    expect(pop.stages).toBe(true);
    expect(pop.versions.find((v) => v.version === '1')!.source).toMatch(/^mlflow-artifacts:\/1\/[0-9a-f]{32}\/artifacts\/model$/);
    const t = Date.now();
    for (const [uri, version] of FORMS(pop)) {
      const { mlflow, row } = await checkForm(ctx, uri);
      if (version) expect(mlflow.version, uri).toBe(version);
      if (uri.startsWith('runs:/')) expect(row.resolved).toMatchObject({ kind: 'run', runId: pop.runs.v2 });
    }
    timings.forms = Date.now() - t;
  });

  it('every URI form with a file backend and a file: artifact root (no artifact proxy)', async () => {
    expect(filePop.versions.find((v) => v.version === '1')!.source).toMatch(/^file:\/\/\//);
    const fileProxy = await new LoggingProxy(fileServer.url).start();
    try {
      for (const [uri, version] of FORMS(filePop).filter(([u]) => !/\/(2|3|Production|latest)$|@challenger/.test(u))) {
        const { mlflow } = await checkForm({ ...ctx, proxy: fileProxy }, uri);
        if (version) expect(mlflow.version, uri).toBe(version);
      }
      // Nothing came through the server's artifact routes: both clients read the files where they are.
      expect(fileProxy.calls.filter((c) => c.path.includes('artifacts'))).toEqual([]);
    } finally {
      await fileProxy.close();
    }
  });

  it('promote --registry-stage Production --registry-alias champion: MLflow\'s client reads both back', async () => {
    const env = { MLFLOW_TRACKING_URI: server.url };
    let r = await d.deploy('models:/LiveOnnx/Production', ['--endpoint', 'prod'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    r = await d.deploy('models:/LiveOnnx/3', ['--endpoint', 'prod', '--canary', '10'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    const p = await d.cli(['canary', 'promote', '--endpoint', 'prod', '--registry-stage', 'production', '--registry-alias', 'champion'], { env });
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.stdout).toContain('MLflow: alias champion and stage Production now on version 3 of LiveOnnx');
    expect((await py.ok({ op: 'stage', tracking_uri: server.url, name: 'LiveOnnx', stage: 'Production' })).version).toBe('3');
    expect((await py.ok({ op: 'alias', tracking_uri: server.url, name: 'LiveOnnx', alias: 'champion' })).version).toBe('3');
    // The version that was in Production is archived, so models:/LiveOnnx/Production names 3 for everyone.
    const again = await checkForm(ctx, 'models:/LiveOnnx/Production');
    expect(again.mlflow.version).toBe('3');
    const ev = (await d.cli(['events', 'prod', '--json'])).json as Array<{ kind: string; data: any }>;
    const written = ev.find((e) => e.kind === 'registry-written');
    expect(written?.data.calls).toEqual(['POST /api/2.0/mlflow/registered-models/alias', 'POST /api/2.0/mlflow/model-versions/transition-stage']);
    expect(written?.data.answer).toEqual({ model_version: { name: 'LiveOnnx', version: '3', current_stage: 'Production' } });
    expect((await d.cli(['undeploy', 'prod'])).exitCode).toBe(0);
  });

  it('a server killed mid-download: the deploy fails cleanly, nothing is half-cached, and after a restart it deploys', async () => {
    const t0 = Date.now();
    const big = await populate(server, { bigMb: 16 });
    const bigFile = big.onnxModelFiles.find((f) => f.endsWith('.data'))!;
    expect(bigFile).toBeTruthy();
    // 4 MiB/s through a proxy in front: the 16 MiB weights take ~4 s; the server dies after 3 MiB,
    // with more of the file than fits in socket buffers still unsent.
    const slow = await new LoggingProxy(server.url, { throttleBytesPerSec: 4 << 20 }).start();
    const cacheDir = join(d.home, 'cache');
    const partials = () => (existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.startsWith('.tmp-')) : []);
    const cacheKeys = async () => ((await d.cli(['cache', 'ls', '--json'])).json.entries as any[]).map((e) => e.key as string);
    try {
      const env = { MLFLOW_TRACKING_URI: slow.url, MLFLOW_HTTP_REQUEST_MAX_RETRIES: '1', MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.1' };
      const deploying = d.deploy('models:/LiveBig/1', ['--endpoint', 'big'], env);
      await until(async () => slow.artifactBytes, (n) => n > 3 << 20, 60_000, 50);
      expect(partials().length, 'a download in progress lives in a temp folder').toBe(1);
      await server.kill();
      const r = await deploying;
      expect(partials()).toEqual([]);
      if (r.exitCode === 0) {
        // Everything was already in socket buffers when the server died: the deploy completed.
        console.log('killed-download: the whole file had left the server before it was killed; the deploy completed');
        expect((await cacheKeys()).filter((k) => k.includes('LiveBig')).length).toBe(1);
        expect((await d.cli(['undeploy', 'big'])).exitCode).toBe(0);
        await d.cli(['cache', 'prune']);
      } else {
        expect(r.exitCode, r.stdout).toBe(1);
        expect(r.stdout).toMatch(/broke off after \d+ bytes|cannot reach MLflow|downloaded \d+ bytes but the server's listing says/);
        expect((await cacheKeys()).filter((k) => k.includes('LiveBig'))).toEqual([]);
      }

      await server.start(); // the same port and stores
      const ok = await d.deploy('models:/LiveBig/1', ['--endpoint', 'big'], { MLFLOW_TRACKING_URI: server.url });
      expect(ok.exitCode, ok.stdout).toBe(0);
      expect(partials()).toEqual([]);
      const mlflow = await py.ok({ op: 'download', uri: 'models:/LiveBig/1', tracking_uri: server.url, x: pop.x });
      expect(mlflow.files.find((f: any) => f.path === bigFile).size).toBeGreaterThan(16 << 20);
      expectClose(await inferY(d, 'big', pop.x), mlflow.outputs.flat(), 'LiveBig after the restart');
      timings.killedDownload = Date.now() - t0;
    } finally {
      await slow.close();
    }
  });
});
