// The env builder's lock and leftover sweep, on real files and processes in a temp folder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, EnvLock, parseTmpName, pidAlive, sweepTmp, tmpName } from '../../../src/daemon/fleet/python-env-lock.js';

let dir: string;
let lockPath: string;
const HASH = '0123456789abcdef';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlserve-envlock-'));
  lockPath = join(dir, `${HASH}.lock`);
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
const deadPid = () => spawnSync('true').pid!;

async function acquired(p: Promise<EnvLock | 'done'>): Promise<EnvLock> {
  const l = await p;
  if (l === 'done') throw new Error('expected a lock');
  return l;
}

describe('acquireLock', () => {
  it('takes a free lock (pid and token in the file), release removes it', async () => {
    const lock = await acquired(acquireLock(lockPath, { isDone: () => false }));
    const info = JSON.parse(readFileSync(lockPath, 'utf8'));
    expect(info.pid).toBe(process.pid);
    expect(info.token).toMatch(/^[0-9a-f]{16}$/);
    lock.update({ tmp: '/x', child: 42 });
    expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid, tmp: '/x', child: 42 });
    lock.release();
    expect(existsSync(lockPath)).toBe(false);
  });

  it('a second caller waits for the holder (even in the same process) and gets "done" when the env appeared', async () => {
    const first = await acquired(acquireLock(lockPath, { isDone: () => false }));
    let ready = false;
    const waits: number[] = [];
    const second = acquireLock(lockPath, { isDone: () => ready, pollMs: 20, onWait: (i) => waits.push(i.pid) });
    await new Promise((r) => setTimeout(r, 150));
    expect(waits).toEqual([process.pid]);
    ready = true;
    first.release();
    expect(await second).toBe('done');
  });

  it('a second caller gets the lock once the holder releases it without finishing', async () => {
    const first = await acquired(acquireLock(lockPath, { isDone: () => false }));
    const second = acquireLock(lockPath, { isDone: () => false, pollMs: 20 });
    setTimeout(() => first.release(), 100);
    const l = await acquired(second);
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).token).not.toBe(undefined);
    l.release();
  });

  it('takes over the lock of a dead owner', async () => {
    writeFileSync(lockPath, JSON.stringify({ pid: deadPid(), token: 'aaaaaaaaaaaaaaaa', started: Date.now() }));
    const l = await acquired(acquireLock(lockPath, { isDone: () => false, pollMs: 20 }));
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(process.pid);
    l.release();
  });

  it('a lock with our own pid that this process does not hold is a leftover', async () => {
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, token: 'bbbbbbbbbbbbbbbb', started: Date.now() }));
    const l = await acquired(acquireLock(lockPath, { isDone: () => false, pollMs: 20 }));
    l.release();
  });

  it.runIf(process.platform === 'linux')('kills the orphaned child of a dead owner (its command line names the temp folder), then takes over', async () => {
    const tmp = join(dir, tmpName(HASH, 999_999));
    // A stand-in for pip: its own process group, the temp folder on its command line.
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', tmp], { detached: true, stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const exited = new Promise((r) => child.once('exit', (_c, s) => r(s)));
    writeFileSync(lockPath, JSON.stringify({ pid: deadPid(), token: 'cccccccccccccccc', started: Date.now(), tmp, child: child.pid }));
    const killed: number[] = [];
    const l = await acquired(acquireLock(lockPath, { isDone: () => false, pollMs: 20, onKill: (pid) => killed.push(pid) }));
    expect(killed).toEqual([child.pid]);
    expect(await exited).toBe('SIGKILL');
    l.release();
  });

  it.runIf(process.platform === 'linux')('a live process that is not the build\'s child (pid reused) does not hold the lock', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    await new Promise((r) => other.once('spawn', r));
    try {
      writeFileSync(lockPath, JSON.stringify({ pid: deadPid(), token: 'dddddddddddddddd', started: Date.now(), tmp: join(dir, tmpName(HASH, 1)), child: other.pid }));
      const l = await acquired(acquireLock(lockPath, { isDone: () => false, pollMs: 20, onKill: () => expect.fail('must not kill an unrelated process') }));
      expect(pidAlive(other.pid!)).toBe(true);
      l.release();
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('an unreadable lock is waited for while fresh and taken over once old', async () => {
    writeFileSync(lockPath, '');
    let now = Date.now();
    const waiting = acquireLock(lockPath, { isDone: () => false, pollMs: 20, now: () => now });
    await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync(lockPath, 'utf8')).toBe('');
    now += 31_000;
    const l = await acquired(waiting);
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(process.pid);
    l.release();
  });

  it('returns "done" at once when the env is there', async () => {
    expect(await acquireLock(lockPath, { isDone: () => true })).toBe('done');
    expect(existsSync(lockPath)).toBe(false);
  });
});

describe('sweepTmp', () => {
  const make = (name: string, ageMs: number) => {
    const p = join(dir, name);
    mkdirSync(join(p, 'lib'), { recursive: true });
    const t = new Date(Date.now() - ageMs);
    utimesSync(p, t, t);
    return p;
  };

  it('removes temp folders over an hour old whose builder is gone; keeps fresh ones, live builders\' and other names', () => {
    const dead = deadPid();
    make(tmpName('1111111111111111', dead), 2 * 3600_000);
    make(tmpName('2222222222222222', dead), 60_000);
    make(tmpName('3333333333333333', 1), 2 * 3600_000); // pid 1 is alive
    make('4444444444444444', 2 * 3600_000); // a built env
    make('.tmp-notahash-12', 2 * 3600_000);
    expect(sweepTmp(dir)).toEqual([tmpName('1111111111111111', dead)]);
    expect(existsSync(join(dir, tmpName('2222222222222222', dead)))).toBe(true);
    expect(existsSync(join(dir, tmpName('3333333333333333', 1)))).toBe(true);
    expect(existsSync(join(dir, '4444444444444444'))).toBe(true);
  });

  it('holding a hash\'s lock: removes that hash\'s temp folders whatever their age, except its own', () => {
    make(tmpName(HASH, 1), 1000);
    make(tmpName(HASH, process.pid), 1000);
    make(tmpName('5555555555555555', 1), 1000);
    expect(sweepTmp(dir, { hash: HASH, keep: tmpName(HASH, process.pid) })).toEqual([tmpName(HASH, 1)]);
  });

  it('names: .tmp-<16 hex>-<pid>', () => {
    expect(parseTmpName(tmpName(HASH, 42))).toEqual({ hash: HASH, pid: 42 });
    expect(parseTmpName('.tmp-xyz-1')).toBeUndefined();
    expect(pidAlive(process.pid)).toBe(true);
    expect(pidAlive(deadPid())).toBe(false);
    expect(pidAlive(0)).toBe(false);
  });
});
