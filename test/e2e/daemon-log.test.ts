// The daemon log cannot grow without bound: 2,000 requests that each log an error (a model that
// fails on them: 500 and a stack trace) write 10 of them and one "(repeated N more times)" line;
// logrotate's move + SIGHUP gives a new daemon.log; with the rate limits off, the file is rotated
// by size and only MLSERVE_LOG_KEEP old files are kept.
import { existsSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GraphBuilder, saveModel } from '../../src/models/graph-builder.js';
import { TestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/models.js';
import { until } from '../helpers/wait.js';

const daemons: TestDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});

/** x FP32 [-1, -1] -> Gemm with a [2, 4] weight: any row that is not 4 wide fails inside onnxruntime (a 500). */
function failingModel(): string {
  const b = new GraphBuilder('fails');
  b.input('x', 'FP32', [-1, -1]).output('y', 'FP32', [-1, 2]);
  b.initializer('W', new Float32Array(8).fill(0.5), [2, 4]).initializer('B', new Float32Array(2), [2]);
  b.node('Gemm', ['x', 'W', 'B'], ['y'], { transB: 1 });
  return saveModel(tempDir(), b.toBytes(), 'fails.onnx');
}
const bad = { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] };

/** Send `n` failing requests, `c` at a time; returns the statuses seen. */
async function flood(d: TestDaemon, n: number, c = 32): Promise<Set<number>> {
  const seen = new Set<number>();
  let sent = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (sent < n) {
      sent++;
      seen.add((await d.http('POST', '/v2/models/fails/infer', bad)).status);
    }
  }));
  return seen;
}
const logs = (d: TestDaemon) => readdirSync(join(d.home, 'logs')).filter((f) => f.startsWith('daemon.log')).sort();
const logBytes = (d: TestDaemon) => logs(d).reduce((a, f) => a + statSync(join(d.home, 'logs', f)).size, 0);

describe('the daemon log', () => {
  it('2,000 failing requests write at most 10 stack traces per message and a line with the count; SIGHUP reopens a moved log', async () => {
    const d = new TestDaemon();
    daemons.push(d);
    await d.start();
    expect((await d.deploy(failingModel(), ['--endpoint', 'fails'])).exitCode).toBe(0);
    const before = logBytes(d);
    expect(await flood(d, 2000)).toEqual(new Set([500]));
    const grown = logBytes(d) - before;
    console.log(`daemon.log grew by ${grown} bytes for 2,000 failing requests`);
    expect(grown).toBeLessThan(40_000);
    const log = join(d.home, 'logs', 'daemon.log');
    // Two messages: a request that failed alone, and one that failed in a batch ("(batch of N rows)").
    const written = readFileSync(log, 'utf8').match(/ ingress: POST \/v2\/models\/fails\/infer: /g)!.length;
    expect(written).toBeGreaterThanOrEqual(10);
    expect(written).toBeLessThanOrEqual(20);

    // logrotate: move the file, then SIGHUP; the daemon writes a new daemon.log and keeps serving.
    renameSync(log, join(d.home, 'logs', 'daemon.log-20250101'));
    process.kill(d.pid, 'SIGHUP');
    await until(async () => existsSync(log) && readFileSync(log, 'utf8'), (t) => typeof t === 'string' && t.includes('SIGHUP: reopened'), 5000);
    expect(readFileSync(log, 'utf8')).toContain(`mlserve daemon: SIGHUP: reopened ${log}`);
    expect((await d.cli(['daemon', 'status', '--json'])).json.pid).toBe(d.pid);
    await d.stop();
    // A clean stop writes what the rate limit held back: with what was written, every request is counted.
    const held = [...readFileSync(log, 'utf8').matchAll(/ingress: POST \/v2\/models\/fails\/infer: .* \(repeated (\d+) more times in 60 s; at most 10 of a message are written per 60 s\)/g)];
    expect(held.length).toBeGreaterThanOrEqual(1);
    expect(written + held.reduce((a, m) => a + Number(m[1]), 0)).toBe(2000);
  });

  it('rotated by size: daemon.log and at most MLSERVE_LOG_KEEP older files, each at most MLSERVE_LOG_MAX_SIZE', async () => {
    const d = new TestDaemon({ MLSERVE_LOG_MAX_SIZE: '16kb', MLSERVE_LOG_KEEP: '2', MLSERVE_LOG_SAME_PER_MINUTE: '100000', MLSERVE_LOG_PER_MINUTE: '100000' });
    daemons.push(d);
    await d.start();
    expect((await d.deploy(failingModel(), ['--endpoint', 'fails'])).exitCode).toBe(0);
    await flood(d, 400);
    expect(logs(d)).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2']);
    for (const f of logs(d)) expect(statSync(join(d.home, 'logs', f)).size).toBeLessThanOrEqual(16 * 1024);
    expect(readFileSync(join(d.home, 'logs', 'daemon.log.1'), 'utf8')).toContain('ingress: POST /v2/models/fails/infer');
  });
});
