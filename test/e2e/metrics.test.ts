// /metrics parses as Prometheus text and its counters move with traffic; --metrics-port splits it off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

type Sample = { name: string; labels: Record<string, string>; value: number };

/** A strict reader of the Prometheus text exposition format (0.0.4). */
function parseProm(text: string): { samples: Sample[]; types: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') types[meta[2]] = meta[3];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const eq = l.indexOf('=');
      labels[l.slice(0, eq)] = l.slice(eq + 2, -1);
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { samples, types };
}

let d: TestDaemon;
const body = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
const scrape = async (url = d.url) => {
  const res = await request(`${url}/metrics`);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/text\/plain/);
  return parseProm(await res.body.text());
};
const value = (s: Sample[], name: string, labels: Record<string, string> = {}) =>
  s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  expect((await d.deploy(writeOnnx(mlp({ seed: 1, sizes: [4, 8, 2] }), 'm'))).exitCode).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('/metrics', () => {
  it('parses as Prometheus text, names every metric mlserve_*, and its counters move with traffic', async () => {
    const before = await scrape();
    for (const s of before.samples) expect(s.name).toMatch(/^mlserve_/);
    expect(before.types).toMatchObject({
      mlserve_requests_total: 'counter', mlserve_request_duration_seconds: 'histogram', mlserve_batch_size: 'histogram',
      mlserve_queued_requests: 'gauge', mlserve_replicas: 'gauge', mlserve_model_load_seconds: 'histogram',
    });
    expect(value(before.samples, 'mlserve_replicas', { deployment: 'm-v1', state: 'ready' })).toBe(1);
    expect(value(before.samples, 'mlserve_model_load_seconds_count', { deployment: 'm-v1' })).toBe(1);
    const labels = { endpoint: 'm', deployment: 'm-v1', version: '1' };
    const ok0 = value(before.samples, 'mlserve_requests_total', { ...labels, code: '200' });
    await Promise.all(Array.from({ length: 25 }, () => d.http('POST', '/v2/models/m/infer', body)));
    await d.http('POST', '/v2/models/m/infer', { inputs: [] });
    const after = await scrape();
    expect(value(after.samples, 'mlserve_requests_total', { ...labels, code: '200' }) - ok0).toBe(25);
    expect(value(after.samples, 'mlserve_request_errors_total', { ...labels, code: '400' })).toBe(1);
    expect(value(after.samples, 'mlserve_request_duration_seconds_count', labels)).toBe(ok0 + 25);
    // Sub-millisecond buckets exist.
    expect(after.samples.some((s) => s.name === 'mlserve_request_duration_seconds_bucket' && s.labels.le === '0.0001')).toBe(true);
    expect(value(after.samples, 'mlserve_batch_size_sum', { deployment: 'm-v1' })).toBeGreaterThanOrEqual(25);
    expect(value(after.samples, 'mlserve_daemon_starts_total')).toBe(1);
  });

  it('moves to its own port with --metrics-port', async () => {
    const e = new TestDaemon();
    try {
      const probe = (await import('node:net')).createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const port = (probe.address() as { port: number }).port;
      await new Promise<void>((r) => probe.close(() => r()));
      await e.start(['--metrics-port', String(port)]);
      const m = await request(`http://127.0.0.1:${port}/metrics`);
      expect(m.statusCode).toBe(200);
      await m.body.text();
      const onIngress = await e.http('GET', '/metrics');
      expect(onIngress.status).toBe(404);
    } finally {
      await e.cleanup();
    }
  });
});

describe('mlserve top --once on a daemon under load', () => {
  it('shows the requests sent between its two snapshots', async () => {
    let done = false;
    let sent = 0;
    const top = d.cli(['top', '--once', '--json', '--interval', '2000']).finally(() => (done = true));
    while (!done) {
      await d.http('POST', '/v2/models/m/infer', body);
      sent++;
    }
    const r = await top;
    expect(r.exitCode, r.stderr).toBe(0);
    const row = r.json.rows.find((x: any) => x.name === 'm-v1');
    // Every request between the two snapshots was one of ours, and they came back to back.
    expect(row.rps).toBeGreaterThan(sent / 10);
    expect(row.rps * 2).toBeLessThanOrEqual(sent + 1);
    expect(row.p50Ms).toBeGreaterThan(0);
    expect(row.ready).toBe(1);
    const text = await d.cli(['top', '--once', '--interval', '300']);
    expect(text.stdout).toMatch(/m-v1 \(m\)/);
    for (const line of text.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });
});
