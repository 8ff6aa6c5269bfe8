// A frozen replica (SIGSTOP) under `mlserve bench` load, with 1 s health checks: it is taken out
// of routing (suspect) within about one health period + timeout, the requests it held are sent to
// the other replica, every request succeeds; SIGCONT brings it back as it was, and one that stays
// frozen is replaced after 3 missed checks.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/cli/client.js';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { served, untilServed } from '../helpers/wait.js';

let d: TestDaemon;
let control: ControlClient;
const cli = (args: string[]) => d.cli(args);

type Replica = { idx: number; pid: number; state: string; restarts: number };
type Deployment = { replicas: Replica[]; stats: { requests: number } };
/** The deployment, straight from the control socket (no CLI start-up in the timing). */
const deployment = () => control.call<Deployment>('GET', '/v1/deployments/frozen');
const replicas = async (): Promise<Replica[]> => (await deployment()).replicas;
/** Poll every 50 ms until `ok` holds; returns the seconds it took (or throws after `ms`). */
async function within(ok: (rs: Replica[]) => boolean, ms: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (ok(await replicas())) return (Date.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not within ${ms} ms: ${JSON.stringify(await replicas())}`);
}

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  control = new ControlClient(join(d.home, 'mlserve.sock'));
  const file = writeOnnx(mlp({ seed: 16, sizes: [8, 16, 2] }), 'frozen');
  const r = await d.deploy(file, ['--endpoint', 'frozen', '--replicas', '2', '--health-check-period-s', '1', '--health-check-timeout-s', '1']);
  expect(r.exitCode, r.stderr).toBe(0);
});
afterAll(async () => {
  for (const r of (await replicas().catch(() => [])) as Replica[]) {
    try {
      process.kill(r.pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  }
  await control?.close();
  await d.cleanup();
});

describe('a frozen replica (SIGSTOP) under load', () => {
  it('stops getting traffic within a health period + timeout, comes back on SIGCONT, is replaced when it stays frozen; no request fails', async () => {
    const before = await replicas();
    expect(before.map((r) => r.state)).toEqual(['ready', 'ready']);
    const base = await served(cli, 'frozen-v1');
    const bench = d.cli(['bench', 'frozen', '-c', '8', '-d', '14s', '--warmup', '0s', '--json']);
    await untilServed(cli, 'frozen-v1', base + 100);

    // 1. Freeze replica 0: suspect within period (1 s) + timeout (1 s), plus polling slack.
    process.kill(before[0]!.pid, 'SIGSTOP');
    const suspectAfter = await within((rs) => rs[0]!.state === 'suspect', 10_000);
    console.log(`SIGSTOP -> suspect: ${suspectAfter.toFixed(2)} s`);
    expect(suspectAfter).toBeLessThan(4); // 2 s by the settings, plus a loaded machine's scheduling
    // It takes no new work: while it is frozen the other replica serves on.
    const servedWhileOut = (await deployment()).stats.requests;
    await new Promise((r) => setTimeout(r, 300));
    expect((await deployment()).stats.requests).toBeGreaterThan(servedWhileOut + 20);

    // 2. SIGCONT before the third miss: it answers the next health check and is back, same process.
    process.kill(before[0]!.pid, 'SIGCONT');
    const backAfter = await within((rs) => rs[0]!.state === 'ready', 5000);
    console.log(`SIGCONT -> ready: ${backAfter.toFixed(2)} s`);
    const back = await replicas();
    expect(back[0]!.pid).toBe(before[0]!.pid);
    expect(back[0]!.restarts).toBe(before[0]!.restarts);

    // 3. Freeze replica 1 for good: suspect at once, replaced after 3 missed checks.
    process.kill(before[1]!.pid, 'SIGSTOP');
    await within((rs) => rs[1]!.state === 'suspect', 10_000);
    const replacedAfter = await within((rs) => rs[1]!.pid !== before[1]!.pid && rs[1]!.state === 'ready', 20_000);
    console.log(`suspect -> replaced and ready: ${replacedAfter.toFixed(2)} s`);

    const r = await bench;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.requests).toBeGreaterThan(200);
    expect(r.json.errors, JSON.stringify(r.json.errors)).toMatchObject({ total: 0 });
    // No request waited for its 30 s deadline on the frozen replica: those it held went elsewhere.
    expect(r.json.latencyMs.max).toBeLessThan(10_000);
    console.log(`bench: ${r.json.requests} requests, 0 errors, max latency ${r.json.latencyMs.max.toFixed(0)} ms`);

    const kinds = (await d.cli(['events', 'frozen-v1', '--json'])).json.map((e: any) => `${e.kind} ${e.subject}`);
    expect(kinds).toEqual(expect.arrayContaining(['replica-suspect frozen-v1/0', 'replica-recovered frozen-v1/0', 'replica-suspect frozen-v1/1', 'health-failed frozen-v1/1']));
  }, 90_000);
});
