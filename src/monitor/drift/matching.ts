// Which reference column is compared with which captured column (PURE).
//
// By name: reference column X pairs with captured `input.X`, and with `output.X` (prediction drift).
// By position: when no input matched by name and the reference has exactly as many numeric columns
// (other than the target and the columns paired with outputs) as a captured tensor has values per
// row (`input.<t>_0 .. input.<t>_{k-1}`), they pair in order, and the report says so. Everything
// else is listed as unmatched.
import { featureOf } from '../capture-schema.js';
import type { Table } from './table.js';

export interface Pair {
  feature: string;
  role: 'input' | 'prediction';
  column: string;
  referenceColumn: string;
}

export interface Matching {
  mode: 'name' | 'position';
  pairs: Pair[];
  /** Captured output columns with no reference column: reported as distributions only. */
  unpairedOutputs: string[];
  unmatchedReference: string[];
  unmatchedCurrent: string[];
  notes: string[];
}

export function matchColumns(reference: Table, current: Table, target?: string): Matching {
  const captured = current.columns.map((c) => ({ column: c.name, f: featureOf(c.name) })).filter((x) => x.f !== null) as Array<{
    column: string;
    f: { kind: 'input' | 'output'; name: string };
  }>;
  const inputs = new Map(captured.filter((x) => x.f.kind === 'input').map((x) => [x.f.name, x.column]));
  const outputs = new Map(captured.filter((x) => x.f.kind === 'output').map((x) => [x.f.name, x.column]));
  const pairs: Pair[] = [];
  const usedRef = new Set<string>();
  const usedCur = new Set<string>();
  const notes: string[] = [];
  for (const r of reference.columns) {
    const input = inputs.get(r.name);
    const output = outputs.get(r.name);
    if (input !== undefined && r.name !== target) {
      pairs.push({ feature: r.name, role: 'input', column: input, referenceColumn: r.name });
      usedRef.add(r.name);
      usedCur.add(input);
    } else if (output !== undefined) {
      pairs.push({ feature: r.name, role: 'prediction', column: output, referenceColumn: r.name });
      usedRef.add(r.name);
      usedCur.add(output);
    }
  }
  let mode: Matching['mode'] = 'name';
  if (!pairs.some((p) => p.role === 'input')) {
    const numericRef = reference.columns.filter((c) => c.kind === 'numeric' && c.name !== target && !usedRef.has(c.name));
    const groups = tensorGroups([...inputs.keys()]);
    const fits = [...groups.entries()].filter(([, names]) => names.length === numericRef.length && names.length > 0);
    if (fits.length === 1) {
      const [tensor, names] = fits[0]!;
      mode = 'position';
      names.forEach((n, i) => {
        const r = numericRef[i]!;
        pairs.push({ feature: r.name, role: 'input', column: inputs.get(n)!, referenceColumn: r.name });
        usedRef.add(r.name);
        usedCur.add(inputs.get(n)!);
      });
      notes.push(
        `no reference column is named like a captured input: the reference's ${names.length} numeric columns (${numericRef.map((c) => c.name).join(', ')}) are paired by position with ${tensor}_0..${tensor}_${names.length - 1} of the captured tensor '${tensor}'`,
      );
    } else if (fits.length > 1) {
      notes.push(`no reference column is named like a captured input, and ${fits.length} captured tensors have ${numericRef.length} values per row: rename the reference columns to the captured feature names`);
    }
  }
  pairs.sort((a, b) => (a.role === b.role ? 0 : a.role === 'input' ? -1 : 1));
  const unpairedOutputs = [...outputs.values()].filter((c) => !usedCur.has(c));
  if (unpairedOutputs.length > 0) notes.push(`predictions without a reference column (${unpairedOutputs.join(', ')}) are shown as distributions only`);
  return {
    mode,
    pairs,
    unpairedOutputs,
    unmatchedReference: reference.columns.map((c) => c.name).filter((n) => !usedRef.has(n) && n !== target),
    unmatchedCurrent: [...inputs.values()].filter((c) => !usedCur.has(c)),
    notes,
  };
}

/** Captured input features grouped by tensor: `x_0 .. x_{k-1}` (complete, in order) per tensor name. */
export function tensorGroups(features: readonly string[]): Map<string, string[]> {
  const byTensor = new Map<string, Map<number, string>>();
  for (const f of features) {
    const m = /^(.+)_(\d+)$/.exec(f);
    if (!m) continue;
    const idx = byTensor.get(m[1]!) ?? new Map<number, string>();
    idx.set(Number(m[2]), f);
    byTensor.set(m[1]!, idx);
  }
  const out = new Map<string, string[]>();
  for (const [t, idx] of byTensor) {
    const names = Array.from({ length: idx.size }, (_, i) => idx.get(i));
    if (names.every((n) => n !== undefined)) out.set(t, names as string[]);
  }
  return out;
}
