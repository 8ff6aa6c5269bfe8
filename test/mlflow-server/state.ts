// The test server's registry: what MLflow's SqlAlchemyStore (model registry + tracking) would hold,
// with its lookups and their exact error messages, plus helpers for tests to add models, versions,
// runs, 3.x logged models and artifact files.
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  ACTIVE_STAGES, ALL_STAGES, STAGE_DELETED_INTERNAL,
  type LoggedModel, type ModelVersion, type RegisteredModel, type Run, type Stage, type Tag,
} from './entities.js';
import { MlflowError } from './http.js';
import { pyIntLike } from './pyjson.js';

const INVALID = 'INVALID_PARAMETER_VALUE';
const MISSING = 'RESOURCE_DOES_NOT_EXIST';

export const randomHex = (n = 32): string => randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);

/** get_canonical_stage (mlflow/entities/model_registry/model_version_stages.py). */
export function canonicalStage(stage: string): Stage {
  const found = ALL_STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
  if (!found) throw new MlflowError(`Invalid Model Version stage: ${stage}. Value must be one of ${ALL_STAGES.join(', ')}.`, INVALID);
  return found;
}

/** mlflow/utils/validation.py::_validate_model_name */
function validateModelName(name: string | undefined): asserts name is string {
  if (name === undefined || name === '') throw new MlflowError("Missing value for required parameter 'name'.", INVALID);
}

/** _validate_model_version as MLflow 2.11 words it. */
function validateVersion(version: string | number): number {
  const n = pyIntLike(version);
  if (n === undefined) throw new MlflowError(`Model version must be an integer, got '${version}'`, INVALID);
  return n;
}

/** _validate_model_alias_name */
export function validateAliasName(alias: string | undefined): void {
  if (alias === undefined || alias === '') throw new MlflowError('Registered model alias name cannot be empty.', INVALID);
  if (!/^[\w-]*$/u.test(alias)) {
    throw new MlflowError(`Invalid alias name: '${alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`, INVALID);
  }
  if (alias.length > 255) throw new MlflowError("'Registered model alias name' exceeds the maximum length of 255 characters", INVALID);
  if (alias.toLowerCase() === 'latest') throw new MlflowError("'latest' alias name (case insensitive) is reserved.", INVALID);
  if (/^[vV]\d+$/.test(alias)) throw new MlflowError(`Version alias name '${alias}' is reserved.`, INVALID);
}

const toTags = (tags?: Record<string, string> | Tag[]): Tag[] =>
  !tags ? [] : Array.isArray(tags) ? tags.map((t) => ({ ...t })) : Object.entries(tags).map(([key, value]) => ({ key, value }));

/** `mlflow-artifacts:/<path>` (or `mlflow-artifacts://host/<path>`) -> path below the artifacts destination. */
export function proxiedPath(uri: string): string | undefined {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?(\/.*)?$/.exec(uri);
  return m ? (m[1] ?? '').replace(/^\/+/, '') : undefined;
}

export interface AddModelVersionOptions {
  name: string;
  /** '2.x' (default): source mlflow-artifacts:/<exp>/<run>/artifacts/<artifactPath>. '3.x': source models:/m-<id> and a logged model. */
  shape?: '2.x' | '3.x';
  runId?: string;
  modelId?: string;
  experimentId?: string;
  /** 2.x: the run-relative folder (default "model"); 3.x: the logged model's name (default "model"). */
  artifactPath?: string;
  stage?: Stage;
  archiveExisting?: boolean;
  description?: string;
  tags?: Record<string, string> | Tag[];
  aliases?: string[];
  runLink?: string;
  userId?: string;
  /** A folder whose content becomes the model's artifacts (e.g. a fixture model dir). */
  copyFrom?: string;
  /** Files to write into the model's artifact folder: relative path -> content. */
  files?: Record<string, string | Uint8Array>;
  /** Override the registered source (storage_location stays the computed one unless given too). */
  source?: string;
  storageLocation?: string;
}

