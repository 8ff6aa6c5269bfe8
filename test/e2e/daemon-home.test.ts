// The daemon's home under attack: a damaged state.db (it crashed after binding and left its socket
// and pid file), --restore-backup from the copy of the last clean stop, a foreground daemon
// stopped by SIGTERM or sent SIGHUP, a start that fails leaving nothing behind, and a home (or its
// cache) on a read-only or full file system.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/daemon/control/store.js';
import { lockHolder } from '../../src/home-lock.js';
import { homePaths } from '../../src/home.js';
import { mlp } from '../../src/models/zoo.js';
import { BIN, TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { until } from '../helpers/wait.js';

const daemons: TestDaemon[] = [];
const fresh = (env?: Record<string, string>) => {
  const d = new TestDaemon(env);
  daemons.push(d);
  return d;
};
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
});

/** Nothing left of a daemon that did not start: no socket, no pid file, the lock free. */
function leftNothing(home: string): void {
  expect(existsSync(join(home, 'mlserve.sock')), 'socket left behind').toBe(false);
  expect(existsSync(join(home, 'daemon.pid')), 'pid file left behind').toBe(false);
  expect(lockHolder(homePaths({ MLSERVE_HOME: home })).held, 'lock still held').toBe(false);
}

/** Garbage over the last `pages` 4 KiB pages of a file (a damaged disk). */
function damageTail(file: string, pages: number): void {
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096 * pages, 0x5a), 0, 4096 * pages, size - 4096 * pages);
  closeSync(fd);
}

describe('a damaged state.db', () => {
  it('is refused before anything is bound, saying what to do; --restore-backup brings back the last clean stop', async () => {
    const d = fresh();
    await d.start();
    expect((await d.deploy(writeOnnx(mlp({ seed: 3, sizes: [4, 8, 3] }), 'keep'), ['--endpoint', 'keep'])).exitCode).toBe(0);
    await d.stop(); // a clean stop writes state.db.bak
    const db = join(d.home, 'state.db');
    // Many events after the backup, then a damaged tail: the file still opens and migrates; only
    // the first write to the events table failed, after the daemon had bound its socket.
    const s = new Store(db);
    for (let i = 0; i < 3000; i++) s.addEvent('filler', 'daemon', `event ${i} ${'.'.repeat(60)}`);
    s.close();
    damageTail(db, 3);

    const r = await d.cli(['daemon', 'start', '--port', '0']);
    expect(r.exitCode, r.stdout).toBe(1);
    leftNothing(d.home); // it used to crash after binding, leaving its socket and pid file
    expect(r.stderr).toContain(`the daemon's state ${db} is damaged (`);
    expect(r.stderr).toContain('start with mlserve daemon start --restore-backup to use it');
    expect(r.stderr).toContain(`or move ${db} away to start with no deployments`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(`${db}.bak`)).toBe(true);
    const fg = await d.cli(['daemon', 'start', '--foreground', '--port', '0']);
    expect(fg.exitCode).toBe(1);
    expect(fg.stderr).toContain('--restore-backup');
    leftNothing(d.home);

    const back = await d.cli(['daemon', 'start', '--port', '0', '--restore-backup', '--json']);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    d.pid = back.json.pid;
    const kept = readdirSync(d.home).filter((f) => /^state\.db\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/.test(f));
    expect(kept).toHaveLength(1);
    const st = await until(() => d.cli(['status', '--json']), (x) => x.json?.deployments?.[0]?.state === 'ready');
    expect(st.json.deployments.map((x: any) => x.name)).toEqual(['keep-v1']);
    const ev = (await d.cli(['events', 'daemon', '--json'])).json;
    expect(ev.find((e: any) => e.kind === 'state-restored')?.message).toContain(`the previous file is kept as ${join(d.home, kept[0]!)}`);
  });

  it('garbage with no backup: move it away, and the daemon starts with no deployments', async () => {
    const d = fresh();
    mkdirSync(d.home, { recursive: true });
    writeFileSync(join(d.home, 'state.db'), Buffer.alloc(50_000, 0x47));
    const r = await d.cli(['daemon', 'start', '--port', '0']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('is damaged (file is not a database)');
    expect(r.stderr).toContain('There is no backup to restore');
    leftNothing(d.home);
    const restore = await d.cli(['daemon', 'start', '--port', '0', '--restore-backup']);
    expect(restore.exitCode).toBe(1);
    expect(restore.stderr).toContain(`no backup to restore: ${join(d.home, 'state.db')}.bak does not exist`);
    leftNothing(d.home);
    renameSync(join(d.home, 'state.db'), join(d.home, 'state.db.aside'));
    await d.start();
    expect((await d.cli(['status', '--json'])).json.deployments).toEqual([]);
  });
});

describe('daemon start --foreground', () => {
  it('SIGTERM: exit 0, socket and pid file removed, state backed up; SIGHUP without a log file keeps it running', async () => {
    const d = fresh();
    const child = execa(process.execPath, [BIN, 'daemon', 'start', '--foreground', '--port', '0'], { env: d.env, reject: false });
    await until(async () => existsSync(join(d.home, 'daemon.pid')), (x) => x, 20_000);
    child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    const st = await d.cli(['daemon', 'status', '--json']);
    expect(st.exitCode, st.stderr).toBe(0);
    expect(st.json.pid).toBe(child.pid);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toContain('SIGHUP: the log goes to stdout/stderr, nothing to reopen');
    expect(String(r.stdout)).toContain('mlserve daemon: stopped');
    leftNothing(d.home);
    expect(existsSync(join(d.home, 'state.db.bak'))).toBe(true);
  });

  it('a start that fails after the store opened (port taken) leaves no socket, pid file or lock; nor does a detached one', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const d = fresh();
      const fg = await d.cli(['daemon', 'start', '--foreground', '--port', '0', '--metrics-port', String(port)]);
      expect(fg.exitCode).toBe(1);
      expect(fg.stderr).toContain(`cannot serve metrics on 127.0.0.1:${port}`);
      leftNothing(d.home);
      const bg = await d.cli(['daemon', 'start', '--port', String(port)]);
      expect(bg.exitCode).toBe(1);
      expect(bg.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      leftNothing(d.home);
    } finally {
      blocker.close();
    }
  });
});

