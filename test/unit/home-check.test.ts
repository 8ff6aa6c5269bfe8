// The daemon's folders checked at start (home-check.ts): each failure names the folder, what it
// holds and what to do, never a bare EROFS or EACCES.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHome, daemonFolders, folderError, HomeFolderError } from '../../src/home-check.js';
import { homePaths } from '../../src/home.js';

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'mlserve-homecheck-'));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const err = (code: string) => Object.assign(new Error(`${code}: something`), { code });

describe('folderError', () => {
  it.each([
    ['EROFS', /^cannot start the daemon: \/h\/logs \(logs\) is on a read-only file system \(EROFS\); remount it read-write, or set MLSERVE_HOME to a folder elsewhere$/],
    ['EACCES', /^cannot start the daemon: \/h\/logs \(logs\) is not writable by the daemon's user( \(uid \d+\))? \(EACCES\); fix its owner or permissions \(chown, chmod u\+rwx\), or set MLSERVE_HOME/],
    ['EPERM', /is not writable by the daemon's user.*\(EPERM\)/],
    ['ENOSPC', /^cannot start the daemon: \/h\/logs \(logs\) has no room left \(ENOSPC, 12 KiB free\); free space on its disk \(mlserve cache prune removes models no deployment uses; old logs can go\), or set MLSERVE_HOME to a folder elsewhere on another disk$/],
    ['EDQUOT', /has no room left \(EDQUOT, 12 KiB free\)/],
    ['ENOTDIR', /^cannot start the daemon: \/h\/logs \(logs\) is not a folder \(ENOTDIR\); move the file away, or set MLSERVE_HOME/],
    ['EIO', /^cannot start the daemon: \/h\/logs \(logs\) cannot be used \(EIO: EIO: something\); or set MLSERVE_HOME/],
  ])('%s', (code, want) => {
    const e = folderError(err(code), '/h/logs', 'logs', 12 * 1024 + 5);
    expect(e).toBeInstanceOf(HomeFolderError);
    expect(e.message).toMatch(want);
    expect(e.folder).toBe('/h/logs');
    expect(e.code).toBe(code);
  });
});

describe('checkHome', () => {
  it('makes every folder the daemon writes (0700) and leaves no probe file behind', () => {
    const p = homePaths({ MLSERVE_HOME: join(base, 'home') });
    checkHome(p);
    for (const { dir } of daemonFolders(p)) expect(readdirSync(dir).filter((f) => f.startsWith('.mlserve-write-check'))).toEqual([]);
    expect(readdirSync(p.home).sort()).toEqual(['cache', 'credentials', 'envs', 'logs', 'run']);
  });

  it('a file where a needed folder should be stops the start, naming it', () => {
    const p = homePaths({ MLSERVE_HOME: join(base, 'home') });
    mkdirSync(p.home, { recursive: true });
    writeFileSync(p.logs, 'not a folder');
    expect(() => checkHome(p)).toThrow(new RegExp(`^cannot start the daemon: ${p.logs} \\(logs\\) is not a folder \\(EEXIST\\); move the file away`));
  });

  it('a folder only deploys need (envs, cache, credentials) is a warning that names it: the daemon starts', () => {
    const p = homePaths({ MLSERVE_HOME: join(base, 'home') });
    mkdirSync(p.home, { recursive: true });
    writeFileSync(join(p.home, 'envs'), 'not a folder');
    const warnings = checkHome(p);
    expect(warnings.map((w) => w.message)).toEqual([
      `${join(p.home, 'envs')} (Python environments) is not a folder (EEXIST); move the file away, or set MLSERVE_HOME to a folder elsewhere; deploying a model may fail until then`,
    ]);
  });

  it('tightens a home with wider permissions', () => {
    const p = homePaths({ MLSERVE_HOME: join(base, 'home') });
    mkdirSync(p.home, { mode: 0o755 });
    chmodSync(p.home, 0o755);
    checkHome(p);
    expect(statSync(p.home).mode & 0o777).toBe(0o700);
  });

  it('a home on a file system with less room than the minimum is full', () => {
    const p = homePaths({ MLSERVE_HOME: join(base, 'home') });
    expect(() => checkHome(p, Number.MAX_SAFE_INTEGER)).toThrow(new RegExp(`^cannot start the daemon: ${p.home} \\(the daemon's home \\(state.db, lock, socket\\)\\) has no room left \\(ENOSPC, \\d+ KiB free\\)`));
  });
});
