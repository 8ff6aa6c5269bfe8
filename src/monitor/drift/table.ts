// The column data the drift report works on (PURE): a reference file or the captured rows, each
// column numeric (numbers, NaN or null for missing) or categorical (strings, null for missing).
import type { ColumnKind } from './decision.js';

export interface Column {
  name: string;
  kind: ColumnKind;
  values: Array<number | string | null>;
}

export interface Table {
  rows: number;
  columns: Column[];
}

/** A column's kind from its values: numeric when every present value is a finite-or-NaN number. */
export function kindOf(values: readonly unknown[]): ColumnKind {
  let any = false;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (typeof v !== 'number' && typeof v !== 'bigint') return 'categorical';
    any = true;
  }
  return any ? 'numeric' : 'categorical';
}

/** Raw cell values as a Column: numbers (bigint too) stay numbers, other values become strings. */
export function toColumn(name: string, raw: readonly unknown[]): Column {
  const kind = kindOf(raw);
  const values = raw.map((v) => {
    if (v === null || v === undefined) return null;
    if (kind === 'numeric') return Number(v);
    if (v instanceof Date) return v.toISOString();
    return typeof v === 'string' ? v : String(v);
  });
  return { name, kind, values };
}

/** Present values: numbers without NaN/±Infinity (evidently drops those too), strings without ''. */
export function present(c: Column): Array<number | string> {
  return c.values.filter((v): v is number | string => v !== null && v !== '' && !(typeof v === 'number' && !Number.isFinite(v)));
}

/** Present values as strings (a numeric column read as categories). */
export const asCategories = (c: Column): string[] => present(c).map(String);
