// PURE: what `mlserve bench --openai` reports for a language model: time to first token,
// inter-token latency, end-to-end latency and per-request output tokens/s as percentiles, output
// tokens/s and requests/s over the run, errors; and its --assert gates ("ttft_p99<500ms").
import type { Verdict } from './report.js';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LlmBenchResult {
  model: string;
  api: 'chat' | 'completions';
  mode: 'closed' | 'open';
  concurrency?: number;
  rate?: number;
  prompts: string;
  maxTokens: number;
  durationS: number;
  requests: number;
  /** Successful requests per second. */
  throughput: number;
  /** Generated tokens per second over the run (all requests together), and prompt tokens per second. */
  outputTokensPerS: number;
  inputTokensPerS: number;
  ttftMs: Percentiles;
  itlMs: Percentiles;
  e2eMs: Percentiles;
  /** Each request's decode speed: completion tokens / (end - first token). */
  requestTokensPerS: Percentiles;
  outputTokens: number;
  promptTokens: number;
  errors: { total: number; rate: number; byStatus: Record<string, number> };
}

export type LlmMetric =
  | 'ttft_p50' | 'ttft_p90' | 'ttft_p99' | 'itl_p50' | 'itl_p90' | 'itl_p99' | 'e2e_p50' | 'e2e_p90' | 'e2e_p99'
  | 'output_tps' | 'input_tps' | 'throughput' | 'errors';

export interface LlmAssertion {
  text: string;
  metric: LlmMetric;
  op: '<' | '<=' | '>' | '>=';
  /** ms for latencies, tokens/s, req/s, a fraction for errors. */
  value: number;
}

const METRICS: LlmMetric[] = ['ttft_p50', 'ttft_p90', 'ttft_p99', 'itl_p50', 'itl_p90', 'itl_p99', 'e2e_p50', 'e2e_p90', 'e2e_p99', 'output_tps', 'input_tps', 'throughput', 'errors'];
const isLatency = (m: LlmMetric) => /^(ttft|itl|e2e)_/.test(m);

/** Parse "ttft_p99<500ms,output_tps>100,errors<1%". Throws with what was wrong. */
export function parseLlmAssertions(spec: string): LlmAssertion[] {
  return spec.split(',').map((s) => s.trim()).filter(Boolean).map((text) => {
    const m = /^([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|us|µs|%|tok\/s|rps|req\/s)?$/i.exec(text);
    if (!m) throw new Error(`cannot read assertion '${text}'; write e.g. ttft_p99<500ms, itl_p99<50ms, output_tps>100, errors<1%`);
    const metric = m[1].toLowerCase() as LlmMetric;
    if (!METRICS.includes(metric)) throw new Error(`unknown metric '${m[1]}' in '${text}'; use one of ${METRICS.join(', ')}`);
    const unit = (m[4] ?? '').toLowerCase();
    let value = Number(m[3]);
    if (isLatency(metric)) {
      if (unit === 's') value *= 1000;
      else if (unit === 'us' || unit === 'µs') value /= 1000;
      else if (unit !== 'ms' && unit !== '') throw new Error(`'${text}': latencies take ms, s or us`);
    } else if (metric === 'errors') {
      if (unit === '%') value /= 100;
      else if (unit !== '') throw new Error(`'${text}': errors take a percentage (errors<1%) or a fraction`);
    } else if (metric === 'throughput' ? !['', 'rps', 'req/s'].includes(unit) : !['', 'tok/s'].includes(unit)) {
      throw new Error(`'${text}': ${metric === 'throughput' ? 'throughput is in requests per second' : `${metric} is in tokens per second`}`);
    }
    return { text, metric, op: m[2] as LlmAssertion['op'], value };
  });
}

export function llmMetricValue(r: LlmBenchResult, m: LlmMetric): number {
  if (m === 'output_tps') return r.outputTokensPerS;
  if (m === 'input_tps') return r.inputTokensPerS;
  if (m === 'throughput') return r.throughput;
  if (m === 'errors') return r.errors.rate;
  const [what, p] = m.split('_') as ['ttft' | 'itl' | 'e2e', 'p50' | 'p90' | 'p99'];
  return (what === 'ttft' ? r.ttftMs : what === 'itl' ? r.itlMs : r.e2eMs)[p];
}

const unitOf = (m: LlmMetric) => (isLatency(m) ? 'ms' : m === 'errors' ? '%' : m === 'throughput' ? 'req/s' : 'tok/s');

export function checkLlmAssertions(r: LlmBenchResult, asserts: LlmAssertion[]): Verdict[] {
  return asserts.map((a) => {
    const actual = llmMetricValue(r, a.metric);
    const ok = a.op === '<' ? actual < a.value : a.op === '<=' ? actual <= a.value : a.op === '>' ? actual > a.value : actual >= a.value;
    const scale = a.metric === 'errors' ? 100 : 1;
    return { assertion: a.text, actual: actual * scale, limit: a.value * scale, unit: unitOf(a.metric), ok };
  });
}

const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const pct = (p: Percentiles, d = 1) => `${f(p.p50, d)} / ${f(p.p90, d)} / ${f(p.p99, d)}`;

/** The rows of the summary table. */
export function llmSummaryRows(r: LlmBenchResult): string[][] {
  return [
    ['model', `${r.model} (${r.api}, ${r.mode === 'open' ? `${r.rate} req/s open loop` : `concurrency ${r.concurrency}`}, prompts ${r.prompts}, max_tokens ${r.maxTokens})`],
    ['requests', `${r.requests} in ${f(r.durationS)} s`],
    ['throughput', `${f(r.throughput, 2)} req/s`],
    ['output tokens/s', `${f(r.outputTokensPerS)} (${r.outputTokens} tokens)`],
    ['input tokens/s', `${f(r.inputTokensPerS)} (${r.promptTokens} tokens)`],
    ['TTFT p50 / p90 / p99', `${pct(r.ttftMs, 2)} ms`],
    ['inter-token p50 / p90 / p99', `${pct(r.itlMs, 2)} ms`],
    ['end-to-end p50 / p90 / p99', `${pct(r.e2eMs)} ms`],
    ['tokens/s per request p50 / p90 / p99', pct(r.requestTokensPerS)],
    ['errors', `${r.errors.total} (${f(r.errors.rate * 100, 2)}%)${Object.keys(r.errors.byStatus).length ? ` ${JSON.stringify(r.errors.byStatus)}` : ''}`],
  ];
}
