// Gather the inputs of several requests along dim 0 into one batch, and split the batch's outputs
// back per request. No copy of numeric inputs (each request's data is a part of the batch's frame
// tensor; BYTES via one Array#concat); outputs are split into zero-copy subarray views.
// PURE: no I/O here.

import type { FrameTensor } from '../../../runtime/frame.js';
import { elementCount, formatShape, type Tensor, type TensorData } from '../../../tensor.js';

type NumericData = Exclude<TensorData, string[]>;

function sameTrailing(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 1; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A request's rows: dim 0 shared by all its inputs (these are internal errors: 500). */
function rowsOf(inputs: readonly Tensor[], r: number): number {
  const first = inputs[0];
  if (!first) throw new Error(`cannot batch request ${r}: it has no inputs`);
  const rows = first.shape[0];
  if (rows === undefined) throw new Error(`cannot batch request ${r}: input '${first.name}' is a scalar (no dim 0)`);
  for (const t of inputs) {
    if (t.shape[0] !== rows) {
      throw new Error(`cannot batch request ${r}: input '${t.name}' has ${t.shape[0] ?? 'no'} rows, `
        + `'${first.name}' has ${rows}`);
    }
  }
  return rows;
}

/**
 * Gather each input along dim 0 across `requests` (each an array of inputs in the same order,
 * already checked against the signature: same names, datatypes and non-batch dims) into one batch.
 * Any rank >= 1, any datatype. `rows[r]` = request r's dim 0. Numeric inputs are not copied: the
 * batch's tensor lists each request's data as a part (the frame encoder writes the parts one after
 * another); BYTES inputs are concatenated (one Array#concat). A single request is returned as is.
 */
export function gatherBatch(requests: Tensor[][]): { inputs: FrameTensor[]; rows: number[] } {
  if (requests.length === 0) throw new Error('gatherBatch: no requests');
  const rows = requests.map(rowsOf);
  if (requests.length === 1) return { inputs: requests[0]!, rows };
  let total = 0;
  for (const n of rows) total += n;
  const first = requests[0]!;
  const inputs = first.map((t0, j): FrameTensor => {
    const parts = new Array<TensorData>(requests.length);
    for (let r = 0; r < requests.length; r++) {
      const t = requests[r]![j];
      if (!t || t.name !== t0.name || t.datatype !== t0.datatype || !sameTrailing(t.shape, t0.shape)) {
        const got = t ? `'${t.name}' ${t.datatype} ${formatShape(t.shape)}` : 'nothing';
        throw new Error(`cannot batch: request ${r} has ${got} where request 0 has '${t0.name}' `
          + `${t0.datatype} ${formatShape(t0.shape)} (input ${j})`);
      }
      parts[r] = t.data;
    }
    const shape = t0.shape.slice();
    shape[0] = total;
    if (Array.isArray(t0.data)) return { name: t0.name, datatype: t0.datatype, shape, data: t0.data.concat(...(parts.slice(1) as string[][])) };
    return { name: t0.name, datatype: t0.datatype, shape, parts: parts as NumericData[] };
  });
  return { inputs, rows };
}

/**
 * Split each batched output along dim 0 into per-request tensors of `rows[r]` rows: zero-copy
 * subarray views (BYTES: array slices). Every output's dim 0 must equal the total rows; otherwise
 * the model does not batch along dim 0 and an Error says so. A single request gets `outputs` as is.
 */
export function splitBatch(outputs: Tensor[], rows: number[]): Tensor[][] {
  let total = 0;
  for (const n of rows) total += n;
  for (const t of outputs) {
    if (t.shape[0] !== total) {
      const has = t.shape.length === 0 ? 'no batch dimension (a scalar)' : `${t.shape[0]} rows`;
      throw new Error(`the model's output '${t.name}' has ${has} for a batch of ${total}, so it cannot be `
        + `batched; deploy it with --max-batch-size 1`);
    }
  }
  if (rows.length === 1) return [outputs];
  const out: Tensor[][] = rows.map(() => new Array<Tensor>(outputs.length));
  outputs.forEach((t, j) => {
    const inner = elementCount(t.shape.slice(1));
    const rest = t.shape.slice(1);
    let pos = 0;
    for (let r = 0; r < rows.length; r++) {
      const end = pos + rows[r]! * inner;
      const data: TensorData = Array.isArray(t.data) ? t.data.slice(pos, end) : (t.data as NumericData).subarray(pos, end);
      out[r]![j] = { name: t.name, datatype: t.datatype, shape: [rows[r]!, ...rest], data };
      pos = end;
    }
  });
  return out;
}
