// Resolve models:/ and runs:/ URIs against an MLflow tracking server, call for call as MLflow's
// own client does (store/artifact/utils/models.py, models_artifact_repo.py, runs_artifact_repo.py).
import { MlserveError } from '../errors.js';
import { RegistryError, type MlflowRestClient } from './client.js';
import type { LoggedModelSource, RegistrySource, RunSource } from './uri.js';

const API = '/api/2.0/mlflow';

/** A model version as the REST API returns it (every field optional: empty ones are omitted). */
export interface RestModelVersion {
  name?: string;
  version?: string;
  current_stage?: string;
  source?: string;
  run_id?: string;
  status?: string;
  description?: string;
  aliases?: string[];
  tags?: { key: string; value: string }[];
  creation_timestamp?: number;
  last_updated_timestamp?: number;
}

export interface RestRegisteredModel {
  name: string;
  description?: string;
  latest_versions?: RestModelVersion[];
  aliases?: { alias: string; version: string }[];
  tags?: { key: string; value: string }[];
}

export interface RestResolved {
  name?: string;
  version: string;
  runId?: string;
  stage?: string;
  aliases?: string[];
  /** The version's `source` as registered. */
  source: string;
  /** Where its files are: get-download-uri's artifact_uri, or the run's / logged model's root. */
  artifactUri: string;
  /** runs:/ URIs whose files are a logged model's (MLflow 3). */
  loggedModelId?: string;
}

const sourceError = (msg: string) => new MlserveError('MODEL_SOURCE', msg);

/** Names of registered models, for "did you mean" hints (best effort, at most 20). */
async function knownModels(client: MlflowRestClient): Promise<string[]> {
  try {
    const r = await client.json<{ registered_models?: { name: string }[] }>('GET', `${API}/registered-models/search`, { max_results: '21' });
    return (r.registered_models ?? []).map((m) => m.name);
  } catch {
    return [];
  }
}

/** Add what the operator can do to MLflow's own message. */
async function explain(err: unknown, client: MlflowRestClient, name?: string): Promise<never> {
  if (!(err instanceof RegistryError) || err.httpStatus === 403) throw err;
  let msg = `${err.message} (MLflow at ${client.cfg.url})`;
  if (err.mlflowCode === 'RESOURCE_DOES_NOT_EXIST' && name !== undefined) {
    // MLflow says "Model Version (name=X, version=1) not found" even when X itself is unknown.
    const names = await knownModels(client);
    if (names.length > 0 && names.length <= 20 && !names.includes(name)) msg += `. Registered models there: ${names.join(', ')}`;
  }
  if (err.mlflowCode === 'ENDPOINT_NOT_FOUND') {
    msg += '; the server may be older than this route (aliases need MLflow 2.3+)';
  }
  throw sourceError(msg);
}

function highest(versions: RestModelVersion[]): RestModelVersion | undefined {
  let best: RestModelVersion | undefined;
  for (const v of versions) if (!best || Number(v.version) > Number(best.version)) best = v;
  return best;
}

/** The model version a registry URI names. */
export async function findVersion(client: MlflowRestClient, ref: RegistrySource): Promise<RestModelVersion> {
  try {
    if (ref.version !== undefined) {
      return (await client.json<{ model_version: RestModelVersion }>('GET', `${API}/model-versions/get`, { name: ref.name, version: ref.version })).model_version;
    }
    if (ref.alias !== undefined) {
      return (await client.json<{ model_version: RestModelVersion }>('GET', `${API}/registered-models/alias`, { name: ref.name, alias: ref.alias })).model_version;
    }
    // POST get-latest-versions works on every server version (the notes' recommendation).
    const body = ref.latest ? { name: ref.name } : { name: ref.name, stages: [ref.stage] };
    const r = await client.json<{ model_versions?: RestModelVersion[] }>('POST', `${API}/registered-models/get-latest-versions`, body);
    const best = highest(r.model_versions ?? []);
    if (!best) {
      throw sourceError(
        ref.latest
          ? `No versions of model with name '${ref.name}' found (MLflow at ${client.cfg.url})`
          : `No versions of model with name '${ref.name}' and stage '${ref.stage}' found (MLflow at ${client.cfg.url}); see mlserve models show ${ref.name}`,
      );
    }
    return best;
  } catch (err) {
    return explain(err, client, ref.name);
  }
}

