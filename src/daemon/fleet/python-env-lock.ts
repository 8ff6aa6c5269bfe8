// The env builder's lock and leftovers: one builder per env hash at a time, across processes.
//
// The lock is a file `<envsDir>/<hash>.lock` made with an exclusive create (O_EXCL) holding JSON:
// the owner's pid, a random token, the temp folder it builds in and the pid of its current child
// (venv/pip/uv). A lock is stale when its owner is gone and so is that child: a builder killed with
// SIGKILL leaves its pip running as an orphan, which is killed (on Linux, after checking from
// /proc that its command line names the dead builder's temp folder) or waited for. A stale lock is
// removed and the exclusive create is tried again.
//
// The lock only saves work: correctness comes from building in a temp folder and renaming it into
// place, which fails when the env is already there.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface LockInfo {
  pid: number;
  token: string;
  started: number;
  /** The temp folder this build writes. */
  tmp?: string;
  /** The pid of the build's current child process (its own process group). */
  child?: number;
}

/** A lock file whose owner never got to write it is taken over after this long. */
const UNREADABLE_STALE_MS = 30_000;
/** A lock older than this is stale whatever its pids say (they may have been reused). */
const MAX_LOCK_AGE_MS = 6 * 3600_000;
/** Leftover temp folders of dead builders are removed once older than this by any call. */
export const TMP_MAX_AGE_MS = 3600_000;

/** Tokens of the locks this process holds (a lock with our pid and another token is a leftover). */
const held = new Set<string>();
/** Temp folders (full paths) this process is building in now. */
const building = new Set<string>();

const TMP_RE = /^\.tmp-([0-9a-f]{16})-(\d+)$/;

export function tmpName(hash: string, pid: number = process.pid): string {
  return `.tmp-${hash}-${pid}`;
}

export function parseTmpName(name: string): { hash: string; pid: number } | undefined {
  const m = TMP_RE.exec(name);
  return m ? { hash: m[1], pid: Number(m[2]) } : undefined;
}

function procText(pid: number, file: string): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether a process exists (a zombie does not count: an orphan nobody reaps must not hold a lock). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procText(pid, 'stat');
  if (stat !== undefined && /^\d+ \(.*\) Z/s.test(stat)) return false;
  return true;
}

/** Whether `child` is still a process of the build that wrote into `tmp` (its command line names it). */
function childOfBuild(child: number, tmp: string | undefined): boolean {
  if (!pidAlive(child)) return false;
  const cmdline = procText(child, 'cmdline');
  if (cmdline === undefined || !tmp) return true; // cannot tell: assume it is
  return cmdline.includes(tmp);
}

function readLock(path: string): { text: string; info?: LockInfo; mtimeMs: number } | undefined {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    const text = readFileSync(path, 'utf8');
    try {
      const info = JSON.parse(text) as LockInfo;
      if (typeof info.pid === 'number' && typeof info.token === 'string') return { text, info, mtimeMs };
    } catch {}
    return { text, mtimeMs };
  } catch {
    return undefined;
  }
}

/** Owner gone: dead, or our own pid without a lock of ours (a leftover of a process whose pid we got). */
function ownerGone(info: LockInfo): boolean {
  if (info.pid === process.pid) return !held.has(info.token);
  return !pidAlive(info.pid);
}

export class EnvLock {
  private info: LockInfo;

  constructor(readonly path: string, info: LockInfo) {
    this.info = info;
    held.add(info.token);
  }

