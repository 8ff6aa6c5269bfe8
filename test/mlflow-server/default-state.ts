// The recorded server's registry, rebuilt from the transcripts' own answers so a replay matches:
// registered models (with their aliases and tags), every model version (from model-versions/search
// and /get), and the runs/get answers. Runs the transcripts never fetched are synthesized from their
// versions (see README: their names, times and data are not the recorded server's).
import { utimesSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Metric, ModelVersion, RegisteredModel, Run, Stage, Tag } from './entities.js';
import type { RecordedExchange } from './fixtures.js';
import { MlflowState, proxiedPath } from './state.js';

type Json = Record<string, unknown>;

const tags = (v: unknown): Tag[] => (Array.isArray(v) ? (v as Tag[]).map((t) => ({ key: t.key, value: t.value })) : []);

function* bodies(transcripts: RecordedExchange[]): Generator<Json> {
  for (const x of transcripts) {
    if (x.status !== 200 || x.content_type !== 'application/json' || x.body === null) continue;
    yield JSON.parse(x.body) as Json;
  }
}

function toVersion(j: Json): ModelVersion {
  return {
    name: j.name as string,
    version: Number(j.version),
    creation_timestamp: j.creation_timestamp as number,
    last_updated_timestamp: j.last_updated_timestamp as number,
    user_id: j.user_id as string | undefined,
    current_stage: j.current_stage as Stage,
    description: j.description as string | undefined,
    source: j.source as string,
    storage_location: j.source as string,
    run_id: j.run_id as string | undefined,
    status: (j.status as ModelVersion['status']) ?? 'READY',
    status_message: j.status_message as string | undefined,
    tags: tags(j.tags),
    run_link: j.run_link as string | undefined,
  };
}

function toRun(j: Json): Run {
  const info = j.info as Run['info'];
  const data = (j.data ?? {}) as Json;
  return {
    info: { ...info },
    data: { metrics: ((data.metrics as Metric[]) ?? []).map((m) => ({ ...m })), params: tags(data.params), tags: tags(data.tags) },
  };
}

/** Fill `state` with what the recorded server held. */
export function loadRecordedState(state: MlflowState, transcripts: RecordedExchange[]): MlflowState {
  const models = new Map<string, Json>();
  const versions = new Map<string, Json>();
  const addVersion = (mv: Json) => versions.set(`${mv.name as string}/${mv.version as string}`, { ...versions.get(`${mv.name as string}/${mv.version as string}`), ...mv });
  for (const body of bodies(transcripts)) {
    const rms = [...((body.registered_models as Json[]) ?? []), ...(body.registered_model ? [body.registered_model as Json] : [])];
    for (const rm of rms) {
      models.set(rm.name as string, rm);
      for (const mv of (rm.latest_versions as Json[]) ?? []) addVersion(mv);
    }
    for (const mv of [...((body.model_versions as Json[]) ?? []), ...(body.model_version ? [body.model_version as Json] : [])]) addVersion(mv);
    if (body.run) {
      const run = toRun(body.run as Json);
      state.runs.set(run.info.run_id, run);
    }
  }
  for (const rm of models.values()) {
    const entity: RegisteredModel = {
      name: rm.name as string,
      creation_timestamp: rm.creation_timestamp as number,
      last_updated_timestamp: rm.last_updated_timestamp as number,
      description: rm.description as string | undefined,
      tags: tags(rm.tags),
      aliases: new Map(((rm.aliases as Array<{ alias: string; version: string }>) ?? []).map((a) => [a.alias, Number(a.version)])),
    };
    state.registeredModels.set(entity.name, entity);
  }
  const all = [...versions.values()].map(toVersion).sort((a, b) => (a.name === b.name ? a.version - b.version : a.name < b.name ? -1 : 1));
  state.modelVersions.push(...all);
  for (const t of [...all.map((mv) => mv.last_updated_timestamp), ...[...state.registeredModels.values()].map((rm) => rm.last_updated_timestamp)]) {
    state.observeTime(t);
  }
  for (const mv of all) {
    if (!mv.run_id || state.runs.has(mv.run_id)) continue;
    // Not fetched by the transcripts: a plausible run behind the version's source.
    const [exp = '0'] = (proxiedPath(mv.source) ?? '').split('/');
    state.runs.set(mv.run_id, {
      info: {
        run_uuid: mv.run_id, experiment_id: exp, user_id: 'root', status: 'FINISHED', start_time: mv.creation_timestamp - 1000,
        end_time: mv.creation_timestamp, artifact_uri: `mlflow-artifacts:/${exp}/${mv.run_id}/artifacts`, lifecycle_stage: 'active', run_id: mv.run_id,
      },
      data: { metrics: [], params: [], tags: [{ key: 'mlflow.user', value: 'root' }] },
    });
  }
  return state;
}

/**
 * Give the copied artifact files the mtimes the recorded server's files had, read from the ETags of
 * the recorded /get-artifact and /model-versions/get-artifact answers ("<mtime>-<size>-<adler32>"),
 * so send_file's ETag and Last-Modified come out as recorded.
 */
export function restoreRecordedMtimes(state: MlflowState, transcripts: RecordedExchange[]): void {
  for (const x of transcripts) {
    const m = /^"(\d+(?:\.\d+)?)-\d+-\d+"$/.exec(x.headers.ETag ?? '');
    if (!m || x.status !== 200) continue;
    const q = new URLSearchParams(x.query);
    let root: string | undefined;
    try {
      if (x.path === '/get-artifact') root = proxiedPath(state.getRun(q.get('run_id') ?? '').info.artifact_uri);
      else if (x.path === '/model-versions/get-artifact') root = proxiedPath(state.getDownloadUri(q.get('name') ?? '', q.get('version') ?? ''));
    } catch {
      continue;
    }
    if (root === undefined) continue;
    const mtime = Number(m[1]);
    const file = join(state.artifactRoot, posix.join(root, q.get('path') ?? ''));
    try {
      utimesSync(file, mtime, mtime); // Node keeps microseconds only: the exact value is kept beside it
      state.exactMtimes.set(file, mtime);
    } catch {
      /* not in this copy */
    }
  }
}
