// Writes an MLflow *file store* (`mlruns/`) the way MLflow 2.x's client does with a file://
// tracking URI: experiment and run folders with the logged model, and the model registry under
// mlruns/models/. Mirrors the recorded store in ../shared/mlflow-fixtures/mlruns (MLflow 2.11).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { pyJson, pyYamlDump, writeMlflowModel, type MlflowModelInfo, type WriteMlflowOptions } from './mlflow-writer.js';

export type Stage = 'None' | 'Staging' | 'Production' | 'Archived';

/** Writes the model into the run's artifact dir; returning its info adds the log-model history tag. */
export type ModelWriterFn = (artifactDir: string, runId: string) => MlflowModelInfo | void;

export interface RegisterOptions {
  /** Registered model name. */
  name: string;
  /** Either a function that writes the model dir, or writeMlflowModel's options (minus run fields). */
  modelWriter: ModelWriterFn | Omit<WriteMlflowOptions, 'runId' | 'artifactPath'>;
  experimentId?: string;
  runName?: string;
  /** Run-relative artifact path of the model, default 'model'. */
  artifactPath?: string;
  /** Stage of the new version, default 'None'. */
  stage?: Stage;
  /** Aliases pointing at the new version (moved here if they pointed elsewhere). */
  aliases?: string[];
  /** Description of the new version. */
  description?: string;
  /** Description of the registered model, set when it is created. */
  modelDescription?: string;
  /** Registered-model tags (models/<name>/tags/<k>). */
  tags?: Record<string, string>;
  /** Model-version tags (models/<name>/version-N/tags/<k>). */
  versionTags?: Record<string, string>;
  runTags?: Record<string, string>;
  params?: Record<string, string | number>;
  metrics?: Record<string, number>;
  userId?: string;
}

export interface RegisterResult {
  version: number;
  runId: string;
  /** file:// URI of the run's artifacts/<artifactPath> dir (the version's `source`). */
  source: string;
  artifactDir: string;
  runDir: string;
}

type Meta = Record<string, unknown>;

function readMeta(path: string): Meta {
  return YAML.parse(readFileSync(path, 'utf8'), { version: '1.1' }) as Meta;
}

function writeMeta(path: string, meta: Meta): void {
  writeFileSync(path, pyYamlDump(meta));
}

function writeKeyFiles(dir: string, entries: Record<string, string>): void {
  if (Object.keys(entries).length === 0) return;
  mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(entries)) writeFileSync(join(dir, k), v);
}

function fileUri(path: string): string {
  return pathToFileURL(path).href;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}

/** Python's repr of a float metric value: 1 -> "1.0". */
function pyFloat(v: number): string {
  return Number.isInteger(v) ? `${v}.0` : String(v);
}

/** Create mlruns/<id>/meta.yaml when missing (experiment '0' is named "Default"). */
export function ensureExperiment(mlrunsRoot: string, experimentId = '0', name?: string): string {
  const dir = join(resolve(mlrunsRoot), experimentId);
  const metaPath = join(dir, 'meta.yaml');
  if (existsSync(metaPath)) return dir;
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  writeMeta(metaPath, {
    artifact_location: fileUri(dir), creation_time: now, experiment_id: experimentId, last_update_time: now,
    lifecycle_stage: 'active', name: name ?? (experimentId === '0' ? 'Default' : `experiment-${experimentId}`),
  });
  return dir;
}

function modelDir(root: string, name: string): string {
  return join(resolve(root), 'models', name);
}

function versionDir(root: string, name: string, version: number): string {
  return join(modelDir(root, name), `version-${version}`);
}

