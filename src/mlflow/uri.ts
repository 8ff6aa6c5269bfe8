// Model source and tracking URIs as MLflow spells them, parsed into plain values.
// PURE: no I/O here (path resolution is string work only).

import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MlserveError } from '../errors.js';

interface RegistryBase {
  kind: 'registry';
  name: string;
  /** Artifact sub-path after the version part: `models:/Name/1/sub/path` -> `sub/path`. */
  subPath?: string;
}
export interface RegistryVersionRef extends RegistryBase { version: string; stage?: never; latest?: never; alias?: never }
export interface RegistryStageRef extends RegistryBase { stage: string; version?: never; latest?: never; alias?: never }
export interface RegistryLatestRef extends RegistryBase { latest: true; version?: never; stage?: never; alias?: never }
export interface RegistryAliasRef extends RegistryBase { alias: string; version?: never; stage?: never; latest?: never }

/** `models:/Name/3`, `models:/Name/Production`, `models:/Name/latest`, `models:/Name@alias`. */
export type RegistrySource = RegistryVersionRef | RegistryStageRef | RegistryLatestRef | RegistryAliasRef;

/** `models:/m-<hex>`: an MLflow 3 LoggedModel. */
export interface LoggedModelSource { kind: 'logged-model'; modelId: string; subPath?: string }
/** `runs:/<run_id>/<artifact path>` (path may be '' for the run's artifact root). */
export interface RunSource { kind: 'run'; runId: string; path: string }
/** A local `.onnx` file or model directory (from a plain path or a `file://` URI). */
export interface PathSource { kind: 'path'; path: string }

export type ModelSource = RegistrySource | LoggedModelSource | RunSource | PathSource;

export type TrackingStore = { kind: 'file'; root: string } | { kind: 'rest'; url: string };

export const ACCEPTED_SOURCE_FORMS = [
  'models:/<name>/<version>',
  'models:/<name>/<stage>',
  'models:/<name>/latest',
  'models:/<name>@<alias>',
  'models:/m-<model id>',
  'runs:/<run id>/<artifact path>',
  'a local .onnx file or MLflow model directory (or a file:// URI)',
];

function malformed(s: string, why: string): MlserveError {
  return new MlserveError(
    'MODEL_SOURCE',
    `malformed model source '${s}': ${why}. Accepted forms: ${ACCEPTED_SOURCE_FORMS.join(', ')}`,
  );
}

/** Schemes that name remote artifact stores: never a local path. */
const REMOTE_SCHEMES = new Set([
  'mlflow-artifacts', 's3', 'r2', 'gs', 'wasbs', 'abfss', 'ftp', 'sftp', 'dbfs', 'hdfs', 'viewfs', 'http', 'https',
]);

/** The URI scheme of `s` (lowercased), or undefined. One-letter "schemes" are Windows drives, not schemes. */
export function uriScheme(s: string): string | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(s);
  return m ? m[1].toLowerCase() : undefined;
}

