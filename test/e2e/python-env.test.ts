// preparePythonEnv for real: real Python, real pip from PyPI, real venvs, models saved by MLflow's own
// client. One env (a custom PythonModel that asks for mlflow only) is built once here, by the calls that
// follow a build killed with SIGKILL midway, two processes at once, and reused by the later tests.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../../src/daemon/fleet/python-env-lock.js';
import { ENV_MARKER, preparePythonEnv, type PythonEnv, type PythonEnvRequest } from '../../src/daemon/fleet/python-env.js';
import { MlserveError } from '../../src/errors.js';
import { pythonEnv, REPO } from '../helpers/python.js';

const CHILD = join(REPO, 'test', 'helpers', 'prepare-env-child.ts');
const VITE_NODE = join(REPO, 'node_modules', 'vite-node', 'vite-node.mjs');

let work: string;
let envsDir: string;
let logFile: string;
let pyfunc: string;
let emptyPython: string;
let basePython: string;
let models: Record<string, string>;
let mlflowVersion: string;
/** The env the killed build, then the concurrent callers, made for models.echo. */
let echoEnv: PythonEnv;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function rejection(p: Promise<unknown>): Promise<MlserveError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MlserveError);
    return e as MlserveError;
  }
  throw new Error('expected preparePythonEnv to fail');
}

interface ChildRun {
  pid: number;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out?: { result?: PythonEnv; error?: { code: string; message: string } } }>;
  kill: () => void;
}

/** preparePythonEnv in another process (test/helpers/prepare-env-child.ts). */
async function childPrepare(req: Omit<PythonEnvRequest, 'onProgress'>): Promise<ChildRun> {
  const child = spawn(process.execPath, [VITE_NODE, CHILD], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MLSERVE_TEST_ENV_REQUEST: JSON.stringify(req) } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Awaited<ChildRun['done']>>((resolve) => {
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop();
      let out;
      try {
        out = last ? JSON.parse(last) : undefined;
      } catch {}
      resolve({ code, signal, out });
    });
  });
  await new Promise((r) => child.once('spawn', r));
  return { pid: child.pid!, stderr: () => stderr, done, kill: () => child.kill('SIGKILL') };
}

