// The control plane under load: `mlserve apply` with a changed setting (a new revision), a new
// model version (another deployment replaces the primary) and a new replica count each roll out
// while `mlserve bench` runs, failing zero requests. And a daemon killed with SIGKILL in the middle
// of a blue-green replacement finishes it after a restart, with no orphan replica processes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerInFileStore } from '../../src/models/file-store-writer.js';
import { onnxFiles } from '../../src/models/mlflow-writer.js';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { alive, replicaProcesses } from '../helpers/process.js';
import { writeOnnx } from '../helpers/models.js';
import { served, until, untilServed } from '../helpers/wait.js';

const body = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
const register = (mlruns: string, seed: number) => {
  const m = mlp({ seed, sizes: [4, 16, 3] });
  return registerInFileStore(mlruns, { name: 'Live', modelWriter: { ...onnxFiles(m.builder.toBytes()), signature: m.signature } });
};
const replicasOf = replicaProcesses;

describe('apply under load', () => {
  let d: TestDaemon;
  let mlruns: string;
  let file: string;
  const cfg = (version: number, replicas: number, threads: number) => `applications:
  - name: live
    deployments:
      - model: models:/Live/${version}
        num_replicas: ${replicas}
        threads: ${threads}
`;
  const status = async () => (await d.cli(['status', '--json'])).json;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
    mlruns = join(dir, 'mlruns');
    register(mlruns, 1);
    register(mlruns, 2);
    file = join(dir, 'mlserve.yaml');
    d = new TestDaemon({ MLFLOW_TRACKING_URI: `file://${mlruns}` });
    await d.start();
    writeFileSync(file, cfg(1, 2, 1));
    const r = await d.cli(['apply', '-f', file]);
    expect(r.exitCode, r.stderr).toBe(0);
  });
  afterAll(async () => {
    await d.cleanup();
  });

  /** Apply `text` while mlserve bench runs; returns the bench result. */
  async function applyUnderLoad(text: string) {
    writeFileSync(file, text);
    const serving = (await status()).endpoints[0].primary;
    const base = await served((args) => d.cli(args), serving);
    const bench = d.cli(['bench', 'live', '-c', '8', '-d', '6s', '--warmup', '0s', '--json']);
    await untilServed((args) => d.cli(args), serving, base + 50);
    const applied = await d.cli(['apply', '-f', file]);
    expect(applied.exitCode, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    const b = await bench;
    expect(b.exitCode, b.stderr).toBe(0);
    return b.json;
  }

  it('a changed setting (threads) rolls out a new revision with zero failed requests', async () => {
    const before = (await status()).deployments[0];
    const b = await applyUnderLoad(cfg(1, 2, 2));
    expect(b.requests).toBeGreaterThan(100);
    expect(b.errors, JSON.stringify(b.errors)).toMatchObject({ total: 0 });
    const after = (await status()).deployments[0];
    expect([after.name, after.settings.threads]).toEqual(['live-v1', 2]);
    expect(after.revision).not.toBe(before.revision);
    const old = before.replicas.map((r: any) => r.pid);
    expect(old.filter(alive)).toEqual([]);
    console.log(`threads 1 -> 2 under load: ${b.requests} requests, ${b.errors.total} failed`);
  });

  it('a new model version (another deployment takes over) rolls out with zero failed requests', async () => {
    const b = await applyUnderLoad(cfg(2, 2, 2));
    expect(b.errors, JSON.stringify(b.errors)).toMatchObject({ total: 0 });
    const s = await status();
    expect(s.deployments.map((x: any) => x.name)).toEqual(['live-v2']);
    expect(s.endpoints[0]).toMatchObject({ primary: 'live-v2', nextPrimary: null });
    const res = await d.http('POST', '/v2/models/live/infer', body);
    expect(res.json.model_version).toBe('2');
    console.log(`version 1 -> 2 under load: ${b.requests} requests, ${b.errors.total} failed`);
  });

  it('a new replica count changes in place with zero failed requests (up, then down)', async () => {
    const pids = (await status()).deployments[0].replicas.map((r: any) => r.pid);
    const up = await applyUnderLoad(cfg(2, 3, 2));
    expect(up.errors, JSON.stringify(up.errors)).toMatchObject({ total: 0 });
    const mid = (await status()).deployments[0];
    expect(mid.replicas.filter((r: any) => r.state === 'ready').length).toBe(3);
    for (const p of pids) expect(alive(p)).toBe(true); // in place: no replica restarted
    const down = await applyUnderLoad(cfg(2, 1, 2));
    expect(down.errors, JSON.stringify(down.errors)).toMatchObject({ total: 0 });
    expect((await status()).deployments[0].replicas.length).toBe(1);
    console.log(`replicas 2 -> 3 -> 1 under load: ${up.requests + down.requests} requests, ${up.errors.total + down.errors.total} failed`);
  });
});