export class MlflowState {
  readonly registeredModels = new Map<string, RegisteredModel>();
  /** Every version ever created, deleted ones included (their stage is Deleted_Internal). */
  readonly modelVersions: ModelVersion[] = [];
  readonly runs = new Map<string, Run>();
  readonly loggedModels = new Map<string, LoggedModel>();
  /** File -> mtime in seconds at full (ns) precision, for files whose mtime was set from a recording. */
  readonly exactMtimes = new Map<string, number>();
  private lastMs = 0;

  /**
   * @param artifactRoot the folder behind `mlflow-artifacts:/` (the server's --artifacts-destination)
   * @param reportedArtifactsDestination how the server names that folder in its messages
   */
  constructor(readonly artifactRoot: string, readonly reportedArtifactsDestination: string = artifactRoot) {}

  /** Milliseconds, strictly increasing so orderings by timestamp are deterministic. */
  now(): number {
    this.lastMs = Math.max(Date.now(), this.lastMs + 1);
    return this.lastMs;
  }

  /** Make later timestamps come after `ms` (e.g. the recorded ones). */
  observeTime(ms: number): void {
    this.lastMs = Math.max(this.lastMs, ms);
  }

  // ---- store lookups (SqlAlchemyStore semantics and messages) -----------------------------------

  getRegisteredModel(name: string | undefined): RegisteredModel {
    validateModelName(name);
    const rm = this.registeredModels.get(name);
    if (!rm) throw new MlflowError(`Registered Model with name=${name} not found`, MISSING);
    return rm;
  }

  /** Live versions of a model, by version ascending. */
  versionsOf(name: string): ModelVersion[] {
    return this.modelVersions.filter((mv) => mv.name === name && mv.current_stage !== STAGE_DELETED_INTERNAL).sort((a, b) => a.version - b.version);
  }

  /** SqlRegisteredModel.to_mlflow_entity().latest_versions: per stage the highest version, stages in first-seen order. */
  latestVersions(name: string): ModelVersion[] {
    const latest = new Map<string, ModelVersion>();
    for (const mv of this.versionsOf(name)) {
      const cur = latest.get(mv.current_stage);
      if (!cur || cur.version < mv.version) latest.set(mv.current_stage, mv);
    }
    return [...latest.values()];
  }

  getLatestVersions(name: string | undefined, stages: string[] = []): ModelVersion[] {
    const rm = this.getRegisteredModel(name);
    const wanted = new Set<string>((stages.length ? stages : ALL_STAGES).map(canonicalStage));
    return this.latestVersions(rm.name).filter((mv) => wanted.has(mv.current_stage));
  }

  getModelVersion(name: string | undefined, version: string | number): ModelVersion {
    validateModelName(name);
    const n = validateVersion(version);
    const mv = this.modelVersions.find((v) => v.name === name && v.version === n && v.current_stage !== STAGE_DELETED_INTERNAL);
    if (!mv) throw new MlflowError(`Model Version (name=${name}, version=${version}) not found`, MISSING);
    return mv;
  }

  aliasesOf(mv: ModelVersion): string[] {
    const rm = this.registeredModels.get(mv.name);
    return rm ? [...rm.aliases.entries()].filter(([, v]) => v === mv.version).map(([a]) => a).sort() : [];
  }

  getDownloadUri(name: string | undefined, version: string | number): string {
    const mv = this.getModelVersion(name, version);
    return mv.storage_location || mv.source;
  }

  getModelVersionByAlias(name: string | undefined, alias: string | undefined): ModelVersion {
    validateModelName(name);
    validateAliasName(alias);
    const version = this.registeredModels.get(name)?.aliases.get(alias as string);
    if (version === undefined) throw new MlflowError(`Registered model alias ${alias} not found.`, INVALID);
    return this.getModelVersion(name, version);
  }

  setAlias(name: string | undefined, alias: string | undefined, version: string | number): void {
    validateModelName(name);
    validateAliasName(alias);
    validateVersion(version);
    const mv = this.getModelVersion(name, version);
    this.getRegisteredModel(name).aliases.set(alias as string, mv.version);
  }

  deleteAlias(name: string | undefined, alias: string | undefined): void {
    validateModelName(name);
    validateAliasName(alias);
    this.getRegisteredModel(name).aliases.delete(alias as string);
  }

