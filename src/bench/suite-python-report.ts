// PURE: the Python section of `npm run bench` (a scikit-learn model served by mlserve's Python
// replica vs `mlflow models serve`, and the replica vs model.predict in-process): its result, its
// goals, its table (fits 80 columns), the short analysis and the BENCH.md section around them.
import type { Ratio, Row } from './suite-report.js';

export type PyRowKey = 'mlflow' | 'mlserveInvocations' | 'mlserveOip' | 'mlflowC1' | 'mlserveInvocationsC1' | 'mlserveOipC1';

/** A served row, with the load generator that measured it. */
export interface PyRow extends Row {
  generator: string;
}

/** model.predict on a DataFrame of `batch` rows, back to back in one Python process. */
export interface InProcessRun {
  batch: number;
  calls: number;
  rowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  generator: string;
}

/** mlserve's Python replica fed OIP requests of `batch` rows each. */
export interface ServedBatchRow extends PyRow {
  batch: number;
  rowsPerSec: number;
  /** Requests per predict (the batcher's mean batch). */
  meanBatch: number;
}

export interface PythonSectionResult {
  date: string;
  quick: boolean;
  cpus: number;
  durationS: number;
  model: string;
  /** Interpreter path and the versions of Python, MLflow, scikit-learn, pandas, numpy. */
  env: Record<string, string>;
  mlflowServe: { command: string; workers: string };
  /** Where `wrk` is, when installed: noted, not used (both servers are measured with load.ts). */
  wrk: string | null;
  concurrency: number;
  overheadConcurrency: number;
  /** Did mlserve's /invocations answer the benchmark body exactly as `mlflow models serve` did? */
  sameAnswer: boolean | null;
  rows: Partial<Record<PyRowKey, PyRow>>;
  inProcess: InProcessRun[];
  served: ServedBatchRow[];
  goals: Record<string, Ratio>;
  elapsedS: number;
}

const LOAD_NOTE = 'load.ts for both servers';

export const GOALS = { throughputX: 3, c1OverheadMs: 0.5, replicaX: 0.9 } as const;

/** A `dataframe_split` /invocations body (what MLflow's docs show first) for these rows. */
export function dataframeSplitBody(columns: string[], rows: number[][]): string {
  return JSON.stringify({ dataframe_split: { columns, data: rows } });
}

/** An OIP v2 JSON body: one FP64 column tensor of `n` rows per column, values cycled from `rows`. */
export function oipColumnsBody(columns: string[], rows: number[][], n: number): string {
  const pick = (c: number) => Array.from({ length: n }, (_, i) => rows[i % rows.length][c]);
  return JSON.stringify({ inputs: columns.map((name, c) => ({ name, datatype: 'FP64', shape: [n], data: pick(c) })) });
}

/** Per batch size, the run with more rows/s of two passes (order of `a` kept, then new sizes of `b`). */
export function bestPerBatch(a: InProcessRun[], b: InProcessRun[]): InProcessRun[] {
  const out = a.map((x) => {
    const y = b.find((z) => z.batch === x.batch);
    return y && y.rowsPerSec > x.rowsPerSec ? y : x;
  });
  return [...out, ...b.filter((y) => !a.some((x) => x.batch === y.batch))];
}

/** The in-process batch with the most rows/s and mlserve's row at that same batch size. */
export function replicaComparison(r: Pick<PythonSectionResult, 'inProcess' | 'served'>): { inProcess: InProcessRun; served: ServedBatchRow; ratio: number } | null {
  if (r.inProcess.length === 0) return null;
  const best = r.inProcess.reduce((a, b) => (b.rowsPerSec > a.rowsPerSec ? b : a));
  const served = r.served.find((s) => s.batch === best.batch);
  if (!served || best.rowsPerSec <= 0) return null;
  return { inProcess: best, served, ratio: served.rowsPerSec / best.rowsPerSec };
}

/** The issue's goals for Python models, from one run; a goal whose rows are missing is left out. */
export function pythonGoals(r: Pick<PythonSectionResult, 'rows' | 'inProcess' | 'served' | 'concurrency'>): Record<string, Ratio> {
  const out: Record<string, Ratio> = {};
  const { mlflow, mlflowC1 } = r.rows;
  const forms = [['Invocations', '/invocations'], ['Oip', 'OIP JSON']] as const;
  for (const [key, label] of forms) {
    const row = r.rows[`mlserve${key}`];
    if (mlflow && row && mlflow.throughput > 0) {
      const v = row.throughput / mlflow.throughput;
      out[`sklearn${key}VsMlflow`] = { name: `sklearn, ${r.concurrency} conns: mlserve ${label} / mlflow, req/s`, value: v, target: `>= ${GOALS.throughputX}x`, met: v >= GOALS.throughputX };
    }
  }
  for (const [key, label] of forms) {
    const row = r.rows[`mlserve${key}C1`];
    if (mlflowC1 && row) {
      const v = row.p50Ms - mlflowC1.p50Ms;
      out[`sklearn${key}C1`] = { name: `sklearn, conc. 1: mlserve ${label} p50 - mlflow p50, ms`, value: v, target: `<= ${GOALS.c1OverheadMs} ms`, met: v <= GOALS.c1OverheadMs };
    }
  }
  const cmp = replicaComparison(r);
  if (cmp) {
    out.replicaVsInProcess = { name: `replica: mlserve / in-process predict rows/s, ${cmp.inProcess.batch} rows`, value: cmp.ratio, target: `>= ${GOALS.replicaX}x`, met: cmp.ratio >= GOALS.replicaX };
  }
  return out;
}

