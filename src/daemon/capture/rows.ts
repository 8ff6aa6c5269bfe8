// A captured request as table columns (and, for tests and readers, rows): one row per input row (a request of 3 rows gives 3 rows that share
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
  /** Columns of 32- or 16-bit floats: written as Parquet FLOAT (pandas shows float32's 5.1 as 5.1). */
  float32: string[];
  /** Inputs and outputs left out: too many values per row, rows that do not line up, JSON that does not parse. */
  skipped: string[];
}

/** The same, column by column: how the writer takes it (row objects of many keys are slow to build and read). */
export interface Cols {
  /** Rows of the request. */
  n: number;
  /** Feature and output columns, each `n` long, in order. */
  columns: Array<[string, Cell[]]>;
  float32: string[];
  skipped: string[];
}

function cell(t: Tensor, i: number): Cell {
  const d = t.data;
  if (Array.isArray(d)) return d[i] ?? null;
  const v = d[i];
  if (v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  return t.datatype === 'FP16' ? halfToFloat(v) : v;
}

/** Column names per (tensor, values per row), made once: a capture of many rows names them once. */
const NAMES = new Map<string, string[]>();
function columnNames(name: string, k: number, column: (f: string) => string): string[] {
  const key = `${column('')}${name}\0${k}`;
  let names = NAMES.get(key);
  if (!names) {
    if (NAMES.size > 10_000) NAMES.clear();
    names = k === 1 ? [column(name)] : Array.from({ length: k }, (_, j) => column(`${name}_${j}`));
    NAMES.set(key, names);
  }
  return names;
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

/** One tensor's columns over `rows` rows; null when it cannot be split into rows of few values. */
function tensorColumnArrays(t: Tensor, rows: number, column: (f: string) => string): Array<[string, Cell[]]> | null {
  const total = t.shape.reduce((a, b) => a * b, 1);
  const first = t.shape.length === 0 ? 1 : t.shape[0]!;
  if (first !== rows || rows === 0) return null;
  const k = total / rows;
  if (k > MAX_VALUES_PER_ROW || !Number.isInteger(k)) return null;
  const names = columnNames(t.name, k, column);
  return names.map((name, j) => {
    const values: Cell[] = new Array(rows);
    for (let r = 0; r < rows; r++) values[r] = cell(t, r * k + j);
    return [name, values];
  });
}

/** Rows of named cells -> columns prefixed by `column`, in first-seen order (null where a row has none). */
function rowsToColumns(rows: Array<Record<string, Cell>>, column: (f: string) => string): Array<[string, Cell[]]> {
  const names = new Set<string>();
  for (const r of rows) for (const k in r) names.add(k);
  return [...names].map((k) => [column(k), rows.map((r) => r[k] ?? null)]);
}

/** The record column by column; `drop` names inputs (tensors or columns) never recorded. */
export function captureColumns(rec: CaptureRecord, drop: readonly string[] = []): Cols {
  const skipped: string[] = [];
  const float32: string[] = [];
  const columns: Array<[string, Cell[]]> = [];
  const dropped = new Set(drop);
  const addTensors = (list: readonly Tensor[], n: number, column: (f: string) => string, what: string) => {
    for (const t of list) {
      const cols = tensorColumnArrays(t, n, column);
      if (!cols) {
        skipped.push(`${what} ${t.name} [${t.shape.join(',')}]`);
        continue;
      }
      columns.push(...cols);
      if (t.datatype === 'FP32' || t.datatype === 'FP16') float32.push(...cols.map(([name]) => name));
    }
  };
  let n: number;
  if (Array.isArray(rec.inputs)) {
    const tensors = rec.inputs.filter((t) => !dropped.has(t.name));
    n = tensors.length ? (tensors[0]!.shape.length === 0 ? 1 : tensors[0]!.shape[0]!) : 1;
    addTensors(tensors, n, inputColumn, 'input');
  } else {
    const parsed = mlflowRequestRows(parse(rec.inputs.mlflowJson));
    if (!parsed) skipped.push('the request body (not one of MLflow\'s JSON forms)');
    const rows = (parsed ?? [{}]).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !dropped.has(k))));
    n = rows.length;
    columns.push(...rowsToColumns(rows, inputColumn));
  }
  if (Array.isArray(rec.outputs)) addTensors(rec.outputs, n, outputColumn, 'output');
  else {
    const parsed = mlflowAnswerRows(parse(rec.outputs.mlflowJson));
    if (parsed && parsed.length === n) columns.push(...rowsToColumns(parsed, outputColumn));
    else skipped.push('the predictions (not one per input row)');
  }
  return { n, columns, float32, skipped };
}

/** The record as rows (meta columns, then its columns): for tests and readers that want rows. */
export function captureRows(rec: CaptureRecord, drop: readonly string[] = []): Rows {
  const c = captureColumns(rec, drop);
  const rows = Array.from({ length: c.n }, (_, r) => {
    const row: Row = {
      timestamp: rec.ts, request_id: rec.requestId, row: r, endpoint: rec.endpoint, deployment: rec.deployment,
      model_version: rec.version, latency_ms: rec.latencyMs,
    };
    for (const [k, values] of c.columns) row[k] = values[r] ?? null;
    return row;
  });
  return { rows, skipped: c.skipped, float32: c.float32 };
}