  transitionStage(name: string | undefined, version: string | number, stage: string, archiveExisting = false): ModelVersion {
    const target = canonicalStage(stage);
    if (archiveExisting && !ACTIVE_STAGES.includes(target)) {
      throw new MlflowError(
        `Model version transition cannot archive existing model versions because '${stage}' is not an Active stage. Valid stages are ['Staging', 'Production']`,
      );
    }
    const mv = this.getModelVersion(name, version);
    const t = this.now();
    if (archiveExisting) {
      for (const other of this.versionsOf(mv.name)) {
        if (other !== mv && other.current_stage === target) Object.assign(other, { current_stage: 'Archived', last_updated_timestamp: t });
      }
    }
    mv.current_stage = target;
    mv.last_updated_timestamp = t;
    this.getRegisteredModel(mv.name).last_updated_timestamp = t;
    return mv;
  }

  createRegisteredModel(name: string | undefined, opts: { description?: string; tags?: Record<string, string> | Tag[] } = {}): RegisteredModel {
    validateModelName(name);
    if (this.registeredModels.has(name)) throw new MlflowError(`Registered Model (name=${name}) already exists.`, 'RESOURCE_ALREADY_EXISTS');
    const t = this.now();
    const rm: RegisteredModel = { name, creation_timestamp: t, last_updated_timestamp: t, description: opts.description, tags: toTags(opts.tags), aliases: new Map() };
    this.registeredModels.set(name, rm);
    return rm;
  }

  /** SqlAlchemyStore.create_model_version, with 3.x's resolution of `models:/m-<id>` sources. */
  createModelVersion(
    name: string | undefined,
    source: string,
    opts: { run_id?: string; tags?: Record<string, string> | Tag[]; run_link?: string; description?: string; user_id?: string; storage_location?: string } = {},
  ): ModelVersion {
    validateModelName(name);
    let storage = opts.storage_location ?? source;
    let runId = opts.run_id;
    const modelsUri = /^models:\/(.*)$/.exec(source);
    if (modelsUri && !opts.storage_location) {
      const logged = this.loggedModels.get(modelsUri[1]);
      if (logged) {
        storage = logged.artifact_uri;
        runId = runId || logged.source_run_id;
      } else {
        const m = /^([^/]+)\/(\d+)$/.exec(modelsUri[1]);
        if (!m) throw new MlflowError(`Unable to fetch model from model URI source artifact location '${source}'.`);
        storage = this.getDownloadUri(m[1], m[2]);
      }
    }
    const rm = this.getRegisteredModel(name);
    const t = this.now();
    rm.last_updated_timestamp = t;
    const version = Math.max(0, ...this.modelVersions.filter((v) => v.name === name).map((v) => v.version)) + 1;
    const mv: ModelVersion = {
      name, version, creation_timestamp: t, last_updated_timestamp: t, user_id: opts.user_id, current_stage: 'None',
      description: opts.description ?? '', source, storage_location: storage, run_id: runId, status: 'READY',
      tags: toTags(opts.tags), run_link: opts.run_link ?? '',
    };
    this.modelVersions.push(mv);
    return mv;
  }

  getRun(runId: string): Run {
    const run = this.runs.get(runId);
    if (!run) throw new MlflowError(`Run with id=${runId} not found`, MISSING);
    return run;
  }

  getLoggedModel(modelId: string): LoggedModel {
    const m = this.loggedModels.get(modelId);
    if (!m) throw new MlflowError(`Logged model with ID '${modelId}' not found.`, MISSING);
    return m;
  }

  // ---- helpers for tests ------------------------------------------------------------------------

  addRegisteredModel(opts: { name: string; description?: string; tags?: Record<string, string> | Tag[] }): RegisteredModel {
    return this.createRegisteredModel(opts.name, opts);
  }

