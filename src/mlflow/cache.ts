// The model cache under MLSERVE_HOME/cache: one folder per (registry, model, version, source),
// filled in a temp folder and renamed into place only when complete, so a killed download
// leaves nothing half-cached. Each entry records where it came from in .mlserve-cache.json.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { MlserveError } from '../errors.js';

export const META_FILE = '.mlserve-cache.json';

export interface CacheMeta {
  key: string;
  source: string;
  registry?: string;
  name?: string;
  version?: string;
  runId?: string;
  files: { path: string; size: number }[];
  fetchedAt: number;
}

export interface CacheEntry extends CacheMeta {
  dir: string;
  bytes: number;
}

/** A folder-safe cache key from readable parts. */
export function cacheKey(...parts: string[]): string {
  return parts.map((p) => p.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_').slice(0, 80) || '_').join('/');
}

/** `rel` inside `root`, or an error: no '..', no absolute path, nothing that escapes. */
export function safeJoin(root: string, rel: string): string {
  const parts = rel.split('/');
  if (rel === '' || rel.startsWith('/') || rel.includes('\\') || rel.includes('\0') || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new MlserveError('MODEL_SOURCE', `refusing artifact path '${rel}': it would land outside the model cache`);
  }
  const full = resolve(root, ...parts);
  if (!full.startsWith(resolve(root) + sep)) throw new MlserveError('MODEL_SOURCE', `refusing artifact path '${rel}': it would land outside the model cache`);
  // No component on the way may be a symlink (nothing we write is one; anything else is a trick).
  let p = dirname(full);
  while (p.startsWith(resolve(root) + sep)) {
    if (existsSync(p) && lstatSync(p).isSymbolicLink()) throw new MlserveError('MODEL_SOURCE', `refusing artifact path '${rel}': ${p} is a symlink`);
    p = dirname(p);
  }
  return full;
}

export function readMeta(dir: string): CacheMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as CacheMeta;
  } catch {
    return undefined;
  }
}

/** Errors of the local file system that mean the cache cannot be written (not a transfer's fault). */
export const FS_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EFBIG']);

/**
 * PURE: a file-system error while writing inside the cache folder as an error that names the
 * folder and says what to do; undefined for any other error (a source file that cannot be read
 * stays the source's error).
 */
export function cacheWriteError(err: unknown, folder: string): MlserveError | undefined {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!e || typeof e !== 'object' || !FS_ERRORS.has(e.code ?? '')) return undefined;
  const inside = (p: unknown) => typeof p === 'string' && (resolve(p) === resolve(folder) || resolve(p).startsWith(resolve(folder) + sep));
  // copyFile names its source as `path` whatever failed: only the write side can be full or read-only.
  const denied = e.code === 'EACCES' || e.code === 'EPERM';
  if (!inside(e.path) && !(inside(e.dest) && !denied)) return undefined;
  const where = inside(e.path) ? e.path! : e.dest!;
  const cause = `${e.code}${resolve(where) !== resolve(folder) ? ` on ${where}` : ''}`;
  const elsewhere = 'or set MLSERVE_HOME (for the daemon) to a folder on another disk';
  let what: string;
  if (e.code === 'EROFS') what = `is on a read-only file system (${cause}); remount it read-write ${elsewhere}`;
  else if (e.code === 'EACCES' || e.code === 'EPERM') {
    what = `is not writable by the daemon's user${typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : ''} (${cause}); fix its owner or permissions (chown, chmod u+rwx) ${elsewhere}`;
  } else what = `has no room left (${cause}); free space (mlserve cache prune removes models no deployment uses) ${elsewhere}`;
  return new MlserveError('STORAGE', `cannot write the model cache: ${folder} ${what}`, { cause: err });
}

/**
 * The cached folder for `key`, filled by `fill(tmpDir)` on a miss. `fill` returns the files it
 * wrote; the folder is renamed into place only after it returns. A cache folder that cannot be
 * written (read-only, no permission, full) is an error that names it.
 */
export async function cached(
  cacheRoot: string,
  key: string,
  meta: Omit<CacheMeta, 'key' | 'files' | 'fetchedAt'>,
  fill: (tmpDir: string) => Promise<{ path: string; size: number }[]>,
): Promise<{ dir: string; hit: boolean }> {
  const dest = join(cacheRoot, ...key.split('/'));
  if (readMeta(dest)) return { dir: dest, hit: true };
  const tmp = join(cacheRoot, `.tmp-${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(cacheRoot, { recursive: true, mode: 0o700 });
    mkdirSync(tmp, { mode: 0o700 });
  } catch (err) {
    throw cacheWriteError(err, cacheRoot) ?? err;
  }
  try {
    const files = await fill(tmp);
    const full: CacheMeta = { key, ...meta, files, fetchedAt: Date.now() };
    writeFileSync(join(tmp, META_FILE), `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600 });
    mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
    if (existsSync(dest)) rmSync(dest, { recursive: true, force: true }); // an entry without meta: incomplete
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw cacheWriteError(err, cacheRoot) ?? err;
  }
  return { dir: dest, hit: false };
}

/**
 * Copy a local model folder (or one file) into `dest`, refusing symlinks that point outside the
 * folder. Files become owner-writable so the cache can be pruned.
 */
export function copyLocal(src: string, dest: string): { path: string; size: number }[] {
  const files: { path: string; size: number }[] = [];
  const st = statSync(src);
  if (!st.isDirectory()) {
    const name = src.split(sep).pop()!;
    copyFileSync(src, join(dest, name));
    chmodSync(join(dest, name), 0o600);
    return [{ path: name, size: st.size }];
  }
  const root = realpathSync(src);
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      const real = realpathSync(abs);
      if (real !== root && !real.startsWith(root + sep)) {
        throw new MlserveError('MODEL_SOURCE', `refusing ${abs}: it is a symlink to ${real}, outside the model folder`);
      }
      const rel = relative(src, abs).split(sep).join('/');
      const out = safeJoin(dest, rel);
      if (statSync(real).isDirectory()) {
        mkdirSync(out, { recursive: true, mode: 0o700 });
        walk(abs);
      } else {
        copyFileSync(real, out);
        chmodSync(out, 0o600);
        files.push({ path: rel, size: statSync(real).size });
      }
    }
  };
  walk(src);
  return files;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : lstatSync(p).size;
  }
  return n;
}

/** Every complete entry in the cache. */
export function listCache(cacheRoot: string): CacheEntry[] {
  const out: CacheEntry[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 6 || !existsSync(dir)) return;
    const meta = readMeta(dir);
    if (meta) {
      out.push({ ...meta, dir, bytes: dirBytes(dir) });
      return;
    }
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('.tmp-')) walk(join(dir, e.name), depth + 1);
    }
  };
  walk(cacheRoot, 0);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

/** Remove leftovers of downloads that never finished (a killed daemon or CLI). */
export function removePartials(cacheRoot: string): string[] {
  if (!existsSync(cacheRoot)) return [];
  const gone = readdirSync(cacheRoot).filter((n) => n.startsWith('.tmp-'));
  for (const n of gone) rmSync(join(cacheRoot, n), { recursive: true, force: true });
  return gone;
}

/** Delete entries no deployment uses (and partial downloads); returns what was removed. */
export function pruneCache(cacheRoot: string, inUse: Set<string>): CacheEntry[] {
  removePartials(cacheRoot);
  const removed = listCache(cacheRoot).filter((e) => !inUse.has(resolve(e.dir)));
  for (const e of removed) rmSync(e.dir, { recursive: true, force: true });
  return removed;
}

