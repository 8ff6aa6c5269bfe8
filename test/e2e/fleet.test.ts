// Fleet behaviour with real processes: scale up and down (draining), a hung replica replaced by
// health checks, a replica SIGKILLed under load loses no request, and a daemon SIGKILLed leaves
// no replica behind while the next start serves every deployment again.
import { served, until as waitUntil, untilServed } from '../helpers/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { alive, replicaProcesses } from '../helpers/process.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
let file: string;
const body = { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] };
const status = async () => (await d.cli(['status', '--json'])).json;
const dep = async (name: string) => (await status()).deployments.find((x: any) => x.name === name);

const until = <T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000) => waitUntil(fn, ok, ms);

const cli = (args: string[]) => d.cli(args);

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  file = writeOnnx(mlp({ seed: 8, sizes: [8, 16, 2] }), 'fleet');
  expect((await d.deploy(file, ['--replicas', '2', '--threads', '1', '--health-check-period-s', '1', '--health-check-timeout-s', '1'])).exitCode).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('fleet', () => {
  it('scales up and down, draining the surplus replicas', async () => {
    const up = await d.cli(['scale', 'fleet-v1', '--replicas', '3', '--json']);
    expect(up.exitCode, up.stderr).toBe(0);
    const ready3 = await until(() => dep('fleet-v1'), (x) => x.replicas.filter((r: any) => r.state === 'ready').length === 3);
    expect(ready3.replicas.length).toBe(3);
    const load = Promise.all(Array.from({ length: 60 }, () => d.http('POST', '/v2/models/fleet/infer', body)));
    const down = await d.cli(['scale', 'fleet', '--replicas', '1']);
    expect(down.exitCode, down.stderr).toBe(0);
    for (const r of await load) expect(r.status).toBe(200);
    const after = await dep('fleet-v1');
    expect(after.replicas.map((r: any) => r.idx)).toEqual([0]);
    for (const r of ready3.replicas.filter((x: any) => x.idx > 0)) expect(alive(r.pid)).toBe(false);
    const ev = await d.cli(['events', 'fleet-v1', '--json']);
    expect(ev.json.filter((e: any) => e.kind === 'scaled').map((e: any) => e.message)).toEqual(['replicas 2 -> 3 (desired replica count)', 'replicas 3 -> 1 (desired replica count)']);
    expect((await d.cli(['scale', 'fleet', '--replicas', '2'])).exitCode).toBe(0);
    await until(() => dep('fleet-v1'), (x) => x.replicas.filter((r: any) => r.state === 'ready').length === 2);
  });

  it('replaces a replica that stops answering health checks', async () => {
    const before = (await dep('fleet-v1')).replicas[0];
    process.kill(before.pid, 'SIGSTOP');
    const after = await until(() => dep('fleet-v1'), (x) => x.replicas[0].pid !== before.pid && x.replicas[0].state === 'ready', 20_000);
    expect(after.replicas[0].pid).not.toBe(before.pid);
    expect(after.replicas[0].restarts).toBe(before.restarts + 1);
    const ev = await d.cli(['events', 'fleet-v1', '--json']);
    expect(ev.json.some((e: any) => e.kind === 'health-failed')).toBe(true);
  });

  it('loses no request when a replica is SIGKILLed under load', async () => {
    const victim = (await dep('fleet-v1')).replicas[1];
    const base = await served(cli, 'fleet-v1');
    const bench = d.cli(['bench', 'fleet', '-c', '8', '-d', '3s', '--warmup', '0s', '--json']);
    await untilServed(cli, 'fleet-v1', base + 50);
    process.kill(victim.pid, 'SIGKILL');
    const r = await bench;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.requests).toBeGreaterThan(100);
    expect(r.json.errors, JSON.stringify(r.json.errors)).toMatchObject({ total: 0 });
    const x = await until(() => dep('fleet-v1'), (v) => v.replicas[1].state === 'ready' && v.replicas[1].pid !== victim.pid);
    expect(x.replicas[1].restarts).toBeGreaterThanOrEqual(1);
  });

  it('a daemon killed with SIGKILL leaves no replica behind, and the next start serves again', async () => {
    const pids = (await dep('fleet-v1')).replicas.map((r: any) => r.pid);
    const starts = (await status()).daemon.starts;
    process.kill(d.pid, 'SIGKILL');
    await until(async () => pids.filter(alive).length, (n) => n === 0, 10_000);
    expect(pids.filter(alive)).toEqual([]);
    const t0 = Date.now();
    await d.start();
    await until(() => d.http('POST', '/v2/models/fleet/infer', body), (r) => r.status === 200);
    const seconds = (Date.now() - t0) / 1000;
    const st = await status();
    expect(st.daemon.starts).toBe(starts + 1);
    const ready = await until(() => dep('fleet-v1'), (x) => x.state === 'ready');
    expect(ready.replicas.length).toBe(2);
    expect(seconds).toBeLessThan(15);
    // For the issue note: seconds from daemon start to every deployment ready.
    console.log(`daemon start -> serving again: ${seconds.toFixed(2)} s`);
    // Only the new replicas run for this home: none of the old ones survived.
    const running = replicaProcesses(d.home);
    expect(running.length).toBe(2);
  });
});
