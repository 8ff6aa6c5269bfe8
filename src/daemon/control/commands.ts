// What the control API's deploy, undeploy and scale do: check the request, resolve the model (the
// only I/O before the write), write the desired state in one SQLite transaction, and hand over to
// the reconcile loop (kick). Nothing here starts or stops a process.
import { MlserveError, notFound } from '../../errors.js';
import { checkPipeline } from '../../pipeline/pipeline.js';
import { validateAutoscaling, type AutoscalingConfig } from '../fleet/autoscaler.js';
import { inventoryProblem } from '../fleet/gpu-fit.js';
import { requireCudaProvider } from '../fleet/gpu-inventory.js';
import type { Inventory } from '../fleet/gpu-inventory.js';
import type { ModelSourceResolver, ResolvedSource } from './model-source.js';
import { deploySettings, requestedRuntime, type DeployRequest } from './settings.js';
import type { DeploymentRow, DeploymentSettings } from './state.js';
import type { Store } from './store.js';
import { NAME_RE, NAME_TEXT } from '../../config/checker.js';

export type { DeployRequest } from './settings.js';
export type DeployProgress = (p: { file: string; bytes: number; totalBytes: number; files: number; totalFiles: number }) => void;

/** Endpoint and deployment names become URL paths and KServe resource names (one rule, the config file's). */
export { NAME_RE };
export const NAME_RULE = `${NAME_TEXT} (names become URL paths and KServe resource names)`;

/** Prepares the Python a pyfunc model's replicas run (env manager: local, virtualenv, uv); returns its interpreter. */
export type PythonEnvFor = (
  modelDir: string,
  req: { envManager?: 'local' | 'virtualenv' | 'uv'; python?: string; env: Record<string, string>; subject?: string },
  onProgress?: (line: string) => void,
) => Promise<{ python: string; manager: 'local' | 'virtualenv' | 'uv'; reason?: string }>;

export interface CommandDeps {
  store: Store;
  resolver: ModelSourceResolver;
  inventory: Inventory;
  pythonEnv: PythonEnvFor;
  /** Run a reconcile pass now; resolves when it finished. */
  kick: () => Promise<void>;
  /** Resolves once nothing of this deployment runs or drains. */
  whenStopped: (deployment: string) => Promise<void>;
  /** A canary started beside `primary` (canary status takes its baseline). */
  onCanaryStarted?: (endpoint: string, primary: string) => Promise<void>;
  /** A deploy asked to follow the registry: its MLflow environment (credentials too), kept in memory only. */
  onTrack?: (endpoint: string, env: Record<string, string>) => void;
}

/**
 * The runtime settings a resolved model gets: its replica kind (from the flavors or --runtime) and,
 * for Python models, the interpreter of the environment prepared for it.
 */
export async function runtimeSettings(
  model: Pick<ResolvedSource, 'runtime' | 'modelDir'>,
  req: Pick<DeployRequest, 'envManager' | 'python' | 'env' | 'llm'> & { subject?: string },
  pythonEnv: PythonEnvFor,
  onProgress?: (line: string) => void,
): Promise<Pick<DeploymentSettings, 'runtime' | 'python' | 'envManager'>> {
  const llm = model.runtime === 'llamacpp' || model.runtime === 'openai';
  if (!llm && req.llm && Object.values(req.llm).some((v) => v !== undefined && v !== null)) {
    throw new MlserveError('BAD_REQUEST', `--ctx-size, --slots, --engine and --engine-cmd are for language models; this model runs on the ${model.runtime} runtime`);
  }
  if (llm) {
    if (req.envManager || req.python) throw new MlserveError('BAD_REQUEST', `--env-manager and --python are for Python models; this model runs on the ${model.runtime} runtime`);
    return { runtime: model.runtime as 'llamacpp' | 'openai' };
  }
  if (model.runtime !== 'python') {
    if (req.envManager || req.python) throw new MlserveError('BAD_REQUEST', '--env-manager and --python are for Python models; this model runs on the onnx runtime (pass --runtime python to load it with mlflow.pyfunc)');
    return {};
  }
  const env = await pythonEnv(model.modelDir, { envManager: req.envManager, python: req.python, env: req.env ?? {}, subject: req.subject }, onProgress);
  return { runtime: 'python', python: env.python, envManager: env.manager };
}

