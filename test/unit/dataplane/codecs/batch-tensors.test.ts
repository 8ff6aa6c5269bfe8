import { describe, expect, it } from 'vitest';
import { gatherBatch, splitBatch } from '../../../../src/daemon/dataplane/codecs/batch-tensors.js';
import { encodeFrame, FrameDecoder, type FrameTensor } from '../../../../src/runtime/frame.js';
import { DTYPES, allocData, elementCount, type DType, type Tensor, type TensorData } from '../../../../src/tensor.js';

/** A tensor whose elements are distinct per (seed, index), valid for its dtype. */
function make(name: string, datatype: DType, shape: number[], seed: number): Tensor {
  const n = elementCount(shape);
  const data = allocData(datatype, n);
  for (let i = 0; i < n; i++) {
    const v = seed * 100 + i;
    if (Array.isArray(data)) data[i] = `s${v}-é`;
    else if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(v) + (1n << 40n);
    else if (datatype === 'BOOL') (data as Uint8Array)[i] = v % 2;
    else (data as Exclude<TensorData, string[] | BigInt64Array | BigUint64Array>)[i] = v % 120;
  }
  return { name, datatype, shape, data };
}

const flat = (d: TensorData) => Array.from(d as ArrayLike<unknown>);
/** A gathered tensor as one array (a copy of its parts), as the replica sees it after the frame. */
function contiguous(t: FrameTensor): Tensor {
  if (!('parts' in t)) return t;
  const out = allocData(t.datatype, elementCount(t.shape)) as Exclude<TensorData, string[]>;
  let pos = 0;
  for (const part of t.parts) {
    (out as { set(a: ArrayLike<unknown>, offset: number): void }).set(part as ArrayLike<unknown>, pos);
    pos += part.length;
  }
  return { name: t.name, datatype: t.datatype, shape: t.shape, data: out };
}
/** gatherBatch with every tensor made contiguous (as the replica receives it). */
const concatBatch = (reqs: Tensor[][]) => {
  const { inputs, rows } = gatherBatch(reqs);
  return { inputs: inputs.map(contiguous), rows, gathered: inputs };
};
/** What the replica decodes from a frame holding `tensors`. */
const overFrame = (tensors: FrameTensor[]) => {
  const parts = encodeFrame({ t: 'infer' }, tensors);
  return new FrameDecoder().push(Buffer.concat(parts))[0]!.tensors;
};