  /** Record the build's temp folder and current child, so a waiter can tell an orphaned child. */
  update(patch: Partial<Pick<LockInfo, 'tmp' | 'child'>>): void {
    if (this.info.tmp) building.delete(this.info.tmp);
    this.info = { ...this.info, ...patch };
    if (this.info.tmp) building.add(this.info.tmp);
    const next = `${this.path}.${this.info.token}`;
    try {
      const fd = openSync(next, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(this.info));
      } finally {
        closeSync(fd);
      }
      renameSync(next, this.path);
    } catch {
      rmSync(next, { force: true });
    }
  }

  /** Remove the lock file if it is still ours. */
  release(): void {
    held.delete(this.info.token);
    if (this.info.tmp) building.delete(this.info.tmp);
    const cur = readLock(this.path);
    if (cur?.info?.token === this.info.token) rmSync(this.path, { force: true });
  }
}

export interface AcquireOptions {
  /** Checked before each attempt: true when the env is ready, so there is nothing to build. */
  isDone: () => boolean;
  /** Called once per owner that makes us wait. */
  onWait?: (info: LockInfo) => void;
  /** Called when an orphaned child of a dead builder is killed. */
  onKill?: (child: number, info: LockInfo) => void;
  pollMs?: number;
  now?: () => number;
}

/** Take the lock at `path`, waiting while a live builder holds it; 'done' when isDone() turns true. */
export async function acquireLock(path: string, opts: AcquireOptions): Promise<EnvLock | 'done'> {
  const now = opts.now ?? Date.now;
  const waitedFor = new Set<number>();
  for (;;) {
    if (opts.isDone()) return 'done';
    const info: LockInfo = { pid: process.pid, token: randomBytes(8).toString('hex'), started: now() };
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, JSON.stringify(info));
      } finally {
        closeSync(fd);
      }
      const lock = new EnvLock(path, info);
      // Built between our isDone() and the create: nothing to do after all.
      if (opts.isDone()) {
        lock.release();
        return 'done';
      }
      return lock;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const cur = readLock(path);
    if (!cur) continue; // released meanwhile
    let stale: boolean;
    if (!cur.info) stale = now() - cur.mtimeMs > UNREADABLE_STALE_MS;
    else if (now() - cur.info.started > MAX_LOCK_AGE_MS) stale = true;
    else if (!ownerGone(cur.info)) stale = false;
    else if (cur.info.child !== undefined && childOfBuild(cur.info.child, cur.info.tmp)) {
      // The builder is gone but its child (pip, most likely) goes on, writing into a folder nobody
      // will use. Stop it (its whole process group) when we can tell it is that child.
      if (procText(cur.info.child, 'cmdline') !== undefined && cur.info.tmp) {
        opts.onKill?.(cur.info.child, cur.info);
        for (const target of [-cur.info.child, cur.info.child]) {
          try {
            process.kill(target, 'SIGKILL');
          } catch {}
        }
      }
      stale = false;
    } else stale = true;
    if (stale) {
      // Remove it only if it is still the lock we judged (not one a faster waiter just made).
      if (readLock(path)?.text === cur.text) {
        try {
          unlinkSync(path);
        } catch {}
      }
      continue;
    }
    if (cur.info && !waitedFor.has(cur.info.pid)) {
      waitedFor.add(cur.info.pid);
      opts.onWait?.(cur.info);
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
}

/**
 * Remove leftover temp folders: any of `hash` but `keep` (call holding that hash's lock: nobody
 * else writes them), and those of every hash older than TMP_MAX_AGE_MS whose builder is gone.
 * Returns the names removed.
 */
export function sweepTmp(envsDir: string, opts: { hash?: string; keep?: string; now?: number } = {}): string[] {
  const now = opts.now ?? Date.now();
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(envsDir);
  } catch {
    return removed;
  }
  for (const name of entries) {
    const t = parseTmpName(name);
    if (!t || name === opts.keep) continue;
    const path = join(envsDir, name);
    let old = false;
    try {
      old = now - statSync(path).mtimeMs > TMP_MAX_AGE_MS;
    } catch {
      continue;
    }
    const builderGone = t.pid === process.pid ? !building.has(path) : !pidAlive(t.pid);
    if ((opts.hash !== undefined && t.hash === opts.hash) || (old && builderGone)) {
      rmSync(path, { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}
