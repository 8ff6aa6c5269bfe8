// Loader for the recorded MLflow 2.11 fixtures (../shared/mlflow-fixtures): the 74 HTTP exchanges,
// the ids and the server's artifact store. Nothing here is mlserve code.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One recorded exchange of transcripts.json, field for field. */
export interface RecordedExchange {
  name: string;
  method: string;
  url: string;
  path: string;
  query: string;
  request_body: string | null;
  request_content_type: string | null;
  status: number;
  status_line: string;
  content_type: string | null;
  headers: Record<string, string>;
  body_size: number;
  body_sha256: string;
  body: string | null;
  body_is_binary: boolean;
  body_json?: unknown;
}

export interface FixtureIds {
  recorded_at: string;
  base_url: string;
  resnet50_v1_run_id: string;
  resnet50_v2_run_id: string;
  sklearn_run_id: string;
  model_dir_artifact_path: string;
  external_data_file: string;
}

/**
 * The fixtures folder: $MLSERVE_FIXTURES, else shared/mlflow-fixtures beside the repo, else
 * /work/shared/mlflow-fixtures (the first that exists).
 */
export function fixturesDir(): string {
  const candidates = [
    process.env.MLSERVE_FIXTURES,
    fileURLToPath(new URL('../../../shared/mlflow-fixtures', import.meta.url)),
    '/work/shared/mlflow-fixtures',
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(join(p, 'transcripts.json')));
  if (!found) throw new Error(`MLflow fixtures not found; looked in: ${candidates.join(', ')}`);
  return found;
}

let cached: { dir: string; transcripts: RecordedExchange[]; ids: FixtureIds } | undefined;

function load(dir = fixturesDir()) {
  if (cached && cached.dir === dir) return cached;
  const transcripts = JSON.parse(readFileSync(join(dir, 'transcripts.json'), 'utf8')) as RecordedExchange[];
  const ids = JSON.parse(readFileSync(join(dir, 'ids.json'), 'utf8')) as FixtureIds;
  cached = { dir, transcripts, ids };
  return cached;
}

export function loadTranscripts(dir?: string): RecordedExchange[] {
  return load(dir).transcripts;
}

export function loadIds(dir?: string): FixtureIds {
  return load(dir).ids;
}

/** The recorded server's `--artifacts-destination`, as a folder to copy. */
export function serverArtifactsDir(dir = fixturesDir()): string {
  return join(dir, 'server-artifacts');
}

/**
 * The recorded server's --artifacts-destination, as it named it in its answers. transcripts.json
 * shows it as /srv/mlflow/artifacts in exchange #48's body text, but that text was rewritten after
 * recording: the body's recorded size and sha256 (and Content-Length) are of the original bytes,
 * which name /tmp/mlflow-run/artifacts, and so do the adler32 parts of the recorded ETags.
 */
export const RECORDED_ARTIFACTS_DESTINATION = '/tmp/mlflow-run/artifacts';
/** The path transcripts.json shows in place of RECORDED_ARTIFACTS_DESTINATION. */
export const REWRITTEN_ARTIFACTS_DESTINATION = '/srv/mlflow/artifacts';
/** What the recorded server answered on /version. */
export const RECORDED_MLFLOW_VERSION = '2.11.4.dev0';