/** MLflow's prompt registry marks prompts with this registered-model tag. */
const PROMPT_TAG = 'mlflow.prompt.is_prompt';

/**
 * As MLflow 3's client does before get-download-uri (MlflowClient._raise_if_prompt): read the
 * registered model and refuse a prompt with MLflow's own message.
 */
async function checkNotPrompt(client: MlflowRestClient, name: string): Promise<void> {
  const r = await client
    .json<{ registered_model?: RestRegisteredModel }>('GET', `${API}/registered-models/get`, { name })
    .catch((err) => explain(err, client, name));
  if ((r.registered_model?.tags ?? []).some((t) => t.key === PROMPT_TAG)) {
    throw sourceError(`Registered Model with name='${name}' not found. (MLflow at ${client.cfg.url} has '${name}' as a prompt in its prompt registry, not a model; MLflow's client refuses it the same way)`);
  }
}

export async function resolveRegistry(client: MlflowRestClient, ref: RegistrySource): Promise<RestResolved> {
  const mv = await findVersion(client, ref);
  const version = String(mv.version);
  await checkNotPrompt(client, ref.name);
  const { artifact_uri } = await client
    .json<{ artifact_uri: string }>('GET', `${API}/model-versions/get-download-uri`, { name: ref.name, version })
    .catch((err) => explain(err, client, ref.name));
  const artifactUri = ref.subPath ? `${artifact_uri.replace(/\/+$/, '')}/${ref.subPath}` : artifact_uri;
  return {
    name: mv.name ?? ref.name,
    version,
    runId: mv.run_id,
    stage: mv.current_stage,
    aliases: mv.aliases,
    source: mv.source ?? artifact_uri,
    artifactUri,
  };
}

interface RestLoggedModel {
  info: { model_id: string; name?: string; artifact_uri: string; source_run_id?: string; experiment_id?: string };
}

/**
 * The logged model named `name` that run `runId` logged (MLflow 3: log_model(name=...) inside a
 * run stores the files under the logged model, not the run), as RunsArtifactRepository finds it.
 */
async function runLoggedModel(client: MlflowRestClient, experimentId: string, runId: string, name: string): Promise<RestLoggedModel | undefined> {
  let pageToken: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = await client.json<{ models?: RestLoggedModel[]; next_page_token?: string }>('POST', `${API}/logged-models/search`, {
      experiment_ids: [experimentId],
      filter: `name = '${name.replace(/'/g, "\\'")}'`,
      ...(pageToken ? { page_token: pageToken } : {}),
    });
    const hit = (r.models ?? []).find((m) => m.info.source_run_id === runId);
    if (hit) return hit;
    pageToken = r.next_page_token;
    if (!pageToken) return undefined;
  }
  return undefined;
}

/**
 * runs:/<run>/<path>: the run's artifacts at <path>, or, when there are none there (MLflow 3),
 * the files of the logged model named <path>'s first part that the run logged.
 * `hasFiles` lists the run's folder (artifacts.ts knows every store).
 */
