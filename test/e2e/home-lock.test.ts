// One daemon per MLSERVE_HOME, held by an OS lock: deleting the socket no longer makes a live
// daemon look stopped (status and stop find it by its lock and pid; it makes its socket again), a
// second daemon on the same state refuses and names the first's pid, and a SIGKILLed daemon's lock
// is free at once for the next start.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { alive, replicaProcesses } from '../helpers/process.js';
import { writeOnnx } from '../helpers/models.js';
import { until } from '../helpers/wait.js';

const daemons: TestDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.cleanup()));
});
const replicaCount = (home: string) => replicaProcesses(home).length;

describe('the home lock', () => {
  it('a removed socket: status still finds the daemon, which listens again; a second daemon refuses naming its pid', async () => {
    const d = new TestDaemon();
    daemons.push(d);
    await d.start();
    expect((await d.deploy(writeOnnx(mlp({ seed: 1, sizes: [4, 8, 3] }), 'm'), ['--endpoint', 'm'])).exitCode).toBe(0);
    rmSync(join(d.home, 'mlserve.sock'));
    const st = await d.cli(['daemon', 'status', '--json']);
    expect(st.exitCode, st.stdout + st.stderr).toBe(0);
    expect(st.json.pid).toBe(d.pid);
    expect(existsSync(join(d.home, 'mlserve.sock'))).toBe(true);
    const ev = (await d.cli(['events', 'daemon', '--json'])).json.map((e: any) => e.kind);
    expect(ev).toContain('socket-recreated');

    rmSync(join(d.home, 'mlserve.sock'));
    const second = await d.cli(['daemon', 'start', '--foreground', '--port', '0']);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain(`mlserve daemon is already running (pid ${d.pid})`);
    // The live daemon kept its pid file, its state and its one replica: nothing loaded twice.
    expect(alive(d.pid)).toBe(true);
    await until(async () => existsSync(join(d.home, 'mlserve.sock')), (x) => x, 5000);
    expect((await d.cli(['status', '--json'])).json.deployments.map((x: any) => x.state)).toEqual(['ready']);
    expect(replicaCount(d.home)).toBe(1);
    const detached = await d.cli(['daemon', 'start', '--port', '0']);
    expect(detached.exitCode).toBe(0);
    expect(detached.stdout).toContain(`already running (pid ${d.pid})`);
  });

  it('daemon stop stops a daemon whose socket is gone (SIGTERM to the lock holder), and the lock is free after SIGKILL', async () => {
    const d = new TestDaemon();
    daemons.push(d);
    await d.start();
    const pid = d.pid;
    process.kill(pid, 'SIGSTOP'); // it cannot make its socket again while stopped
    rmSync(join(d.home, 'mlserve.sock'));
    const status = await d.cli(['daemon', 'status']);
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain(`the mlserve daemon (pid ${pid}) holds ${d.home} but does not answer`);
    process.kill(pid, 'SIGCONT');
    const stop = await d.cli(['daemon', 'stop']);
    expect(stop.exitCode, stop.stderr).toBe(0);
    expect(alive(pid)).toBe(false);

    await d.start();
    process.kill(d.pid, 'SIGKILL');
    await until(async () => alive(d.pid), (a) => !a, 5000);
    const again = await d.cli(['daemon', 'start', '--port', '0', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.json.alreadyRunning).toBe(false);
  });
});