async function until(what: string, fn: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const logSize = (f: string) => (existsSync(f) ? statSync(f).size : 0);
const envDirs = (d: string) => readdirSync(d).filter((e) => /^[0-9a-f]{16}$/.test(e));

beforeAll(async () => {
  pyfunc = await pythonEnv('pyfunc');
  work = mkdtempSync(join(tmpdir(), 'mlserve-pyenv-e2e-'));
  envsDir = join(work, 'home', 'envs');
  logFile = join(work, 'pip.log');
  const made = JSON.parse(run(pyfunc, [join(REPO, 'test', 'fixtures', 'python', 'make_env_models.py'), join(work, 'models')]).trim().split('\n').pop()!);
  models = made.models;
  mlflowVersion = made.mlflow;
  basePython = run('python3', ['-c', 'import sys; print(sys.executable)']).trim();
  run('python3', ['-m', 'venv', join(work, 'empty')]);
  emptyPython = join(work, 'empty', 'bin', 'python');
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('local', () => {
  it("passes with the pyfunc env's python for a scikit-learn model (and auto picks it)", async () => {
    const lines: string[] = [];
    const env = await preparePythonEnv({ modelDir: models.sklearn, manager: 'local', python: pyfunc, envsDir, onProgress: (l) => lines.push(l) });
    expect(env).toMatchObject({ python: pyfunc, manager: 'local', built: false, warnings: [] });
    expect(env.dir).toBeUndefined();
    expect(env.requirements).toEqual(expect.arrayContaining([`mlflow==${mlflowVersion}`, 'scikit-learn==1.9.1']));
    expect(lines).toEqual([]);
    const auto = await preparePythonEnv({ modelDir: models.sklearn, python: pyfunc, envsDir });
    expect(auto.manager).toBe('local');
    expect(auto.reason).toMatch(/^auto: .*has mlflow and every requirement of the model$/);
    expect(existsSync(envsDir)).toBe(false); // nothing built, nothing created
  });

  it('a model saved with another Python minor: passes with a warning', async () => {
    const dir = join(work, 'sklearn-py39');
    cpSync(models.sklearn, dir, { recursive: true });
    const yaml = join(dir, 'python_env.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^python: .*$/m, 'python: 3.9.18'));
    const lines: string[] = [];
    const env = await preparePythonEnv({ modelDir: dir, manager: 'local', python: pyfunc, envsDir, onProgress: (l) => lines.push(l) });
    expect(env.warnings).toEqual([expect.stringMatching(/saved with Python 3\.9\.18; .* is Python 3\.11/)]);
    expect(lines).toEqual([`warning: ${env.warnings[0]}`]);
  });

  it('fails for a fresh empty venv, naming the interpreter, what is missing and the pip command', async () => {
    const err = await rejection(preparePythonEnv({ modelDir: models.sklearn, manager: 'local', python: emptyPython, envsDir }));
    expect(err.code).toBe('UNSUPPORTED_MODEL');
    expect(err.message).toContain(`${emptyPython} (Python 3.11`);
    expect(err.message).toContain(`cannot run the model in ${models.sklearn}: it lacks mlflow==${mlflowVersion}`);
    expect(err.message).toContain(`${emptyPython} -m pip install 'mlflow==${mlflowVersion}'`);
    expect(err.message).toMatch(/'scikit-learn==1\.9\.1'/);
    expect(err.message).toContain('--env-manager virtualenv');
  });

  it('an interpreter that does not exist, or is not Python, is named in a clear error', async () => {
    const missing = await rejection(preparePythonEnv({ modelDir: models.sklearn, manager: 'local', python: join(work, 'no-such-python'), envsDir }));
    expect(missing.message).toMatch(new RegExp(`the Python interpreter '${join(work, 'no-such-python')}' does not exist`));
    const onPath = await rejection(preparePythonEnv({ modelDir: models.sklearn, python: 'python3.0-nope', envsDir }));
    expect(onPath.message).toMatch(/'python3\.0-nope' was not found on PATH; pass --python/);
    const notPython = await rejection(preparePythonEnv({ modelDir: models.sklearn, manager: 'virtualenv', python: '/bin/echo', envsDir }));
    expect(notPython.code).toBe('BAD_REQUEST');
    expect(notPython.message).toMatch(/^'\/bin\/echo' is not a usable Python 3 interpreter/);
  });
});

describe('bad requests', () => {
  it('an unknown manager, a folder that is not a model, an envs folder that cannot be made', async () => {
    const conda = await rejection(preparePythonEnv({ modelDir: models.echo, manager: 'conda' as never, envsDir }));
    expect(conda.message).toMatch(/unknown env manager 'conda': use local, virtualenv or uv/);
    const notModel = await rejection(preparePythonEnv({ modelDir: work, envsDir }));
    expect(notModel.code).toBe('MODEL_SOURCE');
    expect(notModel.message).toContain(`${work} has no MLmodel file`);
    const file = join(work, 'a-file');
    writeFileSync(file, '');
    const storage = await rejection(preparePythonEnv({ modelDir: models.echo, manager: 'virtualenv', envsDir: join(file, 'envs') }));
    expect(storage.code).toBe('STORAGE');
    expect(storage.message).toContain(`cannot create the environments folder ${join(file, 'envs')}`);
  });
});

describe('virtualenv', () => {
  let orphan: number | undefined;

  it('a build killed with SIGKILL midway (while pip installs) leaves no usable-looking env', async () => {
    const child = await childPrepare({ modelDir: models.echo, manager: 'virtualenv', envsDir, logFile });
    // pip says nothing for the half minute it spends installing: killed then, its builder gone, it
    // goes on as an orphan (it would die of a broken pipe only when it next writes).
    await until("the child's pip to start installing", () => /^pip: installing/m.test(child.stderr()), 240_000);
    expect(readdirSync(envsDir).filter((e) => e.startsWith('.tmp-'))).toEqual([expect.stringMatching(new RegExp(`^\\.tmp-[0-9a-f]{16}-${child.pid}$`))]);
    child.kill();
    expect((await child.done).signal).toBe('SIGKILL');
    const left = readdirSync(envsDir);
    expect(envDirs(envsDir)).toEqual([]);
    const lock = left.find((e) => e.endsWith('.lock'));
    expect(lock).toBeDefined();
    const info = JSON.parse(readFileSync(join(envsDir, lock!), 'utf8'));
    expect(info.pid).toBe(child.pid);
    orphan = info.child; // the builder's pip, orphaned and still installing into the temp folder
    expect(orphan !== undefined && pidAlive(orphan)).toBe(true);
    const tmp = left.find((e) => e.startsWith('.tmp-'))!;
    expect(existsSync(join(envsDir, tmp, ENV_MARKER))).toBe(false);
  }, 300_000);

  it('the next calls build cleanly: two processes at once build once, the orphaned pip is stopped', async () => {
    const lines: string[] = [];
    const started = Date.now();
    const other = await childPrepare({ modelDir: models.echo, manager: 'virtualenv', envsDir, logFile });
    const mine = await preparePythonEnv({ modelDir: models.echo, manager: 'virtualenv', envsDir, logFile, onProgress: (l) => lines.push(l) });
    const theirs = await other.done;
    const seconds = (Date.now() - started) / 1000;
    expect(theirs.out?.result, other.stderr()).toBeDefined();
    const both = [mine, theirs.out!.result!];
    expect(both.filter((e) => e.built)).toHaveLength(1);
    expect(both[1].python).toBe(mine.python);
    expect(mine).toMatchObject({ manager: 'virtualenv', dir: join(envsDir, mine.dir!.split('/').pop()!), reason: '--env-manager virtualenv', requirements: [`mlflow==${mlflowVersion}`] });
    expect(mine.python).toBe(join(mine.dir!, 'bin', 'python'));
    const progress = [...lines, ...other.stderr().split('\n')].join('\n');
    expect(progress.match(/building a virtualenv environment/g)).toHaveLength(1);
    expect(progress).toMatch(/waiting for pid \d+, which is building this environment/);
    expect(progress).toMatch(/^pip: collecting mlflow==[\d.]+ and its dependencies \(\d+\.\d s\)$/m);
    expect(progress).toMatch(/^pip: installing \d+ packages \(\d+ collected, [\d.]+ s\)$/m);
    expect(progress).toMatch(/^pip: installed \d+ packages in .+ s$/m);
    expect(progress).toMatch(/^built .* in .+ s$/m);
    expect(progress).toMatch(new RegExp(`stopping pid ${orphan}, left running by an interrupted build`));
    expect(pidAlive(orphan!)).toBe(false);
    // Only the env is left: no temp folder (the killed build's was removed), no lock.
    expect(readdirSync(envsDir)).toEqual([mine.dir!.split('/').pop()]);
    expect(statSync(envsDir).mode & 0o777).toBe(0o700);
    expect(existsSync(join(mine.dir!, ENV_MARKER))).toBe(true);
    expect(readFileSync(logFile, 'utf8')).toMatch(/Successfully installed .*mlflow-[\d.]+/);
    expect(run(mine.python, ['-c', 'import mlflow; print(mlflow.__version__)']).trim()).toBe(mlflowVersion);
    echoEnv = mine;
    console.log(`[python-env] cold virtualenv build of mlflow==${mlflowVersion} (after a killed one): ${seconds.toFixed(1)} s`);
  }, 600_000);

  it('the second call reuses it with the network unreachable and no pip call', async () => {
    expect(echoEnv).toBeDefined();
    const before = logSize(logFile);
    const lines: string[] = [];
    const started = Date.now();
    const env = await preparePythonEnv({
      modelDir: models.echo,
      manager: 'virtualenv',
      envsDir,
      logFile,
      env: { ...process.env, PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_NO_CACHE_DIR: '1' },
      onProgress: (l) => lines.push(l),
    });
    const ms = Date.now() - started;
    expect(env).toMatchObject({ python: echoEnv.python, dir: echoEnv.dir, built: false });
    expect(ms).toBeLessThan(2000);
    expect(logSize(logFile)).toBe(before);
    expect(lines).toEqual([`reusing the virtualenv environment ${echoEnv.dir}`]);
    console.log(`[python-env] reuse: ${ms} ms`);
  });

  it('the env runs after being moved (renamed), invoked as <dir>/bin/python', () => {
    const moved = `${echoEnv.dir}-moved`;
    renameSync(echoEnv.dir!, moved);
    try {
      const out = run(join(moved, 'bin', 'python'), ['-c', 'import sys, mlflow; print(sys.prefix); print(mlflow.__file__)'], { ...process.env, PYTHONPATH: '' }).trim().split('\n');
      expect(out[0]).toBe(moved);
      expect(out[1].startsWith(join(moved, 'lib'))).toBe(true);
    } finally {
      renameSync(moved, echoEnv.dir!);
    }
  });

  it('auto with an interpreter that lacks mlflow builds (here: reuses) a virtualenv and says why', async () => {
    const env = await preparePythonEnv({ modelDir: models.echo, python: emptyPython, envsDir, logFile });
    expect(env).toMatchObject({ manager: 'virtualenv', dir: echoEnv.dir, built: false });
    expect(env.reason).toMatch(new RegExp(`^auto: ${emptyPython} cannot import mlflow \\(ModuleNotFoundError`));
  });

  it("requirements pip cannot install: the error names the file and ends with pip's lines; nothing is left behind", async () => {
    const dir = join(work, 'home2', 'envs');
    const log = join(work, 'pip2.log');
    const err = await rejection(preparePythonEnv({ modelDir: models.unsatisfiable, manager: 'virtualenv', envsDir: dir, logFile: log }));
    expect(err.code).toBe('UNSUPPORTED_MODEL');
    expect(err.message).toContain(`pip could not install the requirements of the model (${join(models.unsatisfiable, 'requirements.txt')})`);
    expect(err.message).toContain(`the full output is in ${log}`);
    const tail = err.message.split("Its last lines:\n")[1].split('\n');
    expect(tail.length).toBeGreaterThanOrEqual(2);
    expect(tail.length).toBeLessThanOrEqual(5);
    expect(tail[tail.length - 1]).toMatch(/^ERROR: No matching distribution found for definitely-not-a-package-xyz==1\.0/);
    expect(readFileSync(log, 'utf8')).toContain(tail[tail.length - 1]);
    expect(readdirSync(dir)).toEqual([]);
  }, 300_000);
});

describe('uv', () => {
  let uvBin: string | undefined;
  let why = '';

  beforeAll(() => {
    // uv from PyPI into a scratch venv; only the uv binary goes on PATH (not that venv's python3).
    try {
      const tool = join(work, 'uvtool');
      run('python3', ['-m', 'venv', tool]);
      run(join(tool, 'bin', 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', 'uv']);
      uvBin = join(work, 'uvbin');
      mkdirSync(uvBin);
      symlinkSync(join(tool, 'bin', 'uv'), join(uvBin, 'uv'));
    } catch (e) {
      why = `uv could not be installed from PyPI here: ${(e as Error).message.slice(0, 300)}`;
      uvBin = undefined;
    }
  }, 180_000);

  it('says how to install uv when it is not on PATH', async () => {
    const err = await rejection(preparePythonEnv({ modelDir: models.echo, manager: 'uv', python: basePython, envsDir, env: { ...process.env, PATH: '/usr/bin:/bin' } }));
    expect(err.message).toMatch(/needs the uv binary on PATH and there is none; install it with `pip install uv`/);
  });

  it('builds the env with uv venv + uv pip install, then reuses it', async (ctx) => {
    if (!uvBin) ctx.skip(why);
    const env = { ...process.env, PATH: `${uvBin}:${process.env.PATH}` };
    const lines: string[] = [];
    const started = Date.now();
    const built = await preparePythonEnv({ modelDir: models.echo, manager: 'uv', envsDir, logFile, env, onProgress: (l) => lines.push(l) });
    const seconds = (Date.now() - started) / 1000;
    expect(built).toMatchObject({ manager: 'uv', built: true, reason: '--env-manager uv' });
    expect(built.dir).not.toBe(echoEnv?.dir);
    expect(lines.join('\n')).toMatch(/^uv pip: Resolved \d+ packages in /m);
    expect(lines.join('\n')).toMatch(/^uv pip: Installed \d+ packages in /m);
    expect(readFileSync(logFile, 'utf8')).toContain(`uv pip install --no-config --compile-bytecode --python ${join(envsDir, '.tmp-')}`);
    expect(run(built.python, ['-c', 'import mlflow; print(mlflow.__version__)']).trim()).toBe(mlflowVersion);
    const again = await preparePythonEnv({ modelDir: models.echo, manager: 'uv', envsDir, logFile, env });
    expect(again).toMatchObject({ python: built.python, built: false });
    console.log(`[python-env] uv build: ${seconds.toFixed(1)} s`);
  }, 300_000);
});
