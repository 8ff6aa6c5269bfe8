// The captured rows of an endpoint within a time window: the capture files of
// $MLSERVE_HOME/capture/<endpoint>/ (capture-schema.ts), rows kept by their `timestamp` column and,
// with a deployment, by their `deployment` column. A file last written (mtime, set by its rename)
// before the window starts holds no row of it and is not opened.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MlserveError } from '../../errors.js';
import { CAPTURE_FILE_RE, captureDir, featureOf } from '../capture-schema.js';
import { readParquetTable } from './reference.js';
import { toColumn, type Table } from './table.js';

export interface CaptureQuery {
  home: string;
  endpoint: string;
  /** Rows with from <= timestamp <= to (epoch ms). */
  from: number;
  to: number;
  deployment?: string;
}

export interface CapturedRows {
  table: Table;
  files: number;
}

/** Capture file names of an endpoint, oldest first (by the time and sequence in their names). */
export async function listCaptureFiles(home: string, endpoint: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(captureDir(home, endpoint));
  } catch {
    return [];
  }
  return names.filter((n) => CAPTURE_FILE_RE.test(n)).sort((a, b) => {
    const ma = CAPTURE_FILE_RE.exec(a)!;
    const mb = CAPTURE_FILE_RE.exec(b)!;
    return ma[1]! < mb[1]! ? -1 : ma[1]! > mb[1]! ? 1 : Number(ma[2]) - Number(mb[2]);
  });
}

const timeOf = (v: unknown): number => (v instanceof Date ? v.getTime() : typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : Number.NaN);

/** The captured rows in the window, the input and output columns of all files joined (absent = missing). */
export async function readCapturedRows(q: CaptureQuery): Promise<CapturedRows> {
  const dir = captureDir(q.home, q.endpoint);
  const raw = new Map<string, unknown[]>();
  let rows = 0;
  let files = 0;
  for (const name of await listCaptureFiles(q.home, q.endpoint)) {
    const path = join(dir, name);
    try {
      if ((await stat(path)).mtimeMs < q.from) continue;
    } catch {
      continue; // removed meanwhile (retention)
    }
    let t: Table;
    try {
      t = await readParquetTable(path);
    } catch (err) {
      throw new MlserveError('INTERNAL', `capture file ${path} is not a readable Parquet file (${(err as Error).message}): move it out of ${dir} and run again`);
    }
    const ts = t.columns.find((c) => c.name === 'timestamp');
    const dep = t.columns.find((c) => c.name === 'deployment');
    if (!ts) throw new MlserveError('INTERNAL', `capture file ${path} has no timestamp column: move it out of ${dir} and run again`);
    const keep: number[] = [];
    for (let i = 0; i < t.rows; i++) {
      const at = timeOf(ts.values[i] === null ? null : rawTime(ts.values[i]!));
      if (at >= q.from && at <= q.to && (q.deployment === undefined || dep?.values[i] === q.deployment)) keep.push(i);
    }
    files++;
    if (keep.length === 0) continue;
    for (const c of t.columns) {
      if (featureOf(c.name) === null) continue;
      const target = raw.get(c.name) ?? new Array<unknown>(rows).fill(null);
      for (const i of keep) target.push(c.values[i]);
      raw.set(c.name, target);
    }
    rows += keep.length;
    for (const v of raw.values()) while (v.length < rows) v.push(null);
  }
  return { table: { rows, columns: [...raw.entries()].map(([n, v]) => toColumn(n, v)) }, files };
}

/** A timestamp cell after toColumn: a number (ms) or an ISO string (from a Date). */
function rawTime(v: number | string): number {
  return typeof v === 'number' ? v : Date.parse(v);
}
