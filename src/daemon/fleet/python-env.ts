// The interpreter a Python replica runs, as `mlflow models serve --env-manager` decides it:
//   local       the given interpreter (--python / MLSERVE_PYTHON, default python3), after checking
//               once that it imports mlflow and has every distribution the model requires;
//   virtualenv  a venv made by `<python> -m venv` with the model's requirements pip-installed, cached
//               under envsDir by a hash of what is installed (python-env-spec.ts envHash);
//   uv          the same made by `uv venv` + `uv pip install` (uv must be on PATH);
//   auto        (no manager) local when the local check passes, else virtualenv.
// A build happens in envsDir/.tmp-<hash>-<pid> and is renamed into place once mlflow imports in it
// and a completion marker is written; a lock file keeps concurrent callers from building twice
// (python-env-lock.ts). Replicas must run `<dir>/bin/python` (never the venv's bin/ scripts, whose
// shebangs name the temp folder), with PYTHONPATH unset.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MlserveError } from '../../errors.js';
import type { LocalCheck, PythonProbe } from './python-env-check.js';
import { decideAuto, evaluateLocal, formatSeconds, localFailureMessage, PipProgress, probeQuestions, pythonVersionWarning, uvEnv } from './python-env-check.js';
import { acquireLock, sweepTmp, tmpName, type EnvLock } from './python-env-lock.js';
import { buildStepEnv, findOnPath, probePython, runProcess, venvPython, type RunResult } from './python-env-run.js';
import type { EnvManager, ModelEnvSpec } from './python-env-spec.js';
import { envHash, ModelEnvError, readModelEnvSpec } from './python-env-spec.js';

export type { EnvManager } from './python-env-spec.js';

export interface PythonEnvRequest {
  /** A cached MLflow model directory: MLmodel, and usually python_env.yaml, requirements.txt, conda.yaml. */
  modelDir: string;
  /** undefined = auto: 'local' when the local Python has what the model needs, else 'virtualenv'. */
  manager?: EnvManager;
  /** The interpreter for 'local', and the base of virtualenv/uv envs; default 'python3' on PATH. */
  python?: string;
  /** $MLSERVE_HOME/envs (created 0700). */
  envsDir: string;
  /** Human progress lines (building, pip output summarized, warnings, done in N s). */
  onProgress?: (line: string) => void;
  /** pip's (uv's) full output is appended here. */
  logFile?: string;
  /** The environment for the interpreter and pip (PIP_INDEX_URL etc. pass through); default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface PythonEnv {
  /** Absolute path of the interpreter replicas run. */
  python: string;
  manager: EnvManager;
  /** The env folder (virtualenv/uv). */
  dir?: string;
  /** True when this call built it (false: reused, or local). */
  built: boolean;
  /** What the model asked for (requirement lines, -r files followed). */
  requirements: string[];
  /** Why this manager and interpreter (auto's choice, or the one asked for). */
  reason: string;
  /** Version mismatches and the like: reported, not fatal. Also sent to onProgress. */
  warnings: string[];
}

/** Written last into a built env, before it is renamed into place: its presence means complete. */
export const ENV_MARKER = '.mlserve-env.json';

const PIP_FLAGS = ['--disable-pip-version-check', '--no-input', '--progress-bar', 'off'];
const TAIL_LINES = 5;

