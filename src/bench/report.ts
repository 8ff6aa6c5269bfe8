// PURE: what a bench run reports, its --assert gates, --baseline comparison and tables.

export interface BenchResult {
  endpoint: string;
  protocol: 'json' | 'binary';
  mode: 'closed' | 'open';
  concurrency?: number;
  rate?: number;
  batch: number;
  durationS: number;
  requests: number;
  /** Successful requests per second. */
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  errors: { total: number; rate: number; byStatus: Record<string, number> };
  server?: { queueMs: number; computeMs: number; meanBatchSize: number; batches: number };
}

export type Metric = 'p50' | 'p90' | 'p99' | 'p99.9' | 'max' | 'mean' | 'throughput' | 'errors';

export interface Assertion {
  text: string;
  metric: Metric;
  op: '<' | '<=' | '>' | '>=';
  /** In the metric's own unit: ms for latencies, req/s for throughput, a fraction for errors. */
  value: number;
}

const METRICS: Metric[] = ['p99.9', 'p50', 'p90', 'p99', 'max', 'mean', 'throughput', 'errors'];

/** Parse "p99<50ms,throughput>1000,errors<0.1%". Throws with what was wrong. */
export function parseAssertions(spec: string): Assertion[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const m = /^([a-z0-9.]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|us|µs|%|rps|req\/s)?$/i.exec(text);
      if (!m) throw new Error(`cannot read assertion '${text}'; write e.g. p99<50ms, throughput>1000, errors<0.1%`);
      const metric = m[1].toLowerCase() as Metric;
      if (!METRICS.includes(metric)) throw new Error(`unknown metric '${m[1]}' in '${text}'; use one of ${METRICS.join(', ')}`);
      const unit = (m[4] ?? '').toLowerCase();
      let value = Number(m[3]);
      const latency = metric !== 'throughput' && metric !== 'errors';
      if (latency) {
        if (unit === 's') value *= 1000;
        else if (unit === 'us' || unit === 'µs') value /= 1000;
        else if (unit !== 'ms' && unit !== '') throw new Error(`'${text}': latencies take ms, s or us`);
      } else if (metric === 'errors') {
        if (unit === '%') value /= 100;
        else if (unit !== '') throw new Error(`'${text}': errors take a percentage (errors<0.1%) or a fraction`);
      } else if (unit !== '' && unit !== 'rps' && unit !== 'req/s') throw new Error(`'${text}': throughput is in requests per second`);
      return { text, metric, op: m[2] as Assertion['op'], value };
    });
}

export function metricValue(r: BenchResult, m: Metric): number {
  switch (m) {
    case 'throughput': return r.throughput;
    case 'errors': return r.errors.rate;
    case 'p99.9': return r.latencyMs.p999;
    default: return r.latencyMs[m];
  }
}

export interface Verdict {
  assertion: string;
  actual: number;
  limit: number;
  unit: string;
  ok: boolean;
}

const unitOf = (m: Metric) => (m === 'throughput' ? 'req/s' : m === 'errors' ? '%' : 'ms');
const shown = (m: Metric, v: number) => (m === 'errors' ? v * 100 : v);

export function checkAssertions(r: BenchResult, asserts: Assertion[]): Verdict[] {
  return asserts.map((a) => {
    const actual = metricValue(r, a.metric);
    const ok = a.op === '<' ? actual < a.value : a.op === '<=' ? actual <= a.value : a.op === '>' ? actual > a.value : actual >= a.value;
    return { assertion: a.text, actual: shown(a.metric, actual), limit: shown(a.metric, a.value), unit: unitOf(a.metric), ok };
  });
}

/** Throughput may not drop, nor p99 rise, by more than maxRegression (a fraction) against a baseline. */
export function compareBaseline(r: BenchResult, base: BenchResult, maxRegression: number): Verdict[] {
  const tput = base.throughput > 0 ? (base.throughput - r.throughput) / base.throughput : 0;
  const p99 = base.latencyMs.p99 > 0 ? (r.latencyMs.p99 - base.latencyMs.p99) / base.latencyMs.p99 : 0;
  return [
    { assertion: `throughput within ${maxRegression * 100}% of baseline ${base.throughput.toFixed(1)}`, actual: r.throughput, limit: base.throughput * (1 - maxRegression), unit: 'req/s', ok: tput <= maxRegression },
    { assertion: `p99 within ${maxRegression * 100}% of baseline ${base.latencyMs.p99.toFixed(2)}`, actual: r.latencyMs.p99, limit: base.latencyMs.p99 * (1 + maxRegression), unit: 'ms', ok: p99 <= maxRegression },
  ];
}

/**
 * PURE: the JSON of an earlier `bench --json` run, checked before a new run starts. Throws with
 * `path` in the message when it is not JSON or not a bench result.
 */
