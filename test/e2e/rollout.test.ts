// Automated canary analysis with real daemons: a faulty canary (a model that fails on the inputs
// it gets) is rolled back by itself while load runs, and events say why; a healthy one is promoted.
import { served, until as waitUntil, untilServed } from '../helpers/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/models/graph-builder.js';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
/** x [-1, 4] reshaped to [-1, 3]: fails unless the batch is a multiple of 3, so every single-row request errors. */
function faulty() {
  const b = new GraphBuilder('faulty');
  b.input('x', 'FP32', [-1, 4]).output('y', 'FP32', [-1, 3]);
  b.initializer('shape', BigInt64Array.from([-1n, 3n]), [2], 'INT64');
  b.node('Reshape', ['x', 'shape'], ['y']);
  return { builder: b, signature: b.signature() };
}
const endpoint = async () => (await d.cli(['status', '--json'])).json.endpoints.find((e: any) => e.name === 'ra');

const until = <T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000) => waitUntil(fn, ok, ms);

const cli = (args: string[]) => d.cli(args);

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  expect((await d.deploy(writeOnnx(mlp({ seed: 1, sizes: [4, 8, 3] }), 'ra'), ['--name', 'ra-good'])).exitCode).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('canary start', () => {
  it('rolls back a faulty canary by itself and says why', async () => {
    const c = await d.deploy(writeOnnx(faulty(), 'bad'), ['--endpoint', 'ra', '--name', 'ra-bad', '--canary', '0', '--max-batch-size', '1']);
    expect(c.exitCode, c.stderr).toBe(0);
    const base = await served(cli, 'ra-good');
    // Long enough to outlast the analysis even when a loaded machine takes seconds to start the CLI.
    const bench = d.cli(['bench', 'ra', '-c', '4', '-d', '15s', '--warmup', '0s', '--json']);
    await untilServed(cli, 'ra-good', base + 20);
    const s = await d.cli(['canary', 'start', '--steps', '30,100', '--interval', '2s', '--max-error-rate', '1%', '--min-requests', '5']);
    expect(s.exitCode, s.stderr).toBe(0);
    const ep = await until(endpoint, (e) => e.canary === null);
    await bench;
    expect(ep).toMatchObject({ primary: 'ra-good', canary: null });
    const ev = (await d.cli(['events', 'ra', '--json', '-n', '50'])).json;
    const rb = ev.find((e: any) => e.kind === 'rollout-rollback');
    expect(rb.message).toMatch(/error rate \d+(\.\d+)?% .*> 1%/);
    expect(ev.some((e: any) => e.kind === 'canary-rolled-back' && /automated analysis/.test(e.message))).toBe(true);
  });

  it('promotes a healthy canary after every step passes', async () => {
    const c = await d.deploy(writeOnnx(mlp({ seed: 2, sizes: [4, 8, 3] }), 'ok'), ['--endpoint', 'ra', '--name', 'ra-next', '--canary', '0']);
    expect(c.exitCode, c.stderr).toBe(0);
    // Load first: an interval with too few requests counts as not passed.
    const base = await served(cli, 'ra-good');
    // Long enough to outlast both steps when a loaded machine takes seconds to start each CLI.
    const bench = d.cli(['bench', 'ra', '-c', '4', '-d', '20s', '--warmup', '0s', '--json']);
    await untilServed(cli, 'ra-good', base + 20);
    expect((await d.cli(['canary', 'start', '--steps', '50,100', '--interval', '1s', '--max-error-rate', '1%', '--max-p99', '5s', '--min-requests', '5'])).exitCode).toBe(0);
    const ep = await until(endpoint, (e) => (e.primary === 'ra-next' && e.canary === null) || e.rollout?.state?.status === 'rolled-back');
    const r = await bench;
    expect(ep.primary, `the analysis ended: ${JSON.stringify(ep.rollout?.state?.reason)}`).toBe('ra-next');
    expect(r.json.errors.total).toBe(0);
    const kinds = (await d.cli(['events', 'ra', '--json', '-n', '50'])).json.map((e: any) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['rollout-started', 'rollout-advance', 'rollout-promote', 'canary-promoted']));
  });
});