function loadSpec(modelDir: string): ModelEnvSpec {
  const read = (rel: string): string | undefined => {
    try {
      return readFileSync(join(modelDir, rel), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw new MlserveError('MODEL_SOURCE', `cannot read ${join(modelDir, rel)}: ${(e as Error).message}`);
    }
  };
  try {
    return readModelEnvSpec(modelDir, read);
  } catch (e) {
    if (e instanceof ModelEnvError) throw new MlserveError('MODEL_SOURCE', `${modelDir}: ${e.message}`);
    throw e;
  }
}

/** Whether `dir` holds a complete env whose interpreter still resolves (its base Python not removed). */
function envReady(dir: string): boolean {
  return existsSync(join(dir, ENV_MARKER)) && existsSync(venvPython(dir));
}

export async function preparePythonEnv(req: PythonEnvRequest): Promise<PythonEnv> {
  const modelDir = resolve(req.modelDir);
  const env = req.env ?? process.env;
  const progress = req.onProgress ?? (() => {});
  const python = req.python ?? 'python3';
  const spec = loadSpec(modelDir);
  const requirements = spec.requirements.map((r) => r.raw);
  if (req.manager !== undefined && !['local', 'virtualenv', 'uv'].includes(req.manager)) {
    throw new MlserveError('BAD_REQUEST', `unknown env manager '${String(req.manager)}': use local, virtualenv or uv (or none, to choose automatically)`);
  }

  if (req.manager === undefined || req.manager === 'local') {
    const probe = await probePython(python, { mlflow: true, ...probeQuestions(spec) }, env);
    const check = evaluateLocal(spec, probe);
    const who = python === probe.executable ? python : `${python} (${probe.executable})`;
    if (req.manager === 'local') {
      if (!check.ok) throw new MlserveError('UNSUPPORTED_MODEL', localFailureMessage(probe.executable, modelDir, check, probe.version));
      return local(probe, check, requirements, `--env-manager local: ${who}`, progress);
    }
    const choice = decideAuto(check, who);
    if (choice.manager === 'local') return local(probe, check, requirements, `auto: ${choice.reason}`, progress);
    progress(`auto: a virtualenv, because ${choice.reason}`);
    return prepareVenv(req, modelDir, spec, 'virtualenv', probe, `auto: ${choice.reason}`, env, progress);
  }
  const base = await probePython(python, { mlflow: false }, env);
  return prepareVenv(req, modelDir, spec, req.manager, base, `--env-manager ${req.manager}`, env, progress);
}

function local(probe: PythonProbe, check: LocalCheck, requirements: string[], reason: string, progress: (l: string) => void): PythonEnv {
  for (const w of check.warnings) progress(`warning: ${w}`);
  return { python: probe.executable, manager: 'local', built: false, requirements, reason, warnings: check.warnings };
}

async function prepareVenv(
  req: PythonEnvRequest,
  modelDir: string,
  spec: ModelEnvSpec,
  manager: 'virtualenv' | 'uv',
  base: PythonProbe,
  reason: string,
  env: NodeJS.ProcessEnv,
  progress: (l: string) => void,
): Promise<PythonEnv> {
  const started = Date.now();
  const requirements = spec.requirements.map((r) => r.raw);
  let uv: string | undefined;
  if (manager === 'uv') {
    uv = findOnPath('uv', env);
    if (!uv) {
      throw new MlserveError(
        'BAD_REQUEST',
        '--env-manager uv needs the uv binary on PATH and there is none; install it with `pip install uv` (or `pipx install uv`, or see https://docs.astral.sh/uv/getting-started/installation/), or use --env-manager virtualenv',
      );
    }
  }
  const warnings: string[] = [];
  const pyWarning = pythonVersionWarning(spec.python, base, true);
  if (pyWarning) {
    warnings.push(pyWarning);
    progress(`warning: ${pyWarning}`);
  }
  const hash = envHash(spec, base.version, manager);
  const envsDir = resolve(req.envsDir);
  const dir = join(envsDir, hash);
  const result = (built: boolean): PythonEnv => ({ python: venvPython(dir), manager, dir, built, requirements, reason, warnings });

  try {
    mkdirSync(envsDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new MlserveError('STORAGE', `cannot create the environments folder ${envsDir}: ${(e as Error).message}`, { cause: e });
  }
  sweepTmp(envsDir);
  if (envReady(dir)) {
    progress(`reusing the ${manager} environment ${dir}`);
    return result(false);
  }
  const lock = await acquireLock(join(envsDir, `${hash}.lock`), {
    isDone: () => envReady(dir),
    onWait: (info) => progress(`waiting for pid ${info.pid}, which is building this environment`),
    onKill: (child, info) => progress(`stopping pid ${child}, left running by an interrupted build (pid ${info.pid})`),
  });
  if (lock === 'done') {
    progress(`reusing the ${manager} environment ${dir} (built by another process meanwhile)`);
    return result(false);
  }
  const tmp = join(envsDir, tmpName(hash));
  try {
    sweepTmp(envsDir, { hash });
    if (existsSync(dir)) {
      progress(`removing ${dir}: incomplete, or its Python is gone`);
      rmSync(dir, { recursive: true, force: true });
    }
    rmSync(tmp, { recursive: true, force: true });
    lock.update({ tmp });
    progress(
      `building a ${manager} environment for ${modelDir} (Python ${base.version}, ${requirements.length} requirement${requirements.length === 1 ? '' : 's'} from ${spec.source}) in ${dir}`,
    );
    await build({ tmp, manager, uv, base, spec, modelDir, env, lock, logFile: req.logFile, progress });
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!envReady(dir)) throw e;
      rmSync(tmp, { recursive: true, force: true }); // someone else's build won the rename: use theirs
      return result(false);
    }
    progress(`built ${dir} in ${formatSeconds(Date.now() - started)}`);
    return result(true);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    lock.release();
  }
}

