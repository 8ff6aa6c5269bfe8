// One daemon per MLSERVE_HOME, held by an OS lock for the daemon's whole life: an exclusive SQLite
// transaction on $MLSERVE_HOME/daemon.lock (SQLite takes POSIX fcntl locks, which the kernel drops
// when the process dies, even by SIGKILL). A second daemon cannot take it and names the first's
// pid; the CLI asks the lock, not the socket, whether a daemon runs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { HomePaths } from './home.js';

export const lockFile = (p: Pick<HomePaths, 'home'>) => join(p.home, 'daemon.lock');

/** The pid written by the daemon that holds the lock (its pid file), if readable. */
export function recordedPid(p: Pick<HomePaths, 'pidFile'>): number | undefined {
  try {
    const pid = Number(readFileSync(p.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export class HomeLock {
  private constructor(private db: Database.Database | null) {}

  /**
   * Take the home's lock, or return null when another process holds it. `waitMs`: how long to wait
   * for it (the CLI's probes hold it for a moment; a daemon starting waits that out).
   */
  static tryAcquire(p: Pick<HomePaths, 'home'>, waitMs = 0): HomeLock | null {
    const db = new Database(lockFile(p), { timeout: waitMs });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      return new HomeLock(db);
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') return null;
      throw err;
    }
  }

  release(): void {
    if (!this.db) return;
    try {
      this.db.exec('ROLLBACK');
    } catch {
      /* closing releases it anyway */
    }
    this.db.close();
    this.db = null;
  }
}

/** Does a daemon hold this home (and with which pid, from its pid file)? Takes and releases the lock when free. */
export function lockHolder(p: Pick<HomePaths, 'home' | 'pidFile'>): { held: boolean; pid?: number } {
  if (!existsSync(p.home) || !existsSync(lockFile(p))) return { held: false };
  const lock = HomeLock.tryAcquire(p);
  if (lock) {
    lock.release();
    return { held: false };
  }
  return { held: true, pid: recordedPid(p) };
}
