// The pure parts of the Python environment module: reading what an MLflow model asks for (with files
// MLflow itself wrote), the env hash, the local check, auto's decision table, messages and pip's
// output summarized.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCheck, PythonProbe } from '../../../src/daemon/fleet/python-env-check.js';
import {
  decideAuto,
  evaluateLocal,
  lastLines,
  localFailureMessage,
  PipProgress,
  pinSatisfied,
  pipFixCommand,
  probeQuestions,
  pythonVersionWarning,
  uvEnv,
} from '../../../src/daemon/fleet/python-env-check.js';
import type { ModelEnvSpec, Requirement } from '../../../src/daemon/fleet/python-env-spec.js';
import {
  envHash,
  expandRequirementLines,
  installArgsFor,
  logicalLines,
  parseCondaYaml,
  parseMlmodel,
  parsePythonEnvYaml,
  parseRequirementLine,
  readModelEnvSpec,
} from '../../../src/daemon/fleet/python-env-spec.js';
import { pythonEnv, REPO } from '../../helpers/python.js';

const files = (m: Record<string, string>) => (rel: string) => m[rel];
const req = (raw: string): Requirement => {
  const p = parseRequirementLine(raw);
  if (p.kind !== 'requirement') throw new Error(`not a requirement: ${raw}`);
  return p.req;
};
const MLMODEL = 'flavors:\n  python_function:\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n    python_version: 3.11.7\nmlflow_version: 3.17.2\n';
const PY_ENV = 'python: 3.11.7\nbuild_dependencies:\n- pip==23.2.1\n- setuptools==84.2.1\n- wheel\ndependencies:\n- -r requirements.txt\n';

describe('requirements files', () => {
  it('logical lines: comments, blanks, continuations, CRLF', () => {
    expect(logicalLines('# top\r\nmlflow==3.17.2  # pinned\n\n  numpy\\\n  >=2\nurl#frag\n')).toEqual(['mlflow==3.17.2', 'numpy  >=2', 'url#frag']);
  });

  const lines: Array<[string, ReturnType<typeof parseRequirementLine>]> = [
    ['mlflow==3.17.2', { kind: 'requirement', req: { raw: 'mlflow==3.17.2', name: 'mlflow', specifier: '==3.17.2', marker: '' } }],
    ['Scikit_Learn >= 1.0, <2', { kind: 'requirement', req: { raw: 'Scikit_Learn >= 1.0, <2', name: 'scikit-learn', specifier: '>=1.0,<2', marker: '' } }],
    ['mlflow[extras]==3.1', { kind: 'requirement', req: { raw: 'mlflow[extras]==3.1', name: 'mlflow', specifier: '==3.1', marker: '' } }],
    ['torch==2.1; sys_platform == "linux"', { kind: 'requirement', req: { raw: 'torch==2.1; sys_platform == "linux"', name: 'torch', specifier: '==2.1', marker: 'sys_platform == "linux"' } }],
    ['pkg @ https://x/pkg-1.0.whl', { kind: 'requirement', req: { raw: 'pkg @ https://x/pkg-1.0.whl', name: 'pkg', specifier: '', marker: '' } }],
    ['six==1.17.0 --hash=sha256:abc', { kind: 'requirement', req: { raw: 'six==1.17.0', name: 'six', specifier: '==1.17.0', marker: '' } }],
    ['./dist/mine-0.1-py3-none-any.whl', { kind: 'requirement', req: { raw: './dist/mine-0.1-py3-none-any.whl', specifier: '', marker: '' } }],
    ['git+https://github.com/x/y.git', { kind: 'requirement', req: { raw: 'git+https://github.com/x/y.git', specifier: '', marker: '' } }],
    ['-r requirements.txt', { kind: 'include', file: 'requirements.txt' }],
    ['--requirement=more.txt', { kind: 'include', file: 'more.txt' }],
    ['-rmore.txt', { kind: 'include', file: 'more.txt' }],
    ['-c constraints.txt', { kind: 'constraint', file: 'constraints.txt' }],
    ['--extra-index-url https://my/simple', { kind: 'option', raw: '--extra-index-url https://my/simple' }],
    ['-e ./src', { kind: 'option', raw: '-e ./src' }],
  ];
  it.each(lines)('%s', (line, want) => {
    expect(parseRequirementLine(line)).toEqual(want);
  });

  it('follows -r includes (once, even in a cycle), counts -c files but takes no requirement from them', () => {
    const read = files({ 'requirements.txt': 'mlflow==3.17.2\n-r more.txt\n-c constraints.txt\n', 'more.txt': '# more\nnumpy==2.4.6\n-r requirements.txt\n', 'constraints.txt': 'numpy<3\n' });
    const x = expandRequirementLines(['-r requirements.txt'], read);
    expect(x.requirements.map((r) => r.raw)).toEqual(['mlflow==3.17.2', 'numpy==2.4.6']);
    expect(x.files).toEqual(['requirements.txt', 'more.txt', 'constraints.txt']);
    expect(x.canonical).toEqual(['mlflow==3.17.2', 'numpy==2.4.6', '-c constraints.txt:', '  numpy<3']);
  });

  it.each([
    ['-r missing.txt', /names missing\.txt, which is not in the model directory/],
    ['-r ../../etc/passwd', /outside the model directory/],
    ['-c /etc/constraints.txt', /outside the model directory/],
  ])('rejects %s', (line, msg) => {
    expect(() => expandRequirementLines([line], files({}))).toThrow(msg);
  });

  it('pip install arguments: -r/-c absolute under the model dir, options split once, requirements as written', () => {
    expect(installArgsFor(['-r requirements.txt', '-c c.txt', 'six==1.17.0; python_version>"3"', '--extra-index-url=https://i/simple?a=b', '--pre'], '/m'))
      .toEqual(['-r', '/m/requirements.txt', '-c', '/m/c.txt', 'six==1.17.0; python_version>"3"', '--extra-index-url', 'https://i/simple?a=b', '--pre']);
  });
});

