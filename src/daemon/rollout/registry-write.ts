// The registry side of `canary promote|rollback --registry-alias/--registry-stage`: checked before
// anything changes (a version that did not come from a registry cannot be written back), done
// after the promotion (or rollback) stands, and reported as events: the call, MLflow's answer, or
// its refusal. A refusal never undoes what mlserve did.
//
// Tracking and write-back together: when the old primary followed the very alias/stage that the
// write-back just moved to the promoted version (deploy --track), the promoted deployment takes
// that tracking over. Its tracker compares what the registry names with what it serves, so the
// moved alias is no new version to roll out (and a registry webhook for the alias change only
// makes it look at once).
import { MlserveError } from '../../errors.js';
import { parseModelSource } from '../../mlflow/uri.js';
import { checkRegistryWrite, describeWrite, writeToRegistry, type RegistryWrite, type WriteOutcome, type WriteTarget } from '../../mlflow/write-back.js';
import type { DeploymentRow } from '../control/state.js';
import type { Store } from '../control/store.js';

/** What the CLI asks for, with its MLflow variables (credentials stay in memory). */
export interface RegistryWriteRequest extends RegistryWrite {
  env?: Record<string, string>;
  cwd?: string;
}

export interface PreparedWrite {
  target: WriteTarget;
  write: RegistryWrite;
  env: Record<string, string>;
  cwd: string;
}

export interface WriteBackDeps {
  store: Store;
  write?: (target: WriteTarget, write: RegistryWrite, env: Record<string, string>, cwd: string) => Promise<WriteOutcome>;
}

/** Refuse before the promotion/rollback when the write-back cannot be done at all. */
export function checkWriteTarget(row: DeploymentRow | undefined, req: RegistryWriteRequest, verb: 'promote' | 'rollback'): PreparedWrite {
  const write = checkRegistryWrite({ alias: req.alias, stage: req.stage });
  const r = row?.resolved;
  if (!row || !r || r.kind !== 'registry' || !r.name || !r.registry) {
    const which = verb === 'promote' ? 'canary' : 'primary';
    throw new MlserveError(
      'BAD_REQUEST',
      `--registry-alias/--registry-stage set the ${which}'s version in the MLflow registry, but ${row ? `${row.name} was deployed from ${row.modelUri}, not a registered model version` : `the ${which} is gone`}; ` +
        `run mlserve canary ${verb} without them`,
    );
  }
  return { target: { registry: r.registry, name: r.name, version: r.version }, write, env: req.env ?? {}, cwd: req.cwd ?? process.cwd() };
}

/** Does `row` track the alias/stage of `name` that `write` just set? */
function tracksWhatWasSet(row: DeploymentRow, name: string, write: RegistryWrite): boolean {
  if (!row.settings.track) return false;
  try {
    const src = parseModelSource(row.modelUri);
    if (src.kind !== 'registry' || src.name !== name || src.subPath) return false;
    if (src.alias !== undefined) return src.alias === write.alias;
    if (src.stage !== undefined) return write.stage !== undefined && src.stage.toLowerCase() === write.stage.toLowerCase();
    return false;
  } catch {
    return false;
  }
}

/** Write back, record the call and its answer as events, and carry tracking over (see above). */
export async function writeBack(deps: WriteBackDeps, endpoint: string, row: DeploymentRow, p: PreparedWrite, oldPrimary?: DeploymentRow): Promise<WriteOutcome> {
  const { store } = deps;
  const what = [p.write.alias !== undefined ? `alias ${p.write.alias}` : '', p.write.stage !== undefined ? `stage ${p.write.stage}` : ''].filter(Boolean).join(' and ');
  store.addEvent('registry-write', endpoint, `setting ${what} on version ${p.target.version} of ${p.target.name} in MLflow at ${p.target.registry}`, { ...p.target, ...p.write, deployment: row.name });
  const outcome = await (deps.write ?? writeToRegistry)(p.target, p.write, p.env, p.cwd);
  if (!outcome.ok) {
    store.addEvent('registry-write-failed', endpoint, `${describeWrite(outcome)}; ${row.name} still serves (mlserve does not undo it): set it in MLflow by hand, or run the command again with credentials that may`, outcome);
    return outcome;
  }
  store.addEvent('registry-written', endpoint, describeWrite(outcome), outcome);
  const current = store.getDeployment(row.name);
  if (oldPrimary && current && !current.settings.track && tracksWhatWasSet(oldPrimary, p.target.name, p.write)) {
    store.updateModel(current.name, {
      modelUri: oldPrimary.modelUri, resolved: current.resolved, modelDir: current.modelDir, modelFile: current.modelFile,
      signature: current.signature, settings: { ...current.settings, track: oldPrimary.settings.track },
    });
    store.addEvent('track-continued', endpoint, `${oldPrimary.modelUri} now names version ${p.target.version}, which ${current.name} serves: it follows ${oldPrimary.modelUri} from here on`, { deployment: current.name, source: oldPrimary.modelUri });
  }
  return outcome;
}
