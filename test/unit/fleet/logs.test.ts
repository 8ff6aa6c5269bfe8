// mlserve logs: lines with their time and replica, in time order; the replicas to read are the
// store's and the files on disk (indices are not 0..n-1), new replicas are followed as they start.
import { mkdtempSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byTime, followLogs, parseLines, readLogs, replicaIndices, type LogLine } from '../../../src/daemon/fleet/logs.js';

const T = (s: number) => `2025-01-31T12:00:${String(s).padStart(2, '0')}.000Z`;

describe('log lines', () => {
  it('read the stamp; an unstamped line takes the one before it (or the fallback)', () => {
    const text = `native warning\n${T(1)} loading\nTraceback:\n  line 3\n${T(5)} ready\n`;
    expect(parseLines(text, 'd', 3, T(0))).toEqual([
      { ts: T(0), deployment: 'd', replica: 3, line: 'native warning' },
      { ts: T(1), deployment: 'd', replica: 3, line: 'loading' },
      { ts: T(1), deployment: 'd', replica: 3, line: 'Traceback:' },
      { ts: T(1), deployment: 'd', replica: 3, line: '  line 3' },
      { ts: T(5), deployment: 'd', replica: 3, line: 'ready' },
    ]);
  });

  it('merge replicas by time, stable within one', () => {
    const l = (ts: string, replica: number, line: string): LogLine => ({ ts, deployment: 'd', replica, line });
    expect(byTime([l(T(2), 0, 'a'), l(T(2), 0, 'b'), l(T(1), 4, 'c')]).map((x) => x.line)).toEqual(['c', 'a', 'b']);
  });
});

describe('which replicas', () => {
  it("the store's and the files on disk written since the deployment was created, not 0..n-1", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlserve-logs-'));
    for (const f of ['demo.v1.0.log', 'demo.v1.3.log', 'demo.v1.4.log', 'demo.v12.0.log', 'demo.v1.old.log']) writeFileSync(join(dir, f), `${T(1)} x\n`);
    const old = Date.now() / 1000 - 3600;
    utimesSync(join(dir, 'demo.v1.0.log'), old, old); // from an earlier deployment of the same name
    expect(replicaIndices(dir, { deployment: 'demo.v1', createdAt: Date.now() - 60_000, replicas: [4, 7] })).toEqual([3, 4, 7]);
    const lines = readLogs(dir, [{ deployment: 'demo.v1', createdAt: Date.now() - 60_000, replicas: [] }], 10);
    expect(lines.map((x) => [x.replica, x.line])).toEqual([[3, 'x'], [4, 'x']]);
  });
});

describe('follow', () => {
  it('streams JSON lines, and follows a replica that starts while following from its first line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlserve-logs-'));
    writeFileSync(join(dir, 'a-v1.0.log'), `${T(1)} old line\n`);
    const replicas = [0];
    const server = http.createServer((req, res) => followLogs(dir, () => [{ deployment: 'a-v1', createdAt: 0, replicas: [...replicas] }], 5, req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const got: LogLine[] = [];
    const req = http.get(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, (res) => {
      let buf = '';
      res.on('data', (c) => {
        buf += c;
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const p of parts) got.push(JSON.parse(p));
      });
    });
    const until = async (n: number) => {
      for (let i = 0; i < 100 && got.length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    await until(1);
    appendFileSync(join(dir, 'a-v1.0.log'), `${T(2)} half`);
    writeFileSync(join(dir, 'a-v1.5.log'), `${T(3)} new replica\n`); // a new revision's replica, not in the store yet
    await new Promise((r) => setTimeout(r, 400));
    appendFileSync(join(dir, 'a-v1.0.log'), ' a line\n');
    await until(3);
    req.destroy();
    server.close();
    expect(got.map((l) => [l.replica, l.line])).toEqual([[0, 'old line'], [5, 'new replica'], [0, 'half a line']]);
    expect(got[1]).toEqual({ ts: T(3), deployment: 'a-v1', replica: 5, line: 'new replica' });
  });
});