describe('gatherBatch / splitBatch', () => {
  const ranks: number[][] = [[], [3], [2, 3], [2, 1, 2]]; // trailing dims: rank 1..4
  for (const datatype of DTYPES) {
    for (const rest of ranks) {
      it(`${datatype} rank ${rest.length + 1}: concatenates along dim 0 and splits back`, () => {
        const rows = [2, 1, 3];
        const reqs = rows.map((r, k) => [make('x', datatype, [r, ...rest], k + 1), make('y', 'FP32', [r], k + 7)]);
        const { inputs, rows: got } = concatBatch(reqs);
        expect(got).toEqual(rows);
        expect(inputs.map((t) => t.name)).toEqual(['x', 'y']);
        expect(inputs[0]!.shape).toEqual([6, ...rest]);
        expect(inputs[0]!.datatype).toBe(datatype);
        expect(inputs[0]!.data.constructor).toBe(reqs[0]![0]!.data.constructor);
        expect(flat(inputs[0]!.data)).toEqual(reqs.flatMap((r) => flat(r[0]!.data)));
        expect(flat(inputs[1]!.data)).toEqual(reqs.flatMap((r) => flat(r[1]!.data)));
        // The model's outputs are the batched inputs here: split must give each request its own.
        const back = splitBatch(inputs, got);
        expect(back).toEqual(reqs);
        // The frame carries the gathered parts as one tensor: the replica sees the concatenation.
        expect(overFrame(concatBatch(reqs).gathered)).toEqual(inputs);
      });
    }
  }

  it('zero-row requests take part', () => {
    const reqs = [[make('x', 'INT32', [0, 2], 1)], [make('x', 'INT32', [2, 2], 2)], [make('x', 'INT32', [0, 2], 3)]];
    const { inputs, rows } = concatBatch(reqs);
    expect(rows).toEqual([0, 2, 0]);
    expect(inputs[0]!.shape).toEqual([2, 2]);
    expect(splitBatch(inputs, rows)).toEqual(reqs);
  });

  it('single request: passthrough, same objects', () => {
    const req = [make('x', 'FP32', [2, 3], 1), make('s', 'BYTES', [2], 2)];
    const { inputs, rows } = gatherBatch([req]);
    expect(inputs).toBe(req);
    expect(inputs[0]).toBe(req[0]);
    expect(rows).toEqual([2]);
    const outs = [make('o', 'FP32', [2, 5], 3)];
    const split = splitBatch(outs, [2]);
    expect(split).toHaveLength(1);
    expect(split[0]).toBe(outs);
  });

  it('split views share the output memory (no copy)', () => {
    const out = make('o', 'FP64', [5, 2], 1);
    const [a, b] = splitBatch([out], [2, 3]);
    const da = a![0]!.data as Float64Array;
    const db = b![0]!.data as Float64Array;
    expect(da.buffer).toBe((out.data as Float64Array).buffer);
    expect(db.buffer).toBe((out.data as Float64Array).buffer);
    expect(da.byteOffset).toBe(0);
    expect(db.byteOffset).toBe(4 * 8);
    expect(a![0]!.shape).toEqual([2, 2]);
    expect(b![0]!.shape).toEqual([3, 2]);
    (out.data as Float64Array)[4] = 42;
    expect(db[0]).toBe(42);
  });

  it('gather copies no numeric bytes: the batch lists each request\'s own array', () => {
    const reqs = [[make('x', 'FP32', [1, 2], 1)], [make('x', 'FP32', [2, 2], 2)]];
    const { inputs } = gatherBatch(reqs);
    const t = inputs[0]!;
    expect('parts' in t && t.parts[0] === reqs[0]![0]!.data && t.parts[1] === reqs[1]![0]!.data).toBe(true);
    expect(t.shape).toEqual([3, 2]);
    // contiguous() is a copy: writing to it leaves the requests alone.
    const c = contiguous(t);
    (c.data as Float32Array)[0] = 99;
    expect((reqs[0]![0]!.data as Float32Array)[0]).not.toBe(99);
  });

  it('frame: parts that end unaligned still leave the next tensor 8-aligned', () => {
    // 3 + 2 UINT8 rows of 1 byte, then an FP64 input: the FP64 bytes must start 8-aligned.
    const reqs = [[make('a', 'UINT8', [3], 1), make('b', 'FP64', [3], 2)], [make('a', 'UINT8', [2], 3), make('b', 'FP64', [2], 4)]];
    const got = overFrame(gatherBatch(reqs).inputs);
    expect(got).toEqual(concatBatch(reqs).inputs);
    expect((got[1]!.data as Float64Array).byteOffset % 8).toBe(0);
  });

  it('row mismatch: a model whose outputs do not follow the batch', () => {
    const outs = [make('probs', 'FP32', [4, 3], 1), make('summary', 'FP32', [1, 3], 2)];
    expect(() => splitBatch(outs, [2, 2])).toThrow(
      "the model's output 'summary' has 1 rows for a batch of 4, so it cannot be batched; deploy it with --max-batch-size 1",
    );
    expect(() => splitBatch([make('s', 'FP32', [], 1)], [1, 1])).toThrow(/'s' has no batch dimension .* for a batch of 2.*--max-batch-size 1/);
    // Checked for a single request too: it would mean the model does not batch along dim 0.
    expect(() => splitBatch([make('o', 'FP32', [3], 1)], [2])).toThrow(/'o' has 3 rows for a batch of 2/);
  });

  it('inconsistent requests are internal errors', () => {
    expect(() => gatherBatch([])).toThrow(/no requests/);
    expect(() => concatBatch([[make('x', 'FP32', [2, 3], 1)], [make('x', 'FP32', [2, 4], 1)]])).toThrow(/request 1 has 'x' FP32 \[2, 4\]/);
    expect(() => concatBatch([[make('x', 'FP32', [2, 3], 1)], [make('x', 'FP64', [2, 3], 1)]])).toThrow(/request 1/);
    expect(() => concatBatch([[make('x', 'FP32', [2], 1), make('y', 'FP32', [3], 1)]])).toThrow(/'y' has 3 rows, 'x' has 2/);
    expect(() => concatBatch([[make('x', 'FP32', [], 1)]])).toThrow(/scalar/);
  });
});