export async function resolveRun(client: MlflowRestClient, ref: RunSource, hasFiles?: (artifactUri: string, runId: string) => Promise<boolean>): Promise<RestResolved> {
  // MLflow's client sends both (run_uuid for servers older than 1.0).
  const r = await client
    .json<{ run: { info: { artifact_uri: string; run_id: string; experiment_id?: string } } }>('GET', `${API}/runs/get`, { run_uuid: ref.runId, run_id: ref.runId })
    .catch((err) => explain(err, client));
  const root = r.run.info.artifact_uri.replace(/\/+$/, '');
  const out: RestResolved = { version: ref.runId.slice(0, 8), runId: ref.runId, source: `runs:/${ref.runId}/${ref.path}`, artifactUri: ref.path ? `${root}/${ref.path}` : root };
  if (!ref.path || !hasFiles || !r.run.info.experiment_id || (await hasFiles(out.artifactUri, ref.runId))) return out;
  const [modelName, ...rest] = ref.path.split('/');
  // A server without logged models (MLflow 2) answers 404 here: the download then says the folder is empty.
  const hit = await runLoggedModel(client, r.run.info.experiment_id, ref.runId, modelName).catch(() => undefined);
  if (!hit) return out;
  // Then as for models:/m-<id> (MLflow's client goes through that URI): the logged model itself.
  const lm = await client
    .json<{ model: RestLoggedModel }>('GET', `${API}/logged-models/${encodeURIComponent(hit.info.model_id)}`)
    .catch((err) => explain(err, client));
  const lmRoot = lm.model.info.artifact_uri.replace(/\/+$/, '');
  return { ...out, artifactUri: rest.length ? `${lmRoot}/${rest.join('/')}` : lmRoot, loggedModelId: lm.model.info.model_id };
}

export async function resolveLoggedModel(client: MlflowRestClient, ref: LoggedModelSource): Promise<RestResolved> {
  const r = await client
    .json<{ model: { info: { artifact_uri: string; source_run_id?: string; name?: string } } }>('GET', `${API}/logged-models/${encodeURIComponent(ref.modelId)}`)
    .catch((err) => explain(err, client));
  const root = r.model.info.artifact_uri.replace(/\/+$/, '');
  return {
    name: ref.modelId,
    version: '1',
    runId: r.model.info.source_run_id,
    source: `models:/${ref.modelId}`,
    artifactUri: ref.subPath ? `${root}/${ref.subPath}` : root,
  };
}

/** Registered models with their versions, for `mlserve models`. */
export async function listModels(client: MlflowRestClient): Promise<{ model: RestRegisteredModel; versions: RestModelVersion[] }[]> {
  const out: { model: RestRegisteredModel; versions: RestModelVersion[] }[] = [];
  let pageToken: string | undefined;
  do {
    const r = await client.json<{ registered_models?: RestRegisteredModel[]; next_page_token?: string }>('GET', `${API}/registered-models/search`, {
      max_results: '100',
      page_token: pageToken,
    });
    for (const model of r.registered_models ?? []) {
      const vs = await client.json<{ model_versions?: RestModelVersion[] }>('GET', `${API}/model-versions/search`, {
        filter: `name='${model.name.replace(/'/g, "\\'")}'`,
      });
      // Search results carry no aliases; the registered model lists them.
      const versions = (vs.model_versions ?? [])
        .map((v) => ({ ...v, aliases: v.aliases ?? (model.aliases ?? []).filter((a) => a.version === v.version).map((a) => a.alias) }))
        .sort((a, b) => Number(a.version) - Number(b.version));
      out.push({ model, versions });
    }
    pageToken = r.next_page_token;
  } while (pageToken);
  return out;
}

/** set_registered_model_alias: point `alias` at `version` (moving it if it names another). */
export async function setAlias(client: MlflowRestClient, name: string, alias: string, version: string): Promise<Record<string, unknown>> {
  return client
    .json('POST', `${API}/registered-models/alias`, { name, alias, version }, { write: true })
    .catch((err) => explain(err, client, name));
}

/**
 * transition_model_version_stage with archive_existing_versions: the version becomes the one in
 * `stage`, others there move to Archived (else models:/Name/Stage would still name the highest).
 */
export async function transitionStage(client: MlflowRestClient, name: string, version: string, stage: string): Promise<RestModelVersion> {
  const r = await client
    .json<{ model_version: RestModelVersion }>('POST', `${API}/model-versions/transition-stage`, { name, version, stage, archive_existing_versions: true }, { write: true })
    .catch((err) => explain(err, client, name));
  return r.model_version;
}