describe('python_env.yaml, conda.yaml, MLmodel', () => {
  it('python_env.yaml keeps versions as strings (3.10 is not 3.1)', () => {
    expect(parsePythonEnvYaml('python: 3.10\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n')).toEqual({
      python: '3.10',
      buildDependencies: ['pip'],
      dependencies: ['-r requirements.txt'],
    });
    expect(() => parsePythonEnvYaml('- a\n- b\n')).toThrow(/must be a mapping/);
    expect(() => parsePythonEnvYaml('dependencies: 3\n')).toThrow(/dependencies must be a list of strings/);
  });

  it('conda.yaml: python, pip/setuptools/wheel as pip build dependencies, the pip list', () => {
    expect(parseCondaYaml('channels: [conda-forge]\ndependencies:\n- python=3.9.18\n- pip<=23.2.1\n- setuptools=68.0\n- numpy\n- pip:\n  - mlflow==2.9.2\n  - cloudpickle==2.2.1\n')).toEqual({
      python: '3.9.18',
      buildDependencies: ['pip<=23.2.1', 'setuptools==68.0'],
      dependencies: ['mlflow==2.9.2', 'cloudpickle==2.2.1'],
    });
  });

  it('MLmodel: mlflow version, python version, env files (and MLflow 1.x `env: conda.yaml`)', () => {
    expect(parseMlmodel(MLMODEL)).toEqual({ mlflowVersion: '3.17.2', pythonVersion: '3.11.7', virtualenvFile: 'python_env.yaml', condaFile: 'conda.yaml' });
    expect(parseMlmodel('flavors:\n  python_function:\n    env: conda.yaml\n')).toEqual({ condaFile: 'conda.yaml' });
  });

  type Case = [string, Record<string, string>, Partial<ModelEnvSpec>];
  const cases: Case[] = [
    ['python_env.yaml + requirements.txt (what MLflow writes)', { MLmodel: MLMODEL, 'python_env.yaml': PY_ENV, 'requirements.txt': 'mlflow==3.17.2\nnumpy==2.4.6', 'conda.yaml': 'dependencies: [python=3.8]' }, {
      source: 'python_env.yaml', python: '3.11.7', buildDependencies: ['pip==23.2.1', 'setuptools==84.2.1', 'wheel'], installArgs: ['-r', '/m/requirements.txt'], files: ['/m/requirements.txt'],
    }],
    ['requirements.txt alone: the python version from MLmodel', { MLmodel: MLMODEL, 'requirements.txt': 'mlflow==3.17.2\n' }, {
      source: 'requirements.txt', python: '3.11.7', buildDependencies: [], installArgs: ['-r', '/m/requirements.txt'],
    }],
    ['conda.yaml alone', { MLmodel: MLMODEL, 'conda.yaml': 'dependencies:\n- python=3.10.2\n- pip\n- pip:\n  - mlflow==3.1.0\n' }, {
      source: 'conda.yaml', python: '3.10.2', buildDependencies: ['pip'], installArgs: ['mlflow==3.1.0'],
    }],
    ['nothing: mlflow at the version that saved the model', { MLmodel: MLMODEL }, { source: 'MLmodel', installArgs: ['mlflow==3.17.2'], canonical: ['mlflow==3.17.2'] }],
    ['nothing, no version in MLmodel: just mlflow', { MLmodel: 'flavors: {}\n' }, { source: 'MLmodel', installArgs: ['mlflow'], requirements: [req('mlflow')] }],
    ['requirements without mlflow: mlflow is installed too (not listed as asked for)', { MLmodel: MLMODEL, 'requirements.txt': 'six==1.17.0\n' }, {
      installArgs: ['-r', '/m/requirements.txt', 'mlflow==3.17.2'], requirements: [req('six==1.17.0')], canonical: ['six==1.17.0', 'implicit: mlflow==3.17.2'],
    }],
  ];
  it.each(cases)('%s', (_name, fs, want) => {
    expect(readModelEnvSpec('/m', files(fs))).toMatchObject(want);
  });

  it('a folder without MLmodel is not a model', () => {
    expect(() => readModelEnvSpec('/m', files({ 'requirements.txt': 'x' }))).toThrow(/\/m has no MLmodel file/);
  });
});

