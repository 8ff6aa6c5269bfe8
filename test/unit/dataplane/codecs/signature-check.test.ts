import { describe, expect, it } from 'vitest';
import { badRequestMessage } from '../../../helpers/tensors.js';
import { checkInputs } from '../../../../src/daemon/dataplane/codecs/signature-check.js';
import type { Signature, Tensor } from '../../../../src/tensor.js';

const sig: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 4] },
    { name: 'mask', datatype: 'BOOL', shape: [-1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};

const x = (shape = [2, 4], data: Float32Array = new Float32Array(8)): Tensor => ({ name: 'x', datatype: 'FP32', shape, data });
const mask: Tensor = { name: 'mask', datatype: 'BOOL', shape: [2], data: new Uint8Array(2) };

const msg = badRequestMessage;

describe('checkInputs', () => {
  it('orders inputs as the signature lists them', () => {
    const t = x();
    expect(checkInputs([mask, t], sig)).toEqual([t, mask]);
  });
  it('unknown input lists the expected names', () => {
    expect(msg(() => checkInputs([x(), mask, { ...mask, name: 'z' }], sig)))
      .toBe("input 'z' is not an input of the model; the model expects inputs 'x', 'mask'");
  });
  it('missing input', () => {
    expect(msg(() => checkInputs([x()], sig))).toBe("input 'mask' is missing; the model expects inputs 'x', 'mask'");
    expect(msg(() => checkInputs([], sig))).toMatch(/^inputs 'x', 'mask' are missing/);
  });
  it('duplicate', () => {
    expect(msg(() => checkInputs([x(), x(), mask], sig))).toBe("input 'x' is given more than once");
  });
  it('datatype mismatch', () => {
    const t: Tensor = { name: 'x', datatype: 'FP64', shape: [2, 4], data: new Float64Array(8) };
    expect(msg(() => checkInputs([t, mask], sig))).toBe("input 'x': datatype FP64, but the model expects FP32");
  });
  it('shape mismatch', () => {
    expect(msg(() => checkInputs([x([2, 5], new Float32Array(10)), mask], sig)))
      .toBe("input 'x': shape [2, 5] does not match the model's [-1, 4]");
    expect(msg(() => checkInputs([x([8], new Float32Array(8)), mask], sig)))
      .toBe("input 'x': shape [8] does not match the model's [-1, 4] (rank 1, the model's is rank 2)");
  });
  it('element count', () => {
    expect(msg(() => checkInputs([x([2, 4], new Float32Array(7)), mask], sig)))
      .toBe("input 'x': data has 7 elements, but shape [2, 4] needs 8");
  });
  it('bad dims', () => {
    expect(msg(() => checkInputs([x([-1, 4]), mask], sig))).toMatch(/input 'x': shape \[-1, 4\] has an invalid dimension -1; dimensions must be non-negative integers/);
    expect(msg(() => checkInputs([x([2.5, 4]), mask], sig))).toMatch(/invalid dimension 2.5/);
  });
  it('a model with one input says so', () => {
    const one: Signature = { inputs: [sig.inputs[0]!], outputs: [] };
    expect(msg(() => checkInputs([mask], one))).toBe("input 'mask' is not an input of the model; the model expects input 'x'");
  });
});