/** Refuse names that are not valid, saying why; never rename silently. */
export function checkName(name: string, what: 'endpoint' | 'deployment', flag: string): void {
  if (!NAME_RE.test(name)) throw new MlserveError('BAD_REQUEST', `${what} name '${name}' is not valid: use ${NAME_RULE}; pass ${flag}`);
}

/**
 * GPUs asked for must fit this machine's inventory (and have the CUDA provider when real): a request
 * that could never be placed is refused now, not left pending for room that cannot appear.
 */
export function checkGpus(gpus: number | undefined, replicas: number, inv: Inventory): void {
  if (gpus === undefined) return;
  const problem = inventoryProblem(gpus, replicas, inv.gpus, inv.source);
  if (inv.gpus.length === 0) {
    throw new MlserveError('NO_GPU', `${problem}; deploy without --gpus to run on CPU, or set MLSERVE_GPUS for the daemon to simulate an inventory`);
  }
  if (problem) throw new MlserveError('NO_GPU', `${problem} (see mlserve gpus)`);
  if (!inv.simulated) requireCudaProvider();
}

export class Commands {
  constructor(private readonly deps: CommandDeps) {}

  async deploy(req: DeployRequest, onProgress?: DeployProgress): Promise<DeploymentRow> {
    const { store } = this.deps;
    const settings = deploySettings(req);
    checkGpus(settings.gpus, settings.replicas, this.deps.inventory);
    if (req.endpoint !== undefined) checkName(req.endpoint, 'endpoint', '--endpoint');
    if (req.name !== undefined) checkName(req.name, 'deployment', '--name');
    if (req.canary !== undefined && (!(req.canary >= 0) || req.canary > 100)) throw new MlserveError('BAD_REQUEST', `--canary weight must be 0..100% (got ${req.canary})`);
    const model = await this.deps.resolver.resolve(req.source, { env: req.env ?? {}, cwd: req.cwd ?? process.cwd(), onProgress, runtime: requestedRuntime(req) });
    if (settings.pipeline) checkPipeline(settings.pipeline, model.modelDir, model.signature);
    const endpoint = req.endpoint ?? model.defaultEndpoint;
    Object.assign(settings, await runtimeSettings(model, { ...req, subject: endpoint }, this.deps.pythonEnv, onProgress ? (message) => onProgress({ message } as never) : undefined));
    checkName(endpoint, 'endpoint', '--endpoint');
    const name = req.name ?? `${endpoint}-v${model.resolved.version}`;
    checkName(name, 'deployment', '--name');
    if (store.getDeployment(name)) {
      throw new MlserveError('CONFLICT', `deployment ${name} already exists; undeploy it first (mlserve undeploy ${name}) or pass --name`);
    }
    const current = store.getEndpoint(endpoint);
    if (current && req.canary === undefined && !req.replace) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} already serves ${current.primary}. To go on: --replace (blue-green: switch once ${name} is ready), --canary 10% (run beside it), or mlserve undeploy ${endpoint} first; or pick another --endpoint`);
    }
    if (current && req.canary !== undefined && current.canary) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} already has canary ${current.canary}; promote or roll it back first (mlserve canary promote|rollback --endpoint ${endpoint})`);
    }
    if (current?.nextPrimary) {
      throw new MlserveError('CONFLICT', `endpoint ${endpoint} is being replaced by ${current.nextPrimary}; wait until it serves (mlserve status) or undeploy ${current.nextPrimary}`);
    }
    if (!current && (req.canary !== undefined || req.replace)) {
      throw new MlserveError('NOT_FOUND', `endpoint ${endpoint} does not exist yet, so there is nothing to ${req.replace ? 'replace' : 'run a canary beside'}; deploy without --canary/--replace first`);
    }
    store.transaction(() => {
      store.createDeployment({
        name, endpoint, modelUri: req.source, resolved: model.resolved, modelDir: model.modelDir, modelFile: model.modelFile,
        signature: model.signature, settings, state: 'loading', message: null,
      });
      store.addEvent('deployed', name, `deployed ${req.source} -> version ${model.resolved.version} on endpoint ${endpoint} (${model.cacheHit ? 'from the cache' : 'fetched'})`, {
        source: req.source, resolved: model.resolved, settings, cacheHit: model.cacheHit,
      });
      if (current && req.canary !== undefined) {
        store.setRouting(endpoint, current.primary, name, req.canary);
        store.addEvent('canary-started', endpoint, `canary ${name} beside ${current.primary} at ${req.canary}% (it takes traffic once ready)`, { canary: name, weight: req.canary });
      }
      if (current && req.replace) {
        store.setNextPrimary(endpoint, name);
        store.addEvent('replacing', endpoint, `${name} replaces ${current.primary} once every replica is ready (blue-green)`, { from: current.primary, to: name });
      }
    });
    if (settings.track) this.deps.onTrack?.(endpoint, req.env ?? {});
    await this.deps.kick();
    if (current && req.canary !== undefined) await this.deps.onCanaryStarted?.(endpoint, current.primary);
    return store.getDeployment(name)!;
  }

  /** Remove an endpoint (with its deployments) or one deployment; resolves once they drained and stopped. */
  async undeploy(target: string): Promise<string[]> {
    const { store } = this.deps;
    const deployments = store.listDeployments();
    const byEndpoint = deployments.filter((d) => d.endpoint === target);
    const victims = byEndpoint.length ? byEndpoint : deployments.filter((d) => d.name === target);
    if (victims.length === 0) {
      const known = deployments.map((d) => `${d.endpoint} (${d.name})`).join(', ') || 'none';
      throw notFound(`no endpoint or deployment named '${target}'; deployed: ${known}`);
    }
    store.transaction(() => {
      for (const d of victims) {
        store.deleteDeployment(d.name);
        store.addEvent('undeployed', d.name, `undeployed ${d.name} (endpoint ${d.endpoint})`);
      }
    });
    await this.deps.kick();
    await Promise.all(victims.map((d) => this.deps.whenStopped(d.name)));
    return victims.map((d) => d.name);
  }

  /** A deployment by name, or an endpoint's primary. */
  deployment(name: string): DeploymentRow {
    const { store } = this.deps;
    const d = store.getDeployment(name) ?? (store.getEndpoint(name) ? store.getDeployment(store.getEndpoint(name)!.primary) : undefined);
    if (!d) throw notFound(`no deployment or endpoint named '${name}'; see mlserve status`);
    return d;
  }

  /** A fixed replica count (turns autoscaling off), or new autoscaling bounds: changed in place. */
  async scale(name: string, req: { replicas?: number; autoscaling?: Partial<AutoscalingConfig> }): Promise<DeploymentRow> {
    const { store } = this.deps;
    const d = this.deployment(name);
    let settings = d.settings;
    if (req.autoscaling) {
      const cfg = validateAutoscaling({ ...(d.settings.autoscaling ?? {}), ...req.autoscaling });
      settings = { ...settings, autoscaling: cfg };
    } else {
      const replicas = req.replicas;
      if (replicas === undefined || !Number.isInteger(replicas) || replicas < 1 || replicas > 64) {
        throw new MlserveError('BAD_REQUEST', `--replicas must be a whole number from 1 to 64 (got ${replicas})`);
      }
      settings = { ...settings, replicas, autoscaling: undefined };
    }
    // More replicas than the GPUs can ever hold: refused now, not left pending.
    checkGpus(settings.gpus, settings.autoscaling ? (settings.autoscaling.initial_replicas ?? settings.autoscaling.min_replicas) : settings.replicas, this.deps.inventory);
    store.updateSettings(d.name, settings);
    await this.deps.kick();
    await this.deps.whenStopped(d.name); // surplus replicas have drained
    return store.getDeployment(d.name)!;
  }
}
