// What Python environment an MLflow model asks for, read from the files MLflow writes beside MLmodel:
// python_env.yaml (python version, build_dependencies, dependencies — usually `-r requirements.txt`),
// requirements.txt, and for older models conda.yaml (its `pip:` list). Pure: files come through a
// reader the caller supplies, so tests feed text directly.
//
// Precedence, as `mlflow models serve --env-manager virtualenv` uses them:
//   1. python_env.yaml (the name MLmodel's python_function.env.virtualenv gives, else python_env.yaml)
//   2. conda.yaml: python=X.Y.Z and the pip list (plus pip/setuptools/wheel as build dependencies)
//   3. requirements.txt alone
//   4. nothing: `mlflow==<MLmodel's mlflow_version>` (or just `mlflow` when MLmodel does not say)
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';

/** One requirement as pip reads it (a line of a requirements file, a dependency of python_env.yaml). */
export interface Requirement {
  /** The line as written (comments, continuations and `--hash` options removed). */
  raw: string;
  /** The distribution name, normalized (PEP 503: lower case, runs of -_. as '-'); undefined for a URL or path. */
  name?: string;
  /** The version specifier, e.g. '==1.9.1' or '>=1,<2' (empty when none). */
  specifier: string;
  /** The PEP 508 environment marker after ';' (empty when none). */
  marker: string;
}

export interface ModelEnvSpec {
  /** Where the spec came from. */
  source: 'python_env.yaml' | 'conda.yaml' | 'requirements.txt' | 'MLmodel';
  /** The Python version the model was saved with (python_env.yaml / conda.yaml / MLmodel), if known. */
  python?: string;
  /** Installed first, on their own (pip, setuptools, wheel as MLflow pins them). */
  buildDependencies: string[];
  /** pip install arguments for the dependencies, `-r`/`-c` files as absolute paths under the model dir. */
  installArgs: string[];
  /** Every requirement the model asked for, `-r` files followed (constraints are not requirements). */
  requirements: Requirement[];
  /** The requirement files installArgs reads (absolute), named in error messages. */
  files: string[];
  /** Everything that decides what gets installed, canonical (comments, blank lines, order of files gone). */
  canonical: string[];
  /** MLmodel's mlflow_version, if any. */
  mlflowVersion?: string;
}

/** Reads a file of the model directory by its relative name; undefined when it does not exist. */
export type ModelFileReader = (relName: string) => string | undefined;

/** PEP 503 normalization: `Scikit_Learn` -> `scikit-learn`. */
export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * The logical lines of a requirements file: backslash continuations joined, comments (`#` at the
 * start or after whitespace) and blank lines dropped, trimmed.
 */
export function logicalLines(text: string): string[] {
  const joined = text.replace(/\r\n?/g, '\n').replace(/\\\n/g, ''); // pip joins continuations as is
  const out: string[] = [];
  for (const line of joined.split('\n')) {
    const stripped = line.replace(/(^|\s)#.*$/, '').trim();
    if (stripped) out.push(stripped);
  }
  return out;
}

export type ReqLine =
  | { kind: 'requirement'; req: Requirement }
  | { kind: 'include'; file: string } // -r / --requirement
  | { kind: 'constraint'; file: string } // -c / --constraint
  | { kind: 'option'; raw: string }; // --index-url, --extra-index-url, -f, --pre, -e ... (pip handles them)

const NAME_RE = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*(.*)$/;

/** One logical line of a requirements file (see logicalLines). */
export function parseRequirementLine(line: string): ReqLine {
  const opt = /^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=^-[rc]))(\S.*)$/.exec(line);
  if (opt) {
    const file = opt[2].trim();
    return opt[1] === '-r' || opt[1] === '--requirement' ? { kind: 'include', file } : { kind: 'constraint', file };
  }
  if (line.startsWith('-')) return { kind: 'option', raw: line };
  // Per-requirement options (--hash=..., --config-settings ...) are pip's business, not part of the requirement.
  const raw = line.replace(/\s+--?[A-Za-z].*$/, '').trim();
  const [body, ...markerParts] = raw.split(';');
  const marker = markerParts.join(';').trim();
  const m = NAME_RE.exec(body.trim());
  // `name @ url`: named, but no version to compare.
  if (m && m[3].trim().startsWith('@')) return { kind: 'requirement', req: { raw, name: normalizeName(m[1]), specifier: '', marker } };
  const looksLikePath = /^(\.|\/|~|[A-Za-z][A-Za-z0-9+.-]*:\/\/|git\+)/.test(body) || /\.(whl|zip|tar\.gz|tgz)$/i.test(body.trim());
  if (!m || looksLikePath) return { kind: 'requirement', req: { raw, specifier: '', marker } };
  const specifier = m[3].trim().replace(/^\((.*)\)$/, '$1').replace(/\s+/g, '');
  return { kind: 'requirement', req: { raw, name: normalizeName(m[1]), specifier, marker } };
}

