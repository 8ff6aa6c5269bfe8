// `mlserve doctor`: small checks of the machine and the setup, each a function of injected I/O
// (the real one is in commands/doctor.ts) that returns one line: ok, warn (does not fail) or fail, with the fix.
import { join } from 'node:path';
import { homePaths } from '../home.js';
import { restConfig } from '../mlflow/rest-config.js';
import { parseTrackingUri } from '../mlflow/uri.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export interface PathStat {
  mode: number;
  uid: number;
  isDirectory: boolean;
  isSocket: boolean;
}

export interface DaemonHealth {
  pid: number;
  ingress: { host: string; port: number; url: string };
}

export interface DoctorIO {
  env: Record<string, string | undefined>;
  cwd: string;
  nodeVersion: string;
  uid?: number;
  /** Load onnxruntime-node; throws when it cannot. */
  loadOrt(): Promise<{ version: string; backends: { name: string; bundled: boolean }[] }>;
  /** CUDA provider binaries: installed, or the command that installs them. */
  cudaProvider(): { installed: true } | { installed: false; command: string };
  gpuInventory(): Promise<{ count: number; source: string; simulated: boolean; names: string[] }>;
  stat(path: string): PathStat | undefined;
  readFile(path: string): string | undefined;
  /** One GET, no retries; throws (with .code) when the server cannot be reached. */
  httpGet(url: string, opts: { headers: Record<string, string>; tls: { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string }; timeoutMs: number }): Promise<{ status: number; body: string }>;
  /** The daemon's /v1/health over the socket, or undefined when nothing answers. */
  daemonHealth(socket: string): Promise<DaemonHealth | undefined>;
  pidAlive(pid: number): boolean;
  /** Try to listen: undefined when the port is free, else the error code (EADDRINUSE, EACCES). */
  portInUse(host: string, port: number): Promise<string | undefined>;
}

export interface DoctorOptions {
  host: string;
  port: number;
  timeoutMs?: number;
}

const ok = (id: string, title: string, detail: string): Check => ({ id, title, status: 'ok', detail });
const warn = (id: string, title: string, detail: string, fix?: string): Check => ({ id, title, status: 'warn', detail, fix });
const fail = (id: string, title: string, detail: string, fix?: string): Check => ({ id, title, status: 'fail', detail, fix });

export const MIN_NODE = [20, 18] as const;

export function checkNode(io: Pick<DoctorIO, 'nodeVersion'>): Check {
  const [major, minor] = io.nodeVersion.replace(/^v/, '').split('.').map(Number);
  const good = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return good
    ? ok('node', 'Node.js', `v${io.nodeVersion.replace(/^v/, '')}`)
    : fail('node', 'Node.js', `v${io.nodeVersion.replace(/^v/, '')} is older than ${MIN_NODE.join('.')}`, 'install Node.js 20.18 or later (e.g. nvm install 20)');
}

export async function checkOrt(io: Pick<DoctorIO, 'loadOrt' | 'cudaProvider'>): Promise<Check> {
  let ort;
  try {
    ort = await io.loadOrt();
  } catch (err) {
    return fail('onnxruntime', 'onnxruntime-node', `does not load: ${(err as Error).message}`, 'reinstall it: npm rebuild onnxruntime-node (or npm ci)');
  }
  const cuda = io.cudaProvider().installed;
  const providers = ort.backends.filter((b) => b.bundled || ((b.name === 'cuda' || b.name === 'tensorrt') && cuda)).map((b) => b.name);
  return ok('onnxruntime', 'onnxruntime-node', `${ort.version} loads; providers: ${providers.join(', ') || 'cpu'}`);
}

export function checkCuda(io: Pick<DoctorIO, 'cudaProvider'>, realGpus: number): Check {
  const c = io.cudaProvider();
  if (c.installed) return ok('cuda', 'CUDA provider', 'binaries installed');
  if (realGpus > 0) {
    return warn('cuda', 'CUDA provider', `binaries not installed, so GPU deploys fail on the ${realGpus} GPU(s) seen`, c.command);
  }
  return ok('cuda', 'CUDA provider', `binaries not installed (not needed without a GPU; to add them: ${c.command})`);
}

export async function checkGpus(io: Pick<DoctorIO, 'gpuInventory' | 'env'>): Promise<{ check: Check; realGpus: number }> {
  try {
    const inv = await io.gpuInventory();
    if (inv.count === 0) return { check: ok('gpus', 'GPUs', `${/^none\b/.test(inv.source) ? inv.source : `none from ${inv.source}`}; replicas run on CPU`), realGpus: 0 };
    const names = [...new Set(inv.names)].join(', ');
    return { check: ok('gpus', 'GPUs', `${inv.count} from ${inv.source}${names ? `: ${names}` : ''}`), realGpus: inv.simulated ? 0 : inv.count };
  } catch (err) {
    const fix = io.env.MLSERVE_GPUS ? 'fix MLSERVE_GPUS (e.g. 2x80GB or A100-80GB,L4-24GB) or unset it' : undefined;
    return { check: fail('gpus', 'GPUs', `cannot read the inventory: ${(err as Error).message}`, fix), realGpus: 0 };
  }
}

