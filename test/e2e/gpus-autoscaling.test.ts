// Placement on a simulated GPU inventory (MLSERVE_GPUS=2x80GB: replicas run on CPU, placement and
// accounting are real) and Ray-style autoscaling, with real daemons and replica processes.
import { until } from '../helpers/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
let file: string;
const body = { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] };
const dep = async (name: string) => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === name);
const gpuOf = (r: any) => r.gpu?.gpus.map((g: any) => `${g.index}:${g.fraction}`).join(',');

beforeAll(async () => {
  d = new TestDaemon({ MLSERVE_GPUS: '2x80GB' });
  await d.start();
  file = writeOnnx(mlp({ seed: 5, sizes: [8, 16, 2] }), 'gm');
});
afterAll(async () => {
  await d.cleanup();
});

describe('fractional GPU placement', () => {
  it('packs three 0.33 replicas on GPU 0, a fourth on GPU 1, and says the inventory is simulated', async () => {
    const a = await d.deploy(file, ['--endpoint', 'a', '--replicas', '3', '--gpus', '0.33']);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(a.json.replicas.map(gpuOf)).toEqual(['0:0.33', '0:0.33', '0:0.33']);
    const b = await d.deploy(file, ['--endpoint', 'b', '--gpus', '0.33']);
    expect(b.json.replicas.map(gpuOf)).toEqual(['1:0.33']);
    expect((await d.http('POST', '/v2/models/a/infer', body)).status).toBe(200);
    const gpus = await d.cli(['gpus', '--json']);
    expect(gpus.json.simulated).toBe(true);
    expect(gpus.json.gpus.map((g: any) => [g.index, g.allocated, g.replicas.length])).toEqual([[0, 0.99, 3], [1, 0.33, 1]]);
    const st = await d.cli(['status']);
    expect(st.stdout).toMatch(/GPUs: 2 from MLSERVE_GPUS=2x80GB \(simulated/);
  });

  it('keeps an over-subscribed deployment pending with its reason and who holds the room, and places it when room appears', async () => {
    const started = Date.now();
    const c = await d.cli(['deploy', file, '--endpoint', 'c', '--replicas', '2', '--gpus', '0.5', '--json']);
    // It fits the inventory but not the free room: pending, said at once (no wait for the timeout).
    expect(c.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(c.json.code).toBe('PENDING');
    expect(c.json.error).toMatch(/pending: 1 of 2 replica\(s\) waiting for a GPU: needs 0.5 of a GPU; GPU 0 has 0.01 free, GPU 1 0.17; held by a-v1 \(3 replicas: 0.99 of GPU 0\), b-v1 \(1 replica: 0.33 of GPU 1\), c-v1 \(1 replica: 0.50 of GPU 1\)/);
    expect(c.json.error).toContain('mlserve undeploy');
    const pending = await dep('c-v1');
    expect(pending.state).toBe('pending');
    expect(pending.replicas.map(gpuOf)).toEqual(['1:0.5', undefined]);
    expect((await d.cli(['undeploy', 'a'])).exitCode).toBe(0);
    const placed = await until(() => dep('c-v1'), (x) => x.state === 'ready');
    expect(placed.replicas.map(gpuOf)).toEqual(['1:0.5', '0:0.5']);
    const ev = await d.cli(['events', 'c-v1', '--json']);
    expect(ev.json.some((e: any) => e.kind === 'placed')).toBe(true);
  });

  it('keeps placements across a daemon restart', async () => {
    const before = (await d.cli(['status', '--json'])).json.deployments.map((x: any) => [x.name, x.replicas.map(gpuOf)]);
    await d.stop();
    await d.start();
    const after = await until(async () => (await d.cli(['status', '--json'])).json, (s) => s.deployments.every((x: any) => x.state === 'ready'));
    expect(after.deployments.map((x: any) => [x.name, x.replicas.map(gpuOf)])).toEqual(before);
    await d.cli(['undeploy', 'b']);
    await d.cli(['undeploy', 'c']);
  });

  it('refuses fractions above 1 that are not whole (a refused value: exit 2)', async () => {
    const r = await d.cli(['deploy', file, '--endpoint', 'bad', '--gpus', '1.5']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/whole number/);
  });

  it('refuses at once what the inventory can never hold: more whole GPUs than exist, more replicas than fit', async () => {
    for (const [args, re] of [
      [['--gpus', '3'], /asks for 3 whole GPUs per replica, but this machine has 2 \(MLSERVE_GPUS=2x80GB/],
      [['--gpus', '0.5', '--replicas', '5'], /5 replicas of 0.5 of a GPU each do not fit this machine's 2 GPUs .*at most 4 fit/],
    ] as const) {
      const started = Date.now();
      const r = await d.cli(['deploy', file, '--endpoint', 'never', ...args, '--json']);
      expect(r.exitCode).toBe(1);
      expect(r.json.code).toBe('NO_GPU');
      expect(r.json.error).toMatch(re);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    expect((await d.cli(['status', '--json'])).json.deployments.map((x: any) => x.name)).not.toContain('never-v1');
  });
});

describe('autoscaling', () => {
  it('scales up under a burst and back down when idle (short delays)', async () => {
    const cfg = JSON.stringify({ look_back_period_s: 1.5, metrics_interval_s: 0.5 });
    const r = await d.deploy(file, ['--endpoint', 'auto', '--min-replicas', '1', '--max-replicas', '3', '--target-ongoing-requests', '1', '--upscale-delay-s', '1', '--downscale-delay-s', '2', '--autoscaling-config', cfg, '--max-batch-size', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    // Load for up to 12 s; the autoscaler must add a replica while it lasts.
    const running = d.cli(['bench', 'auto', '-c', '16', '-d', '12s', '--warmup', '0s', '--json']);
    const up = await until(() => dep('auto-v1'), (x) => x.replicas.length > 1, 12_000);
    expect(up.replicas.length).toBeGreaterThan(1);
    const bench = await running;
    expect(bench.json.errors.total).toBe(0);
    const ev = await d.cli(['events', 'auto-v1', '--json']);
    const ups = ev.json.filter((e: any) => e.kind === 'scaled' && /autoscaler/.test(e.message));
    expect(ups.length).toBeGreaterThan(0);
    expect(ups[0].data.inputs).toBeDefined();
    expect(ups[0].data.to).toBeGreaterThan(1);
    const down = await until(() => dep('auto-v1'), (x) => x.replicas.length === 1, 20_000);
    expect(down.replicas.length).toBe(1);
  });

  it('scales to zero and cold-starts on the next request', async () => {
    const s = await d.cli(['scale', 'auto', '--min', '0', '--max', '2']);
    expect(s.exitCode, s.stderr).toBe(0);
    const zero = await until(() => dep('auto-v1'), (x) => x.replicas.length === 0, 20_000);
    expect(zero.replicas.length).toBe(0);
    const res = await d.http('POST', '/v2/models/auto/infer', body);
    expect(res.status, res.text).toBe(200);
    const ev = await d.cli(['events', 'auto-v1', '--json']);
    expect(ev.json.some((e: any) => /cold start/.test(e.message))).toBe(true);
  });
});
