// The LLM section's baseline: node-llama-cpp called directly in this process (the same LlamaEngine
// the llamacpp replica runs, without the daemon, the frame pipe, HTTP or SSE). Runs a fixed
// workload at a concurrency and prints JSON: per request TTFT and token times, overall tokens/s.
//   node dist/bench/llm-direct.js '<json: {model, ctxSize, slots, threads, prompts, maxTokens, concurrency, requests, warmup}>'
import { LlamaEngine } from '../runtime/llm/llama-engine.js';
import type { ChatMessage } from '../runtime/llm/protocol.js';

interface Args {
  model: string;
  ctxSize: number;
  slots: number;
  threads: number;
  prompts: Array<{ messages: ChatMessage[] }>;
  maxTokens: number;
  concurrency: number;
  requests: number;
  warmup: number;
}

const a = JSON.parse(process.argv[2] ?? '{}') as Args;
const engine = await LlamaEngine.load({ deployment: 'direct', replica: 0, modelFile: a.model, ctxSize: a.ctxSize, slots: a.slots, threads: a.threads, gpuLayers: 0 });

async function run(n: number, measure: boolean) {
  const ttftMs: number[] = [];
  const itlMs: number[] = [];
  let tokens = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: a.concurrency }, async () => {
    while (next < n) {
      const k = next++;
      const t0 = performance.now();
      let first: number | null = null;
      let last = 0;
      const r = await engine.generate(
        { kind: 'chat', messages: a.prompts[k % a.prompts.length].messages, maxTokens: a.maxTokens, temperature: 0, topP: 1, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
        { cancelled: false },
        () => {
          const now = performance.now();
          if (first === null) first = now;
          else itlMs.push(now - last);
          last = now;
        },
      );
      if (!measure) continue;
      tokens += r.usage.completionTokens;
      if (first !== null) ttftMs.push(first - t0);
    }
  }));
  return { ttftMs, itlMs, tokens, elapsedMs: performance.now() - started };
}

await run(a.warmup, false);
const r = await run(a.requests, true);
process.stdout.write(`${JSON.stringify(r)}\n`);
process.exit(0);