describe('a daemon killed in the middle of a blue-green replacement', () => {
  let d: TestDaemon;
  afterAll(async () => {
    await d.cleanup();
  });

  it('finishes the replacement after a restart, with no orphan replicas', async () => {
    // One simulated GPU: the holder takes it, so the replacement (which needs it) waits, pending.
    d = new TestDaemon({ MLSERVE_GPUS: '1x16GB' });
    await d.start();
    const m1 = writeOnnx(mlp({ seed: 1, sizes: [4, 8, 3] }), 'a');
    const m2 = writeOnnx(mlp({ seed: 2, sizes: [4, 8, 3] }), 'b');
    const holder = writeOnnx(mlp({ seed: 3, sizes: [4, 8, 3] }), 'h');
    expect((await d.deploy(m1, ['--endpoint', 'svc', '--name', 'svc-a'])).exitCode).toBe(0);
    expect((await d.deploy(holder, ['--endpoint', 'holder', '--gpus', '1'])).exitCode).toBe(0);
    const r = await d.deploy(m2, ['--endpoint', 'svc', '--name', 'svc-b', '--replace', '--gpus', '1', '--no-wait']);
    expect(r.exitCode, r.stderr).toBe(0);
    const pending = await until(async () => (await d.cli(['status', '--json'])).json, (s) => s.deployments.find((x: any) => x.name === 'svc-b')?.state === 'pending');
    expect(pending.endpoints.find((e: any) => e.name === 'svc')).toMatchObject({ primary: 'svc-a', nextPrimary: 'svc-b' });
    const pids = pending.deployments.flatMap((x: any) => x.replicas.map((rep: any) => rep.pid)).filter(Boolean);
    expect(pids.length).toBe(2);

    process.kill(d.pid, 'SIGKILL');
    await until(async () => pids.filter(alive).length, (n) => n === 0, 10_000);
    expect(pids.filter(alive)).toEqual([]);
    await d.start();
    // Still mid-replacement after the restart: svc-a serves, svc-b waits for the GPU.
    const again = await until(async () => (await d.cli(['status', '--json'])).json, (s) => s.deployments.find((x: any) => x.name === 'svc-a')?.state === 'ready');
    expect(again.endpoints.find((e: any) => e.name === 'svc').nextPrimary).toBe('svc-b');
    expect((await d.http('POST', '/v2/models/svc/infer', body)).headers['x-mlserve-deployment']).toBe('svc-a');
    // Room appears: the replacement completes by itself.
    expect((await d.cli(['undeploy', 'holder'])).exitCode).toBe(0);
    const done = await until(async () => (await d.cli(['status', '--json'])).json, (s) => s.deployments.map((x: any) => x.name).join() === 'svc-b' && s.deployments[0].state === 'ready');
    expect(done.endpoints).toMatchObject([{ name: 'svc', primary: 'svc-b', nextPrimary: null }]);
    expect((await d.http('POST', '/v2/models/svc/infer', body)).headers['x-mlserve-deployment']).toBe('svc-b');
    const kinds = (await d.cli(['events', 'svc', '--json', '-n', '100'])).json.map((e: any) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['replacing', 'switched']));
    expect(replicasOf(d.home).length).toBe(1); // only svc-b's replica: nothing of svc-a or the holder is left
  });
});

