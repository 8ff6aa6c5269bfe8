// A captured request as table rows: one row per input row (a request of 3 rows gives 3 rows that share
// its request id), meta columns first, then one column per input feature (`input.<feature>`) and per
// output (`output.<name>`). A tensor with one value per row is the column `<name>`; with k values per
// row, `<name>_0` .. `<name>_{k-1}`; a tensor with more than MAX_VALUES_PER_ROW values per row (an
// image) is not recorded, only named in the file's metadata. A Python model's /invocations body is
// MLflow's JSON (dataframe_split, dataframe_records, instances, inputs) and its answer
// {"predictions": ...}: their columns become features the same way. PURE.
import type { Tensor } from '../../tensor.js';
import { halfToFloat } from '../dataplane/codecs/json-tensor.js';
import { inputColumn, outputColumn } from '../../monitor/capture-schema.js';

export const MAX_VALUES_PER_ROW = 256;

export type Cell = number | string | null;
export type Row = Record<string, Cell>;

/** What the ingress hands over after an answer (kept as it was: parsing happens off the request path). */
export interface CaptureRecord {
  endpoint: string;
  deployment: string;
  version: string;
  requestId: string;
  /** ms since the epoch, when the request arrived. */
  ts: number;
  latencyMs: number;
  /** Tensors (OIP, ONNX /invocations), or MLflow's JSON body and answer (a Python model's /invocations). */
  inputs: Tensor[] | { mlflowJson: string };
  outputs: Tensor[] | { mlflowJson: string };
}

export interface Rows {
  rows: Row[];
  /** Inputs and outputs left out: too many values per row, rows that do not line up, JSON that does not parse. */
  skipped: string[];
}

/**
 * A 32-bit (or 16-bit) float as the shortest decimal that reads back as the same float, as numpy
 * prints it: 5.1 sent as FP32 is 5.099999904632568 in a double, and a reference file says 5.1, so
 * comparing the raw doubles would shift every value (and drift tests would see it).
 */
export function shortestFloat(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 6; p <= 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return v;
}

function cell(t: Tensor, i: number): Cell {
  const d = t.data;
  if (Array.isArray(d)) return d[i] ?? null;
  const v = d[i];
  if (v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (t.datatype === 'FP16') return shortestFloat(halfToFloat(v));
  return t.datatype === 'FP32' ? shortestFloat(v) : v;
}

/** Columns of one tensor, row by row; null when it cannot be split into `rows` rows of few values. */
function tensorColumns(t: Tensor, rows: number, column: (f: string) => string): Array<Record<string, Cell>> | null {
  const total = t.shape.reduce((a, b) => a * b, 1);
  const first = t.shape.length === 0 ? 1 : t.shape[0]!;
  if (first !== rows || rows === 0) return null;
  const k = total / rows;
  if (k > MAX_VALUES_PER_ROW || !Number.isInteger(k)) return null;
  const names = k === 1 ? [column(t.name)] : Array.from({ length: k }, (_, j) => column(`${t.name}_${j}`));
  const out: Array<Record<string, Cell>> = [];
  for (let r = 0; r < rows; r++) {
    const row: Record<string, Cell> = {};
    for (let j = 0; j < k; j++) row[names[j]!] = cell(t, r * k + j);
    out.push(row);
  }
  return out;
}

const scalar = (v: unknown): Cell =>
  v === null || v === undefined ? null : typeof v === 'number' ? v : typeof v === 'boolean' ? Number(v) : typeof v === 'string' ? v : JSON.stringify(v);

/** One JSON value per row -> named cells: a dict's keys, a list's positions (`<name>_j`), or `<name>`. */
function jsonRow(v: unknown, name: string): Record<string, Cell> {
  if (Array.isArray(v)) {
    if (v.length > MAX_VALUES_PER_ROW) return {};
    return Object.fromEntries(v.map((x, j) => [`${name}_${j}`, scalar(x)]));
  }
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, scalar(x)]));
  return { [name]: scalar(v) };
}

