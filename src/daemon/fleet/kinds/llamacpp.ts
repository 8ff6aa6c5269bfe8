// The llama.cpp replica kind: a GGUF model served by a Node process (src/runtime/llm/replica.ts)
// that runs node-llama-cpp: CPU here, its CUDA build when the replica is placed on a GPU (the same
// npm package ships both). One context per replica with `slots` parallel sequences of `ctxSize`
// tokens each; generations stream back as token frames (src/runtime/llm/protocol.ts).
import { fileURLToPath } from 'node:url';
import type { LlmReplicaConfig } from '../../../runtime/llm/protocol.js';
import type { Signature } from '../../../tensor.js';
import type { ReplicaKind, SpawnInput, SpawnPlan } from './kind.js';

const LLM_REPLICA_MAIN = fileURLToPath(new URL('../../../runtime/llm/replica.js', import.meta.url));

/** Per-slot context and slots when the deployment does not say. */
export const DEFAULT_CTX_SIZE = 2048;
export const DEFAULT_SLOTS = 4;

/** A language model has no tensor signature: its API is OpenAI's. */
const noSignature = (_declared: Signature | null, reported: Signature): Signature => reported;

export const llamacppKind: ReplicaKind = {
  name: 'llamacpp',
  platform: 'llama.cpp',
  api: 'llm',
  transport: 'frames',
  spawnPlan(input: SpawnInput): SpawnPlan {
    const cfg: LlmReplicaConfig = {
      deployment: input.deployment,
      replica: input.replica,
      modelFile: input.modelFile,
      ctxSize: input.llm?.ctxSize ?? DEFAULT_CTX_SIZE,
      slots: input.llm?.slots ?? DEFAULT_SLOTS,
      ...(input.threads ? { threads: input.threads } : {}),
      // On a real GPU (CUDA provider granted) every layer that fits goes there.
      gpuLayers: input.providers?.includes('cuda') ? 'auto' : 0,
    };
    return { command: process.execPath, args: [LLM_REPLICA_MAIN, JSON.stringify(cfg)], env: { ...(input.gpuEnv ?? {}) }, ...(input.workDir ? { cwd: input.workDir } : {}) };
  },
  metadata: noSignature,
  batchable: () => false,
};
