import { describe, expect, it } from 'vitest';
import { allDtypes, badRequestMessage } from '../../../helpers/tensors.js';
import { decodeBinaryRequest, decodeBinaryResponse, encodeBinaryResponse } from '../../../../src/daemon/dataplane/codecs/oip-binary.js';
import { encodeBytesTensor } from '../../../../src/runtime/frame.js';
import type { Signature, Tensor, TensorData } from '../../../../src/tensor.js';

const specOf = (t: Tensor) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map((d, i) => (i === 0 ? -1 : d)) });
const allSig: Signature = { inputs: allDtypes.map(specOf), outputs: allDtypes.map(specOf) };

const sig: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }, { name: 'ids', datatype: 'INT64', shape: [-1] }],
  outputs: [{ name: 'probs', datatype: 'FP32', shape: [-1, 3] }, { name: 'label', datatype: 'INT64', shape: [-1] }],
};

/** The bytes of a tensor as a client would put them in the body (by hand, not via the codec). */
function blobOf(t: Pick<Tensor, 'data'>): Buffer {
  if (Array.isArray(t.data)) return encodeBytesTensor(t.data);
  const d = t.data as Exclude<TensorData, string[]>;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** A binary request body: JSON header + blobs; returns body and header length. */
function request(header: object, blobs: Buffer[] = []): [Buffer, number] {
  const json = Buffer.from(JSON.stringify(header));
  return [Buffer.concat([json, ...blobs]), json.length];
}

const binIn = (t: Tensor, size = blobOf(t).length) =>
  ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: size } });

