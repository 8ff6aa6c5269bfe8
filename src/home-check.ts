// The daemon's folders under MLSERVE_HOME, checked before it starts: each is made (0700) if
// missing, must be a folder the daemon's user can write, on a file system that is not read-only
// and not full. A folder that fails is named with what to do, never a bare EROFS or EACCES. The
// home, logs and run/ are needed to start; the cache, envs/ and credentials/ only to deploy, so a
// problem there is a warning (the daemon serves what it has; a deploy that needs the folder fails
// with an error that names it).
import { chmodSync, closeSync, mkdirSync, openSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { HomePaths } from './home.js';

export class HomeFolderError extends Error {
  constructor(message: string, readonly folder: string, readonly code: string) {
    super(message);
    this.name = 'HomeFolderError';
  }
}

/** Below this much free space a folder counts as full (SQLite, logs and pid files need a little). */
export const MIN_FREE_BYTES = 1024 * 1024;

/** The daemon's folders, with what each holds and whether the daemon cannot start without it. */
export function daemonFolders(p: Pick<HomePaths, 'home' | 'logs' | 'cache'>): Array<{ dir: string; what: string; required: boolean }> {
  return [
    { dir: p.home, what: "the daemon's home (state.db, lock, socket)", required: true },
    { dir: p.logs, what: 'logs', required: true },
    { dir: join(p.home, 'run'), what: "replicas' working folder", required: true },
    { dir: p.cache, what: 'the model cache', required: false },
    { dir: join(p.home, 'envs'), what: 'Python environments', required: false },
    { dir: join(p.home, 'credentials'), what: 'registry credentials', required: false },
  ];
}

const uid = () => (typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '');

/** PURE: a file-system error on one of the daemon's folders as a message naming it and what to do. */
export function folderError(err: unknown, dir: string, what: string, freeBytes?: number): HomeFolderError {
  const code = (err as NodeJS.ErrnoException)?.code ?? 'ERROR';
  const other = 'or set MLSERVE_HOME to a folder elsewhere';
  const head = `cannot start the daemon: ${dir} (${what})`;
  let text: string;
  if (code === 'EROFS') text = `is on a read-only file system (EROFS); remount it read-write, ${other}`;
  else if (code === 'EACCES' || code === 'EPERM') text = `is not writable by the daemon's user${uid()} (${code}); fix its owner or permissions (chown, chmod u+rwx), ${other}`;
  else if (code === 'ENOSPC' || code === 'EDQUOT') {
    const free = freeBytes === undefined ? '' : `, ${Math.floor(freeBytes / 1024)} KiB free`;
    text = `has no room left (${code}${free}); free space on its disk (mlserve cache prune removes models no deployment uses; old logs can go), ${other} on another disk`;
  } else if (code === 'ENOTDIR' || code === 'EEXIST') text = `is not a folder (${code}); move the file away, ${other}`;
  else text = `cannot be used (${code}: ${(err as Error)?.message ?? err}); ${other}`;
  return new HomeFolderError(`${head} ${text}`, dir, code);
}

/**
 * Create and check every folder the daemon writes: throws a HomeFolderError naming the first
 * required folder that fails; returns the problems of the others (warnings, the daemon starts).
 */
export function checkHome(p: HomePaths, minFree = MIN_FREE_BYTES): HomeFolderError[] {
  const warnings: HomeFolderError[] = [];
  const home = daemonFolders(p)[0]!;
  try {
    // As ensureHome: 0700, and a home that exists with wider permissions is tightened.
    mkdirSync(p.home, { recursive: true, mode: 0o700 });
    if ((statSync(p.home).mode & 0o077) !== 0) chmodSync(p.home, 0o700);
  } catch (err) {
    throw folderError(err, p.home, home.what);
  }
  for (const { dir, what, required } of daemonFolders(p)) {
    const problem = checkFolder(dir, what, minFree);
    if (problem && required) throw problem;
    if (problem) warnings.push(new HomeFolderError(`${problem.message.replace(/^cannot start the daemon: /, '')}; deploying a model may fail until then`, dir, problem.code));
  }
  return warnings;
}

/** One folder: made, written (a 4 KiB probe), with room left; the problem, or null. */
function checkFolder(dir: string, what: string, minFree: number): HomeFolderError | null {
  const probe = join(dir, `.mlserve-write-check-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 }); // fails on a file in the way (EEXIST / ENOTDIR)
    const fd = openSync(probe, 'w', 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return folderError(err, dir, what, freeSpace(dir));
  } finally {
    try {
      rmSync(probe, { force: true });
    } catch {
      /* nothing was made */
    }
  }
  const free = freeSpace(dir);
  if (free !== undefined && free < minFree) return folderError(Object.assign(new Error('no space'), { code: 'ENOSPC' }), dir, what, free);
  return null;
}

/** Free bytes for the daemon's user on the folder's file system (undefined when unknown). */
function freeSpace(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
