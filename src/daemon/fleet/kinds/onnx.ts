// The onnxruntime replica kind: the fast path for models with the `onnx` flavor. One Node process
// per replica (src/runtime/replica.ts) holding one onnxruntime-node session.
import { fileURLToPath } from 'node:url';
import type { ReplicaConfig } from '../../../runtime/protocol.js';
import type { Signature, TensorSpec } from '../../../tensor.js';
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
      providers: input.providers,
      ...(input.warmup === false ? { warmup: false } : {}),
    };
    return { command: process.execPath, args: [REPLICA_MAIN, JSON.stringify(cfg)], env: { ...(input.gpuEnv ?? {}) } };
  },
  metadata: mergeSignature,
  batchable: dynamicFirstDim,
};