describe('envHash', () => {
  const spec = (reqs: string, pyenv = PY_ENV) => readModelEnvSpec('/m', files({ MLmodel: MLMODEL, 'python_env.yaml': pyenv, 'requirements.txt': reqs }));
  const base = envHash(spec('mlflow==3.17.2\nnumpy==2.4.6\n'), '3.11.7', 'virtualenv');

  it('is 16 hex digits and stable (this value must not change between releases: it names built envs)', () => {
    expect(base).toMatch(/^[0-9a-f]{16}$/);
    expect(base).toBe('3cbfd4fbdba4141b');
  });

  it.each([
    ['comments and blank lines', spec('# made by mlflow\n\nmlflow==3.17.2   # pin\nnumpy==2.4.6\n'), '3.11.7', 'virtualenv', true],
    ['another patch version of the base Python', spec('mlflow==3.17.2\nnumpy==2.4.6\n'), '3.11.9', 'virtualenv', true],
    ['the model\'s own python: line', spec('mlflow==3.17.2\nnumpy==2.4.6\n', PY_ENV.replace('3.11.7', '3.11.2')), '3.11.7', 'virtualenv', true],
    ['a different pin', spec('mlflow==3.17.2\nnumpy==2.4.5\n'), '3.11.7', 'virtualenv', false],
    ['another build dependency', spec('mlflow==3.17.2\nnumpy==2.4.6\n', PY_ENV.replace('- wheel', '- wheel==0.45')), '3.11.7', 'virtualenv', false],
    ['another base major.minor', spec('mlflow==3.17.2\nnumpy==2.4.6\n'), '3.12.1', 'virtualenv', false],
    ['uv instead of virtualenv', spec('mlflow==3.17.2\nnumpy==2.4.6\n'), '3.11.7', 'uv', false],
  ] as const)('%s: same hash = %s', (_name, s, py, manager, same) => {
    expect(envHash(s, py, manager) === base).toBe(same);
  });

  it('a -c constraints file\'s content counts', () => {
    const read = (c: string) => files({ MLmodel: MLMODEL, 'requirements.txt': 'mlflow==3.17.2\n-c c.txt\n', 'c.txt': c });
    const a = envHash(readModelEnvSpec('/m', read('numpy<3\n')), '3.11.7', 'virtualenv');
    expect(envHash(readModelEnvSpec('/m', read('numpy<3 # why\n')), '3.11.7', 'virtualenv')).toBe(a);
    expect(envHash(readModelEnvSpec('/m', read('numpy<2\n')), '3.11.7', 'virtualenv')).not.toBe(a);
  });
});

