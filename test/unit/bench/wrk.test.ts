import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseWrkReport, runWrk, wrkArgs, wrkInstalled, wrkRow, type WrkReport } from '../../../src/bench/wrk.js';

const report = (over: Partial<WrkReport> = {}): WrkReport => ({
  requests: 1000, durationUs: 2_000_000, connect: 0, read: 0, write: 0, status: 0, timeout: 0, p50Us: 1500, p90Us: 2500, p99Us: 4000, maxUs: 9000, ...over,
});

describe('parseWrkReport', () => {
  it('reads the report line among wrk\'s own output', () => {
    const out = `Running 2s test @ http://127.0.0.1:1/x\n  1 threads and 8 connections\nMLSERVE_WRK ${JSON.stringify(report())}\n`;
    expect(parseWrkReport(out)).toEqual(report());
  });
  it.each([
    ['no report line', 'Running 2s test\n', /printed no report line/],
    ['a field that is not a number', `MLSERVE_WRK ${JSON.stringify({ ...report(), p99Us: 'x' })}`, /no number for p99Us/],
    ['broken JSON', 'MLSERVE_WRK {"requests":', /JSON|Unexpected|Expected/],
  ])('refuses %s', (_, out, msg) => {
    expect(() => parseWrkReport(out)).toThrow(msg);
  });
});

describe('wrkRow', () => {
  it.each([
    ['all answered', report(), { throughput: 500, p50Ms: 1.5, p99Ms: 4, errors: 0 }],
    ['4xx/5xx answers are errors, not throughput', report({ status: 200 }), { throughput: 400, p50Ms: 1.5, p99Ms: 4, errors: 200 }],
    ['socket errors and timeouts are errors', report({ connect: 1, read: 2, write: 3, timeout: 4 }), { throughput: 500, p50Ms: 1.5, p99Ms: 4, errors: 10 }],
    ['a zero-length run', report({ durationUs: 0 }), { throughput: 0, p50Ms: 1.5, p99Ms: 4, errors: 0 }],
  ])('%s', (_, r, want) => {
    expect(wrkRow(r)).toEqual(want);
  });
});

describe('wrkArgs', () => {
  it('one thread, the connections, whole seconds, a long timeout, each header, then the URL', () => {
    const args = wrkArgs('http://127.0.0.1:8000', { path: '/v2/models/m/infer', headers: { 'content-type': 'application/json', 'inference-header-content-length': '42' }, body: Buffer.from('{}') }, 64, 7.6, '/tmp/s.lua');
    expect(args).toEqual(['-t1', '-c64', '-d8s', '--timeout', '60s', '-s', '/tmp/s.lua', '-H', 'content-type: application/json', '-H', 'inference-header-content-length: 42', 'http://127.0.0.1:8000/v2/models/m/infer']);
    expect(wrkArgs('http://h', { path: '/', headers: {}, body: Buffer.alloc(0) }, 1, 0.2, 's')[2]).toBe('-d1s');
  });
});

// The real wrk against a real server: the body arrives byte for byte (binary-safe), the headers too,
// and 5xx answers are counted as errors. Skipped where wrk is not installed (apt-get install wrk).
describe.skipIf(!wrkInstalled())('runWrk (the real wrk)', () => {
  it('posts the exact body and headers, and counts 5xx answers as errors', async () => {
    const body = Buffer.from([0, 1, 2, 255, 10, 13, 0x7b, 0x22]);
    let seen = 0;
    let bad = 0;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const ok = req.method === 'POST' && Buffer.concat(chunks).equals(body) && req.headers['x-test'] === 'yes';
        seen++;
        if (!ok) bad++;
        res.writeHead(seen % 2 === 0 ? 500 : 200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const row = await runWrk(`http://127.0.0.1:${port}`, { path: '/x', headers: { 'x-test': 'yes' }, body }, 2, { durationMs: 1000, warmupMs: 0 });
      expect(bad).toBe(0);
      expect(seen).toBeGreaterThan(10);
      expect(row.errors).toBeGreaterThan(0);
      expect(Math.abs(row.errors - row.throughput)).toBeLessThan(row.throughput * 0.2 + 5); // half the answers were 500s
    } finally {
      server.close();
    }
  }, 20_000);
});