const AUTH_FIX = 'set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN';

export async function checkMlflow(io: Pick<DoctorIO, 'env' | 'cwd' | 'stat' | 'httpGet'>, timeoutMs = 5000): Promise<Check> {
  const title = 'MLflow registry';
  const variable = io.env.MLFLOW_REGISTRY_URI ? 'MLFLOW_REGISTRY_URI' : io.env.MLFLOW_TRACKING_URI ? 'MLFLOW_TRACKING_URI' : undefined;
  const raw = variable ? io.env[variable] : undefined;
  let store;
  try {
    store = parseTrackingUri(raw, io.cwd);
  } catch (err) {
    return fail('mlflow', title, (err as Error).message, `set ${variable ?? 'MLFLOW_TRACKING_URI'} to a file store path or an http(s):// tracking server`);
  }
  if (store.kind === 'file') {
    const root = io.stat(store.root);
    if (!variable) {
      if (root?.isDirectory) return ok('mlflow', title, `MLFLOW_TRACKING_URI not set: the file store ./mlruns (${store.root})`);
      return warn('mlflow', title, 'MLFLOW_TRACKING_URI is not set and ./mlruns does not exist: models:/ URIs will not resolve (local .onnx files still deploy)', 'export MLFLOW_TRACKING_URI=file:///path/to/mlruns or http://host:5000');
    }
    if (!root) return fail('mlflow', title, `${variable}=${raw}: the file store ${store.root} does not exist`, `point ${variable} at an existing mlruns folder (file:///abs/path/mlruns)`);
    if (!root.isDirectory) return fail('mlflow', title, `${variable}=${raw}: ${store.root} is not a folder`, `point ${variable} at an mlruns folder`);
    if (!io.stat(join(store.root, 'models'))?.isDirectory) {
      return warn('mlflow', title, `file store ${store.root} holds no registered models (no models/ folder)`, 'register a model there (mlflow.register_model) or check the path');
    }
    return ok('mlflow', title, `file store ${store.root} (models/ present)`);
  }

  let cfg;
  try {
    cfg = restConfig(store.url, io.env);
  } catch (err) {
    return fail('mlflow', title, (err as Error).message);
  }
  const headers: Record<string, string> = { 'user-agent': 'mlserve-doctor' };
  if (cfg.authorization) headers.authorization = cfg.authorization;
  for (const path of ['/health', '/api/2.0/mlflow/registered-models/search?max_results=1']) {
    const url = `${cfg.url}${path}`;
    let res;
    try {
      res = await io.httpGet(url, { headers, tls: cfg.tls, timeoutMs });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return fail('mlflow', title, `cannot reach ${raw} (GET ${url}: ${code})`, `start the tracking server or set ${variable} to one that runs`);
    }
    if (res.status === 401) {
      const sent = cfg.authSource ? `the credentials from ${cfg.authSource} were refused` : 'no credentials were sent';
      return fail('mlflow', title, `${raw} answered 401 Unauthorized for ${path.split('?')[0]} (${sent})`, AUTH_FIX);
    }
    if (res.status === 403) {
      return fail('mlflow', title, `${raw} answered 403 Forbidden for ${path.split('?')[0]}${cfg.authSource ? ` (user from ${cfg.authSource})` : ''}`, `ask an MLflow admin for READ permission on the registry, or ${AUTH_FIX} for another user`);
    }
    if (res.status !== 200) {
      return fail('mlflow', title, `${raw} answered ${res.status} for GET ${path.split('?')[0]}`, `check that ${variable} is the MLflow tracking server itself (with its base path), not a proxy or login page`);
    }
    if (path.includes('search')) {
      try {
        JSON.parse(res.body);
      } catch {
        return fail('mlflow', title, `${raw} answered the registry search with non-JSON`, `check that ${variable} is the MLflow tracking server itself, not a proxy or login page`);
      }
    }
  }
  return ok('mlflow', title, `tracking server ${raw} answers /health and the registry API${cfg.authSource ? ` (auth from ${cfg.authSource})` : ''}`);
}

export function checkHome(io: Pick<DoctorIO, 'env' | 'stat' | 'uid'>): Check {
  const home = homePaths(io.env).home;
  const st = io.stat(home);
  if (!st) return ok('home', 'MLSERVE_HOME', `${home} does not exist yet (the daemon creates it 0700)`);
  if (!st.isDirectory) return fail('home', 'MLSERVE_HOME', `${home} is not a folder`, `remove it or set MLSERVE_HOME to a folder`);
  const mode = st.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if (io.uid !== undefined && st.uid !== io.uid) {
    return fail('home', 'MLSERVE_HOME', `${home} belongs to uid ${st.uid}, not to you (uid ${io.uid})`, `chown -R ${io.uid} ${home}, or run as its owner`);
  }
  if (mode !== 0o700) {
    const why = (mode & 0o077) !== 0 ? 'other users can reach the socket, state and model cache' : 'you cannot fully use it';
    return fail('home', 'MLSERVE_HOME', `${home} has mode ${octal}, expected 0700: ${why}`, `chmod 700 ${home}`);
  }
  return ok('home', 'MLSERVE_HOME', `${home} (0700)`);
}