export function readBaseline(text: string, path: string): BenchResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`--baseline ${path} is not JSON (${(err as Error).message}); pass the output of an earlier mlserve bench --json`);
  }
  const r = data as Partial<BenchResult> | null;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!r || typeof r !== 'object' || !num(r.throughput) || !num(r.latencyMs?.p99) || (r.mode !== 'open' && r.mode !== 'closed')) {
    throw new Error(`--baseline ${path} is not the output of mlserve bench --json (it needs mode, throughput and latencyMs.p99)`);
  }
  return r as BenchResult;
}

export type RunShape = Pick<BenchResult, 'endpoint' | 'mode' | 'protocol' | 'batch' | 'concurrency' | 'rate'>;

const loadText = (r: Partial<RunShape>) =>
  r.mode === 'open' ? `an open loop${r.rate ? ` at ${r.rate} req/s` : ''}` : `a closed loop${r.concurrency ? ` at concurrency ${r.concurrency}` : ''}`;

/**
 * PURE: why a baseline may not compare with this run: another loop (open vs closed) or load,
 * another protocol, another batch size, another endpoint. One line each.
 */
export function baselineWarnings(run: RunShape, base: Partial<RunShape>, path: string): string[] {
  const out: string[] = [];
  const was = `baseline ${path} was measured`;
  const sameLoad = run.mode === base.mode && (run.mode === 'open' ? run.rate === base.rate : run.concurrency === base.concurrency);
  if (!sameLoad) out.push(`${was} with ${loadText(base)}, this run with ${loadText(run)}: throughput and latency do not compare`);
  if (base.protocol !== undefined && run.protocol !== base.protocol) out.push(`${was} with the ${base.protocol} protocol, this run with ${run.protocol}`);
  if (base.batch !== undefined && run.batch !== base.batch) out.push(`${was} with ${base.batch} row(s) per request, this run with ${run.batch}`);
  if (base.endpoint !== undefined && run.endpoint !== base.endpoint) out.push(`${was} on endpoint ${base.endpoint}, this run on ${run.endpoint}`);
  return out;
}

/** PURE: one plain progress line (no carriage return, no escape codes). */
export function progressText(t: { elapsedMs: number; ok: number; errors: number; p99Ms: number }): string {
  const s = t.elapsedMs / 1000;
  return `  ${s.toFixed(0)}s  ${t.ok} ok  ${t.errors} errors  ${(s > 0 ? t.ok / s : 0).toFixed(0)} req/s  p99 ${t.p99Ms.toFixed(2)} ms`;
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2));

export function summaryRows(r: BenchResult): [string, string][] {
  const rows: [string, string][] = [
    ['throughput', `${fmt(r.throughput)} req/s`],
    ['requests', String(r.requests)],
    ['latency p50', `${fmt(r.latencyMs.p50)} ms`],
    ['latency p90', `${fmt(r.latencyMs.p90)} ms`],
    ['latency p99', `${fmt(r.latencyMs.p99)} ms`],
    ['latency p99.9', `${fmt(r.latencyMs.p999)} ms`],
    ['latency max', `${fmt(r.latencyMs.max)} ms`],
    ['errors', `${r.errors.total} (${fmt(r.errors.rate * 100)}%)${Object.keys(r.errors.byStatus).length ? ` ${Object.entries(r.errors.byStatus).map(([k, v]) => `${k}:${v}`).join(' ')}` : ''}`],
  ];
  if (r.server) {
    rows.push(['server queue', `${fmt(r.server.queueMs)} ms mean`], ['server compute', `${fmt(r.server.computeMs)} ms mean per batch`], ['mean batch size', fmt(r.server.meanBatchSize)]);
  }
  return rows;
}

export function markdownSummary(r: BenchResult, verdicts: Verdict[], warnings: string[] = []): string {
  const lines = [`### mlserve bench ${r.endpoint} (${r.mode} loop, ${r.protocol}${r.concurrency ? `, concurrency ${r.concurrency}` : ''}${r.rate ? `, ${r.rate} req/s` : ''})`, ''];
  for (const w of warnings) lines.push(`> **Warning:** ${w}`, '');
  lines.push('| metric | value |', '|---|---|');
  for (const [k, v] of summaryRows(r)) lines.push(`| ${k} | ${v} |`);
  if (verdicts.length) {
    lines.push('', '| check | actual | limit | result |', '|---|---|---|---|');
    for (const v of verdicts) lines.push(`| \`${v.assertion}\` | ${fmt(v.actual)} ${v.unit} | ${fmt(v.limit)} ${v.unit} | ${v.ok ? 'pass' : '**FAIL**'} |`);
  }
  return `${lines.join('\n')}\n`;
}
