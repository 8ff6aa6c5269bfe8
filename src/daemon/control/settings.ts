// A deployment's settings: what a deploy request may set, checked; the queue/batching policy they
// give; and the revision they make (what needs new replica processes when it changes). PURE.
import { createHash } from 'node:crypto';
import { MlserveError } from '../../errors.js';
import { splitSecrets } from '../../mlflow/credentials.js';
import type { Signature } from '../../tensor.js';
import { validateAutoscaling, type AutoscalingConfig } from '../fleet/autoscaler.js';
import type { DispatchOptions } from '../dataplane/dispatcher.js';
import { checkEngineCommand } from '../fleet/kinds/command-line.js';
import type { LlmSettings } from '../fleet/kinds/kind.js';
import type { DeploymentRow, DeploymentSettings } from './state.js';
import { parsePipeline } from '../../pipeline/spec.js';

/** What a deploy asks for: a source, names, and any deployment setting (see store.ts). */
export interface DeployRequest extends Partial<Omit<DeploymentSettings, 'autoscaling' | 'runtime' | 'envManager' | 'python' | 'warmup' | 'pipeline'>> {
  source: string;
  endpoint?: string;
  name?: string;
  /** Ray Serve's autoscaling_config (snake_case fields); replaces a fixed replica count. */
  autoscaling?: Partial<AutoscalingConfig>;
  /** Start beside the endpoint's primary as its canary with this weight (percent). */
  canary?: number;
  /** Follow the registry every this many seconds (aliases and stages): new versions roll out by themselves. */
  trackIntervalS?: number;
  /** Blue-green: start beside the primary, switch all traffic when every replica is ready, drain the old one. */
  replace?: boolean;
  /** The replica kind (--runtime): unset = chosen from the model's flavors (and files: a GGUF is llamacpp). */
  runtime?: DeploymentSettings['runtime'];
  /** Language models: --ctx-size, --slots, --engine, --engine-cmd. */
  llm?: LlmSettings;
  /** Python replicas: how to get the interpreter (--env-manager) and which one for local (--python). */
  envManager?: 'local' | 'virtualenv' | 'uv';
  python?: string;
  /** Run one request built from the signature in each replica before it reports ready (default true; --no-warmup). */
  warmup?: boolean;
  /** Pre- and post-processing stages (--pre/--post, the file's pipeline:), checked by parsePipeline. */
  pipeline?: unknown;
  /** The CLI's MLflow environment (tracking URI, auth, ...) and working directory. */
  env?: Record<string, string>;
  cwd?: string;
}

const INT_SETTINGS: Array<[keyof DeployRequest & keyof DeploymentSettings, number, number]> = [
  ['maxBatchSize', 1, 4096],
  ['batchWaitMs', 0, 60_000],
  ['maxConcurrentBatches', 1, 64],
  ['maxOngoingRequests', 1, 100_000],
  ['maxQueuedRequests', 1, 1_000_000],
  ['requestTimeoutMs', 1, 3_600_000],
  ['healthCheckPeriodS', 1, 3600],
  ['healthCheckTimeoutS', 1, 3600],
  ['threads', 1, 256],
];

const RUNTIMES: ReadonlyArray<NonNullable<DeploymentSettings['runtime']>> = ['onnx', 'python', 'llamacpp', 'openai'];

/** The runtime a request asks for: --runtime, or openai when it names an external engine. */
export function requestedRuntime(req: Pick<DeployRequest, 'runtime' | 'llm'>): DeployRequest['runtime'] {
  return req.runtime ?? (req.llm?.engine || req.llm?.engineCmd ? 'openai' : undefined);
}

