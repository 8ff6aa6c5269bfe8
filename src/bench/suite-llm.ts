// The LLM section of `npm run bench` (`--only llm`, `--no-llm`): a random llama model written by
// the project (src/models/tiny-llama.ts, SMALL: ~25M parameters) served by
//   (1) node-llama-cpp called directly in a process of its own (llm-direct.ts) vs the `llamacpp`
//       replica kind through mlserve (daemon, OpenAI API, streamed SSE), and
//   (2) llama-cpp-python's OpenAI server called directly over HTTP vs the `openai` kind starting the
//       same server with --engine-cmd, through mlserve,
// each at concurrency 1 and at the slot count, with the same prompts, greedy decoding and token
// budget, one engine thread. Two rounds, interleaved; each path keeps its better round (the machine
// is shared and noisy). Output tokens/s and TTFT come from the same load generator for every HTTP
// row (openai-load.ts).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { saveTinyLlama, SMALL, TINY, tinyLlamaParams } from '../models/tiny-llama.js';
import { builtinPrompts, runLlmLoad } from './openai-load.js';
import type { LlmBenchResult } from './openai-report.js';
import { log, Mlserve, ROOT } from './suite-common.js';
import { llmRow, type LlmPair, type LlmRow, type LlmSectionResult } from './suite-llm-report.js';

const DIRECT = join(ROOT, 'dist', 'bench', 'llm-direct.js');
const SLOTS = 4;
const CTX = 1024;
const THREADS = 1;

const fromLoad = (label: string, c: number, r: Omit<LlmBenchResult, 'model' | 'api' | 'mode' | 'concurrency' | 'rate' | 'prompts' | 'maxTokens'>): LlmRow => ({
  label, concurrency: c, requests: r.requests, outputTokensPerS: r.outputTokensPerS, ttftP50Ms: r.ttftMs.p50, ttftP99Ms: r.ttftMs.p99, itlP50Ms: r.itlMs.p50, errors: r.errors.total,
});

