// Fetch a whole model directory from where MLflow says it is: the proxied artifact API
// (mlflow-artifacts:), a local path (file://), or, for anything else, the run-artifact routes an
// MLflow server offers over its own artifact store. ONNX weights may live in external-data files
// beside model.onnx, so every file is fetched. A download is bounded before it starts (the
// listing's total against MLSERVE_MAX_ARTIFACT_BYTES and the cache's free disk space) and while it
// runs: each file stops the moment it passes its listed size (or, unlisted, what the cap leaves).
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MlserveError } from '../errors.js';
import { copyLocal, safeJoin } from './cache.js';
import type { DownloadLimit } from './body-to-file.js';
import type { MlflowRestClient } from './client.js';
import { fileUriToPath, uriScheme } from './uri.js';

export interface FetchProgress {
  file: string;
  bytes: number;
  totalBytes: number;
  files: number;
  totalFiles: number;
}

export interface FetchContext {
  client?: MlflowRestClient;
  /** The run that logged the model, for the run-artifact routes. */
  runId?: string;
  onProgress?: (p: FetchProgress) => void;
}

export interface RemoteFile {
  rel: string;
  /** The size the server's listing gives, if any. */
  size?: number;
}

const MAX_FILES = 10_000;
const MAX_DEPTH = 32;

/** One path segment from a server listing: refuse anything that could climb out. */
function checkName(name: string): string {
  if (!name || name === '.' || name === '..' || name.includes('/') || name.includes('\\') || name.includes('\0')) {
    throw new MlserveError('MODEL_SOURCE', `refusing artifact '${name}' from the server's listing: names must not contain '/', '\\' or be '..'`);
  }
  return name;
}

const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** A listing's file_size as a byte count; anything that is not one (absent, negative, text) counts as no size. */
function listedSize(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** 1341 -> "1.3 KiB"; 68719476736 -> "64 GiB". */
function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return `${Number(v.toFixed(v < 10 ? 1 : 0))} ${units[i]}`;
}

/** 1341 -> "1,341 bytes"; 68719476736 -> "64 GiB (68,719,476,736 bytes)". */
export function bytesText(n: number): string {
  const exact = `${n.toLocaleString('en-US')} bytes`;
  return n < 1024 ? exact : `${human(n)} (${exact})`;
}

/** Free space kept beside a download: 5% of the model, at least 64 MiB (logs, SQLite, other writers). */
export function spaceMargin(totalBytes: number): number {
  return Math.max(64 * 1024 ** 2, Math.ceil(totalBytes * 0.05));
}

/**
 * PURE: refuse a download before it starts when the listing adds up to more than the cap
 * (MLSERVE_MAX_ARTIFACT_BYTES) or more than the cache's file system has free (with a margin).
 * `freeBytes` is undefined when the file system cannot say.
 */
export function checkBeforeDownload(files: RemoteFile[], cap: number, freeBytes: number | undefined, folder: string): MlserveError | undefined {
  const listed = files.reduce((a, f) => a + (f.size ?? 0), 0);
  if (listed > cap) {
    return new MlserveError(
      'MODEL_SOURCE',
      `the model's files add up to ${bytesText(listed)} by the server's listing, more than the ${bytesText(cap)} that MLSERVE_MAX_ARTIFACT_BYTES allows for one model; ` +
        'raise MLSERVE_MAX_ARTIFACT_BYTES in the shell that runs mlserve deploy if the model is really this big',
    );
  }
  const needed = listed + spaceMargin(listed);
  if (freeBytes !== undefined && freeBytes < needed) {
    return new MlserveError(
      'STORAGE',
      `not enough free disk space in the model cache ${folder}: the model needs ${bytesText(needed)} (${human(listed)} listed plus a ${human(spaceMargin(listed))} margin) ` +
        `and ${bytesText(freeBytes)} is free; free space (mlserve cache prune removes models no deployment uses) or set MLSERVE_HOME (for the daemon) to a folder on a bigger disk`,
    );
  }
  return undefined;
}

