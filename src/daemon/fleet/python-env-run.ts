// Running the Python side of environment preparation: the probe that asks an interpreter what it has,
// and build steps (venv, pip, uv) with their output appended to a log file and summarized. Every
// process gets an argument array; none goes through a shell.
import { spawn } from 'node:child_process';
import { accessSync, appendFileSync, constants, mkdirSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { MlserveError } from '../../errors.js';
import type { PythonProbe } from './python-env-check.js';
import { lastLines } from './python-env-check.js';

/**
 * Prints one line `@@mlserve-probe@@{json}` (see PythonProbe). argv[1]: {mlflow: bool, dists: [...],
 * markers: [...]}. Imports mlflow only when asked; markers are evaluated with packaging when present.
 */
export const PROBE_SCRIPT = `
import json, platform, sys
q = json.loads(sys.argv[1])
out = {"executable": sys.executable, "version": platform.python_version(),
       "implementation": sys.implementation.name, "dists": {}, "markers": {}}
if q.get("mlflow"):
    try:
        import mlflow
        out["mlflow"] = str(getattr(mlflow, "__version__", "unknown"))
    except BaseException as e:
        out["mlflowError"] = type(e).__name__ + ": " + str(e).splitlines()[0] if str(e) else type(e).__name__
try:
    from importlib import metadata
except ImportError:
    metadata = None
for name in q.get("dists", []):
    try:
        out["dists"][name] = metadata.version(name)
    except Exception:
        out["dists"][name] = None
try:
    from packaging.markers import Marker
except Exception:
    Marker = None
for m in q.get("markers", []):
    try:
        out["markers"][m] = bool(Marker(m).evaluate()) if Marker else None
    except Exception:
        out["markers"][m] = None
sys.stdout.write("\\n@@mlserve-probe@@" + json.dumps(out) + "\\n")
`;

const PROBE_MARK = '@@mlserve-probe@@';
const PROBE_TIMEOUT_MS = 180_000;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn failure (ENOENT, EACCES...). */
  error?: NodeJS.ErrnoException;
  stdout: string;
  /** The last lines of stdout and stderr together. */
  tail: string[];
  timedOut: boolean;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Keep stdout (the probe); build steps only keep the tail. */
  keepStdout?: boolean;
  /** Own process group, so a waiter can kill the step's whole tree when its builder died. */
  detached?: boolean;
  logFile?: string;
  onLine?: (line: string) => void;
  onSpawn?: (pid: number) => void;
}

/** Run `cmd args` (no shell) to completion, its output line by line to onLine and appended to logFile. */
export function runProcess(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    if (opts.logFile) {
      mkdirSync(dirname(opts.logFile), { recursive: true });
      appendFileSync(opts.logFile, `\n[${new Date().toISOString()}] $ ${[cmd, ...args].join(' ')}\n`);
    }
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false });
    let stdout = '';
    let recent = '';
    const partial = { out: '', err: '' };
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    const timer = opts.timeoutMs
      ? setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs)
      : undefined;
    const take = (which: 'out' | 'err', chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (which === 'out' && opts.keepStdout) stdout += text;
      if (opts.logFile) appendFileSync(opts.logFile, text);
      recent = (recent + text).slice(-16_384);
      const lines = (partial[which] + text).split(/\r?\n|\r/);
      partial[which] = lines.pop() ?? '';
      if (opts.onLine) for (const l of lines) opts.onLine(l);
    };
    child.stdout.on('data', (c: Buffer) => take('out', c));
    child.stderr.on('data', (c: Buffer) => take('err', c));
    child.on('spawn', () => {
      if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      for (const rest of [partial.out, partial.err]) if (rest && opts.onLine) opts.onLine(rest);
      if (spawnError && opts.logFile) appendFileSync(opts.logFile, `cannot run ${cmd}: ${spawnError.message}\n`);
      resolve({ code, signal, error: spawnError, stdout, tail: lastLines(recent, 40), timedOut });
    });
  });
}

/** The environment for build steps: the caller's, minus what would leak another Python into the env. */
export function buildStepEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, PYTHONNOUSERSITE: '1' };
  for (const k of ['PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'PYTHONSTARTUP']) delete out[k];
  return out;
}

/** Ask `python` about itself (and mlflow, distributions, markers). Throws a clear error when it is not a usable Python 3. */
export async function probePython(python: string, q: { mlflow: boolean; dists?: string[]; markers?: string[] }, env: NodeJS.ProcessEnv): Promise<PythonProbe> {
  const r = await runProcess(python, ['-c', PROBE_SCRIPT, JSON.stringify({ mlflow: q.mlflow, dists: q.dists ?? [], markers: q.markers ?? [] })], {
    env,
    keepStdout: true,
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  const hint = 'pass --python (or set MLSERVE_PYTHON) to a Python 3 interpreter';
  if (r.error?.code === 'ENOENT') {
    const where = python.includes('/') ? 'does not exist' : 'was not found on PATH';
    throw new MlserveError('BAD_REQUEST', `the Python interpreter '${python}' ${where}; ${hint}`);
  }
  if (r.error) throw new MlserveError('BAD_REQUEST', `cannot run the Python interpreter '${python}': ${r.error.message}; ${hint}`);
  if (r.timedOut) throw new MlserveError('BAD_REQUEST', `'${python}' did not answer within ${PROBE_TIMEOUT_MS / 1000} s when asked what it has installed`);
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith(PROBE_MARK));
  let probe: PythonProbe | undefined;
  try {
    if (line) probe = JSON.parse(line.slice(PROBE_MARK.length)) as PythonProbe;
  } catch {}
  if (!probe || typeof probe.version !== 'string') {
    const out = r.tail.slice(-3).join(' | ');
    const said = out ? `${out.slice(0, 160)}${out.length > 160 ? '...' : ''}` : `exit ${r.code ?? r.signal}, no output`;
    throw new MlserveError('BAD_REQUEST', `'${python}' is not a usable Python 3 interpreter (asked to run a short script, it answered: ${said}); ${hint}`);
  }
  return probe;
}

/** The absolute path of an executable `name` on env.PATH, if any. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return undefined;
}

/** The interpreter inside a venv folder. */
export function venvPython(dir: string): string {
  return process.platform === 'win32' ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python');
}