// Read-only and full file systems need a mount (root with CAP_SYS_ADMIN, as in this sandbox).
const mounts: string[] = [];
function tmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
    mounts.push(dir);
    return true;
  } catch {
    return false;
  }
}
const canMount = (() => {
  const probe = join(new TestDaemon().home, 'probe');
  const ok = tmpfs(probe, '1m');
  if (ok) {
    execFileSync('umount', [probe]);
    mounts.pop();
  }
  rmSync(join(probe, '..'), { recursive: true, force: true });
  return ok;
})();
function unmountAll(): void {
  for (const m of mounts.splice(0).reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* gone */
    }
  }
}
afterAll(unmountAll);

describe.skipIf(!canMount)('a home on a read-only or full file system', () => {
  // Before the file's cleanup removes the homes: stop the daemons, then unmount.
  afterEach(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    unmountAll();
  });

  it('read-only home: the start names the folder and what to do (both detached and --foreground)', async () => {
    const d = fresh();
    expect(tmpfs(d.home, '4m')).toBe(true);
    execFileSync('mount', ['-o', 'remount,ro', d.home]);
    for (const args of [['daemon', 'start', '--port', '0'], ['daemon', 'start', '--foreground', '--port', '0']]) {
      const r = await d.cli(args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(`cannot start the daemon: ${d.home} (the daemon's home (state.db, lock, socket)) is on a read-only file system (EROFS); remount it read-write, or set MLSERVE_HOME`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('full home: the start says it has no room left and what to do', async () => {
    const d = fresh();
    expect(tmpfs(d.home, '2m')).toBe(true);
    try {
      writeFileSync(join(d.home, 'filler'), Buffer.alloc(4 * 1024 * 1024));
    } catch {
      /* ENOSPC: full, as wanted */
    }
    const r = await d.cli(['daemon', 'start', '--port', '0']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot start the daemon: ${d.home}/?\\S* \\(.*\\) has no room left \\(ENOSPC, \\d+ KiB free\\); free space on its disk`));
    leftNothing(d.home);
  });

  it('a read-only cache: the daemon starts and serves, warns naming the folder, and a deploy says the cache cannot be written', async () => {
    const d = fresh();
    const cache = join(d.home, 'cache');
    expect(tmpfs(cache, '4m')).toBe(true);
    execFileSync('mount', ['-o', 'remount,ro', cache]);
    await d.start();
    const ev = (await d.cli(['events', 'daemon', '--json'])).json;
    expect(ev.find((e: any) => e.kind === 'storage-warning')?.message).toBe(
      `${cache} (the model cache) is on a read-only file system (EROFS); remount it read-write, or set MLSERVE_HOME to a folder elsewhere; deploying a model may fail until then`,
    );
    const dep = await d.deploy(writeOnnx(mlp({ seed: 5, sizes: [4, 8, 3] }), 'ro'));
    expect(dep.exitCode).toBe(1);
    expect(dep.json.code).toBe('STORAGE');
    expect(dep.json.error).toContain(`cannot write the model cache: ${cache} is on a read-only file system`);
  });
});
