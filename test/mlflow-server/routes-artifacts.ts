// Artifact routes of MLflow 2.11 with --serve-artifacts (mlflow/server/handlers.py,
// mlflow/store/artifact/local_artifact_repo.py): the proxied mlflow-artifacts list/download/upload,
// the run listing artifacts/list, the older /get-artifact and /model-versions/get-artifact (Flask
// send_file), and 3.x's logged-model artifact listing and file routes.
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { HOSTILE } from './knobs.js';
import { FlaskAbort, getRequestMessage, MlflowError, reason, sendMessage, str, type Ctx, type Env, type Route } from './http.js';
import { proxiedPath } from './state.js';

interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/** mlflow/utils/uri.py::validate_path_is_safe */
export function validatePathIsSafe(path: string): void {
  let decoded = path;
  for (let prev = ''; prev !== decoded; ) {
    prev = decoded;
    try { decoded = decodeURIComponent(decoded); } catch { break; }
  }
  const p = decoded.startsWith('file://') ? decoded.slice('file://'.length) : decoded;
  if (decoded.includes('#') || p.includes('\\') || p.split('/').includes('..') || p.startsWith('/') || /^[A-Za-z]:/.test(p)) {
    throw new MlflowError('Invalid path', 'INVALID_PARAMETER_VALUE');
  }
}

/** Python's os.path.normpath for a relative POSIX path ("" stays ""). */
const normpath = (p: string): string => (p ? posix.normalize(p).replace(/\/+$/, '') : '');

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/**
 * LocalArtifactRepository.list_artifacts of a folder below the root, sorted; [] unless a folder.
 * `path` is the entry's name within the folder (a hostile knob's entry keeps its ../ or absolute form).
 */
function listLocal(env: Env, rel: string | undefined): FileInfo[] {
  const norm = normpath(rel ?? '');
  const dir = norm ? join(env.state.artifactRoot, norm) : env.state.artifactRoot;
  if (!isDir(dir)) return [];
  if (env.knobs.hostileListing === 'symlink') env.hostile.ensureLink(dir);
  const infos = readdirSync(dir).map((name): FileInfo => {
    const st = statSync(join(dir, name)); // follows symlinks, like os.path.isdir/getsize (a dangling one is a 500)
    return st.isDirectory() ? { path: name, is_dir: true } : { path: name, is_dir: false, file_size: st.size };
  });
  infos.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const sizes = env.knobs.listingSizes;
  if (sizes !== null) {
    for (const f of infos) {
      if (f.is_dir) continue;
      if (sizes === 'omit') delete f.file_size;
      else f.file_size = sizes;
    }
  }
  const kind = env.knobs.hostileListing;
  if ((kind === 'dotdot' || kind === 'absolute') && existsSync(join(dir, 'MLmodel'))) {
    const entry = kind === 'dotdot' ? HOSTILE.dotdotEntry : HOSTILE.absoluteEntry;
    infos.push({ path: entry, is_dir: false, file_size: HOSTILE.secretContent.length });
  }
  return infos;
}

/** posixpath.join: an absolute second part replaces the first. */
const pyJoin = (a: string, b: string): string => (b.startsWith('/') || !a ? b : a.endsWith('/') ? a + b : `${a}/${b}`);

/** `_list_artifacts_for_proxied_run_artifact_root`: paths relative to the run (or logged model) root. */
function listUnderRoot(env: Env, rootUri: string, relative: string | undefined): FileInfo[] {
  const root = proxiedPath(rootUri) ?? '';
  const dest = relative !== undefined ? pyJoin(root, relative) : root;
  return listLocal(env, dest).map((f) => ({ ...f, path: pyJoin(relative ?? '', f.path) }));
}

