// The capture shell with real files and a real HTTP sink: a flood beyond the queue drops (counted,
// never blocking the caller), a folder that cannot be written drops with a counter and one event,
// and CloudEvents reach the sink.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Capture, onWorker, QUEUE_MAX_RECORDS } from '../../../src/daemon/capture/capture.js';
import { parseCaptureSettings, type CaptureSettings } from '../../../src/daemon/capture/settings.js';
import type { Tensor } from '../../../src/tensor.js';

const x = (v: number): Tensor[] => [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: Float32Array.from([v, v + 1]) }];
const served = { endpoint: 'iris', name: 'iris-v1', version: '1' };
const WORKER = new URL('../../../dist/daemon/capture/capture-worker.js', import.meta.url);
let open: Capture[] = [];
afterEach(async () => {
  for (const c of open) await c.close();
  open = [];
});

function capture(settings: CaptureSettings) {
  const dir = mkdtempSync(join(tmpdir(), 'mlserve-capture-'));
  const events: string[] = [];
  const registry = new client.Registry();
  // The writer on its worker thread, as the daemon runs it (the built file: npm test builds first).
  const c = new Capture({ writer: onWorker(dir, WORKER), registry, event: (_k, _s, m) => events.push(m), load: () => [{ endpoint: 'iris', settings }], flushMs: 60_000 });
  open.push(c);
  return { c, dir, events, registry };
}

describe('the capture queue', () => {
  it(`keeps at most ${QUEUE_MAX_RECORDS} records between flushes: the rest are dropped and counted, and offer never waits`, async () => {
    const { c, dir, registry } = capture(parseCaptureSettings({ sample: '100%' }));
    const n = QUEUE_MAX_RECORDS + 500;
    for (let i = 0; i < n; i++) c.offer(served, x(i), x(-i), performance.now(), `r${i}`);
    await c.flush();
    const [s] = await c.status();
    expect(s!.sampled).toBe(n);
    expect(s!.written).toBe(QUEUE_MAX_RECORDS);
    expect(s!.dropped['queue-full']).toBe(500);
    expect(readdirSync(join(dir, 'iris')).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
    expect(await registry.metrics()).toMatch(/mlserve_capture_dropped_total\{endpoint="iris",reason="queue-full"\} 500/);
  });

  it('a sample of 10% records about 10% of 5,000 requests', async () => {
    const { c } = capture(parseCaptureSettings({ sample: '10%' }));
    for (let i = 0; i < 5000; i++) c.offer(served, x(i), x(i), performance.now());
    await c.flush();
    const [s] = await c.status();
    expect(s!.written).toBeGreaterThan(400); // mean 500, sd 21
    expect(s!.written).toBeLessThan(600);
  });

  it('an endpoint folder that cannot be written: records dropped with a counter and one event; the next flush works again', async () => {
    const { c, dir, events } = capture(parseCaptureSettings({ sample: '100%' }));
    writeFileSync(join(dir, 'iris'), 'not a folder'); // even root cannot write under a file
    for (let i = 0; i < 3; i++) c.offer(served, x(i), x(i), performance.now());
    await c.flush();
    for (let i = 0; i < 2; i++) c.offer(served, x(i), x(i), performance.now());
    await c.flush();
    let [s] = await c.status();
    expect(s!.dropped['write-error']).toBe(5);
    expect(s!.lastError).toMatch(/cannot write .*iris/);
    expect(events.filter((m) => /dropped 3 record\(s\) \(write-error\)/.test(m))).toHaveLength(1); // one event a minute
    expect(events).toHaveLength(1);
    rmSync(join(dir, 'iris'));
    c.offer(served, x(9), x(9), performance.now());
    await c.flush();
    [s] = await c.status();
    expect(s!.written).toBe(1);
  });

  it('retention removes capture files older than --max-age (and leaves other files alone)', async () => {
    const { c, dir } = capture(parseCaptureSettings({ sample: '100%', maxAge: '1h' }));
    mkdirSync(join(dir, 'iris'), { recursive: true });
    const old = join(dir, 'iris', 'capture-20260101T000000000-1.parquet');
    writeFileSync(old, 'old');
    writeFileSync(join(dir, 'iris', 'notes.txt'), 'mine');
    const twoHoursAgo = (Date.now() - 2 * 3_600_000) / 1000;
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    c.offer(served, x(1), x(1), performance.now());
    await c.flush();
    const left = readdirSync(join(dir, 'iris'));
    expect(left).not.toContain('capture-20260101T000000000-1.parquet');
    expect(left).toContain('notes.txt');
    expect(left.filter((f) => f.endsWith('.parquet'))).toHaveLength(1); // the new one
  });

  it('CloudEvents reach the sink; a sink that fails is counted as send errors', async () => {
    const got: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    let status = 200;
    const sink = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/events`;
    try {
      const { c, dir } = capture(parseCaptureSettings({ sample: '100%', url, files: false }));
      c.offer(served, x(1), x(2), performance.now(), 'req-1');
      await c.flush();
      await expect.poll(() => got.length).toBe(2);
      expect(got.map((g) => g.headers['ce-type']).sort()).toEqual(['org.kubeflow.serving.inference.request', 'org.kubeflow.serving.inference.response']);
      expect(got.every((g) => g.headers['ce-id'] === 'req-1')).toBe(true);
      expect(JSON.parse(got.find((g) => g.headers['ce-type']!.toString().endsWith('request'))!.body).inputs[0].data).toEqual([1, 2]);
      expect(readdirSync(dir)).toEqual([]); // --no-files
      status = 503;
      c.offer(served, x(1), x(2), performance.now(), 'req-2');
      await c.flush();
      await expect.poll(async () => (await c.status())[0]!.dropped['send-error']).toBe(2);
      expect((await c.status())[0]!.sent).toBe(1);
    } finally {
      sink.close();
    }
  });
});
