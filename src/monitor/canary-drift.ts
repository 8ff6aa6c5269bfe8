// The canary's drift check: its captured rows against the primary's over the same window, column by
// column (every input.* and output.* both have), as population stability index (evidently's bins:
// stats.ts `psi`); the largest PSI and its column are what the analysis judges. PURE.
import { INPUT_PREFIX, OUTPUT_PREFIX } from './capture-schema.js';
import { psi } from './drift/stats.js';
import { present, toColumn } from './drift/table.js';

type Cell = number | string | null;
type Row = Record<string, Cell>;

/** One side's captured columns: `n` rows, each column `n` long (null where a request had none). */
export interface CapturedColumns {
  n: number;
  columns: Map<string, Cell[]>;
}

/** Rows -> columns (tests, and callers that hold rows). */
export function fromRows(rows: readonly Row[]): CapturedColumns {
  const names = new Set<string>();
  for (const r of rows) for (const k in r) names.add(k);
  return { n: rows.length, columns: new Map([...names].map((k) => [k, rows.map((r) => r[k] ?? null)])) };
}

export interface CanaryDrift {
  psi: number | null;
  column: string | null;
  rows: { primary: number; canary: number };
}

export function canaryDrift(primary: CapturedColumns, canary: CapturedColumns): CanaryDrift {
  const names = (side: CapturedColumns) => [...side.columns.keys()].filter((k) => k.startsWith(INPUT_PREFIX) || k.startsWith(OUTPUT_PREFIX));
  const inCanary = new Set(names(canary));
  const padded = (side: CapturedColumns, column: string) => {
    const v = side.columns.get(column)!;
    return v.length < side.n ? [...v, ...new Array<Cell>(side.n - v.length).fill(null)] : v;
  };
  let worst: { psi: number; column: string } | null = null;
  for (const column of names(primary).filter((c) => inCanary.has(c)).sort()) {
    const ref = toColumn(column, padded(primary, column));
    const cur = toColumn(column, padded(canary, column));
    const numeric = ref.kind === 'numeric' && cur.kind === 'numeric';
    const a = numeric ? present(ref) : present(ref).map(String);
    const b = numeric ? present(cur) : present(cur).map(String);
    if (a.length === 0 || b.length === 0) continue;
    const p = psi(a, b, numeric);
    if (Number.isFinite(p) && (!worst || p > worst.psi)) worst = { psi: p, column };
  }
  return { psi: worst?.psi ?? null, column: worst?.column ?? null, rows: { primary: primary.n, canary: canary.n } };
}
