// Drift monitoring in a real daemon: the automated canary analysis rolls back a canary whose
// predictions drift from the primary's on the same live inputs (payload capture), and a drift report
// on a schedule exports gauges to /metrics and says in events when the inputs drift from the reference.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { irisRows } from '../../src/models/iris.js';
import { irisModel, trainIris } from '../../src/models/iris-model.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
let stop = false;
let sent = 0;

/** Iris v2: the same model with its classes rotated (what was setosa is called versicolor, ...). */
function rotated() {
  const w = trainIris();
  const K = w.classes;
  const F = w.features;
  const perm = (k: number) => (k + K - 1) % K;
  const wr = new Float64Array(K * F);
  const br = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    br[k] = w.b[perm(k)]!;
    for (let j = 0; j < F; j++) wr[k * F + j] = w.w[perm(k) * F + j]!;
  }
  return irisModel({ ...w, w: wr, b: br });
}

/** Live traffic: mostly setosa-like flowers (so the label distribution is lopsided), jittered. */
async function load() {
  const setosa = irisRows().filter((r) => r.y === 0);
  let i = 0;
  while (!stop) {
    const x = setosa[i++ % setosa.length]!.x.map((v) => v + (((i * 7919) % 13) - 6) / 100);
    const r = await d.http('POST', '/v2/models/ir/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: x }] }).catch(() => null);
    if (r?.status === 200) sent++;
  }
}

beforeAll(async () => {
  d = await new TestDaemon().start();
  const v1 = await d.deploy(writeOnnx(irisModel(), 'iris-v1'), ['--endpoint', 'ir', '--name', 'ir-v1']);
  expect(v1.exitCode, v1.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  stop = true;
  await d?.cleanup();
});

describe('drift monitoring', () => {
  it('a canary whose predictions drift from the primary\'s is rolled back by the analysis, which names the column', async () => {
    const v2 = await d.deploy(writeOnnx(rotated(), 'iris-v2'), ['--endpoint', 'ir', '--name', 'ir-v2', '--canary', '0']);
    expect(v2.exitCode, v2.stderr).toBe(0);
    const refused = await d.cli(['canary', 'start', '--steps', '50,100', '--interval', '3s', '--max-drift-psi', '0.2', '--json']);
    expect(refused.exitCode).toBe(2);
    expect(refused.json.error).toMatch(/turn payload capture on first \(mlserve capture on ir/);
    expect((await d.cli(['capture', 'on', 'ir', '--sample', '100%'])).exitCode).toBe(0);
    const traffic = load();
    await expect.poll(() => sent, { timeout: 30_000 }).toBeGreaterThan(20);
    const s = await d.cli(['canary', 'start', '--steps', '50,100', '--interval', '4s', '--max-error-rate', '1%', '--min-requests', '20', '--max-drift-psi', '0.2']);
    expect(s.exitCode, s.stderr).toBe(0);
    await expect.poll(async () => (await d.cli(['status', '--json'])).json.endpoints.find((e: any) => e.name === 'ir')?.canary, { timeout: 60_000, interval: 500 }).toBeNull();
    stop = true;
    await traffic;
    const ev = (await d.cli(['events', 'ir', '--json', '-n', '50'])).json;
    const rb = ev.find((e: any) => e.kind === 'rollout-rollback');
    expect(rb?.message).toMatch(/drift: PSI \d+(\.\d+)? of output\.(label|y_\d) \(canary vs primary\) > 0\.2/);
  });

  it('a scheduled drift report exports gauges and tells when the inputs drift from the reference', async () => {
    const ref = join(d.home, 'iris-train.csv');
    writeFileSync(ref, ['sepal_length,sepal_width,petal_length,petal_width,species', ...irisRows().map((r) => [...r.x, r.y].join(','))].join('\n'));
    stop = false;
    sent = 0;
    const traffic = load();
    await expect.poll(() => sent, { timeout: 30_000 }).toBeGreaterThan(100);
    stop = true;
    await traffic;
    await new Promise((r) => setTimeout(r, 2500)); // the capture writes every 2 s
    const bad = await d.cli(['drift', 'ir', '--reference', join(d.home, 'nope.csv'), '--every', '10m', '--json']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.json.error).toMatch(/nope\.csv/);
    const r = await d.cli(['drift', 'ir', '--reference', ref, '--target', 'species', '--every', '10m', '--window', '1h', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.first.ok, JSON.stringify(r.json.first)).toBe(true);
    expect(r.json.first.datasetDrift).toBe(true); // setosa only vs all three species: petal sizes drifted
    const metrics = (await d.http('GET', '/metrics')).text;
    expect(metrics).toMatch(/mlserve_feature_drift\{endpoint="ir",feature="[^"]+",metric="psi"\} \d/);
    expect(metrics).toMatch(/mlserve_dataset_drift\{endpoint="ir"\} (0\.\d+|1)/);
    const ev = (await d.cli(['events', 'ir', '--json', '-n', '50'])).json;
    expect(ev.some((e: any) => e.kind === 'drift-detected')).toBe(true);
    const list = await d.cli(['drift', '--list', '--json']);
    expect(list.json.schedules.map((s: any) => s.endpoint)).toEqual(['ir']);
    const off = await d.cli(['drift', 'ir', '--every', 'off']);
    expect(off.exitCode, off.stderr).toBe(0);
    expect((await d.cli(['drift', '--list', '--json'])).json.schedules).toEqual([]);
  });
});