/** A dict of columns {"a": [..], "b": [..]} -> rows. */
function columnsToRows(cols: Record<string, unknown>): Array<Record<string, Cell>> | null {
  const entries = Object.entries(cols);
  const n = entries.length && Array.isArray(entries[0]![1]) ? (entries[0]![1] as unknown[]).length : -1;
  if (n < 0 || !entries.every(([, v]) => Array.isArray(v) && v.length === n)) return null;
  return Array.from({ length: n }, (_, r) => Object.fromEntries(entries.flatMap(([k, v]) => Object.entries(jsonRow((v as unknown[])[r], k)))));
}

/** MLflow's scoring JSON (request) -> feature rows; null when it is not one of its forms. */
export function mlflowRequestRows(body: unknown): Array<Record<string, Cell>> | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const b = body as Record<string, unknown>;
  const split = b.dataframe_split as { columns?: unknown[]; data?: unknown[][] } | undefined;
  if (split && Array.isArray(split.data)) {
    const cols = Array.isArray(split.columns) ? split.columns.map(String) : null;
    return split.data.map((r) => (Array.isArray(r) ? Object.fromEntries(r.map((v, j) => [cols?.[j] ?? String(j), scalar(v)])) : {}));
  }
  if (Array.isArray(b.dataframe_records)) return b.dataframe_records.map((r) => jsonRow(r, 'value'));
  for (const key of ['instances', 'inputs'] as const) {
    const v = b[key];
    if (Array.isArray(v)) return v.map((r) => jsonRow(r, key));
    if (v && typeof v === 'object') return columnsToRows(v as Record<string, unknown>);
  }
  return null;
}

/** MLflow's answer {"predictions": ...} (or a bare list) -> output rows. */
export function mlflowAnswerRows(answer: unknown): Array<Record<string, Cell>> | null {
  const p = answer && typeof answer === 'object' && !Array.isArray(answer) && 'predictions' in answer ? (answer as { predictions: unknown }).predictions : answer;
  if (Array.isArray(p)) return p.map((r) => jsonRow(r, 'predictions'));
  if (p && typeof p === 'object') return columnsToRows(p as Record<string, unknown>);
  return null;
}

function parse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

const prefixed = (rows: Array<Record<string, Cell>>, column: (f: string) => string) =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [column(k), v])));

/** The record as rows; `drop` names inputs (tensors or columns) never recorded. */
export function captureRows(rec: CaptureRecord, drop: readonly string[] = []): Rows {
  const skipped: string[] = [];
  const dropped = new Set(drop);
  let inputs: Array<Record<string, Cell>>;
  let outputs: Array<Record<string, Cell>> | null;
  if (Array.isArray(rec.inputs)) {
    const tensors = rec.inputs.filter((t) => !dropped.has(t.name));
    const n = tensors.length ? (tensors[0]!.shape.length === 0 ? 1 : tensors[0]!.shape[0]!) : 1;
    inputs = Array.from({ length: n }, () => ({}));
    for (const t of tensors) {
      const cols = tensorColumns(t, n, inputColumn);
      if (!cols) skipped.push(`input ${t.name} [${t.shape.join(',')}]`);
      else cols.forEach((c, r) => Object.assign(inputs[r]!, c));
    }
  } else {
    const parsed = mlflowRequestRows(parse(rec.inputs.mlflowJson));
    if (!parsed) skipped.push('the request body (not one of MLflow\'s JSON forms)');
    inputs = prefixed((parsed ?? [{}]).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !dropped.has(k)))), inputColumn);
  }
  if (Array.isArray(rec.outputs)) {
    outputs = inputs.map(() => ({}));
    for (const t of rec.outputs) {
      const cols = tensorColumns(t, inputs.length, outputColumn);
      if (!cols) skipped.push(`output ${t.name} [${t.shape.join(',')}]`);
      else cols.forEach((c, r) => Object.assign(outputs![r]!, c));
    }
  } else {
    const parsed = mlflowAnswerRows(parse(rec.outputs.mlflowJson));
    outputs = parsed && parsed.length === inputs.length ? prefixed(parsed, outputColumn) : null;
    if (!outputs) skipped.push('the predictions (not one per input row)');
  }
  const rows = inputs.map((features, r) => ({
    timestamp: rec.ts, request_id: rec.requestId, row: r, endpoint: rec.endpoint, deployment: rec.deployment,
    model_version: rec.version, latency_ms: rec.latencyMs, ...features, ...(outputs?.[r] ?? {}),
  }));
  return { rows, skipped };
}