describe('pins', () => {
  it.each([
    ['==1.9.1', '1.9.1', true],
    ['==1.9.1', '1.9.0', false],
    ['==1.9', '1.9.0', true],
    ['==1.9.*', '1.9.7', true],
    ['==1.9.*', '1.10.0', false],
    ['==2.15.0', '2.15.0+cpu', true],
    ['==2.15.0+cu121', '2.15.0+cpu', false],
    ['==1.0rc1', '1.0.0-RC1', true],
    ['==1.0', '1.0.post1', false],
    ['===1.0', '1.0', true],
    ['===1.0', '1.0.0', false],
    ['>=1,<2', '5.0', true], // only == is compared
    ['>=1,==1.4', '1.4.0', true],
    ['', '1.0', true],
  ])('%s vs installed %s: %s', (spec, installed, ok) => {
    expect(pinSatisfied(spec, installed)).toBe(ok);
  });
});

const probe = (p: Partial<PythonProbe> = {}): PythonProbe => ({
  executable: '/py/bin/python',
  version: '3.11.7',
  implementation: 'cpython',
  mlflow: '3.17.2',
  dists: { mlflow: '3.17.2', 'scikit-learn': '1.9.1', numpy: '2.4.6' },
  markers: {},
  ...p,
});
const sk = { requirements: ['mlflow==3.17.2', 'scikit-learn==1.9.1', 'numpy==2.4.6'].map(req), python: '3.11.7', mlflowVersion: '3.17.2' };

