// PURE: the LLM section of `npm run bench`: rows (an engine called directly, the same engine
// through mlserve), the ratios the issue sets goals for (output tokens/s through mlserve >= 0.95x
// direct; TTFT added at concurrency 1 <= 1 ms), the table and the BENCH.md section.

export interface LlmRow {
  /** What was measured. */
  label: string;
  concurrency: number;
  requests: number;
  outputTokensPerS: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  itlP50Ms: number;
  errors: number;
}

export interface LlmPair {
  engine: string;
  concurrency: number;
  direct: LlmRow;
  mlserve: LlmRow;
}

export interface LlmSectionResult {
  model: { file: string; params: number; bytes: number; ctxSize: number; slots: number; threads: number; maxTokens: number };
  pairs: LlmPair[];
  /** Why a part was skipped (e.g. no llama-cpp-python env). */
  skipped: string[];
  elapsedS: number;
}

export const LLM_GOALS = { tokensRatio: 0.95, addedTtftMs: 1 };

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/** A row from raw per-request numbers. */
export function llmRow(label: string, concurrency: number, r: { ttftMs: number[]; itlMs: number[]; tokens: number; elapsedMs: number; errors?: number }): LlmRow {
  return {
    label, concurrency, requests: r.ttftMs.length, outputTokensPerS: r.tokens / (r.elapsedMs / 1000),
    ttftP50Ms: quantile(r.ttftMs, 0.5), ttftP99Ms: quantile(r.ttftMs, 0.99), itlP50Ms: quantile(r.itlMs, 0.5), errors: r.errors ?? 0,
  };
}

export interface PairVerdict {
  engine: string;
  concurrency: number;
  tokensRatio: number;
  addedTtftMs: number;
  tokensOk: boolean;
  /** Only judged at concurrency 1. */
  ttftOk: boolean | null;
}

export function judge(p: LlmPair): PairVerdict {
  const tokensRatio = p.mlserve.outputTokensPerS / p.direct.outputTokensPerS;
  const addedTtftMs = p.mlserve.ttftP50Ms - p.direct.ttftP50Ms;
  return {
    engine: p.engine, concurrency: p.concurrency, tokensRatio, addedTtftMs,
    tokensOk: tokensRatio >= LLM_GOALS.tokensRatio,
    ttftOk: p.concurrency === 1 ? addedTtftMs <= LLM_GOALS.addedTtftMs : null,
  };
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function formatLlmTable(r: LlmSectionResult): string {
  const m = r.model;
  const lines = [
    `LLM: tiny random llama (${(m.params / 1e6).toFixed(1)}M params, ${(m.bytes / 2 ** 20).toFixed(0)} MB GGUF), ctx ${m.ctxSize} x ${m.slots} slots, ${m.threads} thread(s), greedy, ${m.maxTokens} tokens per request, chat`,
    `${'row'.padEnd(46)} ${'conc'.padStart(4)} ${'reqs'.padStart(5)} ${'out tok/s'.padStart(10)} ${'TTFT p50'.padStart(9)} ${'TTFT p99'.padStart(9)} ${'ITL p50'.padStart(8)} ${'err'.padStart(4)}`,
  ];
  for (const p of r.pairs) {
    for (const row of [p.direct, p.mlserve]) {
      lines.push(`${row.label.padEnd(46)} ${String(row.concurrency).padStart(4)} ${String(row.requests).padStart(5)} ${f(row.outputTokensPerS).padStart(10)} ${f(row.ttftP50Ms, 2).padStart(9)} ${f(row.ttftP99Ms, 2).padStart(9)} ${f(row.itlP50Ms, 2).padStart(8)} ${String(row.errors).padStart(4)}`);
    }
  }
  lines.push('', 'goals: output tokens/s through mlserve >= 0.95x direct; TTFT added at concurrency 1 <= 1 ms');
  for (const p of r.pairs) {
    const v = judge(p);
    lines.push(`  ${v.engine}, concurrency ${v.concurrency}: tokens/s ${f(v.tokensRatio, 3)}x ${v.tokensOk ? 'ok' : 'MISSED'}; TTFT p50 ${v.addedTtftMs >= 0 ? '+' : ''}${f(v.addedTtftMs, 2)} ms${v.ttftOk === null ? '' : v.ttftOk ? ' ok' : ' MISSED'}`);
  }
  for (const s of r.skipped) lines.push(`  skipped: ${s}`);
  return lines.join('\n');
}

export const LLM_START = '<!-- llm:start -->';
export const LLM_END = '<!-- llm:end -->';

export function llmMarkdown(r: LlmSectionResult, resultsFile: string, date: string): string {
  return [
    LLM_START,
    '## LLM serving',
    '',
    `Run ${date} (\`npm run bench -- --only llm\`). The same engine is measured called directly and through mlserve (daemon, OpenAI API, streaming): node-llama-cpp in process vs the \`llamacpp\` replica kind; llama-cpp-python's server called over HTTP vs the \`openai\` kind starting that server with \`--engine-cmd\`. The load generator shares the machine's cores. Rows of one run; ratios compare rows of that run.`,
    '',
    '```',
    formatLlmTable(r),
    '```',
    '',
    `Raw JSON: \`${resultsFile}\`.`,
    LLM_END,
  ].join('\n');
}

/** Replace the LLM section of BENCH.md (or append it). */
export function spliceLlmSection(doc: string, section: string): string {
  const a = doc.indexOf(LLM_START);
  const b = doc.indexOf(LLM_END, a + 1);
  if (a >= 0 && b > a) return `${doc.slice(0, a)}${section}${doc.slice(b + LLM_END.length)}`;
  return `${doc.replace(/\n*$/, '')}\n\n${section}\n`;
}

/** The LLM section of an older BENCH.md ('' when it has none), kept when a run does not redo it. */
export function extractLlmSection(doc: string): string {
  const a = doc.indexOf(LLM_START);
  const b = doc.indexOf(LLM_END, a + 1);
  return a >= 0 && b > a ? doc.slice(a, b + LLM_END.length) : '';
}