function listVersions(root: string, name: string): number[] {
  const dir = modelDir(root, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => /^version-(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

/** Rewrite models/<name>/meta.yaml: aliases mirrored from the aliases/ folder, last update now. */
function touchRegisteredModel(root: string, name: string, now: number): void {
  const metaPath = join(modelDir(root, name), 'meta.yaml');
  const meta = readMeta(metaPath);
  const aliasDir = join(modelDir(root, name), 'aliases');
  const aliases: Record<string, string> = {};
  if (existsSync(aliasDir)) {
    for (const a of readdirSync(aliasDir).sort()) aliases[a] = readFileSync(join(aliasDir, a), 'utf8').trim();
  }
  writeMeta(metaPath, { ...meta, aliases, last_updated_timestamp: now });
}

function ensureRegisteredModel(root: string, name: string, description: string | undefined, now: number): void {
  const metaPath = join(modelDir(root, name), 'meta.yaml');
  if (existsSync(metaPath)) return;
  mkdirSync(modelDir(root, name), { recursive: true });
  writeMeta(metaPath, {
    aliases: {}, creation_timestamp: now, description: description ?? null, last_updated_timestamp: now, name,
  });
}

interface RunRecord {
  runId: string;
  runDir: string;
  artifactDir: string;
}

function logRun(root: string, opts: RegisterOptions, experimentId: string, user: string): RunRecord {
  const runId = randomUUID().replace(/-/g, '');
  const runDir = join(ensureExperiment(root, experimentId), runId);
  const artifactPath = opts.artifactPath ?? 'model';
  const artifactDir = join(runDir, 'artifacts', artifactPath);
  const startTime = Date.now();
  const w = opts.modelWriter;
  const info = typeof w === 'function'
    ? w(artifactDir, runId)
    : writeMlflowModel(artifactDir, { ...w, runId, artifactPath });
  const runName = opts.runName ?? `${opts.name.toLowerCase()}-${runId.slice(0, 8)}`;
  writeKeyFiles(join(runDir, 'tags'), {
    ...(info ? { 'mlflow.log-model.history': pyJson([info.mlmodel]) } : {}),
    'mlflow.runName': runName, 'mlflow.source.name': 'mlserve', 'mlflow.source.type': 'LOCAL', 'mlflow.user': user,
    ...opts.runTags,
  });
  writeKeyFiles(join(runDir, 'params'), Object.fromEntries(Object.entries(opts.params ?? {}).map(([k, v]) => [k, String(v)])));
  writeKeyFiles(join(runDir, 'metrics'), Object.fromEntries(
    Object.entries(opts.metrics ?? {}).map(([k, v]) => [k, `${startTime} ${pyFloat(v)} 0\n`]),
  ));
  writeMeta(join(runDir, 'meta.yaml'), {
    artifact_uri: fileUri(join(runDir, 'artifacts')), end_time: Date.now(), entry_point_name: '',
    experiment_id: experimentId, lifecycle_stage: 'active', run_id: runId, run_name: runName, run_uuid: runId,
    source_name: '', source_type: 4, source_version: '', start_time: startTime, status: 3, tags: [], user_id: user,
  });
  return { runId, runDir, artifactDir };
}

/**
 * Log a model to a new run and register it as the next version of `name`, with an optional stage,
 * aliases and tags, exactly as MLflow's file store lays them out.
 */
export function registerInFileStore(mlrunsRoot: string, opts: RegisterOptions): RegisterResult {
  const root = resolve(mlrunsRoot);
  const experimentId = opts.experimentId ?? '0';
  const user = opts.userId ?? currentUser();
  const run = logRun(root, opts, experimentId, user);
  const now = Date.now();
  ensureRegisteredModel(root, opts.name, opts.modelDescription, now);
  const version = Math.max(0, ...listVersions(root, opts.name)) + 1;
  const vdir = versionDir(root, opts.name, version);
  mkdirSync(vdir, { recursive: true });
  const source = fileUri(run.artifactDir);
  writeMeta(join(vdir, 'meta.yaml'), {
    aliases: [], creation_timestamp: now, current_stage: opts.stage ?? 'None', description: opts.description ?? null,
    last_updated_timestamp: now, name: opts.name, run_id: run.runId, run_link: null, source, status: 'READY',
    status_message: null, storage_location: source, user_id: null, version,
  });
  writeKeyFiles(join(vdir, 'tags'), opts.versionTags ?? {});
  writeKeyFiles(join(modelDir(root, opts.name), 'tags'), opts.tags ?? {});
  writeKeyFiles(join(modelDir(root, opts.name), 'aliases'), Object.fromEntries((opts.aliases ?? []).map((a) => [a, String(version)])));
  touchRegisteredModel(root, opts.name, now);
  return { version, runId: run.runId, source, artifactDir: run.artifactDir, runDir: run.runDir };
}

/** transition_model_version_stage: optionally archive the versions currently in `stage`. */
export function setStage(mlrunsRoot: string, name: string, version: number, stage: Stage, archiveExisting = false): void {
  const now = Date.now();
  const update = (v: number, s: Stage) => {
    const metaPath = join(versionDir(mlrunsRoot, name, v), 'meta.yaml');
    writeMeta(metaPath, { ...readMeta(metaPath), current_stage: s, last_updated_timestamp: now });
  };
  if (!existsSync(join(versionDir(mlrunsRoot, name, version), 'meta.yaml'))) {
    throw new Error(`model ${name} has no version ${version}`);
  }
  if (archiveExisting && (stage === 'Staging' || stage === 'Production')) {
    for (const v of listVersions(mlrunsRoot, name)) {
      const meta = readMeta(join(versionDir(mlrunsRoot, name, v), 'meta.yaml'));
      if (v !== version && meta.current_stage === stage) update(v, 'Archived');
    }
  }
  update(version, stage);
  touchRegisteredModel(mlrunsRoot, name, now);
}

/** set_registered_model_alias: point `alias` at `version` (moving it if it exists). */
export function setAlias(mlrunsRoot: string, name: string, alias: string, version: number): void {
  if (!existsSync(join(versionDir(mlrunsRoot, name, version), 'meta.yaml'))) {
    throw new Error(`model ${name} has no version ${version}`);
  }
  writeKeyFiles(join(modelDir(mlrunsRoot, name), 'aliases'), { [alias]: String(version) });
  touchRegisteredModel(mlrunsRoot, name, Date.now());
}

/** delete_registered_model_alias. */
export function deleteAlias(mlrunsRoot: string, name: string, alias: string): void {
  rmSync(join(modelDir(mlrunsRoot, name), 'aliases', alias), { force: true });
  touchRegisteredModel(mlrunsRoot, name, Date.now());
}