/**
 * PURE: the most bytes file `i` may bring, and what sets that bound: its listed size, or else
 * what the cap leaves after the bytes already written and the listed sizes of the files still
 * to come (so every file, listed or not, fits in the cap together).
 */
export function fileByteLimit(files: RemoteFile[], i: number, cap: number, bytesSoFar: number): { maxBytes: number; by: 'listing' | 'cap'; room: number } {
  const size = files[i].size;
  if (size !== undefined) return { maxBytes: size, by: 'listing', room: size };
  const laterListed = files.slice(i + 1).reduce((a, f) => a + (f.size ?? 0), 0);
  const room = Math.max(0, cap - bytesSoFar - laterListed);
  return { maxBytes: room, by: 'cap', room };
}

/** PURE: the error for file `rel` once it brought `received` bytes, past the limit `fileByteLimit` gave. */
export function overLimitError(rel: string, limit: { maxBytes: number; by: 'listing' | 'cap' }, cap: number, received: number): MlserveError {
  if (limit.by === 'listing') {
    return new MlserveError(
      'MODEL_SOURCE',
      `artifact ${rel}: the server's listing gives ${bytesText(limit.maxBytes)} but it sent more; mlserve stopped the download at ${bytesText(received)} received and cached nothing. ` +
        'The registry (or a proxy in front of it) serves something other than what it lists; deploy again once it is fixed',
    );
  }
  const shared = limit.maxBytes < cap ? ` (${bytesText(cap - limit.maxBytes)} of it taken by the model's other files)` : '';
  return new MlserveError(
    'MODEL_SOURCE',
    `artifact ${rel}: the server's listing gives no size, and the download passed the ${bytesText(cap)} that MLSERVE_MAX_ARTIFACT_BYTES allows for one model${shared}; ` +
      `mlserve stopped it at ${bytesText(received)} received and cached nothing. Raise MLSERVE_MAX_ARTIFACT_BYTES in the shell that runs mlserve deploy if the model is really this big`,
  );
}

async function freeBytesOf(dir: string): Promise<number | undefined> {
  try {
    const st = await statfs(dir);
    return st.bavail * st.bsize;
  } catch {
    return undefined; // a file system that cannot say: the per-file limits still hold
  }
}

/** Where the proxied artifact API lives for an mlflow-artifacts: or http(s) artifact URI. */
export function proxiedArtifactBase(uri: string, trackingUrl: string): { base: string; root: string } {
  const scheme = uriScheme(uri);
  if (scheme === 'mlflow-artifacts') {
    const u = new URL(uri);
    const tracking = new URL(trackingUrl);
    // mlflow-artifacts://host:port/path: the netloc overrides the tracking host.
    const origin = u.host ? `${tracking.protocol}//${u.host}` : `${tracking.origin}${tracking.pathname.replace(/\/+$/, '')}`;
    const root = u.pathname.replace(/\/{2,}/g, '/').replace(/^\/+|\/+$/g, '');
    return { base: `${origin}/api/2.0/mlflow-artifacts/artifacts`, root: decodeURIComponent(root) };
  }
  const marker = '/api/2.0/mlflow-artifacts/artifacts';
  const at = uri.indexOf(marker);
  if ((scheme === 'http' || scheme === 'https') && at >= 0) {
    return { base: uri.slice(0, at + marker.length), root: decodeURIComponent(uri.slice(at + marker.length).replace(/^\/+|\/+$/g, '')) };
  }
  throw new MlserveError('MODEL_SOURCE', `artifact URI ${uri} is not served by an MLflow artifact proxy`);
}