/** A relative file name inside the model directory (no absolute paths, no `..` escapes). */
function insideModel(rel: string): string | undefined {
  const parts = rel.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  if (rel.startsWith('/') || parts.includes('..') || parts.length === 0) return undefined;
  return parts.join('/');
}

export class ModelEnvError extends Error {}

interface Expanded {
  requirements: Requirement[];
  canonical: string[];
  files: string[];
}

/**
 * Follow a requirements file's `-r` includes (relative to the model dir, as MLflow writes them), collect
 * its requirements; `-c` constraint files count for the canonical form but add no requirement.
 */
export function expandRequirementLines(lines: string[], read: ModelFileReader, seen: Set<string> = new Set()): Expanded {
  const out: Expanded = { requirements: [], canonical: [], files: [] };
  for (const line of lines) {
    const p = parseRequirementLine(line);
    if (p.kind === 'requirement') {
      out.requirements.push(p.req);
      out.canonical.push(p.req.raw);
    } else if (p.kind === 'option') out.canonical.push(p.raw);
    else {
      const rel = insideModel(p.file);
      if (!rel) throw new ModelEnvError(`'${line}' names a file outside the model directory; only files beside MLmodel are read`);
      const text = read(rel);
      if (text === undefined) throw new ModelEnvError(`'${line}' names ${rel}, which is not in the model directory`);
      if (!out.files.includes(rel)) out.files.push(rel);
      if (p.kind === 'constraint') {
        out.canonical.push(`-c ${rel}:`, ...logicalLines(text).map((l) => `  ${l}`));
        continue;
      }
      if (seen.has(rel)) continue; // an include cycle: pip would loop; once is enough
      seen.add(rel);
      const sub = expandRequirementLines(logicalLines(text), read, seen);
      out.requirements.push(...sub.requirements);
      out.canonical.push(...sub.canonical);
      for (const f of sub.files) if (!out.files.includes(f)) out.files.push(f);
    }
  }
  return out;
}

/** pip install arguments for dependency lines: `-r`/`-c` files made absolute, everything else as is. */
export function installArgsFor(lines: string[], modelDir: string): string[] {
  const args: string[] = [];
  for (const line of lines) {
    const p = parseRequirementLine(line);
    if (p.kind === 'include' || p.kind === 'constraint') args.push(p.kind === 'include' ? '-r' : '-c', `${modelDir}/${insideModel(p.file)}`);
    else if (p.kind === 'requirement') args.push(p.req.raw);
    else {
      const m = /^(-{1,2}[A-Za-z][\w-]*)(?:\s*=\s*|\s+)?(.*)$/.exec(p.raw);
      if (m) args.push(m[1], ...(m[2] ? [m[2]] : []));
    }
  }
  return args;
}

function stringList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ModelEnvError(`${what} must be a list of strings`);
  return v.map((x) => String(x).trim()).filter((x) => x !== '');
}

