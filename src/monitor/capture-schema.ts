// The one place that knows how captured requests are laid out (PURE). The daemon's capture writer
// and `mlserve drift` both import it.
//
// Files: $MLSERVE_HOME/capture/<endpoint>/capture-<UTC yyyymmddThhmmssSSS>-<seq>.parquet, written
// atomically (tmp + rename); any other file name in that folder is ignored. One row per input row
// (a request with 3 rows gives 3 rows sharing request_id). Columns: the meta columns below, then
// `input.<feature>` per input feature and `output.<name>` per output, each DOUBLE (NaN/null for
// missing) or STRING. A per-row scalar tensor or an MLflow column gives `<name>`; a tensor with k
// values per row gives `<name>_0 .. <name>_{k-1}`.
import { join } from 'node:path';

/** The meta columns, in file order, with their Parquet types. */
export const META_COLUMNS = [
  { name: 'timestamp', type: 'TIMESTAMP' },
  { name: 'request_id', type: 'STRING' },
  { name: 'row', type: 'INT32' },
  { name: 'endpoint', type: 'STRING' },
  { name: 'deployment', type: 'STRING' },
  { name: 'model_version', type: 'STRING' },
  { name: 'latency_ms', type: 'DOUBLE' },
] as const;

export type MetaColumn = (typeof META_COLUMNS)[number]['name'];

export const INPUT_PREFIX = 'input.';
export const OUTPUT_PREFIX = 'output.';

export const inputColumn = (feature: string): string => `${INPUT_PREFIX}${feature}`;
export const outputColumn = (name: string): string => `${OUTPUT_PREFIX}${name}`;

/** The feature names of a tensor with `perRow` values per row: `x` for 1, else `x_0 .. x_{k-1}`. */
export function tensorFeatures(name: string, perRow: number): string[] {
  return perRow === 1 ? [name] : Array.from({ length: perRow }, (_, i) => `${name}_${i}`);
}

/** `{kind, name}` of a captured column, or null for a meta column or anything else. */
export function featureOf(column: string): { kind: 'input' | 'output'; name: string } | null {
  if (column.startsWith(INPUT_PREFIX) && column.length > INPUT_PREFIX.length) return { kind: 'input', name: column.slice(INPUT_PREFIX.length) };
  if (column.startsWith(OUTPUT_PREFIX) && column.length > OUTPUT_PREFIX.length) return { kind: 'output', name: column.slice(OUTPUT_PREFIX.length) };
  return null;
}

export const CAPTURE_FILE_RE = /^capture-(\d{8}T\d{9})-(\d+)\.parquet$/;

/** The folder of an endpoint's capture files. */
export const captureDir = (home: string, endpoint: string): string => join(home, 'capture', endpoint);

/** `capture-20261201T103000123-7.parquet` for that time (UTC) and sequence number. */
export function captureFileName(at: Date, seq: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp = `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}T${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}${p(at.getUTCMilliseconds(), 3)}`;
  return `capture-${stamp}-${seq}.parquet`;
}

/** The time in a capture file's name (when its first row was written), or null for another name. */
export function captureFileTime(name: string): Date | null {
  const m = CAPTURE_FILE_RE.exec(name);
  if (!m) return null;
  const s = m[1]!;
  const t = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(9, 11), +s.slice(11, 13), +s.slice(13, 15), +s.slice(15, 18));
  return Number.isNaN(t) ? null : new Date(t);
}

/**
 * A 32-bit float read from a FLOAT column (FP32 and FP16 tensors are captured as FLOAT) as the
 * shortest decimal that is the same float, as numpy prints it: the 5.1 a client sent is
 * 5.099999904632568 as a double, and a reference file says 5.1, so comparing the raw doubles would
 * shift every value a little (and drift tests would see it).
 */
export function float32Decimal(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 6; p <= 9; p++) {
    const x = Number(v.toPrecision(p));
    if (Math.fround(x) === v) return x;
  }
  return v;
}