const f = (n: number | undefined, digits = 1) => (n === undefined || !Number.isFinite(n) ? '-' : Math.abs(n) >= 1000 ? n.toFixed(0) : n.toFixed(digits));
const pad = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();

export function goalLines(goals: Record<string, Ratio>): string[] {
  const lines: string[] = [];
  for (const x of Object.values(goals)) {
    const name = x.name.length > 58 ? `${x.name.slice(0, 57)}…` : x.name;
    lines.push(`  ${name.padEnd(58)} ${x.value.toFixed(2).padStart(6)} ${x.met ? 'met' : 'MISSED'}`);
    lines.push(`    goal ${x.target}`);
  }
  return lines;
}

export function formatPythonTable(r: PythonSectionResult): string {
  const w = [36, 8, 8, 8, 6];
  const lines: string[] = [];
  const wrk = r.wrk ? `wrk at ${r.wrk} not used` : 'wrk not installed';
  lines.push(`${r.model} (scikit-learn via pyfunc), 1-row requests`);
  lines.push(`load generator: ${LOAD_NOTE}; ${wrk}`);
  const row = (label: string, x: Row | undefined, batch: string) => x && lines.push(pad([label, f(x.throughput), f(x.p50Ms, 2), f(x.p99Ms, 2), batch], w));
  const sections: Array<[string, PyRowKey, PyRowKey, PyRowKey]> = [
    [`at ${r.concurrency} connections`, 'mlflow', 'mlserveInvocations', 'mlserveOip'],
    ['at concurrency 1', 'mlflowC1', 'mlserveInvocationsC1', 'mlserveOipC1'],
  ];
  for (const [title, m, inv, oip] of sections) {
    if (!r.rows[m] && !r.rows[inv] && !r.rows[oip]) continue;
    lines.push(pad([title, 'req/s', 'p50 ms', 'p99 ms', 'batch'], w));
    row(`mlflow models serve (${r.mlflowServe.workers} worker)`, r.rows[m], '1');
    row('mlserve, /invocations', r.rows[inv], f(r.rows[inv]?.meanBatch));
    row('mlserve, OIP JSON (4 column tensors)', r.rows[oip], f(r.rows[oip]?.meanBatch));
  }
  if (r.inProcess.length > 0) {
    lines.push('');
    lines.push(`Python replica vs model.predict in-process (OIP, ${r.overheadConcurrency} connections)`);
    const w2 = [8, 14, 7, 14, 7, 9, 5];
    lines.push(pad(['rows/req', 'in-proc rows/s', 'ms/call', 'mlserve rows/s', 'ms/pred', 'rows/pred', 'ratio'], w2));
    for (const ip of r.inProcess) {
      const s = r.served.find((x) => x.batch === ip.batch);
      lines.push(pad([String(ip.batch), f(ip.rowsPerSec), f(ip.p50Ms, 2), f(s?.rowsPerSec), f(s?.computeMsPerBatch, 2), s ? f(s.meanBatch * s.batch) : '-', s ? (s.rowsPerSec / ip.rowsPerSec).toFixed(2) : '-'], w2));
    }
    lines.push('ms/call: p50 of one predict in-process; ms/pred: the replica\'s own mean time');
    lines.push('per predict (tensors -> DataFrame, predict, outputs -> tensors)');
  }
  lines.push('');
  lines.push('goals');
  lines.push(...goalLines(r.goals));
  return lines.join('\n');
}

const rate = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const verdict = (g: Ratio | undefined, unit: 'x' | 'ms') => (g ? `${unit === 'x' ? `${g.value.toFixed(2)}x` : `${g.value >= 0 ? '+' : ''}${g.value.toFixed(2)} ms`}, goal ${g.target}: ${g.met ? 'met' : 'missed'}` : 'not measured');

