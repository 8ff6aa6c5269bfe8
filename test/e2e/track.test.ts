// Follow the registry: moving an alias in MLflow rolls the endpoint to the new version by itself
// (blue-green); a registry outage pauses tracking and says so, and serving goes on.
import { mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../helpers/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerInFileStore, setAlias } from '../../src/models/file-store-writer.js';
import { onnxFiles } from '../../src/models/mlflow-writer.js';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;
let mlruns: string;
const body = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
const register = (seed: number, aliases: string[]) => {
  const m = mlp({ seed, sizes: [4, 8, 3] });
  return registerInFileStore(mlruns, { name: 'Tracked', modelWriter: { ...onnxFiles(m.builder.toBytes()), signature: m.signature }, aliases });
};
const events = async () => (await d.cli(['events', 'tracked', '--json', '-n', '100'])).json;

beforeAll(async () => {
  mlruns = join(mkdtempSync(join(tmpdir(), 'track-')), 'mlruns');
  register(1, ['champion']);
  d = new TestDaemon({ MLFLOW_TRACKING_URI: `file://${mlruns}` });
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
});

describe('--track', () => {
  it('rolls the endpoint to the version an alias moves to', async () => {
    const r = await d.deploy('models:/Tracked@champion', ['--track', '--track-interval', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.name).toBe('tracked-v1');
    const v2 = register(2, []);
    setAlias(mlruns, 'Tracked', 'champion', v2.version);
    const res = await until(() => d.http('POST', '/v2/models/tracked/infer', body), (x) => x.headers['x-mlserve-deployment'] === 'tracked-v2');
    expect(res.status).toBe(200);
    expect(res.json.model_version).toBe('2');
    const kinds = (await events()).map((e: any) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['track-moved', 'switched']));
    const st = await until(async () => (await d.cli(['status', '--json'])).json, (s) => s.deployments.length === 1);
    expect(st.deployments.map((x: any) => x.name)).toEqual(['tracked-v2']);
  });

  it('pauses on a registry outage and keeps serving', async () => {
    const moved = `${mlruns}-away`;
    renameSync(mlruns, moved);
    try {
      const ev = await until(events, (e) => e.some((x: any) => x.kind === 'track-paused'), 10_000);
      expect(ev.some((x: any) => x.kind === 'track-paused')).toBe(true);
      expect((await d.http('POST', '/v2/models/tracked/infer', body)).status).toBe(200);
    } finally {
      renameSync(moved, mlruns);
    }
    const back = await until(events, (e) => e.some((x: any) => x.kind === 'track-resumed'), 10_000);
    expect(back.some((x: any) => x.kind === 'track-resumed')).toBe(true);
  });
});