async function walkProxied(client: MlflowRestClient, base: string, root: string): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  const walk = async (rel: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new MlserveError('MODEL_SOURCE', `artifact tree under ${root} is deeper than ${MAX_DEPTH} levels`);
    const path = rel ? `${root}/${rel}` : root;
    const url = `${base}?${new URLSearchParams({ path })}`;
    const res = await client.send('GET', url);
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new MlserveError('MODEL_SOURCE', `listing artifacts at ${path} failed with HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    let listing: { files?: { path: string; is_dir?: boolean; file_size?: number | string }[] };
    try {
      listing = JSON.parse(text);
    } catch {
      throw new MlserveError('MLFLOW_UNAVAILABLE', `listing artifacts at ${path} did not return JSON: "${text.slice(0, 120)}"`);
    }
    for (const f of listing.files ?? []) {
      const name = checkName(f.path);
      const childRel = rel ? `${rel}/${name}` : name;
      if (f.is_dir) await walk(childRel, depth + 1);
      else {
        out.push({ rel: childRel, size: listedSize(f.file_size) });
        if (out.length > MAX_FILES) throw new MlserveError('MODEL_SOURCE', `more than ${MAX_FILES} artifact files under ${root}`);
      }
    }
  };
  await walk('', 0);
  return out;
}

/** The run-artifact routes: list with /api/2.0/mlflow/artifacts/list, fetch with /get-artifact. */
async function walkRun(client: MlflowRestClient, runId: string, runRel: string): Promise<RemoteFile[]> {
  const out: RemoteFile[] = [];
  const walk = async (rel: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new MlserveError('MODEL_SOURCE', `artifact tree under ${runRel} is deeper than ${MAX_DEPTH} levels`);
    const path = rel ? `${runRel}/${rel}` : runRel;
    let pageToken: string | undefined;
    do {
      const r = await client.json<{ files?: { path: string; is_dir?: boolean; file_size?: number }[]; next_page_token?: string }>(
        'GET', '/api/2.0/mlflow/artifacts/list', { run_id: runId, path, page_token: pageToken },
      );
      for (const f of r.files ?? []) {
        // Paths here are run-relative and must sit directly under the folder we listed.
        const prefix = path ? `${path}/` : '';
        if (!f.path.startsWith(prefix)) throw new MlserveError('MODEL_SOURCE', `refusing artifact '${f.path}': not inside ${path}`);
        const name = checkName(f.path.slice(prefix.length));
        const childRel = rel ? `${rel}/${name}` : name;
        if (f.is_dir) await walk(childRel, depth + 1);
        else out.push({ rel: childRel, size: listedSize(f.file_size) });
        if (out.length > MAX_FILES) throw new MlserveError('MODEL_SOURCE', `more than ${MAX_FILES} artifact files under ${runRel}`);
      }
      pageToken = r.next_page_token;
    } while (pageToken);
  };
  await walk('', 0);
  return out;
}

async function downloadAll(client: MlflowRestClient, files: RemoteFile[], dest: string, urlOf: (rel: string) => string, ctx: FetchContext) {
  if (files.length === 0) throw new MlserveError('MODEL_SOURCE', 'the model directory on the server is empty or missing');
  const cap = client.cfg.maxArtifactBytes;
  // The cache's folder (dest is a temp folder inside it, on the same file system).
  const refused = checkBeforeDownload(files, cap, await freeBytesOf(dest), dirname(dest));
  if (refused) throw refused;
  const totalBytes = files.reduce((a, f) => a + (f.size ?? 0), 0);
  let bytes = 0;
  let done = 0;
  const written: { path: string; size: number }[] = [];
  for (const [i, f] of files.entries()) {
    const out = safeJoin(dest, f.rel);
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    const bound = fileByteLimit(files, i, cap, bytes);
    const limit: DownloadLimit = { maxBytes: bound.maxBytes, exceeded: (received) => overLimitError(f.rel, bound, cap, received) };
    const n = await client.download(urlOf(f.rel), out, (chunk) => {
      bytes += chunk;
      ctx.onProgress?.({ file: f.rel, bytes, totalBytes, files: done, totalFiles: files.length });
    }, limit);
    if (f.size !== undefined && n !== f.size) {
      throw new MlserveError('MODEL_SOURCE', `artifact ${f.rel}: downloaded ${n} bytes but the server's listing says ${f.size}; the file changed or the transfer was cut. Deploy again`);
    }
    done++;
    written.push({ path: f.rel, size: n });
    ctx.onProgress?.({ file: f.rel, bytes, totalBytes, files: done, totalFiles: files.length });
  }
  return written;
}

