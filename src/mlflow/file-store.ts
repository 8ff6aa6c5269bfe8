// Resolve registry URIs against a local MLflow *file store* (`mlruns/`), the way MLflow's own
// FileStore does (mlflow/store/model_registry/file_store.py), plus `runs:/` and `models:/m-…`
// artifact locations. Stores copied from another machine are resolved by their relative layout.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MlserveError } from '../errors.js';
import { fileUriToPath, parseModelSource, uriScheme, type RegistrySource } from './uri.js';

export interface FileModelVersion {
  name: string;
  version: string;
  /** current_stage as recorded: None, Staging, Production or Archived. */
  stage: string;
  runId?: string;
  /** The version's `source` exactly as recorded (may point at another machine). */
  source: string;
  storageLocation?: string;
  status?: string;
  description?: string;
  aliases: string[];
  tags: Record<string, string>;
}

export interface ResolvedModelVersion extends FileModelVersion {
  /** Absolute local directory of the model's artifacts (with the URI's sub-path applied). */
  localDir: string;
  /** The file store it was resolved in. */
  trackingRoot: string;
}

export interface RegisteredModelInfo {
  name: string;
  description?: string;
  versions: FileModelVersion[];
  aliases: Record<string, string>;
  tags: Record<string, string>;
}

export const ALL_STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
const RESERVED_ROOT_DIRS = new Set(['models', '.trash']);
const MAX_SOURCE_DEPTH = 4;

type Dict = Record<string, unknown>;
const sourceError = (msg: string) => new MlserveError('MODEL_SOURCE', msg);
const where = (root: string) => `(tracking store: ${root})`;
const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
const isFile = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
const str = (v: unknown): string | undefined =>
  v === null || v === undefined || v === '' ? undefined : String(v);

