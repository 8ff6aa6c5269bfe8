import { describe, expect, it } from 'vitest';
import { badRequestMessage } from '../../../helpers/tensors.js';
import { decodeInferRequest, encodeInferResponse, encodeInferResponseText } from '../../../../src/daemon/dataplane/codecs/oip-json.js';
import type { Signature, Tensor } from '../../../../src/tensor.js';

const sig: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 2] },
    { name: 'ids', datatype: 'INT64', shape: [-1] },
  ],
  outputs: [
    { name: 'probs', datatype: 'FP32', shape: [-1, 3] },
    { name: 'label', datatype: 'INT64', shape: [-1] },
  ],
};

const xIn = { name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [3, 4]] };
const idsIn = { name: 'ids', shape: [2], datatype: 'INT64', data: [1, '9007199254740993'] };

const msg = badRequestMessage;

describe('decodeInferRequest', () => {
  it('decodes, orders by the signature, keeps id and parameters', () => {
    const req = decodeInferRequest({ id: 'r1', parameters: { p: 1 }, inputs: [idsIn, xIn] }, sig);
    expect(req.id).toBe('r1');
    expect(req.parameters).toEqual({ p: 1 });
    expect(req.outputs).toBeUndefined();
    expect(req.inputs.map((t) => t.name)).toEqual(['x', 'ids']);
    expect(req.inputs[0]).toEqual({ name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
    expect(req.inputs[1]!.data).toEqual(new BigInt64Array([1n, 9007199254740993n]));
  });
  it('flat data', () => {
    const req = decodeInferRequest({ inputs: [{ ...xIn, data: [1, 2, 3, 4] }, idsIn] }, sig);
    expect(req.inputs[0]!.data).toEqual(new Float32Array([1, 2, 3, 4]));
  });
  it('outputs filter', () => {
    const req = decodeInferRequest({ inputs: [xIn, idsIn], outputs: [{ name: 'label' }] }, sig);
    expect(req.outputs).toEqual(['label']);
    expect(msg(() => decodeInferRequest({ inputs: [xIn, idsIn], outputs: [{ name: 'nope' }] }, sig)))
      .toBe("requested output 'nope' is not an output of the model; its outputs are 'probs', 'label'");
    expect(msg(() => decodeInferRequest({ inputs: [xIn, idsIn], outputs: ['label'] }, sig))).toMatch(/outputs\[0\] must be an object/);
    expect(msg(() => decodeInferRequest({ inputs: [xIn, idsIn], outputs: [{ name: 'label' }, { name: 'label' }] }, sig)))
      .toMatch(/requested more than once/);
  });
  it('body errors', () => {
    expect(msg(() => decodeInferRequest([1], sig))).toMatch(/must be a JSON object/);
    expect(msg(() => decodeInferRequest(null, sig))).toMatch(/must be a JSON object/);
    expect(msg(() => decodeInferRequest({}, sig))).toMatch(/'inputs' must be an array/);
    expect(msg(() => decodeInferRequest({ id: 5, inputs: [] }, sig))).toMatch(/'id' must be a string/);
    expect(msg(() => decodeInferRequest({ parameters: [], inputs: [] }, sig))).toMatch(/'parameters' must be an object/);
    expect(msg(() => decodeInferRequest({ inputs: [5] }, sig))).toMatch(/inputs\[0\] must be an object/);
    expect(msg(() => decodeInferRequest({ inputs: [{ shape: [1] }] }, sig))).toMatch(/inputs\[0\]: 'name' must be a non-empty string/);
  });
  it('input errors', () => {
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, datatype: 'FLOAT32' }, idsIn] }, sig)))
      .toMatch(/input 'x': unknown datatype 'FLOAT32'; expected one of BOOL, UINT8/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, datatype: 'FP64' }, idsIn] }, sig)))
      .toBe("input 'x': datatype FP64, but the model expects FP32");
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, datatype: 'BYTES', data: ['a', 'b', 'c', 'd'] }, idsIn] }, sig)))
      .toMatch(/input 'x': datatype BYTES \(strings\), but the model takes FP32 tensors, not strings; send the data as numbers with datatype FP32/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, name: 'q' }, idsIn] }, sig)))
      .toBe("input 'q' is not an input of the model; the model expects inputs 'x', 'ids'");
    expect(msg(() => decodeInferRequest({ inputs: [xIn] }, sig))).toMatch(/input 'ids' is missing/);
    expect(msg(() => decodeInferRequest({ inputs: [xIn, xIn, idsIn] }, sig))).toMatch(/input 'x' is given more than once/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, shape: [1, 4] }, idsIn] }, sig)))
      .toBe("input 'x': shape [1, 4] does not match the model's [-1, 2]");
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, shape: [3, 2] }, idsIn] }, sig)))
      .toBe("input 'x': data has 4 elements, but shape [3, 2] needs 6");
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, shape: [2, -2] }, idsIn] }, sig))).toMatch(/invalid dimension -2/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, shape: 'x' }, idsIn] }, sig))).toMatch(/shape must be an array/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, data: undefined }, idsIn] }, sig))).toBe("input 'x': 'data' is missing");
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, data: undefined, parameters: { binary_data_size: 16 } }, idsIn] }, sig)))
      .toMatch(/binary_data_size/);
    expect(msg(() => decodeInferRequest({ inputs: [{ ...xIn, data: [1, 2, 3, 'x'] }, idsIn] }, sig)))
      .toBe(`input 'x': element 3: expected a number for FP32, got "x"`);
  });
  it('string models take BYTES', () => {
    const s: Signature = { inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }], outputs: [] };
    const req = decodeInferRequest({ inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['a', 'b'] }] }, s);
    expect(req.inputs[0]!.data).toEqual(['a', 'b']);
  });
});

describe('encodeInferResponse', () => {
  const probs: Tensor = { name: 'probs', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.5, 0.25, 0.25]) };
  const label: Tensor = { name: 'label', datatype: 'INT64', shape: [1], data: new BigInt64Array([2n ** 60n]) };
  it('all outputs, id echoed, flat data', () => {
    expect(encodeInferResponse({ modelName: 'm', modelVersion: '3', id: 'r1', outputs: [probs, label] })).toEqual({
      model_name: 'm',
      model_version: '3',
      id: 'r1',
      outputs: [
        { name: 'probs', datatype: 'FP32', shape: [1, 3], data: [0.5, 0.25, 0.25] },
        { name: 'label', datatype: 'INT64', shape: [1], data: ['1152921504606846976'] },
      ],
    });
  });
  it('requested outputs only, no id', () => {
    const res = encodeInferResponse({ modelName: 'm', modelVersion: '3', outputs: [probs, label], requested: ['label'] });
    expect(res.id).toBeUndefined();
    expect('id' in res).toBe(false);
    expect(res.outputs.map((o) => o.name)).toEqual(['label']);
  });
  it('text variant', () => {
    const text = encodeInferResponseText({ modelName: 'm', modelVersion: '1', outputs: [probs] });
    expect(JSON.parse(text)).toEqual({ model_name: 'm', model_version: '1', outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 3], data: [0.5, 0.25, 0.25] }] });
  });
  it('round trip through decode', () => {
    const body = JSON.parse(encodeInferResponseText({ modelName: 'm', outputs: [probs, label] }));
    const back = decodeInferRequest({ inputs: body.outputs }, { inputs: sig.outputs, outputs: [] });
    expect(back.inputs).toEqual([probs, label]);
  });
});