/** The better of two rounds of one path: more tokens/s; TTFT from the round with the lower median. */
function better(a: LlmRow | undefined, b: LlmRow): LlmRow {
  if (!a) return b;
  const fast = a.outputTokensPerS >= b.outputTokensPerS ? a : b;
  const quick = a.ttftP50Ms <= b.ttftP50Ms ? a : b;
  return { ...fast, ttftP50Ms: quick.ttftP50Ms, ttftP99Ms: quick.ttftP99Ms };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function llmPython(): Promise<string> {
  const r = await execa(process.execPath, [join(ROOT, 'scripts', 'pyenv.mjs'), 'llm', '--quiet'], { stderr: 'inherit' });
  const python = String(r.stdout).trim().split('\n').pop() ?? '';
  if (!python || !existsSync(python)) throw new Error(`scripts/pyenv.mjs llm printed no python path (got '${r.stdout}')`);
  return python;
}

export async function runLlmSection(opts: { quick: boolean }): Promise<LlmSectionResult> {
  const started = Date.now();
  const model = opts.quick ? TINY : SMALL;
  const maxTokens = opts.quick ? 48 : 128;
  const counts: Record<number, number> = opts.quick ? { 1: 4, [SLOTS]: 8 } : { 1: 12, [SLOTS]: 24 };
  const rounds = opts.quick ? 1 : 2;
  const dir = mkdtempSync(join(tmpdir(), 'bench-llm-'));
  const file = join(dir, 'bench-llama.gguf');
  const bytes = saveTinyLlama(file, model);
  const prompts = builtinPrompts('short');
  const result: LlmSectionResult = {
    model: { file: 'tiny-llama (SMALL)', params: tinyLlamaParams(model), bytes, ctxSize: CTX, slots: SLOTS, threads: THREADS, maxTokens },
    pairs: [], skipped: [], elapsedS: 0,
  };
  log(`\n== LLM: ${(result.model.params / 1e6).toFixed(1)}M-parameter random llama, ${(bytes / 2 ** 20).toFixed(0)} MB`);
  const load = (url: string, name: string, c: number, n: number) => runLlmLoad({
    url, model: name, api: 'chat', prompts, maxTokens, temperature: 0, durationMs: 0, warmupMs: 0, concurrency: c, requests: n,
  });
  const daemon = new Mlserve();
  await daemon.start();
  try {
    // (1) node-llama-cpp: in process vs the llamacpp kind.
    await daemon.cli(['deploy', file, '--endpoint', 'bench-llm', '--ctx-size', String(CTX), '--slots', String(SLOTS), '--threads', String(THREADS)]);
    await load(daemon.url, 'bench-llm', SLOTS, SLOTS); // warm-up
    for (const c of [1, SLOTS]) {
      let direct: LlmRow | undefined;
      let served: LlmRow | undefined;
      for (let round = 0; round < rounds; round++) {
        const args = { model: file, ctxSize: CTX, slots: SLOTS, threads: THREADS, prompts, maxTokens, concurrency: c, requests: counts[c], warmup: SLOTS };
        const out = await execa(process.execPath, [DIRECT, JSON.stringify(args)], { stderr: 'inherit' });
        direct = better(direct, llmRow('node-llama-cpp in process', c, JSON.parse(String(out.stdout).trim().split('\n').pop()!)));
        served = better(served, fromLoad('mlserve, llamacpp kind (HTTP + SSE)', c, await load(daemon.url, 'bench-llm', c, counts[c])));
      }
      result.pairs.push({ engine: 'node-llama-cpp', concurrency: c, direct: direct!, mlserve: served! } satisfies LlmPair);
      log(`  node-llama-cpp c=${c}: direct ${direct!.outputTokensPerS.toFixed(1)} tok/s, TTFT ${direct!.ttftP50Ms.toFixed(2)} ms; mlserve ${served!.outputTokensPerS.toFixed(1)} tok/s, TTFT ${served!.ttftP50Ms.toFixed(2)} ms`);
    }
    await daemon.cli(['undeploy', 'bench-llm']);

    // (2) llama-cpp-python's server: directly vs the openai kind.
    let python: string | null = null;
    try {
      python = await llmPython();
    } catch (err) {
      result.skipped.push(`llama-cpp-python rows: no pinned 'llm' env (${(err as Error).message.split('\n')[0]})`);
    }
    if (python) {
      // --interrupt_requests False: by default a new request to llama-cpp-python's server cuts the
      // stream it is serving (23 of 24 requests failed at concurrency 4, direct and through mlserve alike).
      const serverArgs = (model: string, port: string) => ['-m', 'llama_cpp.server', '--model', model, '--host', '127.0.0.1', '--port', port, '--n_ctx', String(CTX), '--n_threads', String(THREADS), '--n_threads_batch', String(THREADS), '--interrupt_requests', 'False', '--verbose', 'false'];
      const port = await freePort();
      const server = spawn(python, serverArgs(file, String(port)), { stdio: 'ignore', detached: true });
      const url = `http://127.0.0.1:${port}`;
      try {
        let id = '';
        for (let i = 0; i < 600 && !id; i++) {
          id = await fetch(`${url}/v1/models`).then(async (r) => ((await r.json()) as { data: Array<{ id: string }> }).data[0]?.id ?? '', () => '');
          if (!id) await new Promise((r) => setTimeout(r, 100));
        }
        if (!id) throw new Error('llama-cpp-python did not answer /v1/models within 60 s');
        const cmd = [python, ...serverArgs('{model}', '{port}')].map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ');
        await daemon.cli(['deploy', file, '--endpoint', 'bench-ext', '--engine-cmd', cmd, '--ctx-size', String(CTX)]);
        await load(url, id, 1, 2);
        await load(daemon.url, 'bench-ext', 1, 2);
        for (const c of [1, SLOTS]) {
          let direct: LlmRow | undefined;
          let served: LlmRow | undefined;
          for (let round = 0; round < rounds; round++) {
            direct = better(direct, fromLoad('llama-cpp-python server, direct HTTP', c, await load(url, id, c, counts[c])));
            served = better(served, fromLoad('mlserve, openai kind (--engine-cmd)', c, await load(daemon.url, 'bench-ext', c, counts[c])));
          }
          result.pairs.push({ engine: 'llama-cpp-python', concurrency: c, direct: direct!, mlserve: served! });
          log(`  llama-cpp-python c=${c}: direct ${direct!.outputTokensPerS.toFixed(1)} tok/s, TTFT ${direct!.ttftP50Ms.toFixed(2)} ms; mlserve ${served!.outputTokensPerS.toFixed(1)} tok/s, TTFT ${served!.ttftP50Ms.toFixed(2)} ms`);
        }
        await daemon.cli(['undeploy', 'bench-ext']);
      } finally {
        try {
          process.kill(-server.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  } finally {
    await daemon.stop();
    if (existsSync(dir) && statSync(dir).isDirectory()) rmSync(dir, { recursive: true, force: true });
  }
  result.elapsedS = (Date.now() - started) / 1000;
  return result;
}