export async function checkDaemon(io: Pick<DoctorIO, 'env' | 'stat' | 'readFile' | 'daemonHealth' | 'pidAlive'>): Promise<{ check: Check; info?: DaemonHealth }> {
  const p = homePaths(io.env);
  const sock = io.stat(p.socket);
  const pidText = io.readFile(p.pidFile)?.trim();
  const pid = pidText ? Number(pidText) : undefined;
  if (sock) {
    const info = await io.daemonHealth(p.socket).catch(() => undefined);
    if (info) return { check: ok('daemon', 'daemon', `running (pid ${info.pid}), ingress ${info.ingress.url}`), info };
    return {
      check: warn('daemon', 'daemon', `stale socket ${p.socket}: nothing answers on it (left by a crash)`, `mlserve daemon start removes it (or: rm ${p.socket})`),
    };
  }
  if (pid !== undefined && Number.isInteger(pid) && pid > 0 && io.pidAlive(pid)) {
    return { check: warn('daemon', 'daemon', `pid file ${p.pidFile} names live process ${pid} but there is no socket`, `check process ${pid}; if it is not mlserve, remove ${p.pidFile}`) };
  }
  if (pidText !== undefined) {
    return { check: warn('daemon', 'daemon', `stale pid file ${p.pidFile} (process ${pidText} is gone)`, `mlserve daemon start removes it (or: rm ${p.pidFile})`) };
  }
  return { check: ok('daemon', 'daemon', 'not running (mlserve daemon start)') };
}

export async function checkPort(io: Pick<DoctorIO, 'portInUse' | 'httpGet'>, opts: DoctorOptions, info?: DaemonHealth): Promise<Check> {
  const title = 'ingress port';
  if (info) {
    const url = `${info.ingress.url}/v2/health/live`;
    try {
      const r = await io.httpGet(url, { headers: {}, tls: { rejectUnauthorized: true }, timeoutMs: opts.timeoutMs ?? 5000 });
      if (r.status === 200) return ok('port', title, `${info.ingress.port} on ${info.ingress.host}: served by the daemon`);
      return fail('port', title, `the daemon's ingress ${url} answered ${r.status}`, 'see mlserve status and the daemon log (MLSERVE_HOME/logs/daemon.log)');
    } catch (err) {
      return fail('port', title, `the daemon's ingress ${url} does not answer (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'restart it: mlserve daemon stop && mlserve daemon start');
    }
  }
  const code = await io.portInUse(opts.host, opts.port);
  if (code === undefined) return ok('port', title, `${opts.port} on ${opts.host} is free`);
  if (code === 'EADDRINUSE') {
    return fail('port', title, `${opts.port} on ${opts.host} is in use by another process`, `stop that process, or start on another port: mlserve daemon start --port ${opts.port + 1}`);
  }
  return fail('port', title, `cannot listen on ${opts.host}:${opts.port} (${code})`, 'use a port above 1023: mlserve daemon start --port 8000');
}

/** Every check, in order; a check that throws becomes a failing line. */
export async function runChecks(io: DoctorIO, opts: DoctorOptions): Promise<Check[]> {
  const guard = async <T>(id: string, title: string, f: () => Promise<T> | T, wrap: (c: Check) => T): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      return wrap(fail(id, title, `check crashed: ${(err as Error).message}`));
    }
  };
  const same = (c: Check) => c;
  const node = checkNode(io);
  const ort = await guard('onnxruntime', 'onnxruntime-node', () => checkOrt(io), same);
  const gpus = await guard('gpus', 'GPUs', () => checkGpus(io), (check) => ({ check, realGpus: 0 }));
  const cuda = await guard('cuda', 'CUDA provider', () => checkCuda(io, gpus.realGpus), same);
  const mlflow = await guard('mlflow', 'MLflow registry', () => checkMlflow(io, opts.timeoutMs), same);
  const home = await guard('home', 'MLSERVE_HOME', () => checkHome(io), same);
  const daemon = await guard('daemon', 'daemon', () => checkDaemon(io), (check) => ({ check, info: undefined }));
  const port = await guard('port', 'ingress port', () => checkPort(io, opts, daemon.info), same);
  return [node, ort, gpus.check, cuda, mlflow, home, daemon.check, port];
}

export const SYMBOL: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };

/** One line: symbol, title, what was found, and the fix for anything wrong. */
export function formatCheck(c: Check): string {
  return `${SYMBOL[c.status]} ${c.title}: ${c.detail}${c.fix ? `; fix: ${c.fix}` : ''}`;
}
