// A test MLflow tracking server answering like MLflow 2.11 run with --serve-artifacts (Flask +
// gunicorn), for testing mlserve's REST registry client. See README.md for what it covers.
//
//   const server = await startMlflowServer();            // the recorded registry and artifacts
//   server.url                                           // http://127.0.0.1:<port>[<basePath>]
//   server.state.addModelVersion({ name: 'M', shape: '3.x', copyFrom: dir, stage: 'Production' });
//   server.knobs.failNext(2, 503, { retryAfter: 1 });
//   await server.close();
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecordedState, restoreRecordedMtimes } from './default-state.js';
import { fixturesDir, loadTranscripts, RECORDED_ARTIFACTS_DESTINATION, RECORDED_MLFLOW_VERSION, serverArtifactsDir } from './fixtures.js';
import { FlaskAbort, flaskErrorPage, MlflowError, send, sendFlaskError, sendMlflowError, type Ctx, type Env, type Route } from './http.js';
import { HostileSupport, Knobs } from './knobs.js';
import { artifactRoutes } from './routes-artifacts.js';
import { registryRoutes } from './routes-registry.js';
import { MlflowState } from './state.js';

export { HOSTILE, Knobs, type AuthKnob, type FailOptions, type HostileKind } from './knobs.js';
export { MlflowState, type AddModelVersionOptions } from './state.js';
export type { LoggedModel, ModelVersion, RegisteredModel, Run, Stage, Tag } from './entities.js';

export interface MlflowServerOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Serve everything below this prefix (e.g. '/mlflow'), like a reverse proxy mounting MLflow there. */
  basePath?: string;
  /** 'recorded' (default): the recorded server's registry and a copy of its artifacts. 'empty': nothing. */
  state?: 'recorded' | 'empty';
  /** Use this folder as the artifact root as is (not copied, not deleted on close). */
  artifactRoot?: string;
  /** Where the fixtures are (default: see fixtures.ts). */
  fixturesDir?: string;
  /** The artifacts destination named in error messages and ETags (default: the recorded server's, see fixtures.ts, for the recorded state). */
  reportedArtifactsDestination?: string;
  /** What /version answers (default 2.11.4.dev0). */
  version?: string;
}

export interface RecordedRequest {
  method: string;
  /** The request path as received (base path included), without the query. */
  path: string;
  /** The raw query string, without '?'. */
  query: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface MlflowTestServer {
  url: string;
  port: number;
  state: MlflowState;
  knobs: Knobs;
  /** Every request received, in order. */
  requests: RecordedRequest[];
  /** Unexpected exceptions inside handlers (answered as Flask's 500 page). */
  errors: unknown[];
  /** The artifact root (the server's --artifacts-destination). */
  artifactRoot: string;
  /** A folder outside the artifact root (the hostile symlink knob points into it). */
  outsideDir: string;
  close(): Promise<void>;
}

const INDEX_TEXT =
  "\nUnable to display MLflow UI - landing page (index.html) not found.\n\nYou are very likely running the MLflow server using a source installation of the Python MLflow\npackage.\n\nIf you are a developer making MLflow source code changes and intentionally running a source\ninstallation of MLflow, you can view the UI by running the Javascript dev server:\nhttps://github.com/mlflow/mlflow/blob/master/CONTRIBUTING.md#running-the-javascript-dev-server\n\nOtherwise, uninstall MLflow via 'pip uninstall mlflow', reinstall an official MLflow release\nfrom PyPI via 'pip install mlflow', and rerun the MLflow server.\n";

interface CompiledRoute {
  re: RegExp;
  names: string[];
  route: Route;
}

function compile(routes: Route[]): CompiledRoute[] {
  const out: CompiledRoute[] = [];
  for (const route of routes) {
    const scope = route.scope ?? 'both';
    const prefixes = scope === 'root' ? [''] : scope === 'ajax' ? ['/ajax-api/2.0'] : ['/api/2.0', '/ajax-api/2.0'];
    for (const prefix of prefixes) {
      const names: string[] = [];
      const pattern = (prefix + route.path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/<(?:(path):)?(\w+)>/g, (_m, kind: string | undefined, name: string) => {
        names.push(name);
        return kind ? '(.+)' : '([^/]+)';
      });
      out.push({ re: new RegExp(`^${pattern}$`), names, route });
    }
  }
  return out;
}

function makeWritable(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(join(p, e));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(Buffer.concat(chunks)));
  });
}

