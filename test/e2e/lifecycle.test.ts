// The daemon's lifecycle through the real CLI: start, permissions, second start, status, stop,
// stale files from a crash, and every command's answer when no daemon runs.
import { existsSync, mkdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';

const daemons: TestDaemon[] = [];
const fresh = (env?: Record<string, string>) => {
  const d = new TestDaemon(env);
  daemons.push(d);
  return d;
};
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});

describe('daemon lifecycle', () => {
  it('starts detached with a 0700 home and a 0600 socket, refuses a second start, stops cleanly', async () => {
    const d = fresh();
    await d.start();
    expect(statSync(d.home).mode & 0o777).toBe(0o700);
    const sock = statSync(join(d.home, 'mlserve.sock'));
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(existsSync(join(d.home, 'state.db'))).toBe(true);
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const again = await d.cli(['daemon', 'start', '--port', '0']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('already running');

    const status = await d.cli(['daemon', 'status', '--json']);
    expect(status.exitCode).toBe(0);
    expect(status.json.pid).toBe(d.pid);

    const live = await d.http('GET', '/v2/health/live');
    expect(live.status).toBe(200);
    const meta = await d.http('GET', '/v2');
    expect(meta.json.name).toBe('mlserve');

    const stop = await d.cli(['daemon', 'stop']);
    expect(stop.exitCode).toBe(0);
    expect(existsSync(join(d.home, 'mlserve.sock'))).toBe(false);
    expect(() => process.kill(d.pid, 0)).toThrow();
  });

  it('tightens an existing home with wider permissions', async () => {
    const d = fresh();
    chmodSync(d.home, 0o755);
    await d.start();
    expect(statSync(d.home).mode & 0o777).toBe(0o700);
  });

  it('cleans a stale socket and pid file left by a crash', async () => {
    const d = fresh();
    mkdirSync(d.home, { recursive: true });
    // A socket file nobody listens on, and the pid of a process that is gone.
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(join(d.home, 'mlserve.sock'), r));
    // Closing with the file left in place needs the raw handle: unref + close keeps the path.
    await new Promise<void>((r) => srv.close(() => r()));
    writeFileSync(join(d.home, 'mlserve.sock.keep'), '');
    writeFileSync(join(d.home, 'daemon.pid'), '999999\n');
    await d.start();
    const status = await d.cli(['daemon', 'status', '--json']);
    expect(status.json.pid).not.toBe(999999);
  });

  it('a command with no daemon says so, how to start one, and exits 1 without a stack trace', async () => {
    const d = fresh();
    for (const args of [['status'], ['deploy', 'x.onnx'], ['undeploy', 'x'], ['logs', 'x'], ['daemon', 'status']]) {
      const r = await d.cli(args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('daemon is not running');
      expect(r.stderr).toContain('mlserve daemon start');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const json = await d.cli(['status', '--json']);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).error).toContain('not running');
    const stop = await d.cli(['daemon', 'stop']);
    expect(stop.exitCode).toBe(0);
    expect(stop.stdout).toContain('not running');
  });

  it('says which port is taken when the ingress cannot listen', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const d = fresh();
      const r = await d.cli(['daemon', 'start', '--port', String(port)]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`port ${port}`);
      expect(r.stderr).toContain('--port');
    } finally {
      blocker.close();
    }
  });
});
