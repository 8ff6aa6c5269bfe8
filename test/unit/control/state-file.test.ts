// state.db on disk (control/state-file.ts): a damaged file (garbage, truncated, a damaged page,
// empty beside a backup) is refused with what to do, never a raw SQLite error; the backup is
// SQLite's online copy; --restore-backup puts it back and keeps the damaged file aside.
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backupOf, backupStore, checkFile, damagedMessage, openStore, restoreBackup, StateFileError } from '../../../src/daemon/control/state-file.js';
import { Store } from '../../../src/daemon/control/store.js';

let dir: string;
let db: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlserve-state-'));
  db = join(dir, 'state.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A state with `events` events, closed (checkpointed: no -wal left). */
function makeState(events = 0): void {
  const s = new Store(db);
  s.addEvent('deployed', 'iris', 'the one that matters');
  for (let i = 0; i < events; i++) s.addEvent('x', 'daemon', `event ${i} ${'.'.repeat(60)}`);
  s.close();
}
/** Garbage over the last `pages` 4 KiB pages of the file. */
function damageTail(pages: number): void {
  const size = statSync(db).size;
  const fd = openSync(db, 'r+');
  writeSync(fd, Buffer.alloc(4096 * pages, 0x5a), 0, 4096 * pages, size - 4096 * pages);
  closeSync(fd);
}
function refusal(fn: () => unknown): StateFileError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StateFileError);
    return err as StateFileError;
  }
  throw new Error('expected a StateFileError');
}

describe('openStore', () => {
  it('opens a sound file', () => {
    makeState();
    const s = openStore(db);
    expect(s.listEvents().map((e) => e.kind)).toEqual(['deployed']);
    s.close();
  });

  it.each([
    ['garbage (not a database)', () => writeFileSync(db, Buffer.alloc(20_000, 0x41)), /file is not a database/],
    ['truncated in the middle of a page', () => (makeState(3000), truncateSync(db, Math.floor(statSync(db).size / 2) + 123)), /damaged/],
    ['a damaged page that opening alone does not notice (it failed after binding before)', () => (makeState(3000), damageTail(3)), /quick_check|malformed/],
  ])('%s: refused with what to do, naming the file', (_n, damage, detail) => {
    damage();
    const err = refusal(() => openStore(db));
    expect(err.message).toContain(`the daemon's state ${db} is damaged (`);
    expect(err.message).toMatch(detail);
    expect(err.message).toContain(`There is no backup to restore (${db}.bak is written at each clean stop of the daemon): move ${db} away`);
    expect(err.message).not.toMatch(/\n\s+at /);
  });

  it('with a backup beside it, says to start with --restore-backup', async () => {
    makeState();
    const s = openStore(db);
    await backupStore(s, db);
    s.close();
    writeFileSync(db, 'not sqlite at all, just text that is long enough to be a header of some file format...');
    rmSync(`${db}-wal`, { force: true });
    const err = refusal(() => openStore(db));
    expect(err.message).toContain(`Its last good copy, from the daemon's clean stop at ${statSync(backupOf(db)).mtime.toISOString()}, is ${db}.bak: start with mlserve daemon start --restore-backup`);
    expect(err.message).toContain(`the damaged file is kept as ${db}.corrupt-<time>), or move ${db} away to start with no deployments`);
  });

  it('an empty file beside a backup is a truncated state, not a fresh start', async () => {
    makeState();
    const s = openStore(db);
    await backupStore(s, db);
    s.close();
    writeFileSync(db, '');
    expect(refusal(() => openStore(db)).message).toContain('is damaged (the file is empty (0 bytes))');
    // Without a backup an empty file is just a new state.
    rmSync(backupOf(db));
    openStore(db).close();
  });

  it('a file it cannot open for another reason says so, naming it', () => {
    const err = refusal(() => openStore(join(dir, 'no-such-dir', 'state.db')));
    expect(err.message).toMatch(new RegExp(`^cannot open the daemon's state ${join(dir, 'no-such-dir', 'state.db')}: `));
  });
});

describe('backup and restore', () => {
  it('backupStore writes a sound copy atomically (no temp file left), while the store stays open', async () => {
    makeState(10);
    const s = openStore(db);
    s.addEvent('later', 'daemon', 'written after opening');
    expect(await backupStore(s, db)).toBe(backupOf(db));
    s.close();
    expect(checkFile(backupOf(db))).toBeNull();
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
    const copy = new Store(backupOf(db));
    expect(copy.listEvents({ limit: 1 }).map((e) => e.kind)).toEqual(['later']);
    copy.close();
  });

  it('restoreBackup puts the copy back and keeps the damaged file (and its WAL) aside as state.db.corrupt-<time>', async () => {
    makeState();
    const s = openStore(db);
    await backupStore(s, db);
    s.close();
    writeFileSync(db, Buffer.alloc(8192, 0x42));
    writeFileSync(`${db}-wal`, 'stale wal');
    writeFileSync(`${db}-shm`, 'stale shm');
    const r = restoreBackup(db, new Date(Date.UTC(2025, 4, 6, 7, 8, 9)));
    expect(r.keptAs).toBe(`${db}.corrupt-2025-05-06T07-08-09-000Z`);
    expect(r.from).toBe(backupOf(db));
    expect(existsSync(r.keptAs!)).toBe(true);
    expect(existsSync(`${r.keptAs}-wal`)).toBe(true);
    expect(existsSync(`${db}-shm`)).toBe(false);
    const back = openStore(db);
    expect(back.listEvents().map((e) => e.kind)).toEqual(['deployed']);
    back.close();
  });

  it('refuses without a backup, or with a damaged one, saying what to do', () => {
    writeFileSync(db, 'garbage');
    expect(refusal(() => restoreBackup(db)).message).toBe(`no backup to restore: ${db}.bak does not exist (it is written at each clean stop of the daemon); move ${db} away to start with no deployments`);
    writeFileSync(backupOf(db), Buffer.alloc(8192, 0x43));
    expect(refusal(() => restoreBackup(db)).message).toMatch(new RegExp(`^the backup ${db}\\.bak is damaged too \\(.*\\); move ${db} away to start with no deployments$`));
    expect(readdirSync(dir).sort()).toEqual(['state.db', 'state.db.bak']);
  });
});

describe('damagedMessage', () => {
  it('names the file, what is wrong and both ways out', () => {
    const at = new Date(Date.UTC(2025, 0, 1));
    expect(damagedMessage('/h/state.db', 'file is not a database', { path: '/h/state.db.bak', at })).toBe(
      "the daemon's state /h/state.db is damaged (file is not a database). Its last good copy, from the daemon's clean stop at 2025-01-01T00:00:00.000Z, is /h/state.db.bak: " +
      'start with mlserve daemon start --restore-backup to use it (the damaged file is kept as /h/state.db.corrupt-<time>), or move /h/state.db away to start with no deployments',
    );
  });
});
