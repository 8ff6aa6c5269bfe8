// The load generator of `mlserve bench --openai` (and of the LLM section of `npm run bench`):
// streamed OpenAI requests (stream: true, include_usage) from a prompt set, closed loop (N clients
// back to back) or open loop (a constant arrival rate, latencies counted from each request's
// intended send time). Each request records its time to first token, the gaps between its text
// chunks, its end-to-end time and its token counts; histograms are HDR in microseconds.
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { SseDecoder } from '../daemon/dataplane/openai/sse.js';
import type { ChatMessage } from '../runtime/llm/protocol.js';
import type { LlmBenchResult, Percentiles } from './openai-report.js';

export interface BenchPrompt {
  messages?: ChatMessage[];
  prompt?: string;
  maxTokens?: number;
}

const SYSTEM = 'You are a concise assistant. Answer in plain prose, without lists or headings.';
const TOPICS = ['the water cycle', 'how a compiler works', 'why the sky is blue', 'the history of the printing press', 'how vaccines train the immune system', 'what a hash table is', 'the causes of the seasons', 'how a bicycle stays upright'];

/** Built-in prompt sets: `short` questions, and `long` ones (a shared ~2 KB context, then a question). */
export function builtinPrompts(name: 'short' | 'long'): BenchPrompt[] {
  if (name === 'short') return TOPICS.map((t) => ({ messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: `Explain ${t} in two sentences.` }] }));
  const context = Array.from({ length: 12 }, (_, i) => `Section ${i + 1}. ${TOPICS.map((t) => `Notes on ${t}.`).join(' ')}`).join('\n');
  return TOPICS.map((t) => ({ messages: [{ role: 'system', content: `${SYSTEM}\n\nReference material:\n${context}` }, { role: 'user', content: `Using the material, summarise what it says about ${t}.` }] }));
}

