// The daemon's side of `mlserve apply`: plan the config file against the desired state in the
// store (config/plan.ts), check a dry run's feasibility, or resolve every model the plan needs
// (the only I/O) and write the whole plan in ONE SQLite transaction; the reconcile loop then does
// the rest without downtime (new revisions and replacements come up beside what serves).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { asMlserveError, MlserveError } from '../../errors.js';
import { checkPipeline } from '../../pipeline/pipeline.js';
import { changesOf, plan, type DeploymentOp, type EndpointPlan, type Plan } from '../../config/plan.js';
import type { CurrentState, DesiredDeployment, DesiredEndpoint, DesiredSettings } from '../../config/desired.js';
import { readMlflowModel } from '../../mlflow/mlmodel.js';
import { parseModelSource } from '../../mlflow/uri.js';
import { inventoryProblem } from '../fleet/gpu-fit.js';
import type { Inventory } from '../fleet/gpu-inventory.js';
import { peekVersion } from '../rollout/tracker.js';
import { checkName, runtimeSettings, type PythonEnvFor } from './commands.js';
import type { ModelSourceResolver, ResolvedSource } from './model-source.js';
import { deploySettings } from './settings.js';
import type { DeploymentSettings } from './state.js';
import type { Store } from './store.js';

export interface ApplyRequest {
  endpoints: DesiredEndpoint[];
  prune?: boolean;
  dryRun?: boolean;
  /** The CLI's MLflow environment and working directory (model sources resolve with them). */
  env?: Record<string, string>;
  cwd?: string;
}

export interface ApplyResult {
  plan: Plan['actions'];
  /** Dry run: why the plan could not be carried out (a missing file, a model that does not resolve, GPUs that do not exist). */
  problems: string[];
  applied: boolean;
  /** Deployments whose state the caller waits on (created, replaced, updated). */
  touched: string[];
}