export async function startMlflowServer(opts: MlflowServerOptions = {}): Promise<MlflowTestServer> {
  const basePath = (opts.basePath ?? '').replace(/\/+$/, '');
  if (basePath && !basePath.startsWith('/')) throw new Error(`basePath must start with '/': ${opts.basePath}`);
  const recorded = (opts.state ?? 'recorded') === 'recorded';
  const tmp = mkdtempSync(join(tmpdir(), 'mlflow-test-server-'));
  let artifactRoot = opts.artifactRoot;
  if (!artifactRoot) {
    artifactRoot = join(tmp, 'artifacts');
    if (recorded) {
      cpSync(serverArtifactsDir(opts.fixturesDir ?? fixturesDir()), artifactRoot, { recursive: true });
      makeWritable(artifactRoot);
    } else mkdirSync(artifactRoot, { recursive: true });
  }
  const reported = opts.reportedArtifactsDestination ?? (recorded && !opts.artifactRoot ? RECORDED_ARTIFACTS_DESTINATION : artifactRoot);
  const state = new MlflowState(artifactRoot, reported);
  if (recorded) {
    loadRecordedState(state, loadTranscripts(opts.fixturesDir));
    if (!opts.artifactRoot) restoreRecordedMtimes(state, loadTranscripts(opts.fixturesDir));
  }
  const hostile = new HostileSupport(join(tmp, 'outside'));
  const knobs = new Knobs((kind) => (kind === 'symlink' ? hostile.ensureAll(state.artifactRoot) : hostile.removeAll()));
  const env: Env = { state, knobs, hostile };
  const version = opts.version ?? RECORDED_MLFLOW_VERSION;
  const rootRoutes: Route[] = [
    { path: '/health', methods: ['GET'], scope: 'root', handler: (ctx) => send(ctx, 200, 'text/html; charset=utf-8', 'OK') },
    { path: '/version', methods: ['GET'], scope: 'root', handler: (ctx) => send(ctx, 200, 'text/html; charset=utf-8', version) },
    { path: '/', methods: ['GET'], scope: 'root', handler: (ctx) => send(ctx, 200, 'text/plain; charset=utf-8', INDEX_TEXT) },
  ];
  const routes = compile([...rootRoutes, ...registryRoutes, ...artifactRoutes]);
  const requests: RecordedRequest[] = [];
  const errors: unknown[] = [];

  async function dispatch(ctx: Ctx): Promise<void> {
    const matching = routes.filter((r) => r.re.test(ctx.path));
    if (matching.length === 0) throw new FlaskAbort(404);
    const allowed = [...new Set(matching.flatMap((r) => r.route.methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))))];
    allowed.push('OPTIONS');
    allowed.sort();
    if (ctx.method === 'OPTIONS') return send(ctx, 200, 'text/html; charset=utf-8', '', { Allow: allowed.join(', ') });
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    const hit = matching.find((r) => r.route.methods.includes(method));
    if (!hit) throw new FlaskAbort(405, allowed);
    const m = hit.re.exec(ctx.path) as RegExpExecArray;
    const params = Object.fromEntries(hit.names.map((n, i) => [n, m[i + 1]]));
    await hit.route.handler(ctx, env, params);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {});
    const body = await readBody(req);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q >= 0 ? url.slice(0, q) : url;
    const rawQuery = q >= 0 ? url.slice(q + 1) : '';
    requests.push({ method: req.method ?? 'GET', path: rawPath, query: rawQuery, headers: req.headers, body: body.toString('utf8') });
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      path = rawPath;
    }
    const ctx: Ctx = { req, res, method: req.method ?? 'GET', path, rawQuery, query: new URLSearchParams(rawQuery), body };
    try {
      if (basePath) {
        if (path !== basePath && !path.startsWith(`${basePath}/`)) throw new FlaskAbort(404);
        ctx.path = path.slice(basePath.length) || '/';
      }
      if (await knobs.intercept(ctx)) return;
      await dispatch(ctx);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof MlflowError) sendMlflowError(ctx, e);
      else if (e instanceof FlaskAbort) sendFlaskError(ctx, e);
      else {
        errors.push(e);
        send(ctx, 500, 'text/html; charset=utf-8', flaskErrorPage(500));
      }
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${basePath}`,
    port,
    state,
    knobs,
    requests,
    errors,
    artifactRoot,
    outsideDir: hostile.outsideDir,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      hostile.removeAll();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