/** A few sentences on what the figures say (everything in them is computed from this run). */
export function pythonAnalysis(r: PythonSectionResult): string[] {
  const out: string[] = [];
  const { mlflow, mlserveInvocations: inv, mlserveOip: oip, mlflowC1, mlserveInvocationsC1: inv1, mlserveOipC1: oip1 } = r.rows;
  if (mlflow && inv) {
    out.push(`At ${r.concurrency} connections mlserve answered the 1-row \`dataframe_split\` body at ${rate(inv.throughput)} req/s against ${rate(mlflow.throughput)} for \`mlflow models serve\` (${verdict(r.goals.sklearnInvocationsVsMlflow, 'x')})`
      + (oip ? `, and the same row as 4 OIP column tensors at ${rate(oip.throughput)} req/s (${verdict(r.goals.sklearnOipVsMlflow, 'x')}).` : '.')
      + ` mlserve's batcher merged ${f(inv.meanBatch)} (/invocations)${oip ? ` and ${f(oip.meanBatch)} (OIP)` : ''} requests per predict; MLflow's scoring server runs one predict per request in its ${r.mlflowServe.workers} uvicorn worker.`
      + (r.sameAnswer === null ? '' : ` Both servers gave ${r.sameAnswer ? 'the same' : 'DIFFERENT'} JSON for the body.`));
  }
  if (mlflowC1 && (inv1 || oip1)) {
    out.push(`At concurrency 1 (one predict per request on both) p50 was ${f(mlflowC1.p50Ms, 2)} ms for mlflow, ${inv1 ? `${f(inv1.p50Ms, 2)} ms for mlserve's /invocations (${verdict(r.goals.sklearnInvocationsC1, 'ms')})` : ''}${inv1 && oip1 ? ' and ' : ''}${oip1 ? `${f(oip1.p50Ms, 2)} ms for OIP (${verdict(r.goals.sklearnOipC1, 'ms')})` : ''}. mlserve's path is client -> daemon (Node HTTP) -> replica (framed pipe) -> pandas/scikit-learn; mlflow's is client -> uvicorn/FastAPI -> the same predict, in one process.`);
  }
  const cmp = replicaComparison(r);
  if (cmp) {
    const { inProcess: ip, served: s } = cmp;
    const predictsPerSec = s.throughput / Math.max(1, s.meanBatch);
    const perPredictMs = 1000 / predictsPerSec;
    out.push(`In-process \`model.predict\` peaked at ${rate(ip.rowsPerSec)} rows/s with ${ip.batch} rows per call (p50 ${f(ip.p50Ms, 2)} ms per call); mlserve fed ${ip.batch}-row OIP requests at ${r.overheadConcurrency} connections reached ${rate(s.rowsPerSec)} rows/s (${verdict(r.goals.replicaVsInProcess, 'x')}), one predict of ${f(s.meanBatch * s.batch)} rows every ${f(perPredictMs, 2)} ms against ${f(ip.p50Ms, 2)} ms per in-process call.${s.computeMsPerBatch !== undefined ? ` The replica's own time per predict (DataFrame from the tensors, predict, outputs to tensors) was ${f(s.computeMsPerBatch, 2)} ms; the other ${f(perPredictMs - s.computeMsPerBatch, 2)} ms of each cycle went elsewhere (frames read and decoded, and waiting for the next batch while the daemon parsed HTTP and JSON)` : ' The rest of each cycle is outside predict: HTTP and JSON in the daemon, the pipe both ways, the DataFrame built from the tensors and the outputs encoded'}, with the load generator on the same ${r.cpus} cores.`);
  }
  return out;
}

export const PY_START = '<!-- python:start -->';
export const PY_END = '<!-- python:end -->';

/** The BENCH.md section (between markers, so a later run can replace just it). */
export function pythonMarkdown(r: PythonSectionResult, resultsFile: string): string {
  const e = r.env;
  return [
    PY_START,
    '## Python models',
    '',
    `\`npm run bench\` run ${r.date}${r.quick ? ' (quick)' : ''}: Python ${e.python ?? '?'}, MLflow ${e.mlflow ?? '?'}, scikit-learn ${e.sklearn ?? '?'}, pandas ${e.pandas ?? '?'}. mlserve deployed \`models:/${r.model}/1\` with default settings (one Python replica); \`${r.mlflowServe.command}\` ran with its default workers (${r.mlflowServe.workers}). Both were measured with the suite's load generator (load.ts)${r.wrk ? `; wrk is installed (${r.wrk}) but not used` : ''}. Each row ran ${r.durationS}s after warm-up.`,
    '',
    '```',
    formatPythonTable(r),
    '```',
    '',
    ...pythonAnalysis(r).map((p) => `- ${p}`),
    '',
    `Raw JSON: \`${resultsFile}\` (key \`python\`). More on the gaps: \`bench/ANALYSIS.md\`.`,
    PY_END,
  ].join('\n');
}

/** `doc` with its Python section replaced by `section` (appended when it has none). */
export function spliceSection(doc: string, section: string): string {
  const a = doc.indexOf(PY_START);
  const b = doc.indexOf(PY_END, a + 1);
  if (a >= 0 && b > a) return `${doc.slice(0, a)}${section}${doc.slice(b + PY_END.length)}`;
  return `${doc.replace(/\n*$/, '')}\n\n${section}\n`;
}

/** The Python section of `doc` (markers included), or '' when it has none. */
export function extractSection(doc: string): string {
  const a = doc.indexOf(PY_START);
  const b = doc.indexOf(PY_END, a + 1);
  return a >= 0 && b > a ? doc.slice(a, b + PY_END.length) : '';
}