export interface ApplyDeps {
  store: Store;
  resolver: ModelSourceResolver;
  pythonEnv: PythonEnvFor;
  inventory: Inventory;
  kick: () => Promise<void>;
  onProgress?: (p: { file: string; bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;
}

/** The store's desired state as the plan reads it. */
export function currentState(store: Store): CurrentState {
  return { endpoints: store.listEndpoints(), deployments: store.listDeployments() };
}

/** Would this GPU request ever fit the inventory (not: does it fit now)? */
export function gpuProblem(request: DesiredSettings, inv: Inventory): string | null {
  if (!request.gpus) return null;
  const replicas = request.autoscaling ? (request.autoscaling.initial_replicas ?? request.autoscaling.min_replicas) : (request.replicas ?? 1);
  try {
    return inventoryProblem(request.gpus, replicas, inv.gpus, inv.source);
  } catch (err) {
    return (err as Error).message;
  }
}

/** Does this model source resolve, and is it servable? (no download: local files are read, registries asked for the version) */
async function sourceProblem(source: string, env: Record<string, string>, cwd: string): Promise<string | null> {
  try {
    const parsed = parseModelSource(source);
    if (parsed.kind === 'path') {
      const st = statSync(parsed.path, { throwIfNoEntry: false });
      if (!st) return `model ${source}: no such file or directory`;
      const dir = st.isDirectory() ? parsed.path : null;
      if (dir && existsSync(join(dir, 'MLmodel'))) readMlflowModel(dir);
      return null;
    }
    if (parsed.kind === 'registry') await peekVersion(source, env, cwd);
    return null;
  } catch (err) {
    return `model ${source}: ${asMlserveError(err).message}`;
  }
}

const needsModel = (op: DeploymentOp): op is Extract<DeploymentOp, { want: DesiredDeployment }> =>
  op.op === 'create' || op.op === 'replace' || (op.op === 'update' && op.resolve);

export async function applyConfig(req: ApplyRequest, deps: ApplyDeps): Promise<ApplyResult> {
  const { store } = deps;
  const env = req.env ?? {};
  const cwd = req.cwd ?? process.cwd();
  const p = plan(req.endpoints, currentState(store), { prune: req.prune });
  const settingsOf = (d: DesiredDeployment): DeploymentSettings => deploySettings({ source: d.source, ...d.request, env, cwd });
  // Settings are checked before anything else (they throw BAD_REQUEST naming the setting).
  for (const e of req.endpoints) for (const d of [e.primary, e.canary]) if (d) settingsOf(d);
  if (req.dryRun) {
    const problems: string[] = [];
    for (const e of p.endpoints) {
      for (const op of [e.primary, e.canary]) {
        if (!('want' in op)) continue;
        const gp = gpuProblem(op.want.request, deps.inventory);
        if (gp) problems.push(`${e.endpoint}: ${gp}`);
        if (needsModel(op)) {
          const sp = await sourceProblem(op.want.source, env, cwd);
          if (sp) problems.push(`${e.endpoint}: ${sp}`);
        }
      }
    }
    return { plan: p.actions, problems, applied: false, touched: [] };
  }
  if (changesOf(p).length === 0) return { plan: p.actions, problems: [], applied: false, touched: [] };
  for (const e of p.endpoints) {
    for (const op of [e.primary, e.canary]) {
      if ('want' in op) {
        const gp = gpuProblem(op.want.request, deps.inventory);
        if (gp) throw new MlserveError('NO_GPU', `${e.endpoint}: ${gp}; nothing was applied`);
      }
    }
  }
  // Resolve (and fetch) every model first, and prepare Python environments: a source that fails leaves the store untouched.
  const resolved = new Map<DesiredDeployment, ResolvedSource>();
  const runtimes = new Map<DesiredDeployment, Partial<DeploymentSettings>>();
  for (const e of p.endpoints) {
    for (const op of [e.primary, e.canary]) {
      if (!('want' in op)) continue;
      try {
        if (needsModel(op) && !resolved.has(op.want)) {
          const r = await deps.resolver.resolve(op.want.source, { env, cwd, onProgress: deps.onProgress, runtime: op.want.request.runtime });
          resolved.set(op.want, r);
          runtimes.set(op.want, await runtimeSettings(r, { ...op.want.request, env, subject: e.endpoint }, deps.pythonEnv));
        } else if (op.op === 'update') {
          // Same model: it keeps its runtime and environment unless the file names another runtime.
          const row = store.getDeployment(op.current)!;
          const keep = { runtime: row.settings.runtime, python: row.settings.python, envManager: row.settings.envManager };
          const forced = op.want.request.runtime;
          runtimes.set(op.want, forced && forced !== (row.settings.runtime ?? 'onnx')
            ? await runtimeSettings({ runtime: forced, modelDir: row.modelDir }, { ...op.want.request, env }, deps.pythonEnv)
            : keep);
        }
      } catch (err) {
        const x = asMlserveError(err);
        throw new MlserveError(x.code, `${e.endpoint}: ${x.message}; nothing was applied`);
      }
    }
  }
  // Pipelines against the model each deployment will serve (its labels file, its inputs and outputs).
  for (const e of p.endpoints) {
    for (const op of [e.primary, e.canary]) {
      if (!('want' in op) || !op.want.request.pipeline) continue;
      const r = resolved.get(op.want);
      const row = op.op === 'update' ? store.getDeployment(op.current) : undefined;
      const model = r ?? (row ? { modelDir: row.modelDir, signature: row.signature } : undefined);
      if (!model) continue;
      try {
        checkPipeline(settingsOf(op.want).pipeline!, model.modelDir, model.signature);
      } catch (err) {
        const x = asMlserveError(err);
        throw new MlserveError(x.code, `${e.endpoint}: ${x.message}; nothing was applied`);
      }
    }
  }
  const touched: string[] = [];
  const withRuntime = (d: DesiredDeployment): DeploymentSettings => ({ ...settingsOf(d), ...(runtimes.get(d) ?? {}) });
  store.transaction(() => {
    for (const e of p.endpoints) touched.push(...writeEndpoint(store, e, resolved, withRuntime));
  });
  await deps.kick();
  return { plan: p.actions, problems: [], applied: true, touched };
}

/** The store writes for one endpoint's plan (inside the caller's transaction); returns the deployments to wait on. */
function writeEndpoint(store: Store, e: EndpointPlan, resolved: Map<DesiredDeployment, ResolvedSource>, settingsOf: (d: DesiredDeployment) => DeploymentSettings): string[] {
  const ep = e.endpoint;
  const touched: string[] = [];
  if (e.remove) {
    for (const d of store.listDeployments().filter((x) => x.endpoint === ep)) store.deleteDeployment(d.name);
    store.addEvent('undeployed', ep, `endpoint ${ep} removed (mlserve apply --prune)`);
    return touched;
  }
  const nameFor = (want: DesiredDeployment, r: ResolvedSource) => {
    const name = want.name ?? `${ep}-v${r.resolved.version}`;
    checkName(name, 'deployment', 'name:');
    return name;
  };
  const create = (want: DesiredDeployment, why: string): string => {
    const r = resolved.get(want)!;
    const name = nameFor(want, r);
    if (store.getDeployment(name)) throw new MlserveError('CONFLICT', `${ep}: deployment ${name} already exists; give this one another name: in the file`);
    store.createDeployment({
      name, endpoint: ep, modelUri: want.source, resolved: r.resolved, modelDir: r.modelDir, modelFile: r.modelFile, signature: r.signature,
      settings: settingsOf(want), state: 'loading', message: null,
    });
    store.addEvent('deployed', name, `deployed ${want.source} -> version ${r.resolved.version} on endpoint ${ep} (${why})`, { source: want.source, resolved: r.resolved });
    touched.push(name);
    return name;
  };
  const update = (name: string, want: DesiredDeployment, withModel: boolean) => {
    const row = store.getDeployment(name)!;
    const r = withModel ? resolved.get(want)! : undefined;
    store.updateModel(name, {
      modelUri: r ? want.source : row.modelUri, resolved: r?.resolved ?? row.resolved, modelDir: r?.modelDir ?? row.modelDir,
      modelFile: r?.modelFile ?? row.modelFile, signature: r ? r.signature : row.signature, settings: settingsOf(want),
    });
    store.addEvent('updated', name, `desired state of ${name} changed (mlserve apply)${r ? `: model ${want.source} -> version ${r.resolved.version}` : ''}`);
    touched.push(name);
  };
  // The primary.
  const cur = store.getEndpoint(ep);
  const op = e.primary;
  if (op.op === 'create') create(op.want, 'mlserve apply');
  else if (op.op === 'update') update(op.current, op.want, op.resolve);
  else if (op.op === 'replace') {
    const r = resolved.get(op.want)!;
    if (nameFor(op.want, r) === op.current) update(op.current, op.want, true);
    else {
      const pending = cur?.nextPrimary && cur.nextPrimary === op.current ? op.current : null;
      const next = create(op.want, `replaces ${op.current} once ready`);
      if (pending) store.deleteDeployment(pending);
      store.setNextPrimary(ep, next);
      store.addEvent('replacing', ep, `${next} replaces ${cur?.primary} once every replica is ready (blue-green)`, { from: cur?.primary, to: next });
    }
  }
  // The canary.
  const primary = store.getEndpoint(ep)!.primary;
  const c = e.canary;
  let canary = store.getEndpoint(ep)!.canary;
  if (c.op === 'remove' || c.op === 'replace') {
    store.setRouting(ep, primary, null, 0);
    store.deleteDeployment(c.op === 'remove' ? c.current : c.current);
    store.addEvent('canary-rolled-back', ep, `canary ${c.current} removed (mlserve apply)`);
    canary = null;
  }
  if (c.op === 'create' || c.op === 'replace') canary = create(c.want, `canary of ${ep}`);
  else if (c.op === 'update') update(c.current, c.want, c.resolve);
  if (canary && e.weight !== undefined) {
    store.setRouting(ep, primary, canary, e.weight);
    store.setShadow(ep, e.shadow ?? 0);
  }
  if (e.rollout) store.setRollout(ep, e.rollout.policy ? { policy: e.rollout.policy } : null);
  return touched;
}
