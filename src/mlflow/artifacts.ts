// Fetch a whole model directory from where MLflow says it is: the proxied artifact API
// (mlflow-artifacts:), a local path (file://), or, for anything else, the run-artifact routes an
// MLflow server offers over its own artifact store. ONNX weights may live in external-data files
// beside model.onnx, so every file is fetched, and each one's size is checked against the listing.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MlserveError } from '../errors.js';
import { copyLocal, safeJoin } from './cache.js';
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

interface RemoteFile {
  rel: string;
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
        out.push({ rel: childRel, size: f.file_size === undefined ? undefined : Number(f.file_size) });
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
        else out.push({ rel: childRel, size: f.file_size });
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
  const totalBytes = files.reduce((a, f) => a + (f.size ?? 0), 0);
  let bytes = 0;
  let done = 0;
  const written: { path: string; size: number }[] = [];
  for (const f of files) {
    const out = safeJoin(dest, f.rel);
    mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
    const n = await client.download(urlOf(f.rel), out, (chunk) => {
      bytes += chunk;
      ctx.onProgress?.({ file: f.rel, bytes, totalBytes, files: done, totalFiles: files.length });
    });
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
