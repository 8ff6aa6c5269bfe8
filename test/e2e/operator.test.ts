// Issue 15, what a first real use found, with a real daemon (MLSERVE_GPUS=1x16GB) through the real
// CLI: error codes of one catalogue; canary weights as percents; GPU requests the inventory can never
// hold refused at once; a failed deployment and server readiness (strict, as Triton, or not);
// discovery (repository index, status <endpoint> with a curl that runs); logs with time and replica;
// warm-up; export kserve with the canary and a Triton repository.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { until } from '../helpers/wait.js';

let d: TestDaemon;
const work = mkdtempSync(join(tmpdir(), 'mlserve-operator-'));
const a = writeOnnx(mlp({ seed: 21, sizes: [4, 8, 3] }), 'alpha');
const b = writeOnnx(mlp({ seed: 22, sizes: [4, 8, 3] }), 'beta');
const status = async () => (await d.cli(['status', '--json'])).json;

beforeAll(async () => {
  writeFileSync(join(work, 'bad.onnx'), Buffer.from('this is not an onnx model, just bytes'));
  d = new TestDaemon({ MLSERVE_GPUS: '1x16GB' });
  await d.start();
  const r = await d.deploy(a, ['--endpoint', 'alpha']);
  expect(r.exitCode, r.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await d.cleanup();
});

describe('one error catalogue', () => {
  it('no daemon: DAEMON_NOT_RUNNING (not DaemonNotRunning), exit 1', async () => {
    const none = new TestDaemon();
    const r = await none.cli(['status', '--json']);
    expect(r.exitCode).toBe(1);
    expect(r.json).toEqual({ error: expect.stringContaining('not running'), code: 'DAEMON_NOT_RUNNING' });
    await none.cleanup();
  });

  it('codes and exit codes: NOT_FOUND 1, a refused value (BAD_REQUEST) 2, a refused name says the rule', async () => {
    const nf = await d.cli(['undeploy', 'nope', '--json']);
    expect([nf.exitCode, nf.json.code]).toEqual([1, 'NOT_FOUND']);
    const bad = await d.cli(['deploy', a, '--endpoint', 'x', '--threads', '999', '--json']);
    expect([bad.exitCode, bad.json.code]).toEqual([2, 'BAD_REQUEST']);
    const name = await d.cli(['deploy', a, '--endpoint', 'MyModel', '--json']);
    expect([name.exitCode, name.json.code]).toEqual([2, 'BAD_REQUEST']);
    expect(name.json.error).toMatch(/endpoint name 'MyModel' is not valid: use lowercase letters.*URL paths and KServe resource names/);
    const taken = await d.cli(['deploy', b, '--endpoint', 'alpha', '--name', 'alpha-x', '--json']);
    expect([taken.exitCode, taken.json.code]).toEqual([1, 'CONFLICT']);
    expect(taken.json.error).toMatch(/--replace .*--canary 10% .*mlserve undeploy alpha/);
  });
});

describe('canary weights are percents', () => {
  it('deploy --canary 1 is 1%, canary set 0.5 is half a percent, each printed; export kserve carries it', async () => {
    const c = await d.cli(['deploy', b, '--endpoint', 'alpha', '--name', 'alpha-c', '--canary', '1']);
    expect(c.exitCode, c.stderr).toBe(0);
    expect(c.stdout).toContain('canary of endpoint alpha at 1% of its traffic');
    expect((await status()).endpoints.find((e: any) => e.name === 'alpha')).toMatchObject({ canary: 'alpha-c', canaryWeight: 1 });
    const half = await d.cli(['canary', 'set', '0.5']);
    expect(half.exitCode, half.stderr).toBe(0);
    expect(half.stdout).toBe('alpha: canary alpha-c at 0.5%, primary alpha-v1 at 99.5%');
    const twelve = await d.cli(['canary', 'set', '12.5%', '--json']);
    expect(twelve.json.canaryWeight).toBe(12.5);
    const k = await d.cli(['export', 'kserve']);
    const alpha = (parseAllDocuments(k.stdout) as unknown as { toJS(): any }[]).map((x) => x.toJS()).find((m) => m.metadata.name === 'alpha');
    expect(alpha.spec.predictor.canaryTrafficPercent).toBe(13);
    expect(alpha.metadata.annotations['mlserve.io/deployment']).toBe('alpha-c');
    const out = join(work, 'kserve');
    expect((await d.cli(['export', 'kserve', '--out', out])).exitCode).toBe(0);
    expect(readFileSync(join(out, 'alpha', 'alpha', 'config.pbtxt'), 'utf8')).toContain('name: "alpha"');
    expect(readFileSync(join(out, 'alpha', 'alpha', '1', 'model.onnx'))).toEqual(readFileSync(b));
    expect((await d.cli(['canary', 'rollback'])).exitCode).toBe(0);
  });
});

describe('GPU requests on MLSERVE_GPUS=1x16GB', () => {
  it('deploy --gpus 2 is refused at once (NO_GPU), not left waiting', async () => {
    const started = Date.now();
    const r = await d.cli(['deploy', b, '--endpoint', 'big', '--gpus', '2', '--json']);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect([r.exitCode, r.json.code]).toEqual([1, 'NO_GPU']);
    expect(r.json.error).toMatch(/asks for 2 whole GPUs per replica, but this machine has 1 \(MLSERVE_GPUS=1x16GB/);
  });

  it('one that fits the inventory but not the room is pending, naming who holds it; it starts once freed', async () => {
    expect((await d.cli(['deploy', b, '--endpoint', 'holder', '--gpus', '1'])).exitCode).toBe(0);
    const p = await d.cli(['deploy', b, '--endpoint', 'waiter', '--gpus', '0.5', '--json']);
    expect([p.exitCode, p.json.code]).toEqual([1, 'PENDING']);
    expect(p.json.error).toMatch(/needs 0.5 of a GPU; GPU 0 has 0.00 free; held by holder-v1 \(1 replica: 1.00 of GPU 0\)/);
    expect((await d.cli(['undeploy', 'holder'])).exitCode).toBe(0);
    const w = await until(async () => (await status()).deployments.find((x: any) => x.name === 'waiter-v1'), (x) => x?.state === 'ready');
    expect(w.state).toBe('ready');
    expect((await d.cli(['undeploy', 'waiter'])).exitCode).toBe(0);
  });
});

describe('a failed deployment and server readiness', () => {
  it('strict (default): 503, status names the deployment; the error names the file as given; per-model readiness exact', async () => {
    const r = await d.cli(['deploy', './bad.onnx', '--json'], { cwd: work });
    expect([r.exitCode, r.json.code]).toEqual([1, 'DEPLOY_FAILED']);
    expect(r.json.error).toContain('./bad.onnx');
    expect(r.json.error).not.toContain(join(d.home, 'cache'));
    expect((await d.http('GET', '/v2/health/ready')).status).toBe(503);
    expect((await d.http('GET', '/v2/models/alpha/ready')).status).toBe(200);
    expect((await d.http('GET', '/v2/models/bad/ready')).status).toBe(503);
    const s = await d.cli(['status']);
    expect(s.stdout).toMatch(/server NOT ready \(GET \/v2\/health\/ready is 503, strict readiness\): bad-v1 \(endpoint bad\) is failed: .*\.\/bad\.onnx/);
    expect((await status()).readiness).toMatchObject({ strict: true, ready: false, holding: [{ endpoint: 'bad', deployment: 'bad-v1', state: 'failed' }] });
  });

  it('--no-strict-readiness: the live server is ready, the failed model still is not', async () => {
    await d.stop();
    await d.start(['--no-strict-readiness']);
    expect((await d.http('GET', '/v2/health/ready')).status).toBe(200);
    expect((await d.http('GET', '/ping')).status).toBe(200);
    await until(() => d.http('GET', '/v2/models/alpha/ready'), (x) => x.status === 200);
    expect((await d.http('GET', '/v2/models/bad/ready')).status).toBe(503);
    expect((await status()).readiness).toMatchObject({ strict: false, ready: true });
  });
});

describe('discovering what is served', () => {
  it('POST /v2/repository/index lists name, version, state and reason (read-only)', async () => {
    const idx = await d.http('POST', '/v2/repository/index');
    expect(idx.status).toBe(200);
    expect(idx.json).toEqual(expect.arrayContaining([
      { name: 'alpha', version: '1', state: 'READY', reason: '' },
      { name: 'bad', version: '1', state: 'UNAVAILABLE', reason: expect.stringContaining('./bad.onnx') },
    ]));
    expect((await d.http('POST', '/v2/repository/index', { ready: true })).json.map((e: any) => e.name)).toEqual(['alpha']);
    expect((await d.http('POST', '/v2/repository/models/alpha/unload')).status).toBe(405);
    expect((await d.http('GET', '/v2/models')).json.error).toContain('POST /v2/repository/index');
    expect((await d.cli(['undeploy', 'bad'])).exitCode).toBe(0);
  });

  it('status <endpoint> shows inputs and outputs and a curl that runs as printed', async () => {
    const r = await d.cli(['status', 'alpha']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/input\s+x\s+FP32\s+\[-1, 4\]/);
    expect(r.stdout).toMatch(/output\s+y\s+FP32\s+\[-1, 3\]/);
    const curl = r.stdout.split('\n').find((l) => l.trim().startsWith('curl '))!.trim();
    const answer = JSON.parse(execFileSync('sh', ['-c', curl], { encoding: 'utf8' }));
    expect(answer.outputs[0]).toMatchObject({ name: 'y', shape: [1, 3] });
    const j = await d.cli(['status', 'alpha', '--json']);
    expect(j.json.deployments[0]).toMatchObject({ name: 'alpha-v1', role: 'primary', example: { url: `${d.url}/v2/models/alpha/infer` } });
    expect((await d.cli(['status', 'nope', '--json'])).json.code).toBe('NOT_FOUND');
  });
});

describe('logs', () => {
  it('of an endpoint, each line with its time and replica; --json as JSON lines', async () => {
    const r = await d.cli(['logs', 'alpha']);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z alpha-v1\/\d+ /);
    const j = await d.cli(['logs', 'alpha', '--json']);
    const objs = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(objs[0]).toEqual({ ts: expect.any(String), deployment: 'alpha-v1', replica: expect.any(Number), line: expect.any(String) });
    expect((await d.cli(['logs', 'nope', '--json'])).json).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('-f follows replicas started while following (new indices, not 0..n-1)', async () => {
    const follow = d.cli(['logs', 'alpha', '-f', '--json'], { timeout: 12_000 });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await d.cli(['scale', 'alpha', '--replicas', '3'])).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 2500));
    const got = (await follow).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const now = (await status()).deployments.find((x: any) => x.name === 'alpha-v1').replicas.map((x: any) => x.idx);
    expect(now).toHaveLength(3);
    for (const idx of now) expect(got.some((l: any) => l.replica === idx && /ready in/.test(l.line)), `replica ${idx}`).toBe(true);
  });
});

describe('warm-up', () => {
  it('each replica runs one request before it is ready; --no-warmup skips it', async () => {
    const ev = (await d.cli(['events', 'alpha-v1', '-n', '100', '--json'])).json.filter((e: any) => e.kind === 'replica-ready');
    expect(ev.length).toBeGreaterThan(0);
    for (const e of ev) expect(e.message).toMatch(/loaded the model in \d+ ms, warm-up run \d+ ms/);
    const cold = await d.deploy(a, ['--endpoint', 'cold', '--no-warmup']);
    expect(cold.exitCode, cold.stderr).toBe(0);
    const cev = (await d.cli(['events', 'cold-v1', '--json'])).json.filter((e: any) => e.kind === 'replica-ready');
    expect(cev[0].message).not.toContain('warm-up');
    expect((await d.cli(['config'])).stdout).toMatch(/name: cold-v1\n\s+model: .*\n\s+num_replicas: 1\n\s+warmup: false/);
    const same = await d.cli(['apply', '-f', '-', '--dry-run'], { input: (await d.cli(['config'])).stdout });
    expect(same.exitCode, same.stdout + same.stderr).toBe(0);
  });
});
