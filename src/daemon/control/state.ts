// The state mlserve keeps, as rows: what the operator asked for (endpoints, deployments and their
// settings), what was last observed of replicas, and events. Types only; store.ts reads and writes them.
import type { Signature } from '../../tensor.js';
import type { AutoscalingConfig } from '../fleet/autoscaler.js';
import type { LlmSettings } from '../fleet/kinds/kind.js';
import type { PipelineSpec } from '../../pipeline/spec.js';

export interface DeploymentSettings {
  replicas: number;
  /** The replica kind that runs the model ('onnx' when unset). */
  runtime?: 'onnx' | 'python' | 'llamacpp' | 'openai';
  /** Language models (llamacpp, openai): context, slots, the external engine. */
  llm?: LlmSettings;
  /** Python replicas: the interpreter (an environment's python), and how that environment was chosen. */
  python?: string;
  envManager?: 'local' | 'virtualenv' | 'uv';
  threads?: number;
  gpus?: number;
  /** Batching and queueing (see dispatcher.ts); unset means the default for the model. */
  maxBatchSize?: number;
  batchWaitMs?: number;
  maxConcurrentBatches?: number;
  maxOngoingRequests?: number;
  maxQueuedRequests?: number;
  requestTimeoutMs?: number;
  /** Replica health checks (Ray Serve's health_check_period_s / health_check_timeout_s). */
  healthCheckPeriodS?: number;
  healthCheckTimeoutS?: number;
  /**
   * Each replica runs one request built from the signature before it reports ready. Stored only
   * when off (false); unset means on, so rows from before it existed keep their revision.
   */
  warmup?: false;
  /** Ray Serve's autoscaling_config, when load decides the replica count. */
  autoscaling?: AutoscalingConfig;
  /** Pre- and post-processing around the model (POST /v2/models/<endpoint>/predict). */
  pipeline?: PipelineSpec;
  /** Follow the registry: re-resolve the URI every intervalS (tracking/registry URIs only, no secrets). */
  track?: { intervalS: number; env: Record<string, string>; cwd: string };
}

/** What the model source resolved to, pinned at deploy time. */
export interface ResolvedModel {
  kind: 'registry' | 'run' | 'logged-model' | 'path';
  name?: string;
  version: string;
  runId?: string;
  source?: string;
  stage?: string;
  registry?: string;
}

export type DeploymentState = 'pending' | 'loading' | 'ready' | 'failed' | 'unhealthy';

export interface DeploymentRow {
  name: string;
  endpoint: string;
  modelUri: string;
  resolved: ResolvedModel;
  modelDir: string;
  modelFile: string;
  signature: Signature | null;
  settings: DeploymentSettings;
  state: DeploymentState;
  message: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface EndpointRow {
  name: string;
  primary: string;
  createdAt: number;
  /** The canary deployment beside the primary, its traffic share (percent) and when it started. */
  canary: string | null;
  canaryWeight: number;
  canaryStartedAt: number | null;
  /** Share of requests (percent) mirrored to the canary, answers discarded. */
  shadowWeight: number;
  /** Automated canary analysis: its policy and state (JSON), so a restart resumes it. */
  rollout: unknown;
  /** A deployment that becomes the primary once it is ready (blue-green), or null. */
  nextPrimary: string | null;
}

export interface ReplicaRow {
  deployment: string;
  idx: number;
  pid: number | null;
  state: string;
  restarts: number;
  startedAt: number | null;
  lastError: string | null;
  /** The replica's GPU share (JSON of allocator.Assignment), kept across restarts. */
  gpu?: unknown;
}

export interface EventRow {
  id: number;
  ts: number;
  kind: string;
  subject: string;
  message: string;
  data: unknown;
}
