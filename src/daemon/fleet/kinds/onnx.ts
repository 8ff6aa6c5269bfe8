// The onnxruntime replica kind: the fast path for models with the `onnx` flavor. One Node process
// per replica (src/runtime/replica.ts) holding its onnxruntime-node sessions ("engines", each in a
// worker thread; src/runtime/engine.ts).
import { fileURLToPath } from 'node:url';
import { onGpu } from '../../../runtime/engine-messages.js';
import type { ReplicaConfig } from '../../../runtime/protocol.js';
import type { Signature, TensorSpec } from '../../../tensor.js';
import { mallocEnv, NODE_FLAGS } from '../../process-tuning.js';
import type { ReplicaKind, SpawnInput, SpawnPlan } from './kind.js';

const REPLICA_MAIN = fileURLToPath(new URL('../../../runtime/replica.js', import.meta.url));

/** Every input and output has a dynamic (-1) first dimension (and there is one of each at least). */
export function dynamicFirstDim(sig: Signature): boolean {
  if (sig.inputs.length === 0 || sig.outputs.length === 0) return false;
  const dyn = (s: TensorSpec) => s.shape.length > 0 && s.shape[0] === -1;
  return sig.inputs.every(dyn) && sig.outputs.every(dyn);
}

/** The model's own metadata decides names and dtypes; the MLflow signature may name unnamed dims. */
export function mergeSignature(declared: Signature | null, reported: Signature): Signature {
  if (!declared) return reported;
  const pick = (m: TensorSpec[], o: TensorSpec[]) =>
    o.map((spec, i) => {
      const d = m.find((s) => s.name === spec.name) ?? (m.length === o.length ? m[i] : undefined);
      if (d && d.shape.length === spec.shape.length) return { ...spec, shape: spec.shape.map((x, j) => (x >= 0 ? x : d.shape[j])) };
      return spec;
    });
  return { inputs: pick(declared.inputs, reported.inputs), outputs: pick(declared.outputs, reported.outputs) };
}

/**
 * Most engines a CPU replica runs by default. Two sessions of one thread each beat one session of
 * two threads on two cores (MobileNetV2 +27 %, ResNet-50 +6 % in-process, and a single-threaded
 * session does not stall when the daemon takes a core); more would multiply model memory and
 * single-request latency on bigger machines for little more throughput.
 */
export const MAX_DEFAULT_CPU_ENGINES = 2;

/**
 * Batches an ONNX replica runs at once by default: on CPU one engine per thread of its share, up
 * to MAX_DEFAULT_CPU_ENGINES (the threads are divided among them); on GPU one (a session per GPU
 * replica: more would each take their own GPU memory).
 */
export function onnxConcurrency(replica: { threads?: number; onGpu: boolean }): number {
  if (replica.onGpu) return 1;
  return Math.max(1, Math.min(MAX_DEFAULT_CPU_ENGINES, replica.threads ?? 1));
}

/** Engines (onnxruntime sessions) in one replica: one per concurrent batch on CPU; one on a GPU, where extra batches wait their turn. */
export function onnxEngines(concurrency: number, providers: readonly string[] | undefined): number {
  return onGpu(providers) ? 1 : Math.max(1, concurrency);
}

export const onnxKind: ReplicaKind = {
  name: 'onnx',
  platform: 'onnxruntime_onnx',
  spawnPlan(input: SpawnInput): SpawnPlan {
    const cfg: ReplicaConfig = {
      deployment: input.deployment,
      replica: input.replica,
      modelFile: input.modelFile,
      threads: input.threads,
      concurrency: input.concurrency,
      engines: onnxEngines(input.concurrency, input.providers),
      providers: input.providers,
      ...(input.warmup === false ? { warmup: false } : {}),
    };
    return { command: process.execPath, args: [...NODE_FLAGS, REPLICA_MAIN, JSON.stringify(cfg)], env: { ...mallocEnv(process.env), ...(input.gpuEnv ?? {}) } };
  },
  metadata: mergeSignature,
  batchable: dynamicFirstDim,
  defaultConcurrency: onnxConcurrency,
};
