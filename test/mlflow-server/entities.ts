// The in-memory entities of the test server and their proto-JSON forms. Field order follows the proto
// field numbers (MessageToJson lists set fields in that order); unset fields (undefined) and empty
// repeated fields are omitted; int64 are JSON numbers (mlflow/utils/proto_json_utils.py).
import { PyFloat } from './pyjson.js';

export interface Tag {
  key: string;
  value: string;
}

export type Stage = 'None' | 'Staging' | 'Production' | 'Archived';
/** mlflow/entities/model_registry/model_version_stages.py */
export const ALL_STAGES: Stage[] = ['None', 'Staging', 'Production', 'Archived'];
export const ACTIVE_STAGES: Stage[] = ['Staging', 'Production'];
/** The SQL store marks deleted versions with this stage and hides them. */
export const STAGE_DELETED_INTERNAL = 'Deleted_Internal';

export interface RegisteredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  /** Undefined = never set (omitted from answers); '' is answered as "". */
  description?: string;
  tags: Tag[];
  /** alias -> version number */
  aliases: Map<string, number>;
}

export interface ModelVersion {
  name: string;
  version: number;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id?: string;
  current_stage: Stage | typeof STAGE_DELETED_INTERNAL;
  description?: string;
  source: string;
  /** Not part of the REST entity; what get-download-uri answers (falls back to source). */
  storage_location?: string;
  run_id?: string;
  status: 'READY' | 'PENDING_REGISTRATION' | 'FAILED_REGISTRATION';
  status_message?: string;
  tags: Tag[];
  run_link?: string;
}

export interface Metric {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export interface RunInfo {
  run_uuid: string;
  experiment_id: string;
  run_name?: string;
  user_id?: string;
  status: 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
  start_time?: number;
  end_time?: number;
  artifact_uri: string;
  lifecycle_stage: 'active' | 'deleted';
  run_id: string;
}

export interface Run {
  info: RunInfo;
  data: { metrics: Metric[]; params: Tag[]; tags: Tag[] };
}

/** A 3.x LoggedModel (mlflow/protos/service.proto LoggedModelInfo). */
export interface LoggedModel {
  model_id: string;
  experiment_id: string;
  name: string;
  creation_timestamp_ms: number;
  last_updated_timestamp_ms: number;
  /** artifact_location, e.g. mlflow-artifacts:/0/models/m-<id>/artifacts */
  artifact_uri: string;
  status: 'LOGGED_MODEL_PENDING' | 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED';
  model_type?: string;
  source_run_id?: string;
  status_message?: string;
  tags: Tag[];
}

const nonEmpty = <T>(xs: T[]): T[] | undefined => (xs.length ? xs : undefined);
const tagsJson = (tags: Tag[]) => nonEmpty(tags.map((t) => ({ key: t.key, value: t.value })));

/** ModelVersion.to_proto(). `aliases` only where the store populates them (get, alias, transition). */
export function modelVersionJson(mv: ModelVersion, aliases?: string[]): Record<string, unknown> {
  return {
    name: mv.name,
    version: String(mv.version),
    creation_timestamp: mv.creation_timestamp,
    last_updated_timestamp: mv.last_updated_timestamp,
    user_id: mv.user_id,
    current_stage: mv.current_stage,
    description: mv.description,
    source: mv.source,
    run_id: mv.run_id,
    status: mv.status,
    status_message: mv.status_message,
    tags: tagsJson(mv.tags),
    run_link: mv.run_link,
    aliases: aliases ? nonEmpty(aliases) : undefined,
  };
}

/** RegisteredModel.to_proto(), latest_versions as SqlRegisteredModel.to_mlflow_entity() builds them. */
export function registeredModelJson(rm: RegisteredModel, latest: ModelVersion[]): Record<string, unknown> {
  return {
    name: rm.name,
    creation_timestamp: rm.creation_timestamp,
    last_updated_timestamp: rm.last_updated_timestamp,
    description: rm.description || undefined, // never answered empty (see README)
    latest_versions: nonEmpty(latest.map((mv) => modelVersionJson(mv))),
    tags: tagsJson(rm.tags),
    aliases: nonEmpty(
      [...rm.aliases.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([alias, version]) => ({ alias, version: String(version) })),
    ),
  };
}

/** Run.to_proto() of MLflow 2.11: info, data, inputs (no outputs before 3.x). */
export function runJson(run: Run): Record<string, unknown> {
  const i = run.info;
  return {
    info: {
      run_uuid: i.run_uuid, experiment_id: i.experiment_id, run_name: i.run_name, user_id: i.user_id, status: i.status,
      start_time: i.start_time, end_time: i.end_time, artifact_uri: i.artifact_uri, lifecycle_stage: i.lifecycle_stage, run_id: i.run_id,
    },
    data: {
      metrics: nonEmpty(run.data.metrics.map((m) => ({ key: m.key, value: new PyFloat(m.value), timestamp: m.timestamp, step: m.step }))),
      params: tagsJson(run.data.params),
      tags: tagsJson(run.data.tags),
    },
    inputs: {},
  };
}

/** LoggedModel.to_proto() of 3.x: {"info": {...}, "data": {}}. */
export function loggedModelJson(m: LoggedModel): Record<string, unknown> {
  return {
    info: {
      model_id: m.model_id, experiment_id: m.experiment_id, name: m.name,
      creation_timestamp_ms: m.creation_timestamp_ms, last_updated_timestamp_ms: m.last_updated_timestamp_ms,
      artifact_uri: m.artifact_uri, status: m.status, model_type: m.model_type, source_run_id: m.source_run_id,
      status_message: m.status_message, tags: tagsJson(m.tags),
    },
    data: {},
  };
}