/** `file:///abs`, `file:/abs`, `file://localhost/abs` or `file:relative` -> a filesystem path. */
export function fileUriToPath(uri: string): string {
  const rest = uri.slice('file:'.length);
  if (!rest.startsWith('/')) return decodeURIComponent(rest);
  try {
    return fileURLToPath(uri);
  } catch (err) {
    throw new MlserveError('MODEL_SOURCE', `cannot turn '${uri}' into a local path: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

const normalizeVersion = (v: string) => v.replace(/^0+(?=\d)/, '');

function splitSubPath(parts: string[], s: string): string | undefined {
  if (parts.length === 0) return undefined;
  if (parts.some((p) => p === '..')) throw malformed(s, "'..' is not allowed in an artifact sub-path");
  const sub = parts.filter((p) => p !== '' && p !== '.').join('/');
  return sub === '' ? undefined : sub;
}

function parseModelsUri(s: string): RegistrySource | LoggedModelSource {
  let rest = s.slice('models:'.length);
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    throw malformed(s, 'models://<profile>@<host>/... (Databricks profiles) is not supported');
  }
  if (rest.startsWith('///')) rest = rest.slice(2);
  if (!rest.startsWith('/') || rest.length <= 1) throw malformed(s, "expected 'models:/' followed by a model");
  const parts = rest.slice(1).split('/');
  const head = parts[0];
  if (head === '') throw malformed(s, 'the model name is empty');

  const at = head.lastIndexOf('@');
  if (at >= 0) {
    const name = head.slice(0, at);
    const alias = head.slice(at + 1);
    if (name === '' || alias === '') throw malformed(s, "expected 'models:/<name>@<alias>'");
    const subPath = splitSubPath(parts.slice(1), s);
    return subPath ? { kind: 'registry', name, alias, subPath } : { kind: 'registry', name, alias };
  }

  if (parts.length === 1) {
    if (/^m-[0-9a-fA-F]+$/.test(head)) return { kind: 'logged-model', modelId: head };
    throw malformed(s, `'${head}' needs a version, stage, 'latest' or '@alias' (e.g. models:/${head}/1)`);
  }

  const name = head;
  const suffix = parts[1];
  if (suffix === '') throw malformed(s, 'the version or stage after the model name is empty');
  const subPath = splitSubPath(parts.slice(2), s);
  const withSub = <T extends RegistrySource>(ref: T): T => (subPath ? { ...ref, subPath } : ref);
  if (/^\d+$/.test(suffix)) return withSub({ kind: 'registry', name, version: normalizeVersion(suffix) });
  if (suffix.toLowerCase() === 'latest') return withSub({ kind: 'registry', name, latest: true });
  return withSub({ kind: 'registry', name, stage: suffix });
}

function parseRunsUri(s: string): RunSource {
  let rest = s.slice('runs:'.length);
  if (rest.startsWith('//') && !rest.startsWith('///')) throw malformed(s, "expected 'runs:/<run id>/<artifact path>'");
  if (rest.startsWith('///')) rest = rest.slice(2);
  if (!rest.startsWith('/')) throw malformed(s, "expected 'runs:/<run id>/<artifact path>'");
  const [runId, ...pathParts] = rest.slice(1).split('/');
  if (!runId) throw malformed(s, 'the run id is empty');
  return { kind: 'run', runId, path: splitSubPath(pathParts, s) ?? '' };
}

/** Parse what a user passes as a model: a registry URI, a run URI, or a local path. */
export function parseModelSource(s: string): ModelSource {
  const src = s.trim();
  if (src === '') throw malformed(s, 'it is empty');
  const scheme = uriScheme(src);
  if (scheme === 'models') return parseModelsUri(src);
  if (scheme === 'runs') return parseRunsUri(src);
  if (scheme === 'file') return { kind: 'path', path: fileUriToPath(src) };
  if (scheme && (REMOTE_SCHEMES.has(scheme) || src.slice(scheme.length + 1).startsWith('//'))) {
    throw new MlserveError(
      'MODEL_SOURCE',
      `model source '${s}' uses the ${scheme}: scheme, which mlserve cannot read directly. ` +
        `Register the model and deploy it by registry URI. Accepted forms: ${ACCEPTED_SOURCE_FORMS.join(', ')}`,
    );
  }
  return { kind: 'path', path: src };
}

const UNSUPPORTED_TRACKING_HINT =
  'mlserve reads a local MLflow file store (a path or file:///abs/mlruns) or an MLflow tracking server ' +
  '(http://host:port or https://...)';

/**
 * Where the registry lives, like MLFLOW_TRACKING_URI. Undefined or empty means `./mlruns` under `cwd`
 * (MLflow's file-store default).
 */
export function parseTrackingUri(uri: string | undefined, cwd: string = process.cwd()): TrackingStore {
  const u = uri?.trim() ?? '';
  if (u === '') return { kind: 'file', root: path.resolve(cwd, 'mlruns') };
  // MLflow treats these bare words as Databricks targets, not folder names.
  const scheme = /^(databricks|databricks-uc|uc)$/i.test(u) ? u.toLowerCase() : uriScheme(u);
  if (scheme === undefined) return { kind: 'file', root: path.resolve(cwd, u) };
  if (scheme === 'file') return { kind: 'file', root: path.resolve(cwd, fileUriToPath(u)) };
  if (scheme === 'http' || scheme === 'https') {
    try {
      new URL(u);
    } catch {
      throw new MlserveError('MODEL_SOURCE', `tracking URI '${u}' is not a valid URL`);
    }
    return { kind: 'rest', url: u.replace(/\/+$/, '') };
  }
  const dbHint = ['sqlite', 'postgresql', 'postgres', 'mysql', 'mssql'].some((p) => scheme.startsWith(p))
    ? ` For a database backend, run \`mlflow server --backend-store-uri ${u}\` and point mlserve at it ` +
      '(e.g. MLFLOW_TRACKING_URI=http://127.0.0.1:5000).'
    : scheme.startsWith('databricks') || scheme === 'uc'
      ? ' Databricks workspaces and Unity Catalog are not supported.'
      : '';
  throw new MlserveError('MODEL_SOURCE', `tracking URI '${u}' is not supported: ${UNSUPPORTED_TRACKING_HINT}.${dbHint}`);
}

/** Lowercase, with characters outside [a-z0-9._-] replaced by '-'. */
export function sanitizeEndpointName(s: string): string {
  const out = s.toLowerCase().replace(/[^a-z0-9._-]/g, '-');
  return out === '' ? 'model' : out;
}

/** The endpoint name a source gets when the user gives none. */
export function defaultEndpointName(source: ModelSource): string {
  switch (source.kind) {
    case 'registry': return sanitizeEndpointName(source.name);
    case 'logged-model': return sanitizeEndpointName(source.modelId);
    case 'run': {
      const leaf = source.path.split('/').filter(Boolean).pop() ?? 'model';
      return sanitizeEndpointName(`${leaf}-${source.runId.slice(0, 8)}`);
    }
    case 'path': {
      let base = path.basename(source.path.replace(/[\\/]+$/, ''));
      if (base === 'MLmodel') base = path.basename(path.dirname(source.path));
      return sanitizeEndpointName(base.replace(/\.(onnx|gguf)$/i, ''));
    }
  }
}
