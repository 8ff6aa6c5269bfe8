// state.db on disk: opened only after SQLite's PRAGMA quick_check passes, copied to state.db.bak
// (SQLite's online backup, then a rename) at each clean stop, and restored from that copy on
// `mlserve daemon start --restore-backup` (the damaged file kept as state.db.corrupt-<time>).
// A damaged file is an error that says what to do, never a raw SQLite error.
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Store } from './store.js';

export class StateFileError extends Error {}

export const backupOf = (db: string) => `${db}.bak`;

/** SQLite's codes for a file that is not a sound database. */
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

function damaged(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return DAMAGED.test(e?.code ?? '') || /malformed|not a database/i.test(e?.message ?? '');
}

/** What an operator can do about a damaged state file. */
export function damagedMessage(file: string, detail: string, backup: { path: string; at: Date } | null): string {
  const head = `the daemon's state ${file} is damaged (${detail}). `;
  if (!backup) {
    return `${head}There is no backup to restore (${backupOf(file)} is written at each clean stop of the daemon): move ${file} away ` +
      '(mv it aside, or delete it) to start with no deployments, then deploy them again (or mlserve apply -f your config file)';
  }
  return `${head}Its last good copy, from the daemon's clean stop at ${backup.at.toISOString()}, is ${backup.path}: ` +
    `start with mlserve daemon start --restore-backup to use it (the damaged file is kept as ${file}.corrupt-<time>), ` +
    `or move ${file} away to start with no deployments`;
}

function backupInfo(file: string): { path: string; at: Date } | null {
  const path = backupOf(file);
  try {
    return { path, at: statSync(path).mtime };
  } catch {
    return null;
  }
}

/** Problems SQLite finds in a database file (quick_check), or null when it is sound. */
export function checkFile(file: string): string | null {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    const bad = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
    return bad.length ? bad.slice(0, 3).join('; ') : null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    db?.close();
  }
}

/** Open the store after checking the file; a damaged file is a StateFileError that says what to do. */
export function openStore(file: string): Store {
  // An empty file is a new database to SQLite: with a backup beside it, it is a truncated state, not a fresh start.
  if (existsSync(file) && statSync(file).size === 0 && !existsSync(`${file}-wal`) && backupInfo(file)) {
    throw new StateFileError(damagedMessage(file, 'the file is empty (0 bytes)', backupInfo(file)));
  }
  let store: Store;
  try {
    store = new Store(file);
  } catch (err) {
    if (damaged(err)) throw new StateFileError(damagedMessage(file, (err as Error).message, backupInfo(file)));
    throw new StateFileError(`cannot open the daemon's state ${file}: ${(err as Error).message}`);
  }
  let problems: string[];
  try {
    problems = store.quickCheck();
  } catch (err) {
    problems = [(err as Error).message];
  }
  if (problems.length) {
    store.close();
    throw new StateFileError(damagedMessage(file, `PRAGMA quick_check: ${problems.slice(0, 3).join('; ')}`, backupInfo(file)));
  }
  return store;
}

/** Write the store's current state to state.db.bak: backed up to a temp file, then renamed over it. */
export async function backupStore(store: Store, file: string): Promise<string> {
  const dest = backupOf(file);
  const tmp = `${dest}.tmp`;
  try {
    await store.backup(tmp);
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return dest;
}

/** Move a database file and its WAL/SHM companions aside (as `to`), or remove the companions. */
function moveAside(file: string, to: string): void {
  renameSync(file, to);
  if (existsSync(`${file}-wal`)) renameSync(`${file}-wal`, `${to}-wal`);
  rmSync(`${file}-shm`, { force: true });
  rmSync(`${file}-journal`, { force: true });
}

/**
 * Replace state.db with its backup (the caller holds the home's lock). The current file, if any,
 * is kept as state.db.corrupt-<time>. Refused when there is no backup or it is damaged too.
 */
export function restoreBackup(file: string, now: Date = new Date()): { from: string; keptAs: string | null; backupAt: Date } {
  const backup = backupInfo(file);
  if (!backup) {
    throw new StateFileError(`no backup to restore: ${backupOf(file)} does not exist (it is written at each clean stop of the daemon); move ${file} away to start with no deployments`);
  }
  const problem = checkFile(backup.path);
  if (problem) throw new StateFileError(`the backup ${backup.path} is damaged too (${problem}); move ${file} away to start with no deployments`);
  let keptAs: string | null = null;
  if (existsSync(file)) {
    keptAs = `${file}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
    moveAside(file, keptAs);
  } else {
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
  }
  copyFileSync(backup.path, file);
  return { from: backup.path, keptAs, backupAt: backup.at };
}
