// The decisions about a Python environment, pure: does an interpreter (as its probe described it)
// have what a model asks for, which manager auto picks and why, the messages that say so, pip's
// output summarized into progress lines, and uv's environment from pip's.
import type { EnvManager, ModelEnvSpec, Requirement } from './python-env-spec.js';
import { majorMinor } from './python-env-spec.js';

/** What PROBE_SCRIPT (python-env.ts) prints about an interpreter. */
export interface PythonProbe {
  /** sys.executable: absolute. */
  executable: string;
  /** platform.python_version(), e.g. '3.11.7'. */
  version: string;
  implementation: string;
  /** mlflow.__version__ when `import mlflow` worked (only probed when asked). */
  mlflow?: string;
  /** `Type: message` of the exception `import mlflow` raised. */
  mlflowError?: string;
  /** importlib.metadata.version(name) per distribution asked about; null when not installed. */
  dists: Record<string, string | null>;
  /** Each marker asked about: evaluated (packaging.markers), null when it could not be. */
  markers: Record<string, boolean | null>;
}

export interface LocalCheck {
  /** mlflow imports and no requirement is missing (version mismatches are only warnings). */
  ok: boolean;
  missing: Requirement[];
  mismatched: Array<{ req: Requirement; installed: string }>;
  /** URL or path requirements: no distribution name to look up. */
  unchecked: Requirement[];
  mlflowError?: string;
  warnings: string[];
}

/** mlflow and its split packages: a different version of these still loads the model. */
const MLFLOW_FAMILY = new Set(['mlflow', 'mlflow-skinny', 'mlflow-tracing']);

interface Pep440 {
  epoch: number;
  release: number[];
  rest: string;
  local: string;
}

function parseVersion(v: string): Pep440 | undefined {
  const m = /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)([^+]*)(?:\+(.*))?\s*$/i.exec(v);
  if (!m) return undefined;
  const rest = m[3]
    .toLowerCase()
    .replace(/alpha/g, 'a')
    .replace(/beta/g, 'b')
    .replace(/(?:preview|pre|c)(?=\d|$)/g, 'rc')
    .replace(/[-_.]/g, '');
  return { epoch: Number(m[1] ?? 0), release: m[2].split('.').map(Number), rest, local: (m[4] ?? '').toLowerCase().replace(/[-_]/g, '.') };
}