interface BuildArgs {
  tmp: string;
  manager: 'virtualenv' | 'uv';
  uv?: string;
  base: PythonProbe;
  spec: ModelEnvSpec;
  modelDir: string;
  env: NodeJS.ProcessEnv;
  lock: EnvLock;
  logFile?: string;
  progress: (l: string) => void;
}

async function build(a: BuildArgs): Promise<void> {
  const env = buildStepEnv(a.manager === 'uv' ? uvEnv(a.env) : a.env);
  const py = venvPython(a.tmp);
  const step = async (label: string, cmd: string, args: string[], what: string): Promise<void> => {
    const start = Date.now();
    const summary = new PipProgress(label, start);
    const r = await runProcess(cmd, args, {
      env,
      cwd: a.modelDir,
      detached: true,
      logFile: a.logFile,
      onSpawn: (pid) => a.lock.update({ child: pid }),
      onLine: (line) => {
        const p = summary.line(line, Date.now());
        if (p) a.progress(p);
      },
    });
    a.lock.update({ child: undefined });
    if (r.code !== 0) throw stepError(what, cmd, r, a.logFile);
  };
  const files = a.spec.files.length > 0 ? a.spec.files.join(', ') : `${a.spec.source} of ${a.modelDir}`;
  if (a.manager === 'uv') {
    await step('uv venv', a.uv!, ['venv', '--python', a.base.executable, '--no-config', '--no-python-downloads', a.tmp], `uv could not create a virtualenv with ${a.base.executable}`);
  } else {
    await step('venv', a.base.executable, ['-m', 'venv', a.tmp], `${a.base.executable} -m venv could not create a virtualenv`);
  }
  const install = (args: string[]): [string, string[]] =>
    a.manager === 'uv' ? [a.uv!, ['pip', 'install', '--no-config', '--compile-bytecode', '--python', py, ...args]] : [py, ['-m', 'pip', 'install', ...PIP_FLAGS, ...args]];
  const tool = a.manager === 'uv' ? 'uv pip' : 'pip';
  if (a.spec.buildDependencies.length > 0) {
    await step(`${tool} (build dependencies)`, ...install(a.spec.buildDependencies), `${tool} could not install the build dependencies ${a.spec.buildDependencies.join(' ')} (python_env.yaml of ${a.modelDir})`);
  }
  await step(tool, ...install(a.spec.installArgs), `${tool} could not install the requirements of the model (${files})`);
  // mlflow must import in the new env, run the way replicas will run it.
  const check = await probePython(py, { mlflow: true }, env);
  if (check.mlflow === undefined) {
    throw new MlserveError('UNSUPPORTED_MODEL', `the environment built for ${a.modelDir} cannot import mlflow (${check.mlflowError ?? 'unknown error'}); the model's requirements (${files}) must let mlflow install`);
  }
  a.progress(`mlflow ${check.mlflow} imports in the new environment`);
  const marker = {
    manager: a.manager,
    python: check.version,
    base: a.base.executable,
    mlflow: check.mlflow,
    modelDir: a.modelDir,
    source: a.spec.source,
    install: a.spec.canonical,
    builtAt: new Date().toISOString(),
  };
  writeFileSync(join(a.tmp, ENV_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
}

function stepError(what: string, cmd: string, r: RunResult, logFile: string | undefined): MlserveError {
  const how = r.error ? `cannot run ${cmd}: ${r.error.message}` : r.signal ? `killed by ${r.signal}` : `exit code ${r.code}`;
  const log = logFile ? `the full output is in ${logFile}` : 'pass a log file for the full output';
  const tail = r.tail.slice(-TAIL_LINES);
  return new MlserveError('UNSUPPORTED_MODEL', `${what} (${how}); ${log}.${tail.length > 0 ? ` Its last lines:\n${tail.join('\n')}` : ''}`);
}
