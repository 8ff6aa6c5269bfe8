// The daemon's log (logging/daemon-log.ts): it takes over stdout/stderr writes, rate-limits them,
// and writes to the terminal or to its own rotated file with a timestamp per message.
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installDaemonLog } from '../../../src/daemon/logging/daemon-log.js';

/** A stream that records what reaches it. */
const sink = () => {
  const got: string[] = [];
  return { got, write: (chunk: string | Uint8Array, ..._rest: unknown[]) => (got.push(String(chunk)), true) };
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlserve-dlog-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('installDaemonLog', () => {
  it('to the terminal (--foreground): writes pass through, a flood of one message is cut to perMessage, then summed up', () => {
    const out = sink();
    const err = sink();
    let now = 0;
    const log = installDaemonLog({ stdout: out, stderr: err, now: () => now, limits: { perMessage: 2, total: 100, windowMs: 60_000 } });
    out.write('mlserve daemon: started\n');
    for (let i = 0; i < 1000; i++) err.write(`ingress: POST /v2/models/m/infer: Error: the model failed (${i})\n    at x\n`);
    expect(log.dropped).toBe(998);
    now = 60_000;
    err.write('something else\n');
    log.close();
    expect(out.got).toEqual(['mlserve daemon: started\n']);
    expect(err.got).toEqual([
      'ingress: POST /v2/models/m/infer: Error: the model failed (0)\n    at x\n',
      'ingress: POST /v2/models/m/infer: Error: the model failed (1)\n    at x\n',
      'mlserve daemon: ingress: POST /v2/models/m/infer: Error: the model failed (0) (repeated 998 more times in 60 s; at most 2 of a message are written per 60 s)\n',
      'something else\n',
    ]);
    // close() gave the streams back.
    err.write('direct\n');
    expect(err.got.at(-1)).toBe('direct\n');
  });

  it('to a file: one timestamp per message, both streams into the file, nothing to the terminal; calls write callbacks', async () => {
    const out = sink();
    const err = sink();
    const file = join(dir, 'daemon.log');
    const log = installDaemonLog({ file, stdout: out, stderr: err, now: () => Date.UTC(2025, 0, 2, 3, 4, 5) });
    out.write('hello\n');
    let called = false;
    err.write('oops\n  detail', () => (called = true));
    await new Promise((r) => process.nextTick(r));
    expect(called).toBe(true);
    log.close();
    expect(out.got).toEqual([]);
    expect(err.got).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe('2025-01-02T03:04:05.000Z hello\n2025-01-02T03:04:05.000Z oops\n  detail\n');
  });

  it('to a file: rotated by size, and reopen() starts a new file after logrotate moved it', () => {
    const out = sink();
    const file = join(dir, 'daemon.log');
    const log = installDaemonLog({ file, stdout: out, stderr: sink(), rotation: { maxBytes: 2000, keep: 2 }, limits: { perMessage: 1e9, total: 1e9, windowMs: 60_000 } });
    for (let i = 0; i < 300; i++) out.write(`message ${i} ${'m'.repeat(30)}\n`);
    expect(readdirSync(dir).sort()).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2']);
    renameSync(file, join(dir, 'moved'));
    expect(log.reopen()).toBe(true);
    out.write('after the move\n');
    log.close();
    expect(readFileSync(file, 'utf8')).toMatch(/ after the move\n$/);
  });

  it('reopen() on the terminal says there is nothing to reopen', () => {
    const log = installDaemonLog({ stdout: sink(), stderr: sink() });
    expect(log.reopen()).toBe(false);
    expect(log.file).toBeUndefined();
    log.close();
  });
});