describe('the local check and auto', () => {
  it('asks about mlflow, every named requirement and each marker', () => {
    expect(probeQuestions({ requirements: ['six', 'torch==2; sys_platform=="linux"', './x.whl'].map(req) })).toEqual({ dists: ['mlflow', 'six', 'torch'], markers: ['sys_platform=="linux"'] });
  });

  type Case = [string, Partial<PythonProbe>, typeof sk | undefined, { ok: boolean; missing: string[]; warnings: RegExp[]; auto: 'local' | 'virtualenv'; reason: RegExp }];
  const cases: Case[] = [
    ['everything there', {}, undefined, { ok: true, missing: [], warnings: [], auto: 'local', reason: /has mlflow and every requirement/ }],
    ['no mlflow at all', { mlflow: undefined, mlflowError: "ModuleNotFoundError: No module named 'mlflow'", dists: {} }, undefined, {
      ok: false, missing: ['mlflow==3.17.2', 'scikit-learn==1.9.1', 'numpy==2.4.6'], warnings: [], auto: 'virtualenv', reason: /cannot import mlflow \(ModuleNotFoundError/,
    }],
    ['a requirement missing', { dists: { mlflow: '3.17.2', numpy: '2.4.6', 'scikit-learn': null } }, undefined, { ok: false, missing: ['scikit-learn==1.9.1'], warnings: [], auto: 'virtualenv', reason: /lacks scikit-learn==1.9.1/ }],
    ['mlflow installed but broken', { mlflow: undefined, mlflowError: 'ImportError: bad numpy' }, undefined, { ok: false, missing: [], warnings: [], auto: 'virtualenv', reason: /cannot import mlflow \(ImportError: bad numpy\)/ }],
    ['another scikit-learn: a warning for local, a virtualenv for auto', { dists: { mlflow: '3.17.2', 'scikit-learn': '1.8.0', numpy: '2.4.6' } }, undefined, {
      ok: true, missing: [], warnings: [/has scikit-learn 1\.8\.0; the model asks for scikit-learn==1\.9\.1/], auto: 'virtualenv', reason: /scikit-learn 1\.8\.0 \(model: scikit-learn==1\.9\.1\)/,
    }],
    ['another mlflow only: still local (mlflow loads models of other versions)', { mlflow: '3.16.0', dists: { mlflow: '3.16.0', 'scikit-learn': '1.9.1', numpy: '2.4.6' } }, undefined, {
      ok: true, missing: [], warnings: [/has mlflow 3\.16\.0/], auto: 'local', reason: /has mlflow/,
    }],
    ['another Python minor: a warning only', { version: '3.12.1' }, undefined, { ok: true, missing: [], warnings: [/saved with Python 3\.11\.7; \/py\/bin\/python is Python 3\.12\.1/], auto: 'local', reason: /has mlflow/ }],
    ['a marker that does not apply: not required', { dists: { mlflow: '3.17.2' }, markers: { 'sys_platform == "win32"': false } }, { ...sk, requirements: ['mlflow', 'pywin32==306; sys_platform == "win32"'].map(req) }, {
      ok: true, missing: [], warnings: [], auto: 'local', reason: /has mlflow/,
    }],
    ['a URL requirement: cannot be checked, a warning', { dists: { mlflow: '3.17.2' } }, { ...sk, requirements: ['mlflow', 'git+https://h/x.git'].map(req) }, {
      ok: true, missing: [], warnings: [/cannot check 'git\+https:\/\/h\/x\.git'/], auto: 'local', reason: /has mlflow/,
    }],
    ['mlflow not asked for and not importable: mlflow at MLmodel\'s version', { mlflow: undefined, mlflowError: 'ModuleNotFoundError: x', dists: { six: '1.17.0' } }, { ...sk, requirements: [req('six')] }, {
      ok: false, missing: ['mlflow==3.17.2'], warnings: [], auto: 'virtualenv', reason: /cannot import mlflow/,
    }],
  ];
  it.each(cases)('%s', (_name, p, spec, want) => {
    const check = evaluateLocal(spec ?? sk, probe(p));
    expect(check.ok).toBe(want.ok);
    expect(check.missing.map((r) => r.raw)).toEqual(want.missing);
    expect(check.warnings).toHaveLength(want.warnings.length);
    want.warnings.forEach((w, i) => expect(check.warnings[i]).toMatch(w));
    const d = decideAuto(check, '/py/bin/python');
    expect(d.manager).toBe(want.auto);
    expect(d.reason).toMatch(want.reason);
  });

  it('the failure message names the interpreter, what is missing, the pip command and --env-manager virtualenv', () => {
    const check = evaluateLocal(sk, probe({ mlflow: undefined, mlflowError: 'ModuleNotFoundError: x', dists: { numpy: '2.4.6' } }));
    const msg = localFailureMessage('/venv/bin/python', '/models/m', check, '3.11.7');
    expect(msg).toContain('/venv/bin/python (Python 3.11.7) cannot run the model in /models/m: it lacks mlflow==3.17.2, scikit-learn==1.9.1 (mlflow itself is not installed).');
    expect(msg).toContain("Install them with:\n  /venv/bin/python -m pip install 'mlflow==3.17.2' 'scikit-learn==1.9.1'");
    expect(msg).toMatch(/Or pass --env-manager virtualenv to build an environment for this model instead\.$/);
    const broken: LocalCheck = { ok: false, missing: [], mismatched: [], unchecked: [], mlflowError: 'ImportError: bad', warnings: [] };
    expect(localFailureMessage('/p', '/m', broken)).toBe("/p cannot run the model in /m: it has mlflow installed, but 'import mlflow' fails: ImportError: bad.\nRepair it, or pass --env-manager virtualenv to build an environment for this model instead.");
  });

  it('the pip command quotes what a shell would otherwise change', () => {
    expect(pipFixCommand('/my python/bin/python', ['torch>=2; sys_platform == "linux"', "it's==1"].map(req))).toBe(
      `'/my python/bin/python' -m pip install 'torch>=2; sys_platform == "linux"' 'it'\\''s==1'`,
    );
  });

  it('warns about another Python major.minor; building says it uses the base interpreter', () => {
    expect(pythonVersionWarning('3.11.2', { executable: '/p', version: '3.11.7' })).toBeUndefined();
    expect(pythonVersionWarning(undefined, { executable: '/p', version: '3.11.7' })).toBeUndefined();
    expect(pythonVersionWarning('3.9.18', { executable: '/p', version: '3.11.7' }, true)).toMatch(/saved with Python 3\.9\.18; mlserve cannot install another Python \(mlflow would use pyenv\), so the environment is built with \/p \(Python 3\.11\.7\)/);
  });
});

describe("pip's output summarized", () => {
  it('one line when collecting starts, one when installing starts, one when done, with elapsed times', () => {
    const p = new PipProgress('pip', 0);
    const out = [
      ['Collecting mlflow==3.17.2 (from -r /m/requirements.txt (line 1))', 500],
      ['  Downloading mlflow-3.17.2-py3-none-any.whl (8.1 MB)', 900],
      ['Collecting numpy<3 (from mlflow==3.17.2)', 1000],
      ['Requirement already satisfied: pip in ./lib/python3.11/site-packages', 1100],
      ['Installing collected packages: numpy, mlflow', 16_500],
      ['Successfully installed mlflow-3.17.2 numpy-2.4.6', 65_000],
    ].map(([l, t]) => p.line(l as string, t as number)).filter((x) => x !== undefined);
    expect(out).toEqual([
      'pip: collecting mlflow==3.17.2 and its dependencies (0.5 s)',
      'pip: installing 2 packages (2 collected, 16.5 s)',
      'pip: installed 2 packages in 1 min 05 s',
    ]);
  });

  it("passes uv's summary lines through", () => {
    const p = new PipProgress('uv pip', 0);
    expect(p.line('Resolved 87 packages in 895ms', 900)).toBe('uv pip: Resolved 87 packages in 895ms (0.9 s)');
    expect(p.line('Bytecode compiled 10261 files in 20.00s', 24_000)).toBe('uv pip: Bytecode compiled 10261 files in 20.00s (24.0 s)');
    expect(p.line(' + numpy==2.4.6', 1000)).toBeUndefined();
  });

  it('the last lines: blank ones dropped', () => {
    expect(lastLines('a\n\nb\r\nc\n  \nd\n', 3)).toEqual(['b', 'c', 'd']);
  });

  it("uv gets pip's index, find-links, CA bundle and no-cache settings unless its own are set", () => {
    expect(uvEnv({ PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_NO_CACHE_DIR: '1', PIP_CERT: '/ca.pem', PIP_FIND_LINKS: '/w', UV_FIND_LINKS: '/mine', PATH: '/bin' })).toEqual({
      PIP_INDEX_URL: 'http://127.0.0.1:9/simple', UV_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_NO_CACHE_DIR: '1', UV_NO_CACHE: '1', PIP_CERT: '/ca.pem', SSL_CERT_FILE: '/ca.pem',
      PIP_FIND_LINKS: '/w', UV_FIND_LINKS: '/mine', PATH: '/bin',
    });
    expect(uvEnv({ PIP_NO_CACHE_DIR: 'false' }).UV_NO_CACHE).toBeUndefined();
  });
});

// The files MLflow itself writes, made with the pinned `pyfunc` env (scripts/pyenv.mjs).
describe("MLflow's own model files", () => {
  let out: string;
  let made: { mlflow: string; python: string; models: Record<string, string> };
  const read = (dir: string) => (rel: string) => {
    try {
      return readFileSync(join(dir, rel), 'utf8');
    } catch {
      return undefined;
    }
  };

  beforeAll(async () => {
    const python = await pythonEnv('pyfunc');
    out = mkdtempSync(join(tmpdir(), 'mlserve-envmodels-'));
    const r = spawnSync(python, [join(REPO, 'test', 'fixtures', 'python', 'make_env_models.py'), out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`make_env_models.py failed:\n${r.stderr.slice(-3000)}`);
    made = JSON.parse(r.stdout.trim().split('\n').pop()!);
  }, 300_000);

  afterAll(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('a scikit-learn model: python_env.yaml -> -r requirements.txt with what MLflow inferred', () => {
    const dir = made.models.sklearn;
    const spec = readModelEnvSpec(dir, read(dir));
    expect(spec.source).toBe('python_env.yaml');
    expect(spec.python).toBe(made.python);
    expect(spec.mlflowVersion).toBe(made.mlflow);
    expect(spec.buildDependencies.some((d) => d.startsWith('pip'))).toBe(true);
    expect(spec.installArgs).toEqual(['-r', join(dir, 'requirements.txt')]);
    expect(spec.files).toEqual([join(dir, 'requirements.txt')]);
    const names = spec.requirements.map((r) => r.name);
    expect(names).toEqual(expect.arrayContaining(['mlflow', 'scikit-learn', 'numpy']));
    expect(spec.requirements.find((r) => r.name === 'mlflow')?.specifier).toBe(`==${made.mlflow}`);
    expect(spec.requirements.every((r) => /^==\d/.test(r.specifier))).toBe(true);
  });

  it('a custom PythonModel with pip_requirements and a -c constraints file MLflow copied beside MLmodel', () => {
    const dir = made.models.constrained;
    const spec = readModelEnvSpec(dir, read(dir));
    expect(spec.requirements.map((r) => r.raw)).toEqual([`mlflow==${made.mlflow}`]);
    expect(spec.files).toEqual([join(dir, 'requirements.txt'), join(dir, 'constraints.txt')]);
    expect(spec.canonical).toContain('-c constraints.txt:');
    expect(spec.canonical).toContain('  numpy<3');
    const echo = readModelEnvSpec(made.models.echo, read(made.models.echo));
    expect(echo.requirements.map((r) => r.raw)).toEqual([`mlflow==${made.mlflow}`]);
    // The constraints file makes it another env than echo's, though both ask for the same mlflow.
    expect(envHash(echo, made.python, 'virtualenv')).not.toBe(envHash(spec, made.python, 'virtualenv'));
  });
});