const x: Tensor = { name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
const ids: Tensor = { name: 'ids', datatype: 'INT64', shape: [2], data: new BigInt64Array([7n, 2n ** 60n]) };

const msg = badRequestMessage;

describe('decodeBinaryRequest', () => {
  it('every dtype round-trips: hand-built request -> tensors -> response -> tensors', () => {
    const [body, len] = request({ id: 'r1', inputs: allDtypes.map((t) => binIn(t)) }, allDtypes.map(blobOf));
    const req = decodeBinaryRequest(body, len, allSig);
    expect(req.id).toBe('r1');
    expect(req.inputs).toEqual(allDtypes);
    expect(req.binaryOutputs).toBeNull();

    const res = encodeBinaryResponse({ modelName: 'm', modelVersion: '3', id: 'r1', outputs: req.inputs, binary: 'all' });
    expect(res.headerLength).toBe(res.header.length);
    expect(res.blobs).toHaveLength(allDtypes.length);
    const header = JSON.parse(res.header.toString());
    expect(header).toMatchObject({ model_name: 'm', model_version: '3', id: 'r1' });
    expect(header.outputs[0]).toEqual({ name: 'bool', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } });
    expect(header.outputs.every((o: { data?: unknown }) => o.data === undefined)).toBe(true);
    const wire = Buffer.concat([res.header, ...res.blobs]);
    const back = decodeBinaryResponse(wire, res.headerLength);
    expect(back.outputs).toEqual(allDtypes);
  });

  /** The request in its own ArrayBuffer at `at`, the header padded to 256 bytes (blobs at at + 256). */
  function placed(at: number): [Buffer, ArrayBuffer] {
    const header = Buffer.from(JSON.stringify({ inputs: [binIn(x), binIn(ids)] }).padEnd(256, ' '));
    const ab = new ArrayBuffer(at + 256 + 16 + 16);
    const body = Buffer.from(ab, at);
    header.copy(body);
    blobOf(x).copy(body, 256);
    blobOf(ids).copy(body, 272);
    return [body, ab];
  }

  it('decoded inputs are zero-copy views over the body when aligned', () => {
    const [body, ab] = placed(0);
    const req = decodeBinaryRequest(body, 256, sig);
    expect(req.inputs).toEqual([x, ids]);
    expect((req.inputs[0]!.data as Float32Array).buffer).toBe(ab);
    expect((req.inputs[1]!.data as BigInt64Array).buffer).toBe(ab);
    expect((req.inputs[1]!.data as BigInt64Array).byteOffset).toBe(272);
  });

  it('unaligned blobs are copied into aligned arrays', () => {
    const [body, ab] = placed(1);
    const req = decodeBinaryRequest(body, 256, sig);
    expect(req.inputs).toEqual([x, ids]);
    expect((req.inputs[0]!.data as Float32Array).buffer).not.toBe(ab);
  });

  it('mixed JSON and binary inputs; blobs follow the JSON order; result in signature order', () => {
    const [body, len] = request(
      { inputs: [binIn(ids), { name: 'x', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3, 4]] }], outputs: [{ name: 'label' }] },
      [blobOf(ids)],
    );
    const req = decodeBinaryRequest(body, len, sig);
    expect(req.inputs).toEqual([x, ids]);
    expect(req.outputs).toEqual(['label']);
  });

  it('a JSON-only header with no binary part decodes like the JSON route', () => {
    const [body, len] = request({ parameters: { p: 1 }, inputs: [{ ...x, data: [1, 2, 3, 4] }, { ...ids, data: [7, String(2n ** 60n)] }] });
    const req = decodeBinaryRequest(body, len, sig);
    expect(req.inputs).toEqual([x, ids]);
    expect(req.parameters).toEqual({ p: 1 });
  });

  const bodyWith = (header: Record<string, unknown>) =>
    request({ inputs: [binIn(x), binIn(ids)], ...header }, [blobOf(x), blobOf(ids)]);
  it.each([
    ['no binary parameters', {}, null],
    ['binary_data_output: all', { parameters: { binary_data_output: true } }, 'all'],
    ['binary_data_output: false', { parameters: { binary_data_output: false } }, null],
    ['all, one output overridden to JSON', { parameters: { binary_data_output: true }, outputs: [{ name: 'probs' }, { name: 'label', parameters: { binary_data: false } }] }, new Set(['probs'])],
    ['all, not requested outputs do not count', { parameters: { binary_data_output: true }, outputs: [{ name: 'label', parameters: { binary_data: false } }] }, null],
    ['all without output list, override', { parameters: { binary_data_output: true }, outputs: [{ name: 'probs', parameters: { binary_data: false } }, { name: 'label' }] }, new Set(['label'])],
    ['per-output true', { outputs: [{ name: 'probs' }, { name: 'label', parameters: { binary_data: true } }] }, new Set(['label'])],
    ['per-output true overrides request false', { parameters: { binary_data_output: false }, outputs: [{ name: 'probs', parameters: { binary_data: true } }] }, new Set(['probs'])],
    ['all, override true is still all', { parameters: { binary_data_output: true }, outputs: [{ name: 'probs', parameters: { binary_data: true } }] }, 'all'],
  ])('binary outputs: %s', (_n, header, want) => {
    const [body, len] = bodyWith(header);
    expect(decodeBinaryRequest(body, len, sig).binaryOutputs).toEqual(want);
  });

  it('binary output parameter errors', () => {
    let [body, len] = bodyWith({ parameters: { binary_data_output: 'yes' } });
    expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/binary_data_output must be true or false/);
    [body, len] = bodyWith({ outputs: [{ name: 'label', parameters: { binary_data: 1 } }] });
    expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/output 'label': parameters.binary_data must be true or false/);
    [body, len] = bodyWith({ outputs: [{ name: 'nope' }] });
    expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/requested output 'nope' is not an output of the model/);
  });

  describe('raw binary request (header length 0)', () => {
    const one = (datatype: 'FP32' | 'BYTES', shape: number[]): Signature => ({
      inputs: [{ name: 'in', datatype, shape }], outputs: [{ name: 'out', datatype: 'FP32', shape: [-1] }],
    });
    it('infers the dynamic dim; all outputs binary', () => {
      const req = decodeBinaryRequest(blobOf({ data: new Float32Array([1, 2, 3, 4, 5, 6]) }), 0, one('FP32', [-1, 3]));
      expect(req.inputs).toEqual([{ name: 'in', datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }]);
      expect(req.binaryOutputs).toBe('all');
      expect(req.outputs).toBeUndefined();
      const mid = decodeBinaryRequest(blobOf({ data: new Float32Array(6) }), 0, one('FP32', [2, -1]));
      expect(mid.inputs[0]!.shape).toEqual([2, 3]);
    });
    it('fixed shape: size must match', () => {
      expect(decodeBinaryRequest(blobOf({ data: new Float32Array(4) }), 0, one('FP32', [2, 2])).inputs[0]!.shape).toEqual([2, 2]);
      expect(msg(() => decodeBinaryRequest(blobOf({ data: new Float32Array(3) }), 0, one('FP32', [2, 2]))))
        .toBe("input 'in': binary_data_size is 12 bytes, but FP32 [2, 2] needs 16 (4 elements of 4 bytes)");
    });
    it('BYTES', () => {
      const req = decodeBinaryRequest(encodeBytesTensor(['a', 'bc']), 0, one('BYTES', [-1]));
      expect(req.inputs[0]).toEqual({ name: 'in', datatype: 'BYTES', shape: [2], data: ['a', 'bc'] });
      expect(msg(() => decodeBinaryRequest(encodeBytesTensor(['a', 'bc']), 0, one('BYTES', [1]))))
        .toMatch(/input 'in': binary data of 11 bytes is not 1 BYTES elements/);
    });
    it('errors', () => {
      expect(msg(() => decodeBinaryRequest(blobOf(x), 0, sig))).toMatch(/needs a model with exactly one input, but this one has 2 \('x', 'ids'\)/);
      expect(msg(() => decodeBinaryRequest(blobOf({ data: new Float32Array(4) }), 0, one('FP32', [-1, -1]))))
        .toMatch(/input 'in': a raw binary request cannot infer shape \[-1, -1\]/);
      expect(msg(() => decodeBinaryRequest(blobOf({ data: new Float32Array(4) }), 0, one('FP32', [-1, 3]))))
        .toMatch(/input 'in': raw binary data of 16 bytes holds 4 FP32 elements, not a whole number of rows/);
      expect(msg(() => decodeBinaryRequest(Buffer.alloc(6), 0, one('FP32', [-1]))))
        .toMatch(/input 'in': binary_data_size is 6 bytes, but FP32 \[1\] needs 4/);
      expect(msg(() => decodeBinaryRequest(Buffer.alloc(0), 0, one('FP32', [-1])))).toMatch(/input 'in': the raw binary request body is empty/);
    });
  });

  describe('errors', () => {
    it('size mismatch with the declared shape', () => {
      const [body, len] = request({ inputs: [binIn(x, 12), binIn(ids)] }, [blobOf(x).subarray(0, 12), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig)))
        .toBe("input 'x': binary_data_size is 12 bytes, but FP32 [2, 2] needs 16 (4 elements of 4 bytes)");
    });
    it('header length beyond the body', () => {
      const [body] = request({ inputs: [] });
      expect(msg(() => decodeBinaryRequest(body, body.length + 1, sig)))
        .toBe(`Inference-Header-Content-Length is ${body.length + 1}, beyond the body's ${body.length} bytes`);
      expect(msg(() => decodeBinaryRequest(body, -1, sig))).toMatch(/must be a non-negative integer/);
    });
    it('header not JSON, or not an inference request', () => {
      const [body, len] = request({ inputs: [binIn(x)] }, [blobOf(x)]);
      expect(msg(() => decodeBinaryRequest(body, len - 1, sig))).toMatch(new RegExp(`the first ${len - 1} bytes .* are not valid JSON`));
      const [b2, l2] = request({ nope: 1 });
      expect(msg(() => decodeBinaryRequest(b2, l2, sig))).toMatch(/'inputs' must be an array/);
    });
    it('missing blob', () => {
      const [body, len] = request({ inputs: [binIn(x), binIn(ids)] }, [blobOf(x)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig)))
        .toBe("input 'ids': binary_data_size is 16 bytes, but only 0 of the body's 16 binary bytes are left for it "
          + '(the blobs come in the order of the inputs in the JSON)');
    });
    it('trailing bytes', () => {
      const [body, len] = request({ inputs: [binIn(x), binIn(ids)] }, [blobOf(x), blobOf(ids), Buffer.from([1, 2, 3])]);
      expect(msg(() => decodeBinaryRequest(body, len, sig)))
        .toMatch(/the body has 3 bytes after the binary data of the last input 'ids'/);
      const [b2, l2] = request({ inputs: [{ ...x, data: [1, 2, 3, 4] }, { ...ids, data: [1, 2] }] }, [Buffer.from([1])]);
      expect(msg(() => decodeBinaryRequest(b2, l2, sig))).toMatch(/1 bytes after the .*JSON header, but no input has parameters.binary_data_size/);
    });
    it('wrong or unknown datatype', () => {
      let [body, len] = request({ inputs: [{ ...binIn(x), datatype: 'FP64' }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toBe("input 'x': datatype FP64, but the model expects FP32");
      [body, len] = request({ inputs: [{ ...binIn(x), datatype: 'BF16' }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': unknown datatype 'BF16' \(BF16 is not supported\)/);
    });
    it('BYTES to a numeric model: the JSON route\'s wording', () => {
      const s = encodeBytesTensor(['a', 'b', 'c', 'd']);
      const [body, len] = request({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: s.length } }, binIn(ids)] }, [s, blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toBe("input 'x': datatype BYTES (strings), but the model takes FP32 tensors, "
        + 'not strings; send the data as numbers with datatype FP32');
    });
    it('malformed BYTES blob', () => {
      const t: Tensor = { name: 'str', datatype: 'BYTES', shape: [2], data: ['ab', 'c'] };
      const s = encodeBytesTensor(['ab']);
      const one: Signature = { inputs: [specOf(t)], outputs: [] };
      const [body, len] = request({ inputs: [binIn(t, s.length)] }, [s]);
      expect(msg(() => decodeBinaryRequest(body, len, one))).toMatch(/input 'str': binary data of 6 bytes is not 2 BYTES elements/);
    });
    it('bad binary_data_size, both data and blob, neither, shapes and names', () => {
      let [body, len] = request({ inputs: [binIn(x, -4), binIn(ids)] }, [blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': parameters.binary_data_size must be a non-negative integer/);
      [body, len] = request({ inputs: [{ ...binIn(x), data: [1, 2, 3, 4] }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': has both 'data' and parameters.binary_data_size/);
      [body, len] = request({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2] }, binIn(ids)] }, [blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': has neither 'data' nor parameters.binary_data_size/);
      [body, len] = request({ inputs: [{ ...binIn(x), shape: [2, 3] }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': binary_data_size is 16 bytes, but FP32 \[2, 3\] needs 24/);
      [body, len] = request({ inputs: [{ ...binIn(x), shape: [4, 1] }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'x': shape \[4, 1\] does not match the model's \[-1, 2\]/);
      [body, len] = request({ inputs: [{ ...binIn(x), name: 'z' }, binIn(ids)] }, [blobOf(x), blobOf(ids)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'z' is not an input of the model/);
      [body, len] = request({ inputs: [binIn(x)] }, [blobOf(x)]);
      expect(msg(() => decodeBinaryRequest(body, len, sig))).toMatch(/input 'ids' is missing/);
    });
  });
});

describe('encodeBinaryResponse', () => {
  const probs: Tensor = { name: 'probs', datatype: 'FP32', shape: [1, 3], data: new Float32Array([0.25, 0.5, 0.25]) };
  const label: Tensor = { name: 'label', datatype: 'INT64', shape: [1], data: new BigInt64Array([2n]) };

  it('mixes binary and JSON outputs, in the requested order; blobs are zero-copy', () => {
    const res = encodeBinaryResponse({ modelName: 'm', outputs: [probs, label], requested: ['label', 'probs'], binary: new Set(['probs']) });
    const header = JSON.parse(res.header.toString());
    expect(header).toEqual({
      model_name: 'm',
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [1], data: [2] },
        { name: 'probs', datatype: 'FP32', shape: [1, 3], parameters: { binary_data_size: 12 } },
      ],
    });
    expect(res.blobs).toHaveLength(1);
    expect(res.blobs[0]!.buffer).toBe((probs.data as Float32Array).buffer);
    const back = decodeBinaryResponse(Buffer.concat([res.header, ...res.blobs]), res.headerLength);
    expect(back.outputs).toEqual([label, probs]);
  });

  it('an output the model did not produce is an internal error', () => {
    expect(() => encodeBinaryResponse({ modelName: 'm', outputs: [probs], requested: ['label'], binary: 'all' }))
      .toThrow(/output 'label' was requested but the model did not produce it/);
  });
});