function releaseEqual(a: number[], b: number[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return false;
  return true;
}

/**
 * Whether `installed` satisfies the `==`/`===` clauses of `specifier` (PEP 440: `==1.9` matches
 * 1.9.0, `==1.9.*` any 1.9.x, a pin without a local label matches 2.1.0+cpu). Other clauses
 * (>=, ~=, !=, <) are not compared: true.
 */
export function pinSatisfied(specifier: string, installed: string): boolean {
  for (const clause of specifier.split(',').map((c) => c.trim())) {
    if (clause.startsWith('===')) {
      if (clause.slice(3).trim() !== installed.trim()) return false;
      continue;
    }
    if (!clause.startsWith('==')) continue;
    const want = clause.slice(2).trim();
    const have = parseVersion(installed);
    if (want.endsWith('.*')) {
      const w = parseVersion(want.slice(0, -2));
      if (!w || !have || w.epoch !== have.epoch || !releaseEqual(w.release, have.release.slice(0, w.release.length))) return false;
      continue;
    }
    const w = parseVersion(want);
    if (!w || !have) {
      if (want !== installed.trim()) return false;
      continue;
    }
    if (w.epoch !== have.epoch || !releaseEqual(w.release, have.release) || w.rest !== have.rest) return false;
    if (w.local && w.local !== have.local) return false;
  }
  return true;
}

/** The requirement's exact pin, if it has one ('1.9.1' for '==1.9.1'). */
export function pinOf(req: Requirement): string | undefined {
  return /(?:^|,)===?([^,*]+)(?:,|$)/.exec(req.specifier)?.[1];
}

/** The distributions and markers a probe must look up for this spec. */
export function probeQuestions(spec: Pick<ModelEnvSpec, 'requirements'>): { dists: string[]; markers: string[] } {
  const dists = new Set<string>(['mlflow']);
  const markers = new Set<string>();
  for (const r of spec.requirements) {
    if (r.name) dists.add(r.name);
    if (r.marker) markers.add(r.marker);
  }
  return { dists: [...dists], markers: [...markers] };
}

/** Does the probed interpreter have what the model asks for? */
export function evaluateLocal(spec: Pick<ModelEnvSpec, 'requirements' | 'python' | 'mlflowVersion'>, probe: PythonProbe): LocalCheck {
  const missing: Requirement[] = [];
  const mismatched: LocalCheck['mismatched'] = [];
  const unchecked: Requirement[] = [];
  const warnings: string[] = [];
  const applies = spec.requirements.filter((r) => !r.marker || probe.markers[r.marker] !== false);
  for (const r of applies) {
    if (!r.name) {
      unchecked.push(r);
      continue;
    }
    const have = probe.dists[r.name];
    if (have === null || have === undefined) {
      if (!missing.some((m) => m.name === r.name)) missing.push(r);
    } else if (!pinSatisfied(r.specifier, have)) mismatched.push({ req: r, installed: have });
  }
  let mlflowError: string | undefined;
  if (probe.mlflow === undefined) {
    mlflowError = probe.mlflowError ?? 'mlflow was not imported';
    // Not installed at all (a broken install is reported as such, not as missing).
    if (!probe.dists.mlflow && !missing.some((m) => m.name === 'mlflow')) {
      const asked = applies.find((r) => r.name === 'mlflow');
      const pin = spec.mlflowVersion ? `==${spec.mlflowVersion}` : '';
      missing.unshift(asked ?? { raw: `mlflow${pin}`, name: 'mlflow', specifier: pin, marker: '' });
    }
  }
  for (const { req, installed } of mismatched) warnings.push(`${probe.executable} has ${req.name} ${installed}; the model asks for ${req.raw}`);
  for (const r of unchecked) warnings.push(`cannot check '${r.raw}' in ${probe.executable} (a URL or path, not a distribution name)`);
  const pv = pythonVersionWarning(spec.python, probe);
  if (pv) warnings.push(pv);
  return { ok: missing.length === 0 && mlflowError === undefined, missing, mismatched, unchecked, mlflowError, warnings };
}

/** A warning when the model was saved with another Python major.minor than the interpreter's. */
export function pythonVersionWarning(wanted: string | undefined, probe: Pick<PythonProbe, 'executable' | 'version'>, building = false): string | undefined {
  const want = majorMinor(wanted);
  const have = majorMinor(probe.version);
  if (!want || !have || want === have) return undefined;
  return building
    ? `the model was saved with Python ${wanted}; mlserve cannot install another Python (mlflow would use pyenv), so the environment is built with ${probe.executable} (Python ${probe.version})`
    : `the model was saved with Python ${wanted}; ${probe.executable} is Python ${probe.version}`;
}

function names(reqs: Requirement[], max = 4): string {
  const shown = reqs.slice(0, max).map((r) => r.raw);
  return reqs.length > max ? `${shown.join(', ')} and ${reqs.length - max} more` : shown.join(', ');
}

/** Auto: 'local' when the local interpreter has what the model needs, else 'virtualenv'; and why. */
export function decideAuto(check: LocalCheck, python: string): { manager: Extract<EnvManager, 'local' | 'virtualenv'>; reason: string } {
  if (check.mlflowError !== undefined) return { manager: 'virtualenv', reason: `${python} cannot import mlflow (${check.mlflowError})` };
  if (check.missing.length > 0) return { manager: 'virtualenv', reason: `${python} lacks ${names(check.missing)}` };
  // An exact pin the local interpreter does not meet (a pickled scikit-learn model wants its own
  // version); mlflow's own version is not one of them: it loads models saved by other versions.
  const off = check.mismatched.filter((m) => !MLFLOW_FAMILY.has(m.req.name ?? ''));
  if (off.length > 0) {
    const list = off.slice(0, 3).map((m) => `${m.req.name} ${m.installed} (model: ${m.req.raw})`).join(', ');
    return { manager: 'virtualenv', reason: `${python} has other versions than the model pins: ${list}${off.length > 3 ? ` and ${off.length - 3} more` : ''}` };
  }
  return { manager: 'local', reason: `${python} has mlflow and every requirement of the model` };
}

/** A word for a shell: as is when safe, else single-quoted. */
export function shellQuote(s: string, always = false): string {
  if (!always && /^[A-Za-z0-9_/.,:@%+=-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The pip command that installs what `check` found missing. */
export function pipFixCommand(python: string, missing: Requirement[]): string {
  return [shellQuote(python), '-m', 'pip', 'install', ...missing.map((r) => shellQuote(r.raw, true))].join(' ');
}

/** The message of the error thrown when --env-manager local finds the interpreter lacking. */
export function localFailureMessage(python: string, modelDir: string, check: LocalCheck, version?: string): string {
  const who = version ? `${python} (Python ${version})` : python;
  const lines: string[] = [];
  const mlflowMissing = check.missing.some((m) => m.name === 'mlflow');
  if (check.missing.length > 0) {
    const list = check.missing.map((r) => r.raw).join(', ');
    lines.push(`${who} cannot run the model in ${modelDir}: it lacks ${list}${mlflowMissing ? ' (mlflow itself is not installed)' : ''}.`);
  }
  if (check.mlflowError !== undefined && !mlflowMissing) {
    const lead = check.missing.length > 0 ? `It has mlflow installed` : `${who} cannot run the model in ${modelDir}: it has mlflow installed`;
    lines.push(`${lead}, but 'import mlflow' fails: ${check.mlflowError}.`);
  }
  if (check.missing.length > 0) lines.push(`Install ${check.missing.length === 1 ? 'it' : 'them'} with:\n  ${pipFixCommand(python, check.missing)}`);
  lines.push(`${check.missing.length > 0 ? 'Or' : 'Repair it, or'} pass --env-manager virtualenv to build an environment for this model instead.`);
  return lines.join('\n');
}

/** Seconds for progress lines: '0.4 s', '12.3 s', '2 min 05 s'. */
export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
}

/**
 * pip's (or uv's) output summarized: one progress line when collecting starts, one when installing
 * starts, one when it is done, each with the time since `start`. Time comes in as an argument.
 */
export class PipProgress {
  private collected = 0;
  private phase: 'start' | 'collecting' | 'installing' | 'done' = 'start';

  constructor(private readonly label: string, private readonly start: number) {}

  line(text: string, now: number): string | undefined {
    const t = text.trim();
    const at = formatSeconds(now - this.start);
    let m: RegExpExecArray | null;
    if ((m = /^Collecting (\S+)/.exec(t))) {
      this.collected++;
      if (this.phase !== 'start') return undefined;
      this.phase = 'collecting';
      return `${this.label}: collecting ${m[1]} and its dependencies (${at})`;
    }
    if ((m = /^Installing collected packages: (.*)$/.exec(t))) {
      if (this.phase === 'installing') return undefined;
      this.phase = 'installing';
      const n = m[1].split(',').filter((x) => x.trim() !== '').length;
      return `${this.label}: installing ${n} package${n === 1 ? '' : 's'} (${this.collected} collected, ${at})`;
    }
    if ((m = /^Successfully installed (.*)$/.exec(t))) {
      this.phase = 'done';
      const n = m[1].split(/\s+/).filter((x) => x !== '').length;
      return `${this.label}: installed ${n} package${n === 1 ? '' : 's'} in ${at}`;
    }
    // uv's own summary lines are already one per phase.
    if (/^(Resolved|Prepared|Installed|Uninstalled|Audited) \d+ packages? in |Bytecode compiled \d+ files? in /.test(t)) return `${this.label}: ${t} (${at})`;
    return undefined;
  }
}

/** The last `n` non-blank lines of some output. */
export function lastLines(text: string, n: number): string[] {
  return text.split(/\r?\n|\r/).map((l) => l.trimEnd()).filter((l) => l.trim() !== '').slice(-n);
}

/**
 * uv's environment: uv does not read pip's variables, so the common ones are translated when the uv
 * one is not set (index URLs, find-links, the CA bundle, no-cache).
 */
export function uvEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  const map: Array<[string, string]> = [
    ['PIP_INDEX_URL', 'UV_INDEX_URL'],
    ['PIP_EXTRA_INDEX_URL', 'UV_EXTRA_INDEX_URL'],
    ['PIP_FIND_LINKS', 'UV_FIND_LINKS'],
    ['PIP_CERT', 'SSL_CERT_FILE'],
    ['PIP_TRUSTED_HOST', 'UV_INSECURE_HOST'],
  ];
  for (const [pip, uv] of map) if (env[pip] && !env[uv]) out[uv] = env[pip];
  const noCache = env.PIP_NO_CACHE_DIR;
  if (noCache && !/^(0|false|no|off)$/i.test(noCache) && !env.UV_NO_CACHE) out.UV_NO_CACHE = '1';
  return out;
}