/** Relative path of `uri` under the run's artifact root, via runs/get. */
async function runRelative(client: MlflowRestClient, runId: string, uri: string): Promise<string | undefined> {
  const r = await client.json<{ run: { info: { artifact_uri: string } } }>('GET', '/api/2.0/mlflow/runs/get', { run_id: runId });
  const root = r.run.info.artifact_uri.replace(/\/+$/, '');
  const u = uri.replace(/\/+$/, '');
  if (u === root) return '';
  return u.startsWith(`${root}/`) ? u.slice(root.length + 1) : undefined;
}

/** Does the folder at `uri` hold anything? One listing call (no walk); false when it cannot say. */
export async function hasArtifacts(uri: string, ctx: { client: MlflowRestClient; runId?: string }): Promise<boolean> {
  const scheme = uriScheme(uri);
  try {
    if (scheme === undefined || scheme === 'file') {
      const local = scheme === 'file' ? fileUriToPath(uri) : uri;
      return existsSync(local) && (!statSync(local).isDirectory() || readdirSync(local).length > 0);
    }
    const { client } = ctx;
    if (scheme === 'mlflow-artifacts' || scheme === 'http' || scheme === 'https') {
      const { base, root } = proxiedArtifactBase(uri, client.cfg.url);
      const res = await client.send('GET', `${base}?${new URLSearchParams({ path: root })}`);
      const text = await res.body.text();
      return res.statusCode === 200 && ((JSON.parse(text) as { files?: unknown[] }).files ?? []).length > 0;
    }
    if (ctx.runId) {
      const rel = await runRelative(client, ctx.runId, uri);
      if (rel === undefined) return false;
      const r = await client.json<{ files?: unknown[] }>('GET', '/api/2.0/mlflow/artifacts/list', { run_id: ctx.runId, path: rel });
      return (r.files ?? []).length > 0;
    }
  } catch {
    return false;
  }
  return false;
}

/** Fill `dest` with the model directory at `uri`; returns the files written. */
export async function fetchArtifacts(uri: string, dest: string, ctx: FetchContext): Promise<{ path: string; size: number }[]> {
  const scheme = uriScheme(uri);
  if (scheme === undefined || scheme === 'file') {
    const local = scheme === 'file' ? fileUriToPath(uri) : uri;
    if (existsSync(local)) return copyLocal(local, dest);
  }
  const client = ctx.client;
  if (client && (scheme === 'mlflow-artifacts' || scheme === 'http' || scheme === 'https')) {
    const { base, root } = proxiedArtifactBase(uri, client.cfg.url);
    const files = await walkProxied(client, base, root);
    return downloadAll(client, files, dest, (rel) => `${base}/${encodePath(`${root}/${rel}`)}`, ctx);
  }
  // Anything else (a path on the server's disk, s3://, gs://...): the server can read it for us
  // through the run-artifact routes, when the model sits under its run's artifact root.
  if (client && ctx.runId) {
    const rel = await runRelative(client, ctx.runId, uri).catch(() => undefined);
    if (rel !== undefined) {
      const files = await walkRun(client, ctx.runId, rel);
      const runId = ctx.runId;
      return downloadAll(client, files, dest, (f) => client.url('/get-artifact', { run_id: runId, path: rel ? `${rel}/${f}` : f }), ctx);
    }
  }
  const shown = scheme ?? 'local path';
  throw new MlserveError(
    'MODEL_SOURCE',
    `the model's artifacts are at ${uri} (${shown}${scheme ? ':' : ''}), which mlserve cannot read directly. ` +
      'Serve artifacts through the tracking server (mlflow server --serve-artifacts --artifacts-destination <that store>) so versions register as mlflow-artifacts:/ URIs, or copy the model directory here and deploy its path',
  );
}