  addRun(opts: { runId?: string; experimentId?: string; runName?: string; userId?: string; metrics?: Record<string, number>; params?: Record<string, string>; tags?: Record<string, string> } = {}): Run {
    const runId = opts.runId ?? randomHex();
    const existing = this.runs.get(runId);
    if (existing) return existing;
    const exp = opts.experimentId ?? '0';
    const t = this.now();
    const run: Run = {
      info: {
        run_uuid: runId, experiment_id: exp, run_name: opts.runName, user_id: opts.userId ?? 'root', status: 'FINISHED',
        start_time: t, end_time: t, artifact_uri: `mlflow-artifacts:/${exp}/${runId}/artifacts`, lifecycle_stage: 'active', run_id: runId,
      },
      data: {
        metrics: Object.entries(opts.metrics ?? {}).map(([key, value]) => ({ key, value, timestamp: t, step: 0 })),
        params: toTags(opts.params),
        tags: [{ key: 'mlflow.user', value: opts.userId ?? 'root' }, ...(opts.runName ? [{ key: 'mlflow.runName', value: opts.runName }] : []), ...toTags(opts.tags)],
      },
    };
    this.runs.set(runId, run);
    return run;
  }

  addLoggedModel(opts: { modelId?: string; experimentId?: string; name?: string; sourceRunId?: string; modelType?: string } = {}): LoggedModel {
    const id = opts.modelId ?? `m-${randomHex()}`;
    const exp = opts.experimentId ?? '0';
    const t = this.now();
    const m: LoggedModel = {
      model_id: id, experiment_id: exp, name: opts.name ?? 'model', creation_timestamp_ms: t, last_updated_timestamp_ms: t,
      artifact_uri: `mlflow-artifacts:/${exp}/models/${id}/artifacts`, status: 'LOGGED_MODEL_READY', model_type: opts.modelType,
      source_run_id: opts.sourceRunId, tags: [],
    };
    this.loggedModels.set(id, m);
    return m;
  }

  /** Register a version the way MLflow's client would (creating the model, run or logged model as needed). */
  addModelVersion(opts: AddModelVersionOptions): ModelVersion {
    if (!this.registeredModels.has(opts.name)) this.createRegisteredModel(opts.name);
    const exp = opts.experimentId ?? '0';
    const run = this.addRun({ runId: opts.runId, experimentId: exp });
    const runId = run.info.run_id;
    let source: string;
    if (opts.shape === '3.x') {
      const logged = this.addLoggedModel({ modelId: opts.modelId, experimentId: exp, name: opts.artifactPath, sourceRunId: runId });
      source = `models:/${logged.model_id}`;
    } else {
      source = `${run.info.artifact_uri}/${opts.artifactPath ?? 'model'}`;
    }
    const mv = this.createModelVersion(opts.name, opts.source ?? source, {
      run_id: runId, tags: opts.tags, run_link: opts.runLink, description: opts.description, user_id: opts.userId,
      storage_location: opts.storageLocation ?? (opts.source ? source : undefined),
    });
    const dir = this.artifactDirOf(mv);
    if (dir) {
      mkdirSync(dir, { recursive: true });
      if (opts.copyFrom) cpSync(opts.copyFrom, dir, { recursive: true });
      for (const [rel, content] of Object.entries(opts.files ?? {})) this.putArtifact(join(proxiedPath(this.getDownloadUri(mv.name, mv.version)) ?? '', rel), content);
    }
    if (opts.stage && opts.stage !== 'None') this.transitionStage(mv.name, mv.version, opts.stage, opts.archiveExisting);
    for (const alias of opts.aliases ?? []) this.setAlias(mv.name, alias, mv.version);
    return mv;
  }

  setStage(name: string, version: number | string, stage: Stage | string, opts: { archiveExisting?: boolean } = {}): ModelVersion {
    return this.transitionStage(name, version, stage, opts.archiveExisting ?? false);
  }

  /** Write a file below the artifact root (relative POSIX path, e.g. "0/<run>/artifacts/model/MLmodel"). */
  putArtifact(relPath: string, content: string | Uint8Array): string {
    const file = join(this.artifactRoot, relPath);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    return file;
  }

  /** The on-disk folder behind a version's download URI, when it is an mlflow-artifacts URI. */
  artifactDirOf(mv: ModelVersion): string | undefined {
    const rel = proxiedPath(mv.storage_location || mv.source);
    return rel === undefined ? undefined : join(this.artifactRoot, rel);
  }
}
