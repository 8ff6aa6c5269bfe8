// Write-back: after `mlserve canary promote|rollback --registry-alias A --registry-stage S`, set
// the alias (set_registered_model_alias) and/or the stage (transition_model_version_stage, other
// versions in that stage archived) on the version that now serves, in the registry it came from:
// a tracking server (REST, with the credentials the CLI sent) or a local file store.
import { MlserveError } from '../errors.js';
import { MlflowRestClient } from './client.js';
import { redactText, splitSecrets } from './credentials.js';
import { canonicalStage } from './file-store.js';
import { setAlias as fileSetAlias, setStage as fileSetStage } from '../models/file-store-writer.js';
import { restConfig } from './rest-config.js';
import { setAlias, transitionStage } from './rest-registry.js';
import { parseTrackingUri } from './uri.js';

/** What to set in the registry. */
export interface RegistryWrite {
  alias?: string;
  stage?: string;
}

/** The model version to set it on, and the registry it was resolved from (as stored: no credentials). */
export interface WriteTarget {
  registry: string;
  name: string;
  version: string;
}

export interface WriteOutcome {
  ok: boolean;
  registry: string;
  name: string;
  version: string;
  alias?: string;
  stage?: string;
  /** The calls made, as `POST /api/2.0/mlflow/registered-models/alias` (or `file store: ...`). */
  calls: string[];
  /** What the registry answered (the model version after a stage transition). */
  answer?: unknown;
  /** Why it did not happen (credentials never appear). */
  error?: string;
}

const bad = (msg: string) => new MlserveError('BAD_REQUEST', msg);

/** PURE: refuse values MLflow would refuse (and any that could name a path in a file store). */
export function checkRegistryWrite(w: RegistryWrite): RegistryWrite {
  const out: RegistryWrite = {};
  if (w.alias !== undefined) {
    const a = w.alias;
    if (a === '' || a.length > 255 || /[/\\:\0]/.test(a) || a === '.' || a === '..') {
      throw bad(`--registry-alias '${a}' is not a valid alias: use letters, digits, '_', '-' or '.' (at most 255)`);
    }
    if (a.toLowerCase() === 'latest' || /^v\d+$/i.test(a)) throw bad(`--registry-alias '${a}' is reserved by MLflow ('latest' and v<number> name versions)`);
    out.alias = a;
  }
  if (w.stage !== undefined) {
    const s = canonicalStage(w.stage);
    if (s === 'None' || s === 'Archived') throw bad(`--registry-stage must be Staging or Production (got ${w.stage})`);
    out.stage = s;
  }
  if (out.alias === undefined && out.stage === undefined) throw bad('nothing to write back: pass --registry-alias or --registry-stage');
  return out;
}

/**
 * The registry to write to is the one the version came from. The CLI's variables give the
 * credentials; when they name a registry at all, it must be that one (credentials for one server
 * are never sent to another).
 */
function writeEnv(target: WriteTarget, given: Record<string, string>, cwd: string): Record<string, string> {
  const split = splitSecrets(given);
  const env = { ...split.public, ...split.secret };
  const named = env.MLFLOW_REGISTRY_URI || env.MLFLOW_TRACKING_URI;
  if (named) {
    const a = parseTrackingUri(named, cwd);
    const b = parseTrackingUri(target.registry, cwd);
    const same = a.kind === b.kind && (a.kind === 'rest' ? a.url === (b as { url: string }).url : a.root === (b as { root: string }).root);
    if (!same) {
      throw bad(
        `version ${target.version} of ${target.name} came from the registry at ${target.registry}, but ${env.MLFLOW_REGISTRY_URI ? 'MLFLOW_REGISTRY_URI' : 'MLFLOW_TRACKING_URI'} names ${split.public.MLFLOW_REGISTRY_URI || split.public.MLFLOW_TRACKING_URI}; ` +
          'write-back goes to the registry the version came from: point the variable there (or unset it) and run the command again',
      );
    }
  }
  return { ...env, MLFLOW_TRACKING_URI: target.registry, MLFLOW_REGISTRY_URI: target.registry };
}

/** Set the alias and/or stage; never throws (the outcome says what happened). */
export async function writeToRegistry(target: WriteTarget, write: RegistryWrite, given: Record<string, string>, cwd: string): Promise<WriteOutcome> {
  const out: WriteOutcome = { ok: false, registry: target.registry, name: target.name, version: target.version, ...write, calls: [] };
  let client: MlflowRestClient | undefined;
  try {
    const env = writeEnv(target, given, cwd);
    const store = parseTrackingUri(target.registry, cwd);
    if (store.kind === 'file') {
      const v = Number(target.version);
      if (write.alias !== undefined) {
        out.calls.push(`file store: set alias ${write.alias} -> version ${target.version}`);
        fileSetAlias(store.root, target.name, write.alias, v);
      }
      if (write.stage !== undefined) {
        out.calls.push(`file store: transition version ${target.version} to ${write.stage} (archive existing)`);
        fileSetStage(store.root, target.name, v, write.stage as 'Staging' | 'Production', true);
      }
    } else {
      // A few quick tries: the promotion is done, the operator waits for this answer.
      client = new MlflowRestClient(restConfig(store.url, { MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2', MLSERVE_REGISTRY_TIMEOUT: '30', ...env }));
      if (write.alias !== undefined) {
        out.calls.push('POST /api/2.0/mlflow/registered-models/alias');
        out.answer = await setAlias(client, target.name, write.alias, target.version);
      }
      if (write.stage !== undefined) {
        out.calls.push('POST /api/2.0/mlflow/model-versions/transition-stage');
        const mv = await transitionStage(client, target.name, target.version, write.stage);
        out.answer = { model_version: { name: mv.name, version: mv.version, current_stage: mv.current_stage } };
      }
    }
    out.ok = true;
  } catch (err) {
    out.error = redactText((err as Error).message);
  } finally {
    await client?.close();
  }
  return out;
}

/** One line for events and the CLI: what was set, or what went wrong. */
export function describeWrite(o: WriteOutcome): string {
  const what = [o.alias !== undefined ? `alias ${o.alias}` : '', o.stage !== undefined ? `stage ${o.stage}` : ''].filter(Boolean).join(' and ');
  return o.ok
    ? `MLflow at ${o.registry}: ${what} now on version ${o.version} of ${o.name}`
    : `MLflow at ${o.registry} did not set ${what} on version ${o.version} of ${o.name}: ${o.error}`;
}