function readYaml(file: string): Dict {
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MlserveError('MODEL_SOURCE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Dict) : {};
}

function listDirs(dir: string): string[] {
  if (!isDir(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** `<dir>/<key>` files as {key: content} (MLflow's tags/ and aliases/ folders). */
function readKeyFiles(dir: string): Record<string, string> {
  if (!isDir(dir)) return {};
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile()) out[e.name] = fs.readFileSync(path.join(dir, e.name), 'utf8');
  }
  return out;
}

/** A single path segment that cannot climb out of its folder. */
const safeSegment = (s: string) => s !== '' && s !== '.' && s !== '..' && !/[\\/\0]/.test(s);

function joinInside(base: string, rel: string, what: string): string {
  const target = path.resolve(base, rel);
  const r = path.relative(base, target);
  if (r.startsWith('..') || path.isAbsolute(r)) throw sourceError(`${what} '${rel}' points outside ${base}`);
  return target;
}

function checkRoot(root: string): string {
  const abs = path.resolve(root);
  if (!isDir(abs)) {
    throw sourceError(`MLflow tracking store ${abs} does not exist (set MLFLOW_TRACKING_URI to your mlruns folder or server)`);
  }
  return abs;
}

export function canonicalStage(stage: string): (typeof ALL_STAGES)[number] {
  const found = ALL_STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
  if (!found) {
    throw sourceError(`Invalid Model Version stage: ${stage}. Value must be one of ${ALL_STAGES.join(', ')}.`);
  }
  return found;
}

function registeredModelDir(root: string, name: string): string {
  const dir = path.join(root, 'models', name);
  if (safeSegment(name) && isDir(dir)) return dir;
  const names = listDirs(path.join(root, 'models'));
  const similar = names.find((n) => n.toLowerCase() === name.toLowerCase());
  let hint = '';
  if (similar) hint = ` Did you mean ${similar}? (names are case-sensitive)`;
  else if (names.length === 0) hint = ' There are no registered models here.';
  else if (names.length <= 20) hint = ` Registered models here: ${names.join(', ')}.`;
  throw sourceError(`Registered Model with name=${name} not found ${where(root)}.${hint}`);
}

function readAliases(modelDir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(readKeyFiles(path.join(modelDir, 'aliases'))).map(([a, v]) => [a, v.trim()]));
}

function readVersionDir(dir: string, name: string, aliases: Record<string, string>): FileModelVersion {
  const meta = readYaml(path.join(dir, 'meta.yaml'));
  const version = str(meta.version) ?? path.basename(dir).slice('version-'.length);
  const mv: FileModelVersion = {
    name: str(meta.name) ?? name,
    version,
    stage: str(meta.current_stage) ?? 'None',
    source: str(meta.source) ?? '',
    aliases: Object.keys(aliases).filter((a) => aliases[a] === version).sort(),
    tags: readKeyFiles(path.join(dir, 'tags')),
  };
  const optional: Array<[keyof FileModelVersion, unknown]> = [
    ['runId', meta.run_id], ['storageLocation', meta.storage_location], ['status', meta.status], ['description', meta.description],
  ];
  for (const [key, v] of optional) {
    const s = str(v);
    if (s !== undefined) (mv as unknown as Dict)[key] = s;
  }
  return mv;
}

function listVersions(modelDir: string, name: string, aliases: Record<string, string>): FileModelVersion[] {
  return listDirs(modelDir)
    .filter((d) => d.startsWith('version-') && isFile(path.join(modelDir, d, 'meta.yaml')))
    .map((d) => readVersionDir(path.join(modelDir, d), name, aliases))
    .sort((a, b) => Number(a.version) - Number(b.version));
}

const highest = (versions: FileModelVersion[]) => versions[versions.length - 1] as FileModelVersion | undefined;
const describeVersions = (vs: FileModelVersion[]) =>
  vs.length ? ` Versions here: ${vs.map((v) => `${v.version} (${v.stage})`).join(', ')}.` : ' The model has no versions.';

/** Find the version a registry reference names, like MLflow's FileStore (no artifact lookup). */
export function findModelVersion(root: string, ref: RegistrySource): FileModelVersion {
  const store = checkRoot(root);
  const modelDir = registeredModelDir(store, ref.name);
  const aliases = readAliases(modelDir);
  if (ref.alias !== undefined) {
    const version = safeSegment(ref.alias) ? aliases[ref.alias] : undefined;
    if (version === undefined) {
      const known = Object.keys(aliases).sort();
      const hint = known.length ? ` Aliases of ${ref.name}: ${known.join(', ')}.` : ` ${ref.name} has no aliases.`;
      throw sourceError(`Registered model alias ${ref.alias} not found ${where(store)}.${hint}`);
    }
    return getVersion(store, modelDir, ref.name, version, aliases);
  }
  if (ref.version !== undefined) return getVersion(store, modelDir, ref.name, ref.version, aliases);

  const all = listVersions(modelDir, ref.name, aliases);
  if (ref.latest) {
    const latest = highest(all);
    if (!latest) throw sourceError(`No versions of model with name '${ref.name}' found ${where(store)}.`);
    return latest;
  }
  let stage: string;
  try {
    stage = canonicalStage(ref.stage);
  } catch (err) {
    throw sourceError(`${(err as Error).message} ${where(store)}`);
  }
  const match = highest(all.filter((v) => v.stage.toLowerCase() === stage.toLowerCase()));
  if (!match) {
    throw sourceError(`No versions of model with name '${ref.name}' and stage '${ref.stage}' found ${where(store)}.${describeVersions(all)}`);
  }
  return match;
}

function getVersion(root: string, modelDir: string, name: string, version: string, aliases: Record<string, string>): FileModelVersion {
  const dir = path.join(modelDir, `version-${version}`);
  if (!/^\d+$/.test(version) || !isFile(path.join(dir, 'meta.yaml'))) {
    const all = listVersions(modelDir, name, aliases);
    throw sourceError(`Model Version (name=${name}, version=${version}) not found ${where(root)}.${describeVersions(all)}`);
  }
  return readVersionDir(dir, name, aliases);
}

/**
 * Resolve `models:/Name/<version|stage|latest>` or `models:/Name@alias` to the version's
 * metadata and the absolute local directory of its artifacts.
 */
export function resolveInFileStore(root: string, ref: RegistrySource, depth = 0): ResolvedModelVersion {
  const store = checkRoot(root);
  const mv = findModelVersion(store, ref);
  const candidates = [...new Set([mv.storageLocation, mv.source].filter((s): s is string => !!s))];
  if (candidates.length === 0) {
    throw sourceError(`Model Version (name=${mv.name}, version=${mv.version}) records no source ${where(store)}`);
  }
  let firstError: unknown;
  for (const uri of candidates) {
    try {
      const base = resolveArtifactUri(store, uri, depth + 1);
      const localDir = ref.subPath ? joinInside(base, ref.subPath, 'sub-path') : base;
      if (!isDir(localDir)) throw sourceError(`${localDir} (from ${uri}) is not a directory`);
      return { ...mv, localDir, trackingRoot: store };
    } catch (err) {
      firstError ??= err;
    }
  }
  throw firstError;
}

/**
 * A path recorded on another machine, mapped into `root` by MLflow's layout:
 * `<experiment>/<run_id>/artifacts/...` or `<experiment>/models/m-<id>/artifacts/...`.
 */
export function relocateByLayout(root: string, recorded: string): string | undefined {
  const segs = recorded.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segs.some((s) => s === '..')) return undefined;
  for (let j = 0; j < segs.length; j++) {
    const runLayout = segs[j + 2] === 'artifacts';
    const loggedModelLayout = segs[j + 1] === 'models' && segs[j + 3] === 'artifacts';
    if (!runLayout && !loggedModelLayout) continue;
    const candidate = path.join(root, ...segs.slice(j));
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * An artifact location (a version's source, a run's artifact_uri, a logged model's
 * artifact_location) as a local path: `file://` URIs and bare paths, `runs:/`, `models:/`.
 */
export function resolveArtifactUri(root: string, uri: string, depth = 0): string {
  const store = path.resolve(root);
  if (depth > MAX_SOURCE_DEPTH) throw sourceError(`model source ${uri} refers to other sources too many times`);
  const scheme = uriScheme(uri);
  if (scheme === 'runs' || scheme === 'models') {
    const parsed = parseModelSource(uri);
    if (parsed.kind === 'run') return resolveRunArtifacts(store, parsed.runId, parsed.path, depth);
    if (parsed.kind === 'logged-model') {
      const dir = resolveLoggedModel(store, parsed.modelId, depth);
      return parsed.subPath ? joinInside(dir, parsed.subPath, 'sub-path') : dir;
    }
    if (parsed.kind === 'registry') return resolveInFileStore(store, parsed, depth + 1).localDir;
  }
  if (scheme !== undefined && scheme !== 'file') {
    throw sourceError(
      `artifact location ${uri} uses the ${scheme}: scheme, which mlserve cannot read from a file store; ` +
        'point mlserve at the MLflow tracking server (http://...) that serves it instead',
    );
  }
  const recorded = scheme === 'file' ? fileUriToPath(uri) : uri;
  if (fs.existsSync(recorded)) return path.resolve(recorded);
  const moved = relocateByLayout(store, recorded);
  if (moved) return moved;
  throw sourceError(
    `artifact location ${uri} does not exist here, and no <experiment>/<run>/artifacts/... ` +
      `layout under ${store} matches it (was the store copied without its artifacts?)`,
  );
}

function experimentDirs(root: string): string[] {
  return listDirs(root).filter((d) => !RESERVED_ROOT_DIRS.has(d));
}

/** `runs:/<run_id>/<path>`: the run's artifact_uri joined with `path`. */
export function resolveRunArtifacts(root: string, runId: string, artifactPath: string, depth = 0): string {
  const store = checkRoot(root);
  const exp = safeSegment(runId)
    ? experimentDirs(store).find((e) => isFile(path.join(store, e, runId, 'meta.yaml')))
    : undefined;
  if (exp === undefined) throw sourceError(`Run '${runId}' not found ${where(store)}`);
  const runDir = path.join(store, exp, runId);
  const artifactUri = str(readYaml(path.join(runDir, 'meta.yaml')).artifact_uri);
  let base = path.join(runDir, 'artifacts');
  if (artifactUri !== undefined) base = resolveArtifactUri(store, artifactUri, depth + 1);
  const target = artifactPath ? joinInside(base, artifactPath, 'artifact path') : base;
  if (fs.existsSync(target)) return target;

  // MLflow 3: a model logged from this run lives in a LoggedModel named after the first path segment.
  const [first, ...rest] = artifactPath.split('/');
  for (const id of listDirs(path.join(store, exp, 'models'))) {
    const meta = readYaml(path.join(store, exp, 'models', id, 'meta.yaml'));
    if (str(meta.name) === first && str(meta.source_run_id) === runId) {
      const dir = resolveLoggedModel(store, id, depth + 1);
      return rest.length ? joinInside(dir, rest.join('/'), 'artifact path') : dir;
    }
  }
  throw sourceError(`Run '${runId}' has no artifact '${artifactPath}' (looked in ${target}) ${where(store)}`);
}

/** `models:/m-<id>`: an MLflow 3 LoggedModel's artifact_location. */
export function resolveLoggedModel(root: string, modelId: string, depth = 0): string {
  const store = checkRoot(root);
  const exp = safeSegment(modelId)
    ? experimentDirs(store).find((e) => isFile(path.join(store, e, 'models', modelId, 'meta.yaml')))
    : undefined;
  if (exp === undefined) throw sourceError(`Logged model with ID '${modelId}' not found ${where(store)}`);
  const modelDir = path.join(store, exp, 'models', modelId);
  const location = str(readYaml(path.join(modelDir, 'meta.yaml')).artifact_location);
  if (location === undefined) return path.join(modelDir, 'artifacts');
  return resolveArtifactUri(store, location, depth + 1);
}

/** Every registered model with its versions, aliases and tags (sorted by name, versions ascending). */
export function listRegisteredModels(root: string): RegisteredModelInfo[] {
  const store = checkRoot(root);
  const modelsDir = path.join(store, 'models');
  return listDirs(modelsDir)
    .filter((name) => isFile(path.join(modelsDir, name, 'meta.yaml')))
    .map((name) => {
      const dir = path.join(modelsDir, name);
      const meta = readYaml(path.join(dir, 'meta.yaml'));
      const aliases = readAliases(dir);
      const info: RegisteredModelInfo = {
        name: str(meta.name) ?? name,
        versions: listVersions(dir, name, aliases),
        aliases,
        tags: readKeyFiles(path.join(dir, 'tags')),
      };
      const description = str(meta.description);
      if (description !== undefined) info.description = description;
      return info;
    });
}