const guessMime = (file: string): string => {
  const name = posix.basename(file);
  const ext = name.includes('.') && !name.startsWith('.') ? name.slice(name.lastIndexOf('.') + 1) : name;
  const text = ['txt', 'log', 'err', 'cfg', 'conf', 'cnf', 'cf', 'ini', 'properties', 'prop', 'hocon', 'toml', 'yaml', 'yml', 'xml', 'json', 'js', 'py', 'py3', 'csv', 'tsv', 'md', 'rst', 'MLmodel', 'MLproject'];
  if (text.includes(ext)) return 'text/plain';
  const known: Record<string, string> = {
    html: 'text/html', htm: 'text/html', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', svg: 'image/svg+xml',
    pdf: 'application/pdf', zip: 'application/zip', tar: 'application/x-tar', bin: 'application/octet-stream',
  };
  return known[ext.toLowerCase()] ?? 'application/octet-stream';
};

/** Body bytes the knobs allow, and whether to cut the connection after them. */
function bodyPlan(env: Env, size: number): { length: number; kill: boolean } {
  let length = env.knobs.truncateDownloads ? Math.floor(size / 2) : size;
  const kill = env.knobs.killAfterBytes !== null && env.knobs.killAfterBytes < length;
  if (kill) length = env.knobs.killAfterBytes as number;
  return { length, kill };
}