describe('the reconcile loop cannot die', () => {
  let d: TestDaemon;
  afterAll(async () => {
    await d.cleanup();
  });

  it('an action that throws is an event on its deployment; other deployments still converge, and fixing the state recovers it', async () => {
    d = new TestDaemon();
    await d.start();
    const a = writeOnnx(mlp({ seed: 5, sizes: [4, 8, 3] }), 'a');
    const first = await d.deploy(a, ['--endpoint', 'broken']);
    expect(first.exitCode, first.stderr).toBe(0);
    // Desired state no command would write (another tool edited state.db): an unknown replica kind.
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(join(d.home, 'state.db'));
    const row = db.prepare("SELECT settings FROM deployments WHERE name = 'broken-v1'").get() as { settings: string };
    db.prepare("UPDATE deployments SET settings = ? WHERE name = 'broken-v1'").run(JSON.stringify({ ...JSON.parse(row.settings), runtime: 'bogus' }));
    const events = async () => (await d.cli(['events', 'broken-v1', '--json', '-n', '50'])).json as any[];
    const ev = await until(events, (e) => e.some((x) => x.kind === 'reconcile-error'));
    expect(ev.find((x) => x.kind === 'reconcile-error').message).toMatch(/start failed: unknown runtime 'bogus'/);
    // The serving revision goes on serving, and the loop goes on: a new deployment starts and serves.
    expect((await d.http('POST', '/v2/models/broken/infer', body)).status).toBe(200);
    const b = writeOnnx(mlp({ seed: 6, sizes: [4, 8, 3] }), 'b');
    const other = await d.deploy(b, ['--endpoint', 'fine']);
    expect(other.exitCode, other.stderr).toBe(0);
    expect((await d.http('POST', '/v2/models/fine/infer', body)).status).toBe(200);
    // Put the row back: the loop converges (no more errors after the fix).
    db.prepare("UPDATE deployments SET settings = ? WHERE name = 'broken-v1'").run(row.settings);
    db.close();
    const before = (await events()).filter((x) => x.kind === 'reconcile-error').length;
    await new Promise((r) => setTimeout(r, 1500)); // three loop passes
    expect((await events()).filter((x) => x.kind === 'reconcile-error').length).toBe(before);
    expect((await d.cli(['status', '--json'])).json.deployments.map((x: any) => [x.name, x.state])).toEqual([['broken-v1', 'ready'], ['fine-v1', 'ready']]);
  });
});

describe('threads per replica by default', () => {
  let d: TestDaemon;
  afterAll(async () => {
    await d.cleanup();
  });

  it('share the cores among the CPU replicas; a new deployment rolls the others to their new share without failed requests', async () => {
    const cores = (await import('node:os')).availableParallelism();
    d = new TestDaemon();
    await d.start();
    const model = writeOnnx(mlp({ seed: 7, sizes: [4, 8, 3] }), 't');
    expect((await d.deploy(model, ['--endpoint', 'ta'])).exitCode).toBe(0);
    const threadsOf = async (name: string) => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === name)?.threads;
    expect(await threadsOf('ta-v1')).toEqual({ threads: cores, reason: `${cores} core${cores === 1 ? '' : 's'} shared by 1 CPU replica` });
    const bench = d.cli(['bench', 'ta', '-c', '4', '-d', '4s', '--warmup', '0s', '--json']);
    await untilServed((args) => d.cli(args), 'ta-v1', 20);
    expect((await d.deploy(model, ['--endpoint', 'tb', '--replicas', String(Math.max(1, cores - 1))])).exitCode).toBe(0);
    const share = Math.max(1, Math.floor(cores / cores));
    const ta = await until(() => threadsOf('ta-v1'), (t) => t?.threads === share);
    expect(ta.reason).toBe(`${cores} core${cores === 1 ? '' : 's'} shared by ${cores === 1 ? 2 : cores} CPU replicas`);
    const b = await bench;
    expect(b.json.errors, JSON.stringify(b.json.errors)).toMatchObject({ total: 0 });
    const status = await until(async () => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'ta-v1'), (x) => x.revisions.length === 1 && x.revisions[0].role === 'serving');
    expect(status.revision).toBe(status.revisions[0].revision);
    if (cores > 1) {
      const ev = (await d.cli(['events', 'ta-v1', '--json', '-n', '50'])).json.map((e: any) => e.message).join('\n');
      expect(ev).toContain(`threads per replica ${cores} -> ${share}`);
    }
  });
});