/** python_env.yaml as MLflow writes it. Scalars stay strings (so `python: 3.10` is not 3.1). */
export function parsePythonEnvYaml(text: string): { python?: string; buildDependencies: string[]; dependencies: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (e) {
    throw new ModelEnvError(`python_env.yaml is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ModelEnvError('python_env.yaml must be a mapping (python, build_dependencies, dependencies)');
  const d = doc as Record<string, unknown>;
  const python = typeof d.python === 'string' && d.python.trim() ? d.python.trim() : undefined;
  return { python, buildDependencies: stringList(d.build_dependencies, 'python_env.yaml build_dependencies'), dependencies: stringList(d.dependencies, 'python_env.yaml dependencies') };
}

/** conda.yaml's Python version, its pip list, and pip/setuptools/wheel as pip build dependencies. */
export function parseCondaYaml(text: string): { python?: string; buildDependencies: string[]; dependencies: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (e) {
    throw new ModelEnvError(`conda.yaml is not valid YAML: ${(e as Error).message}`);
  }
  const deps = doc && typeof doc === 'object' && Array.isArray((doc as { dependencies?: unknown }).dependencies) ? (doc as { dependencies: unknown[] }).dependencies : [];
  let python: string | undefined;
  const build: string[] = [];
  let pip: string[] = [];
  for (const d of deps) {
    if (typeof d === 'string') {
      const m = /^([A-Za-z0-9_.-]+)\s*(.*)$/.exec(d.trim());
      if (!m) continue;
      const name = m[1].toLowerCase();
      // conda's `x=1.2` means "1.2.*"-ish; pip's spelling is `x==1.2`. Other operators mean the same in both.
      const spec = m[2].replace(/^=(?!=)/, '==').replace(/\s+/g, '');
      if (name === 'python') python = spec.replace(/^==?/, '') || undefined;
      else if (name === 'pip' || name === 'setuptools' || name === 'wheel') build.push(`${name}${spec}`);
    } else if (d && typeof d === 'object' && Array.isArray((d as { pip?: unknown }).pip)) {
      pip = stringList((d as { pip: unknown }).pip, 'conda.yaml pip dependencies');
    }
  }
  return { python, buildDependencies: build, dependencies: pip };
}

/** The fields of MLmodel this module uses. */
export function parseMlmodel(text: string): { mlflowVersion?: string; pythonVersion?: string; virtualenvFile?: string; condaFile?: string } {
  let doc: unknown;
  try {
    doc = parseYaml(text, { schema: 'failsafe' });
  } catch (e) {
    throw new ModelEnvError(`MLmodel is not valid YAML: ${(e as Error).message}`);
  }
  const d = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const flavors = (d.flavors && typeof d.flavors === 'object' ? d.flavors : {}) as Record<string, unknown>;
  const pyfunc = (flavors.python_function && typeof flavors.python_function === 'object' ? flavors.python_function : {}) as Record<string, unknown>;
  const env = pyfunc.env;
  const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  let virtualenvFile: string | undefined;
  let condaFile: string | undefined;
  if (env && typeof env === 'object') {
    virtualenvFile = str((env as Record<string, unknown>).virtualenv);
    condaFile = str((env as Record<string, unknown>).conda);
  } else condaFile = str(env); // MLflow 1.x: `env: conda.yaml`
  return { mlflowVersion: str(d.mlflow_version), pythonVersion: str(pyfunc.python_version), virtualenvFile, condaFile };
}

/**
 * What environment the model in `modelDir` asks for. `read` reads files of that directory by relative
 * name; MLmodel must exist. Throws ModelEnvError for a file that cannot be used.
 */
export function readModelEnvSpec(modelDir: string, read: ModelFileReader): ModelEnvSpec {
  const mlmodelText = read('MLmodel');
  if (mlmodelText === undefined) throw new ModelEnvError(`${modelDir} has no MLmodel file: not an MLflow model directory`);
  const mlmodel = parseMlmodel(mlmodelText);
  const pyEnvName = (mlmodel.virtualenvFile && insideModel(mlmodel.virtualenvFile)) ?? 'python_env.yaml';
  const condaName = (mlmodel.condaFile && insideModel(mlmodel.condaFile)) ?? 'conda.yaml';
  let source: ModelEnvSpec['source'];
  let parsed: { python?: string; buildDependencies: string[]; dependencies: string[] };
  const pyEnvText = read(pyEnvName);
  const reqText = read('requirements.txt');
  const condaText = read(condaName);
  if (pyEnvText !== undefined) {
    source = 'python_env.yaml';
    parsed = parsePythonEnvYaml(pyEnvText);
  } else if (reqText !== undefined) {
    source = 'requirements.txt';
    parsed = { python: mlmodel.pythonVersion, buildDependencies: [], dependencies: ['-r requirements.txt'] };
  } else if (condaText !== undefined) {
    source = 'conda.yaml';
    parsed = parseCondaYaml(condaText);
  } else {
    source = 'MLmodel';
    parsed = { python: mlmodel.pythonVersion, buildDependencies: [], dependencies: [mlmodel.mlflowVersion ? `mlflow==${mlmodel.mlflowVersion}` : 'mlflow'] };
  }
  const deps = parsed.dependencies.flatMap((d) => logicalLines(d));
  const expanded = expandRequirementLines(deps, read);
  const build = parsed.buildDependencies.flatMap((d) => logicalLines(d));
  const installArgs = installArgsFor(deps, modelDir);
  const canonical = [...build.map((b) => `build: ${b}`), ...expanded.canonical];
  // A replica needs mlflow even when the model's requirements leave it out (they rarely do: MLflow
  // adds itself); the version that saved the model is the best guess.
  if (!expanded.requirements.some((r) => r.name === 'mlflow' || r.name === 'mlflow-skinny')) {
    const implicit = mlmodel.mlflowVersion ? `mlflow==${mlmodel.mlflowVersion}` : 'mlflow';
    installArgs.push(implicit);
    canonical.push(`implicit: ${implicit}`);
  }
  return {
    source,
    python: parsed.python ?? mlmodel.pythonVersion,
    buildDependencies: build,
    installArgs,
    requirements: expanded.requirements,
    files: expanded.files.map((f) => `${modelDir}/${f}`),
    canonical,
    mlflowVersion: mlmodel.mlflowVersion,
  };
}

export type EnvManager = 'local' | 'virtualenv' | 'uv';

/** 'X.Y' of a version string like '3.11.7' (undefined when it has no minor). */
export function majorMinor(version: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/**
 * The env folder's name: the first 16 hex digits of sha256 over what gets installed (build
 * dependencies, requirements with their -r/-c files inlined), the base interpreter's major.minor
 * and the manager. Comments, blank lines and the model's patch Python version do not count, so
 * models saved with the same requirements share one env.
 */
export function envHash(spec: Pick<ModelEnvSpec, 'canonical'>, basePython: string, manager: Exclude<EnvManager, 'local'>): string {
  const key = JSON.stringify({ v: 1, python: majorMinor(basePython) ?? basePython, manager, install: spec.canonical });
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