/** A JSONL prompt file: one {"messages": [...]} or {"prompt": "..."} per line, optionally "max_tokens". */
export function readPromptFile(text: string, name = 'prompts'): BenchPrompt[] {
  const out: BenchPrompt[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(line) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${name}:${i + 1}: not JSON (${(err as Error).message})`);
    }
    const p: BenchPrompt = {};
    if (Array.isArray(j.messages)) p.messages = j.messages as ChatMessage[];
    else if (typeof j.prompt === 'string') p.prompt = j.prompt;
    else throw new Error(`${name}:${i + 1}: each line needs "messages" (a chat) or "prompt" (a string)`);
    if (typeof j.max_tokens === 'number') p.maxTokens = j.max_tokens;
    out.push(p);
  });
  if (out.length === 0) throw new Error(`${name} holds no prompts`);
  return out;
}

export interface LlmLoadOptions {
  url: string;
  model: string;
  api: 'chat' | 'completions';
  prompts: BenchPrompt[];
  maxTokens: number;
  temperature: number;
  durationMs: number;
  warmupMs: number;
  concurrency?: number;
  rate?: number;
  /** Stop after this many requests (a fixed workload instead of a duration). */
  requests?: number;
  headers?: Record<string, string>;
  onTick?: (t: { elapsedMs: number; ok: number; errors: number; ttftP99Ms: number }) => void;
}

const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
const percentiles = (h: hdr.Histogram, scale = 1000): Percentiles => ({
  p50: h.getValueAtPercentile(50) / scale, p90: h.getValueAtPercentile(90) / scale, p99: h.getValueAtPercentile(99) / scale, max: h.maxValue / scale, mean: h.mean / scale,
});

/** The text of a prompt as a completion prompt (chat messages joined). */
const asPrompt = (p: BenchPrompt) => p.prompt ?? (p.messages ?? []).map((m) => m.content).join('\n');

interface Phase {
  ok: number;
  errors: number;
  byStatus: Record<string, number>;
  ttft: hdr.Histogram;
  itl: hdr.Histogram;
  e2e: hdr.Histogram;
  tps: hdr.Histogram;
  outputTokens: number;
  promptTokens: number;
  elapsedMs: number;
}

export async function runLlmLoad(opts: LlmLoadOptions): Promise<Omit<LlmBenchResult, 'model' | 'api' | 'mode' | 'concurrency' | 'rate' | 'prompts' | 'maxTokens'>> {
  const connections = opts.concurrency ?? Math.min(512, Math.max(8, Math.ceil((opts.rate ?? 10) * 10)));
  const pool = new Pool(opts.url, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
  try {
    if (opts.warmupMs > 0 && !opts.requests) await phase(pool, opts, opts.warmupMs, false);
    const p = await phase(pool, opts, opts.durationMs, true);
    const s = p.elapsedMs / 1000;
    const total = p.ok + p.errors;
    return {
      durationS: s, requests: total, throughput: p.ok / s,
      outputTokensPerS: p.outputTokens / s, inputTokensPerS: p.promptTokens / s,
      ttftMs: percentiles(p.ttft), itlMs: percentiles(p.itl), e2eMs: percentiles(p.e2e), requestTokensPerS: percentiles(p.tps, 1000),
      outputTokens: p.outputTokens, promptTokens: p.promptTokens,
      errors: { total: p.errors, rate: total ? p.errors / total : 0, byStatus: p.byStatus },
    };
  } finally {
    await pool.close();
  }
}

async function phase(pool: Pool, opts: LlmLoadOptions, durationMs: number, measure: boolean): Promise<Phase> {
  const ph: Phase = { ok: 0, errors: 0, byStatus: {}, ttft: histogram(), itl: histogram(), e2e: histogram(), tps: histogram(), outputTokens: 0, promptTokens: 0, elapsedMs: 0 };
  const start = performance.now();
  const end = start + durationMs;
  let sent = 0;
  const more = () => (opts.requests ? sent < opts.requests : performance.now() < end);
  const path = opts.api === 'chat' ? '/v1/chat/completions' : '/v1/completions';

  const one = async (intended: number, k: number) => {
    const p = opts.prompts[k % opts.prompts.length];
    const body = {
      model: opts.model,
      ...(opts.api === 'chat' ? { messages: p.messages ?? [{ role: 'user', content: asPrompt(p) }] } : { prompt: asPrompt(p) }),
      max_tokens: p.maxTokens ?? opts.maxTokens, temperature: opts.temperature, stream: true, stream_options: { include_usage: true },
    };
    let status = 'network';
    let first: number | null = null;
    let last = 0;
    let chunks = 0;
    let usage = null as { prompt_tokens?: number; completion_tokens?: number } | null;
    const gaps: number[] = [];
    try {
      const res = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body: JSON.stringify(body) });
      status = String(res.statusCode);
      if (res.statusCode !== 200) await res.body.dump();
      else {
        const sse = new SseDecoder();
        const utf8 = new TextDecoder();
        let failed = false;
        for await (const chunk of res.body) {
          const now = performance.now();
          for (const ev of sse.push(utf8.decode(chunk as Buffer, { stream: true }))) {
            if (ev.done) continue;
            const j = ev.data as { error?: unknown; usage?: typeof usage; choices?: Array<{ delta?: { content?: string }; text?: string }> };
            if (j.error) failed = true;
            if (j.usage) usage = j.usage;
            const text = j.choices?.[0]?.delta?.content ?? j.choices?.[0]?.text;
            if (!text) continue;
            chunks++;
            if (first === null) first = now;
            else gaps.push(now - last);
            last = now;
          }
        }
        if (failed) status = 'stream-error';
      }
    } catch (err) {
      status = (err as NodeJS.ErrnoException).code ?? 'network';
    }
    if (!measure) return;
    if (status !== '200') {
      ph.errors++;
      ph.byStatus[status] = (ph.byStatus[status] ?? 0) + 1;
      return;
    }
    const done = performance.now();
    ph.ok++;
    const completion = usage?.completion_tokens ?? chunks;
    ph.outputTokens += completion;
    ph.promptTokens += usage?.prompt_tokens ?? 0;
    const us = (ms: number) => Math.max(1, Math.round(ms * 1000));
    if (first !== null) {
      ph.ttft.recordValue(us(first - intended));
      // A chunk carrying several tokens counts as that many gaps of its share.
      const per = chunks > 1 && completion > chunks ? (completion - 1) / (chunks - 1) : 1;
      for (const g of gaps) for (let i = 0; i < Math.round(per); i++) ph.itl.recordValue(us(g / per));
      if (done - first > 0 && completion > 1) ph.tps.recordValue(Math.round(((completion - 1) / ((done - first) / 1000)) * 1000));
    }
    ph.e2e.recordValue(us(done - intended));
  };

  const ticker = measure && opts.onTick
    ? setInterval(() => opts.onTick!({ elapsedMs: performance.now() - start, ok: ph.ok, errors: ph.errors, ttftP99Ms: ph.ttft.getValueAtPercentile(99) / 1000 }), 1000)
    : undefined;
  try {
    if (opts.rate) {
      const interval = 1000 / opts.rate;
      const inflight = new Set<Promise<void>>();
      while (more()) {
        const now = performance.now();
        while (start + sent * interval <= now && more()) {
          const q = one(start + sent * interval, sent).finally(() => inflight.delete(q));
          inflight.add(q);
          sent++;
        }
        await new Promise((r) => setTimeout(r, Math.max(0, start + sent * interval - performance.now())));
      }
      await Promise.all(inflight);
    } else {
      await Promise.all(Array.from({ length: opts.concurrency ?? 1 }, async () => {
        while (more()) {
          const k = sent++;
          await one(performance.now(), k);
        }
      }));
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  ph.elapsedMs = performance.now() - start;
  return ph;
}
