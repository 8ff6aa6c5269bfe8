// The `openai` replica kind: an external OpenAI-compatible server as the replica. `--engine vllm`
// runs `vllm serve <model>` with --gpu-memory-utilization set to the replica's GPU share (vLLM
// itself enforces it); `--engine-cmd '<command>'` runs anything else that speaks the API (SGLang,
// TGI, llama.cpp's server, llama-cpp-python's server), with {port} {host} {model} {gpu_share}
// {ctx_size} {slots} {threads} filled in per argument (command-line.ts; no shell). The process the
// supervisor starts is the engine keeper (src/runtime/llm/engine-keeper.ts): it holds fd 3 like
// every replica, picks the port, starts the engine in its own process group, reports ready once
// the engine answers its health check, and takes the whole group down when fd 3 closes, so not
// even a daemon killed with SIGKILL leaves an engine (and its GPU memory) behind. Requests go to
// the engine over HTTP (transport 'http').
import { fileURLToPath } from 'node:url';
import type { EngineKeeperConfig } from '../../../runtime/llm/engine-keeper.js';
import type { Signature } from '../../../tensor.js';
import { splitCommandLine, substitute } from './command-line.js';
import type { LlmSettings, ReplicaKind, SpawnInput, SpawnPlan } from './kind.js';

const KEEPER_MAIN = fileURLToPath(new URL('../../../runtime/llm/engine-keeper.js', import.meta.url));

/** Requests in flight per engine when the deployment does not say (engines batch internally). */
export const DEFAULT_ENGINE_SLOTS = 64;
/** vLLM's own default share of GPU memory, used when the replica has no GPU share. */
export const DEFAULT_GPU_SHARE = 0.9;

/** The command a known engine runs. */
export function engineCommand(llm: LlmSettings | undefined): string[] {
  if (llm?.engineCmd) return splitCommandLine(llm.engineCmd);
  if (llm?.engine === 'vllm') return ['vllm', 'serve', '{model}', '--host', '{host}', '--port', '{port}', '--gpu-memory-utilization', '{gpu_share}', ...(llm.ctxSize ? ['--max-model-len', '{ctx_size}'] : [])];
  throw new Error('an openai deployment needs --engine vllm or --engine-cmd');
}

export const openaiKind: ReplicaKind = {
  name: 'openai',
  platform: 'openai',
  api: 'llm',
  transport: 'http',
  spawnPlan(input: SpawnInput): SpawnPlan {
    const host = '127.0.0.1';
    const argv = substitute(engineCommand(input.llm), {
      host,
      model: input.modelFile,
      gpu_share: String(Math.round((input.gpuShare ?? DEFAULT_GPU_SHARE) * 1000) / 1000),
      ctx_size: String(input.llm?.ctxSize ?? 4096),
      slots: String(input.llm?.slots ?? DEFAULT_ENGINE_SLOTS),
      threads: String(input.threads ?? 1),
    }, ['port']);
    const cfg: EngineKeeperConfig = {
      deployment: input.deployment, replica: input.replica, argv, host,
      readyTimeoutS: input.llm?.readyTimeoutS ?? 600, stopGraceMs: 10_000,
      contextSize: input.llm?.ctxSize, slots: input.llm?.slots ?? DEFAULT_ENGINE_SLOTS,
    };
    return {
      command: process.execPath,
      args: [KEEPER_MAIN, JSON.stringify(cfg)],
      env: { ...(input.gpuEnv ?? {}), PYTHONUNBUFFERED: '1' },
      ...(input.workDir ? { cwd: input.workDir } : {}),
    };
  },
  metadata: (_declared: Signature | null, reported: Signature) => reported,
  batchable: () => false,
};