/** A language model's settings, checked (undefined when none was given). */
function llmSettings(req: DeployRequest): LlmSettings | undefined {
  const l: Partial<LlmSettings> = req.llm ?? {};
  const runtime = requestedRuntime(req);
  if (Object.values(l).every((v) => v === undefined || v === null) && runtime !== 'openai') return undefined;
  const out: LlmSettings = {};
  const int = (key: 'ctxSize' | 'slots' | 'readyTimeoutS', flag: string, min: number, max: number) => {
    const v = l[key];
    if (v === undefined || v === null) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new MlserveError('BAD_REQUEST', `${flag} must be a whole number from ${min} to ${max} (got ${v})`);
    out[key] = v;
  };
  int('ctxSize', '--ctx-size', 16, 1_048_576);
  int('slots', '--slots', 1, 1024);
  int('readyTimeoutS', '--engine-ready-timeout', 1, 86_400);
  if (l.engine !== undefined && l.engine !== null) {
    if (l.engine !== 'vllm') throw new MlserveError('BAD_REQUEST', `--engine must be vllm (got ${String(l.engine)}); for any other OpenAI-compatible server pass --engine-cmd '<command with {port} and {model}>'`);
    out.engine = l.engine;
  }
  if (l.engineCmd !== undefined && l.engineCmd !== null) {
    if (out.engine) throw new MlserveError('BAD_REQUEST', 'give --engine or --engine-cmd, not both');
    checkEngineCommand(String(l.engineCmd));
    out.engineCmd = String(l.engineCmd);
  }
  if ((out.engine || out.engineCmd) && runtime !== 'openai') throw new MlserveError('BAD_REQUEST', `--engine and --engine-cmd start an external engine: they go with --runtime openai (got --runtime ${runtime})`);
  if (runtime === 'openai' && !out.engine && !out.engineCmd) throw new MlserveError('BAD_REQUEST', "--runtime openai runs an external OpenAI-compatible engine: pass --engine vllm or --engine-cmd '<command with {port} and {model}>'");
  return out;
}

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The settings a deploy asked for, checked (errors name the flag and the accepted range). */
export function deploySettings(req: DeployRequest): DeploymentSettings {
  const out: DeploymentSettings = { replicas: req.replicas ?? 1 };
  if (!Number.isInteger(out.replicas) || out.replicas < 1 || out.replicas > 64) {
    throw new MlserveError('BAD_REQUEST', `--replicas must be a whole number from 1 to 64 (got ${req.replicas})`);
  }
  for (const [key, min, max] of INT_SETTINGS) {
    const v = req[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new MlserveError('BAD_REQUEST', `${flagName(key)} must be a whole number from ${min} to ${max} (got ${v})`);
    }
    (out as unknown as Record<string, number>)[key] = v;
  }
  if (req.gpus !== undefined && req.gpus !== null) {
    if (typeof req.gpus !== 'number' || !(req.gpus > 0)) throw new MlserveError('BAD_REQUEST', `--gpus must be a positive number such as 0.33 or 1 (got ${req.gpus})`);
    out.gpus = req.gpus;
  }
  if (req.runtime !== undefined && req.runtime !== null && !RUNTIMES.includes(req.runtime)) {
    throw new MlserveError('BAD_REQUEST', `--runtime must be ${RUNTIMES.join(', ')} (got ${String(req.runtime)})`);
  }
  const llm = llmSettings(req);
  if (llm) out.llm = llm;
  if (req.envManager !== undefined && req.envManager !== null && !['local', 'virtualenv', 'uv'].includes(req.envManager)) {
    throw new MlserveError('BAD_REQUEST', `--env-manager must be local, virtualenv or uv (got ${String(req.envManager)})`);
  }
  if (req.warmup !== undefined && req.warmup !== null && typeof req.warmup !== 'boolean') {
    throw new MlserveError('BAD_REQUEST', `--warmup must be true or false (got ${String(req.warmup)})`);
  }
  if (req.warmup === false) out.warmup = false;
  if (req.pipeline !== undefined && req.pipeline !== null) out.pipeline = parsePipeline(req.pipeline);
  if (req.trackIntervalS !== undefined) {
    if (!(req.trackIntervalS >= 1 && req.trackIntervalS <= 86_400)) throw new MlserveError('BAD_REQUEST', `--track-interval must be 1..86400 seconds (got ${req.trackIntervalS})`);
    // Only where the registry is, never credentials (a URI's userinfo is dropped; secrets live in a 0600 file).
    const pub = splitSecrets(req.env ?? {}).public;
    const env = Object.fromEntries(['MLFLOW_TRACKING_URI', 'MLFLOW_REGISTRY_URI'].filter((k) => pub[k]).map((k) => [k, pub[k]]));
    out.track = { intervalS: req.trackIntervalS, env, cwd: req.cwd ?? process.cwd() };
  }
  if (req.autoscaling) {
    const cfg = validateAutoscaling(req.autoscaling);
    out.autoscaling = cfg;
    out.replicas = cfg.initial_replicas ?? cfg.min_replicas;
  }
  return out;
}

/**
 * The queue and batching policy of a deployment. A model is batched only when every input and
 * output has a dynamic first dimension, or when the operator set max_batch_size; any other model
 * runs one request at a time, so batching never changes an answer.
 */
export function dispatchOptions(s: DeploymentSettings, spec: Signature | null, batchable: (spec: Signature) => boolean): DispatchOptions {
  const maxBatchSize = s.maxBatchSize ?? (spec && batchable(spec) ? 32 : 1);
  const maxConcurrentBatches = s.maxConcurrentBatches ?? 1;
  return {
    maxBatchSize,
    batchWaitMs: s.batchWaitMs ?? 0,
    maxConcurrentBatches,
    maxOngoingRequests: s.maxOngoingRequests ?? maxBatchSize * (maxConcurrentBatches + 1),
    maxQueued: s.maxQueuedRequests ?? 1000,
    timeoutMs: s.requestTimeoutMs ?? 30_000,
  };
}

/** Settings that need new replica processes (or a new queue) when they change; the rest change in place. */
const REVISION_SETTINGS = [
  'runtime', 'llm', 'python', 'envManager', 'threads', 'gpus', 'maxBatchSize', 'batchWaitMs', 'maxConcurrentBatches', 'maxOngoingRequests',
  'maxQueuedRequests', 'requestTimeoutMs', 'healthCheckPeriodS', 'healthCheckTimeoutS', 'warmup', 'pipeline',
] as const satisfies ReadonlyArray<keyof DeploymentSettings>;

/**
 * A deployment's revision: a short hash of its model files and every setting that needs new
 * replicas. Replica counts, autoscaling bounds and registry tracking are not part of it: they
 * change in place.
 */
export function revisionOf(d: Pick<DeploymentRow, 'modelDir' | 'modelFile' | 'settings'>): string {
  const parts: Record<string, unknown> = { modelDir: d.modelDir, modelFile: d.modelFile };
  for (const k of REVISION_SETTINGS) if (d.settings[k] !== undefined && d.settings[k] !== null) parts[k] = d.settings[k];
  if (parts.runtime === 'onnx') delete parts.runtime;
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 12);
}