/** The endless-downloads knob: after the file, 64 KiB chunks (with backpressure) until the client hangs up. */
function streamForever(ctx: Ctx, env: Env): Promise<void> {
  const stats = env.knobs.endless;
  const chunk = Buffer.alloc(64 * 1024, 0x42);
  stats.streams++;
  stats.open++;
  return new Promise((resolve) => {
    let closed = false;
    ctx.res.once('close', () => {
      closed = true;
      stats.open--;
      resolve();
    });
    const pump = (): void => {
      while (!closed) {
        stats.bytesPastEnd += chunk.length;
        if (!ctx.res.write(chunk)) {
          ctx.res.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

function streamFile(ctx: Ctx, env: Env, file: string, size: number): Promise<void> {
  const { length, kill } = bodyPlan(env, size);
  if (ctx.method === 'HEAD') { ctx.res.end(); return Promise.resolve(); }
  if (env.knobs.endlessDownloads) {
    return new Promise((resolve, reject) => {
      const stream = createReadStream(file);
      stream.on('data', (c) => ctx.res.write(c));
      stream.on('error', reject);
      stream.on('end', () => void streamForever(ctx, env).then(resolve));
    });
  }
  return new Promise((resolve) => {
    const done = () => resolve();
    if (length === 0) {
      if (kill) ctx.res.socket?.destroy(); else ctx.res.end();
      return done();
    }
    const stream = createReadStream(file, { start: 0, end: length - 1 });
    stream.on('data', (chunk) => ctx.res.write(chunk));
    stream.on('error', () => { ctx.res.socket?.destroy(); done(); });
    stream.on('end', () => {
      if (kill) ctx.res.write(Buffer.alloc(0), () => { ctx.res.socket?.destroy(); done(); });
      else { ctx.res.end(); done(); }
    });
  });
}

/** `_download_artifact` (GET mlflow-artifacts/artifacts/<path>): a chunked stream, or INTERNAL_ERROR naming the destination. */
async function downloadArtifact(ctx: Ctx, env: Env, params: Record<string, string>): Promise<void> {
  const artifactPath = params.artifact_path;
  validatePathIsSafe(artifactPath);
  const full = join(env.state.artifactRoot, normpath(artifactPath));
  const shown = `${env.state.reportedArtifactsDestination}/${normpath(artifactPath)}`;
  const failure = (err: string) =>
    new MlflowError(
      `The following failures occurred while downloading one or more artifacts from ${env.state.reportedArtifactsDestination}:\n##### File ${artifactPath} #####\n${err}`,
      'INTERNAL_ERROR',
    );
  if (env.knobs.hostileListing === 'symlink') env.hostile.ensureLink(dirname(full));
  if (!existsSync(full)) throw failure(`[Errno 2] No such file or directory: '${shown}'`);
  if (isDir(full)) {
    if (readdirSync(full).length > 0) throw new FlaskAbort(500); // downloaded as a folder, then open(dir) fails
    throw failure(`[Errno 21] Is a directory: '${shown}'`);
  }
  const size = statSync(full).size;
  const name = posix.basename(artifactPath);
  ctx.res.writeHead(200, reason(200), {
    Server: 'gunicorn', 'Content-Type': guessMime(name), 'Content-Disposition': `attachment; filename=${name}`, 'X-Content-Type-Options': 'nosniff',
  });
  await streamFile(ctx, env, full, size);
}

function uploadArtifact(ctx: Ctx, env: Env, params: Record<string, string>): void {
  validatePathIsSafe(params.artifact_path);
  const full = join(env.state.artifactRoot, normpath(params.artifact_path));
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, ctx.body);
  sendMessage(ctx, {});
}

function deleteArtifact(ctx: Ctx, env: Env, params: Record<string, string>): void {
  validatePathIsSafe(params.artifact_path);
  rmSync(join(env.state.artifactRoot, normpath(params.artifact_path)), { recursive: true, force: true });
  sendMessage(ctx, {});
}

/** GET mlflow-artifacts/artifacts?path=: basenames; `{}` for a file or a missing path. */
function listMlflowArtifacts(ctx: Ctx, env: Env): void {
  const msg = getRequestMessage(ctx, { fields: { path: 'string' } });
  if (msg.path !== undefined) validatePathIsSafe(str(msg, 'path'));
  const files = listLocal(env, str(msg, 'path'));
  sendMessage(ctx, { files: files.length ? files : undefined });
}

/** GET mlflow/artifacts/list?run_id=&path=: run-relative paths and the run's root_uri. */
function listRunArtifacts(ctx: Ctx, env: Env): void {
  const msg = getRequestMessage(ctx, {
    fields: { run_id: 'string', run_uuid: 'string', path: 'string', page_token: 'string' },
    schema: { run_id: ['string', 'required'], path: ['string'], page_token: ['string'] },
  });
  const path = msg.path !== undefined ? str(msg, 'path') : undefined;
  if (path !== undefined) validatePathIsSafe(path);
  const run = env.state.getRun(str(msg, 'run_id') || str(msg, 'run_uuid'));
  const files = listUnderRoot(env, run.info.artifact_uri, path);
  sendMessage(ctx, { root_uri: run.info.artifact_uri, files: files.length ? files : undefined });
}

function listLoggedModelArtifacts(ctx: Ctx, env: Env, params: Record<string, string>): void {
  const msg = getRequestMessage(ctx, { fields: { artifact_directory_path: 'string' }, schema: { artifact_directory_path: ['string'] } });
  const model = env.state.getLoggedModel(params.model_id);
  const path = msg.artifact_directory_path !== undefined ? str(msg, 'artifact_directory_path') : undefined;
  if (path !== undefined) validatePathIsSafe(path);
  const files = listUnderRoot(env, model.artifact_uri, path);
  sendMessage(ctx, { root_uri: model.artifact_uri, files: files.length ? files : undefined });
}

/** werkzeug's send_file as `_send_artifact` uses it: Content-Length, Last-Modified, no-cache and an ETag. */
async function sendFile(ctx: Ctx, env: Env, artifactPath: string): Promise<void> {
  const norm = normpath(artifactPath);
  const full = join(env.state.artifactRoot, norm);
  if (!existsSync(full) || isDir(full)) throw new FlaskAbort(500); // OSError: not an MlflowException
  const st = statSync(full, { bigint: true });
  const fsMtime = Number(st.mtimeNs / 1_000_000_000n) + Number(st.mtimeNs % 1_000_000_000n) * 1e-9; // Python's st_mtime
  const exact = env.state.exactMtimes.get(full);
  const mtime = exact !== undefined && Math.abs(exact - fsMtime) < 2e-6 ? exact : fsMtime;
  const size = Number(st.size);
  const name = posix.basename(norm);
  const { length } = bodyPlan(env, size);
  ctx.res.writeHead(200, reason(200), {
    Server: 'gunicorn', 'Content-Disposition': `attachment; filename=${name}`, 'Content-Type': guessMime(name),
    ...(env.knobs.endlessDownloads ? {} : { 'Content-Length': String(length) }),
    'Last-Modified': new Date(Math.floor(mtime) * 1000).toUTCString(), 'Cache-Control': 'no-cache',
    ETag: `"${mtime}-${size}-${adler32(`${env.state.reportedArtifactsDestination}/${norm}`)}"`, 'X-Content-Type-Options': 'nosniff',
  });
  await streamFile(ctx, env, full, size);
}

function adler32(s: string): number {
  let a = 1, b = 0;
  for (const byte of Buffer.from(s, 'utf8')) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** GET /get-artifact?run_id=&path= (querystring parsed directly; a missing path is a KeyError, i.e. 500). */
async function getRunArtifact(ctx: Ctx, env: Env): Promise<void> {
  const runId = ctx.query.get('run_id') || ctx.query.get('run_uuid') || 'None';
  const path = ctx.query.get('path');
  if (path === null) throw new FlaskAbort(500);
  validatePathIsSafe(path);
  const run = env.state.getRun(runId);
  const root = proxiedPath(run.info.artifact_uri);
  if (root === undefined) throw new FlaskAbort(500);
  await sendFile(ctx, env, posix.join(root, path));
}

/** GET /model-versions/get-artifact?name=&version=&path= */
async function getModelVersionArtifact(ctx: Ctx, env: Env): Promise<void> {
  const path = ctx.query.get('path');
  if (path === null) throw new FlaskAbort(500);
  validatePathIsSafe(path);
  const uri = env.state.getDownloadUri(ctx.query.get('name') ?? undefined, ctx.query.get('version') ?? 'None');
  const root = proxiedPath(uri);
  if (root === undefined) throw new FlaskAbort(500);
  await sendFile(ctx, env, posix.join(root, path));
}

/** 3.x: GET /ajax-api/2.0/mlflow/logged-models/<id>/artifacts/files?artifact_file_path= */
async function getLoggedModelArtifact(ctx: Ctx, env: Env, params: Record<string, string>): Promise<void> {
  const path = ctx.query.get('artifact_file_path');
  if (!path) throw new MlflowError("Parameter 'artifact_file_path' must be specified.", 'INVALID_PARAMETER_VALUE');
  validatePathIsSafe(path);
  const root = proxiedPath(env.state.getLoggedModel(params.model_id).artifact_uri);
  if (root === undefined) throw new FlaskAbort(500);
  await sendFile(ctx, env, posix.join(root, path));
}

export const artifactRoutes: Route[] = [
  { path: '/mlflow-artifacts/artifacts', methods: ['GET'], handler: listMlflowArtifacts },
  { path: '/mlflow-artifacts/artifacts/<path:artifact_path>', methods: ['GET'], handler: downloadArtifact },
  { path: '/mlflow-artifacts/artifacts/<path:artifact_path>', methods: ['PUT'], handler: uploadArtifact },
  { path: '/mlflow-artifacts/artifacts/<path:artifact_path>', methods: ['DELETE'], handler: deleteArtifact },
  { path: '/mlflow/artifacts/list', methods: ['GET'], handler: listRunArtifacts },
  { path: '/mlflow/logged-models/<model_id>/artifacts/directories', methods: ['GET'], handler: listLoggedModelArtifacts },
  { path: '/mlflow/logged-models/<model_id>/artifacts/files', methods: ['GET'], scope: 'ajax', handler: getLoggedModelArtifact },
  { path: '/get-artifact', methods: ['GET'], scope: 'root', handler: getRunArtifact },
  { path: '/model-versions/get-artifact', methods: ['GET'], scope: 'root', handler: getModelVersionArtifact },
];
