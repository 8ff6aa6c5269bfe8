// The canary's drift check: its captured rows against the primary's over the same window, column by
// column (every input.* and output.* both have), as population stability index (evidently's bins:
// stats.ts `psi`); the largest PSI and its column are what the analysis judges. PURE.
import { INPUT_PREFIX, OUTPUT_PREFIX } from './capture-schema.js';
import { psi } from './drift/stats.js';
import { present, toColumn } from './drift/table.js';

type Row = Record<string, number | string | null>;

export interface CanaryDrift {
  psi: number | null;
  column: string | null;
  rows: { primary: number; canary: number };
}

export function canaryDrift(primary: readonly Row[], canary: readonly Row[]): CanaryDrift {
  const names = (rows: readonly Row[]) => new Set(rows.flatMap((r) => Object.keys(r)).filter((k) => k.startsWith(INPUT_PREFIX) || k.startsWith(OUTPUT_PREFIX)));
  const inCanary = names(canary);
  let worst: { psi: number; column: string } | null = null;
  for (const column of [...names(primary)].filter((c) => inCanary.has(c)).sort()) {
    const ref = toColumn(column, primary.map((r) => r[column] ?? null));
    const cur = toColumn(column, canary.map((r) => r[column] ?? null));
    const numeric = ref.kind === 'numeric' && cur.kind === 'numeric';
    const a = numeric ? present(ref) : present(ref).map(String);
    const b = numeric ? present(cur) : present(cur).map(String);
    if (a.length === 0 || b.length === 0) continue;
    const p = psi(a, b, numeric);
    if (Number.isFinite(p) && (!worst || p > worst.psi)) worst = { psi: p, column };
  }
  return { psi: worst?.psi ?? null, column: worst?.column ?? null, rows: { primary: primary.length, canary: canary.length } };
}
