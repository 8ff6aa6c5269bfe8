// A replica kind: the one seam every kind of replica process plugs into (onnxruntime today; Python
// pyfunc models and LLM engines next). The dispatcher, batcher, router, canaries, autoscaler,
// metrics and `top` see only this interface and the frame protocol (src/runtime/frame.ts).
//
// Contract of a replica process, whatever its kind:
// - It is started from a SpawnPlan (a program and its arguments, never a shell string) with fd 3 a
//   stream socket to the daemon, stdout/stderr going to its log file.
// - On fd 3 it speaks length-prefixed frames (JSON header + raw tensor bytes). Once its model is
//   loaded it sends {t:'ready', inputs, outputs, loadMs, pid}; if it cannot load it sends
//   {t:'fatal', message} and exits 1 (a load failure: not retried by restarts).
// - It answers {t:'ping', id} with {t:'pong', id} (health), and {t:'infer', id, ...} with
//   {t:'result', id, computeMs} + output tensors (dim 0 = the batch's rows) or {t:'error', id, message}.
// - It exits by itself when fd 3 closes, so a daemon killed with SIGKILL leaves no replica behind.
// LLM kinds (api 'llm') serve the OpenAI API instead of tensors: `llamacpp` streams generations over
// the same frames (src/runtime/llm/protocol.ts); `openai` (transport 'http') runs an external
// OpenAI-compatible server whose URL its replica reports in `ready` (llm.baseUrl), and requests go
// there over HTTP while health and lifecycle stay on fd 3.
// PURE: a kind only describes; the supervisor spawns.
import type { Signature, Tensor } from '../../../tensor.js';
import type { FrameTensor } from '../../../runtime/frame.js';

/** What a kind needs to know to start one replica. */
export interface SpawnInput {
  deployment: string;
  replica: number;
  /** The cached MLflow model directory (or the folder holding the model file). */
  modelDir: string;
  /** The model file inside modelDir that the kind loads (ONNX: the .onnx file). */
  modelFile: string;
  /** CPU threads for the engine (onnxruntime intra-op threads, OMP/MKL/torch threads). */
  threads?: number;
  /** Batches the replica runs at once. */
  concurrency: number;
  /** GPU share of this replica (sum over its GPUs) and its environment (CUDA_VISIBLE_DEVICES, MPS). */
  gpuShare?: number;
  gpuEnv?: Record<string, string>;
  /** Execution providers when placed on a real GPU (ONNX: ['cuda', 'cpu']). */
  providers?: string[];
  /** The interpreter for kinds that run a program in one (python: the env's python). */
  interpreter?: string;
  /** A scratch working directory of its own (libraries that write beside the cwd write there). */
  workDir?: string;
  /** Run one request built from the signature before reporting ready (false: --no-warmup). */
  warmup?: boolean;
  /** LLM kinds: context, slots, the external engine. */
  llm?: LlmSettings;
}

/** A language model deployment's settings (deploy --ctx-size, --slots, --engine, --engine-cmd). */
export interface LlmSettings {
  /** Tokens per sequence (prompt + generated); llamacpp default 4096 or the model's own, if smaller. */
  ctxSize?: number;
  /** Requests one replica generates at once (llamacpp: parallel sequences; openai: requests in flight). */
  slots?: number;
  /** A known external engine (openai kind): its command line is mlserve's. */
  engine?: 'vllm';
  /** Any OpenAI-compatible server (openai kind): a command line with {port}, {model}, {gpu_share}, {host}. */
  engineCmd?: string;
  /** Seconds an external engine may take to answer its health check after it starts (default 600). */
  readyTimeoutS?: number;
}

/** A program to run for one replica: no shell is involved. */
export interface SpawnPlan {
  command: string;
  args: string[];
  /** Added to the daemon's environment. */
  env: Record<string, string>;
  /** Taken out of the daemon's environment (variables that would change what the program loads). */
  removeEnv?: string[];
  cwd?: string;
}

export interface ReplicaKind {
  /** The kind's name as stored with a deployment and shown in status ('onnx'). */
  readonly name: string;
  /** The Open Inference Protocol model metadata `platform` (Triton's names). */
  readonly platform: string;
  /** How to start one replica of this kind. */
  spawnPlan(input: SpawnInput): SpawnPlan;
  /** The model as served: what MLflow declared merged with what the replica reported when ready. */
  metadata(declared: Signature | null, reported: Signature): Signature;
  /** May requests be concatenated along dim 0 (when the operator did not set max_batch_size)? */
  batchable(spec: Signature): boolean;
  /**
   * Batches one replica runs at once when the operator did not set max_concurrent_batches (absent:
   * 1). `threads`: the replica's CPU threads; `onGpu`: placed on GPUs.
   */
  defaultConcurrency?(replica: { threads?: number; onGpu: boolean }): number;
  /** Extra header fields of a batch's infer frame (the batch's inputs and each request's rows). */
  batchHeader?(inputs: readonly FrameTensor[], rows: readonly number[]): Record<string, unknown> | undefined;
  /** What it serves: tensors (OIP, /invocations; the default) or a language model (the OpenAI API under /v1). */
  readonly api?: 'tensors' | 'llm';
  /** How requests reach a replica: frames on fd 3 (the default) or HTTP to the engine its replica runs. */
  readonly transport?: 'frames' | 'http';
}

/**
 * A deployment's settings with its kind's defaults filled in, as if the operator had set them:
 * max_concurrent_batches (ONNX on CPU: one per engine). What runs and what `status` shows both
 * read this.
 */
export function withKindDefaults<S extends { maxConcurrentBatches?: number; threads?: number; gpus?: unknown }>(s: S, kind: Pick<ReplicaKind, 'defaultConcurrency'> | undefined): S {
  if (s.maxConcurrentBatches !== undefined || !kind?.defaultConcurrency) return s;
  return { ...s, maxConcurrentBatches: kind.defaultConcurrency({ threads: s.threads, onGpu: !!s.gpus }) };
}
