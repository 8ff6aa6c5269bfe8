// Live MLflow for tests: `mlflow server` from a pinned env (scripts/python-envs.json) on a free
// port, populated with MLflow's own client (test/fixtures/python/populate_server.py); MLflow's
// client as a long-lived process (mlflow_client.py: one JSON line per request); and a node:http
// proxy in front that can mount the server under a base path, record every call (split into
// sections by the client's /__mark__ requests), and slow artifact downloads down.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pythonEnv, REPO } from './python.js';

export const POPULATE = join(REPO, 'test', 'fixtures', 'python', 'populate_server.py');
export const CLIENT = join(REPO, 'test', 'fixtures', 'python', 'mlflow_client.py');

/** The pinned env per MLflow major: `mlflow server` and MLflow's client (with onnx + onnxruntime) run from it. */
export const LIVE_ENVS = { 3: 'mlflow3_live', 2: 'mlflow2_live' } as const;

const QUIET = { MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true', GIT_PYTHON_REFRESH: 'quiet', PYTHONUNBUFFERED: '1' };
/** MLflow 3's server starts job workers (huey) for GenAI scorers: nothing here uses them. */
const SERVER_ENV = { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false', MLFLOW_SERVER_JOB_ENABLE_PERIODIC_TASKS: 'false' };

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface LiveServerOptions {
  major: 2 | 3;
  /** sqlite (default) or file (MLflow's file store as the backend). */
  backend?: 'sqlite' | 'file';
  /** mlflow-artifacts: through --serve-artifacts (default), or a file: artifact root and --no-serve-artifacts. */
  artifacts?: 'proxied' | 'file';
  /** `--app-name basic-auth`, with this admin password. */
  adminPassword?: string;
  env?: Record<string, string>;
}

/** One `mlflow server` process group, its stores in a temp dir, its output in a log file. */
export class LiveMlflow {
  readonly dir: string;
  readonly logFile: string;
  port = 0;
  url = '';
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  startMs = 0;

  constructor(readonly opts: LiveServerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `mlflow-live-${opts.major}-`));
    this.logFile = join(this.dir, 'server.log');
  }

  get artifactRoot(): string {
    return join(this.dir, 'artifacts');
  }

  /** Start (or start again on the same port and stores) and wait for /health. */
  async start(): Promise<this> {
    const started = Date.now();
    const python = await pythonEnv(LIVE_ENVS[this.opts.major]);
    const mlflowBin = join(dirname(python), 'mlflow');
    if (!this.port) this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    const backend = this.opts.backend === 'file' ? `file://${join(this.dir, 'mlruns')}` : `sqlite:///${join(this.dir, 'mlflow.db')}`;
    const args = ['server', '--backend-store-uri', backend, '--host', '127.0.0.1', '--port', String(this.port), '--workers', '1'];
    if (this.opts.artifacts === 'file') args.push('--no-serve-artifacts', '--default-artifact-root', `file://${this.artifactRoot}`);
    else args.push('--serve-artifacts', '--artifacts-destination', this.artifactRoot);
    const env: Record<string, string> = { ...QUIET, ...SERVER_ENV, MLFLOW_ALLOW_FILE_STORE: 'true', ...this.opts.env };
    if (this.opts.adminPassword) {
      args.push('--app-name', 'basic-auth');
      env.MLFLOW_AUTH_ADMIN_PASSWORD = this.opts.adminPassword;
      env.MLFLOW_FLASK_SERVER_SECRET_KEY = 'mlserve-live-tests';
      env.MLFLOW_AUTH_CONFIG_PATH = join(this.dir, 'basic_auth.ini');
      writeFileSync(env.MLFLOW_AUTH_CONFIG_PATH, `[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///${join(this.dir, 'auth.db')}\nadmin_username = admin\nadmin_password = ${this.opts.adminPassword}\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\nauth_cache_ttl_seconds = 60\n`);
    }
    mkdirSync(this.dir, { recursive: true });
    const fd = openSync(this.logFile, 'a');
    const child = spawn(mlflowBin, args, { cwd: this.dir, stdio: ['ignore', fd, fd], env: { ...process.env, ...env }, detached: true });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`mlflow server exited (${child.exitCode ?? child.signalCode}) before answering /health; ${this.logFile}:\n${tail(this.logFile)}`);
      }
      if (await health(this.url)) break;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`mlflow server did not answer /health within 120 s; ${this.logFile}:\n${tail(this.logFile)}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.startMs = Date.now() - started;
    return this;
  }

  log(lines = 60): string {
    return tail(this.logFile, lines);
  }

  /** SIGKILL the whole process group (gunicorn/uvicorn workers too), as a crash would. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      /* gone */
    }
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 10_000))]);
    this.child = null;
  }

  /** Stop gracefully (SIGTERM, then SIGKILL after 5 s) and remove the stores. */
  async stop(keep = false): Promise<void> {
    const child = this.child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const done = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
      if (!done) await this.kill();
      else {
        try {
          process.kill(-child.pid, 'SIGKILL'); // stragglers in the group
        } catch {
          /* gone */
        }
      }
    }
    this.child = null;
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

function health(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export interface Populated {
  mlflow: string;
  x: number[][];
  versions: Array<{ name: string; version: string; run_id: string; source: string; aliases: string[]; stage: string; tags: Record<string, string> }>;
  loggedModels: Record<string, string>;
  runs: Record<string, string>;
  stages: boolean;
  sklearnRows?: number[][];
  sklearnPredictions?: number[];
  onnxModelFiles: string[];
}

/** Log the test models into a live server with MLflow's client (populate_server.py). */
export async function populate(server: LiveMlflow, opts: { bigMb?: number; onnxOnly?: boolean; username?: string; password?: string } = {}): Promise<Populated> {
  const python = await pythonEnv(LIVE_ENVS[server.opts.major]);
  const out = join(server.dir, `populated-${Date.now()}.json`);
  const args = [POPULATE, server.url, out, ...(opts.bigMb ? ['--big-mb', String(opts.bigMb)] : []), ...(opts.onnxOnly ? ['--onnx-only'] : [])];
  const env = { ...process.env, ...QUIET, ...(opts.username ? { MLFLOW_TRACKING_USERNAME: opts.username, MLFLOW_TRACKING_PASSWORD: opts.password ?? '' } : {}) };
  const log = join(server.dir, 'populate.log');
  await new Promise<void>((resolve, reject) => {
    const fd = openSync(log, 'a');
    const child = spawn(python, args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`populate_server.py failed (${code}); ${log}:\n${tail(log)}\nserver log:\n${server.log(20)}`))));
  });
  return JSON.parse(readFileSync(out, 'utf8')) as Populated;
}

/** MLflow's own client in a long-lived Python process (mlflow_client.py). */
export class MlflowPy {
  private child: ChildProcess | null = null;
  private lines: AsyncIterator<string> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  readonly logFile: string;

  constructor(readonly major: 2 | 3) {
    this.logFile = join(mkdtempSync(join(tmpdir(), 'mlflow-py-')), 'client.log');
  }

  async start(): Promise<this> {
    const python = await pythonEnv(LIVE_ENVS[this.major]);
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(python, [CLIENT], { stdio: ['pipe', 'pipe', fd], env: { ...process.env, ...QUIET, OMP_NUM_THREADS: '1' } });
    closeSync(fd);
    this.lines = createInterface({ input: this.child.stdout! })[Symbol.asyncIterator]();
    const first = await this.lines.next();
    if (first.done) throw new Error(`mlflow_client.py did not start:\n${tail(this.logFile)}`);
    return this;
  }

  /** One request; answers are in order (requests are queued). */
  call<T = any>(req: Record<string, unknown>): Promise<T & { ok: boolean; error?: string }> {
    const p = this.queue.then(async () => {
      this.child!.stdin!.write(`${JSON.stringify(req)}\n`);
      const r = await this.lines!.next();
      if (r.done) throw new Error(`mlflow_client.py exited:\n${tail(this.logFile)}`);
      return JSON.parse(r.value);
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Like call, but an answer with ok: false throws (with the client's log). */
  async ok<T = any>(req: Record<string, unknown>): Promise<T> {
    const r = await this.call<T>(req);
    if (!r.ok) throw new Error(`MLflow client ${String(req.op)} failed: ${r.error}\n${tail(this.logFile, 20)}`);
    return r;
  }

  close(): void {
    this.child?.stdin?.end();
    this.child?.kill();
    rmSync(dirname(this.logFile), { recursive: true, force: true });
  }
}

export interface ProxiedCall {
  method: string;
  path: string;
  query: string;
  body: string;
  status: number;
  /** The Authorization header it carried. */
  authorization?: string;
  /** The section it belongs to: the uri of the last /__mark__ (or '' before any). */
  section: string;
}

export interface ProxyOptions {
  /** Serve the target under this prefix (e.g. '/mlflow'); requests outside it get 404. */
  basePath?: string;
  /** Bytes per second for responses of artifact downloads (mlflow-artifacts GETs of a file). */
  throttleBytesPerSec?: number;
}

/**
 * A reverse proxy on a free port: forwards to `target`, records each call, and ends a response
 * early when its upstream dies (as a reverse proxy does when the server behind it is killed).
 */
export class LoggingProxy {
  readonly calls: ProxiedCall[] = [];
  private section = '';
  private server: http.Server | null = null;
  url = '';
  port = 0;
  /** Bytes of artifact file bodies sent so far (for the killed-download test). */
  artifactBytes = 0;

  constructor(
    private target: string,
    private readonly opts: ProxyOptions = {},
  ) {}

  retarget(target: string): void {
    this.target = target;
  }

  async start(): Promise<this> {
    const base = (this.opts.basePath ?? '').replace(/\/+$/, '');
    this.server = http.createServer((req, res) => {
      const [rawPath, query = ''] = (req.url ?? '/').split('?', 2);
      if (base && !rawPath.startsWith(`${base}/`)) {
        res.writeHead(404, { 'content-type': 'text/html' }).end('<html><title>404 Not Found</title></html>');
        return;
      }
      const path = rawPath.slice(base.length);
      if (path === '/__mark__') {
        this.section = new URLSearchParams(query).get('uri') ?? '';
        res.writeHead(200).end('{}');
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const call: ProxiedCall = { method: req.method ?? 'GET', path, query, body: body.toString('utf8'), status: 0, authorization: req.headers.authorization, section: this.section };
        this.calls.push(call);
        const t = new URL(this.target);
        const headers = { ...req.headers, host: t.host };
        const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: `${path}${query ? `?${query}` : ''}`, headers }, (ur) => {
          call.status = ur.statusCode ?? 0;
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          const isFile = req.method === 'GET' && path.startsWith('/api/2.0/mlflow-artifacts/artifacts/');
          const rate = isFile ? this.opts.throttleBytesPerSec : undefined;
          let ended = false;
          ur.on('end', () => {
            ended = true;
          });
          // The server died mid-body: cut the client's response too.
          ur.on('close', () => {
            if (!ended) res.destroy();
          });
          ur.on('error', () => res.destroy());
          if (!rate) {
            ur.on('data', (c: Buffer) => {
              if (isFile) this.artifactBytes += c.length;
            });
            ur.pipe(res);
            return;
          }
          const started = Date.now();
          let sent = 0;
          ur.on('data', (c: Buffer) => {
            this.artifactBytes += c.length;
            sent += c.length;
            res.write(c);
            // Ahead of the rate: wait until the clock catches up (no timer per small chunk).
            const ahead = (sent / rate) * 1000 - (Date.now() - started);
            if (ahead > 5) {
              ur.pause();
              setTimeout(() => ur.resume(), ahead);
            }
          });
          ur.on('end', () => res.end());
        });
        up.on('error', () => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/html' }).end('<html><title>502 Bad Gateway</title></html>');
          else res.destroy();
        });
        up.end(body);
      });
    });
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.port}${base}`;
    return this;
  }

  /** Calls recorded since `from` (an index into calls). */
  since(from: number): ProxiedCall[] {
    return this.calls.slice(from);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

/**
 * Registry and run calls as comparable lines (`GET /api/2.0/mlflow/... name=X&version=1`), without
 * artifact listings and transfers (mlflow-artifacts, the run-artifact routes) and MLflow 3's
 * /api/3.0/mlflow/server-info (its artifact client asks it once per process).
 */
export function registryCalls(calls: ProxiedCall[]): string[] {
  return calls
    .filter((c) => c.path.startsWith('/api/2.0/mlflow/') && !c.path.startsWith('/api/2.0/mlflow/artifacts/'))
    .map((c) => `${c.method} ${c.path} ${normalizeParams(c)}`.trim());
}

function normalizeParams(c: ProxiedCall): string {
  const params: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(c.query)) params[k] = v;
  if (c.body) {
    try {
      Object.assign(params, JSON.parse(c.body));
    } catch {
      /* not JSON */
    }
  }
  return Object.keys(params)
    .sort()
    .map((k) => `${k}=${typeof params[k] === 'string' ? params[k] : JSON.stringify(params[k])}`)
    .join('&');
}

