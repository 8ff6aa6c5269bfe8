import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/models/graph-builder.js';
import {
  AttributeType, DataLocation, IR_VERSION, OPSET_VERSION, TensorDataType, TensorProtoType, decodeModel, encodeModel,
} from '../../../src/models/onnx-proto.js';

/** Wire-format key byte of a field: (number << 3) | wire type (0 varint, 2 length-delimited, 5 fixed32). */
const key = (field: number, wire: number) => (field << 3) | wire;

describe('onnx-proto', () => {
  it('writes ModelProto fields with onnx.proto numbers', () => {
    const bytes = encodeModel({
      irVersion: IR_VERSION,
      producerName: 'p',
      graph: { node: [], input: [], output: [], name: 'g' },
      opsetImport: [{ domain: '', version: OPSET_VERSION }],
    });
    // ir_version=1 (varint 8), producer_name=2, graph=7, opset_import=8, in field-number order.
    expect(Array.from(bytes.subarray(0, 5))).toEqual([key(1, 0), 8, key(2, 2), 1, 'p'.charCodeAt(0)]);
    expect(bytes[5]).toBe(key(7, 2));
    const opsetAt = bytes.length - 6; // opset_import {domain: '', version: 17} = 42 04 0a 00 10 11
    expect(Array.from(bytes.subarray(opsetAt))).toEqual([key(8, 2), 4, key(1, 2), 0, key(2, 0), 17]);
  });

  it('writes TensorProto dims unpacked and float_data packed, like the proto2 original', () => {
    const t = TensorProtoType.encode(TensorProtoType.fromObject({ dims: [2, 3], dataType: TensorDataType.FLOAT, floatData: [1, 2] })).finish();
    expect(Array.from(t.subarray(0, 6))).toEqual([key(1, 0), 2, key(1, 0), 3, key(2, 0), 1]);
    expect(Array.from(t.subarray(6, 8))).toEqual([key(4, 2), 8]);
  });

  it('round-trips a built graph through decode', () => {
    const b = new GraphBuilder('g')
      .input('x', 'FP32', [-1, 4])
      .output('y', 'FP32', [-1, 4])
      .initializer('w', new Float32Array([1, 2, 3, 4]), [4])
      .node('Mul', ['x', 'w'], ['m'])
      .node('LeakyRelu', ['m'], ['y'], { alpha: { float: 1 }, note: 'hi', axes: [0, 1], scales: [0.5, 1.5] });
    const m = decodeModel(b.toBytes().model);
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(m.graph.input[0].type?.tensorType?.shape?.dim).toEqual([{ dimParam: 'batch' }, { dimValue: 4 }]);
    expect(m.graph.input[0].type?.tensorType?.elemType).toBe(TensorDataType.FLOAT);
    const init = m.graph.initializer![0];
    expect(init.dims).toEqual([4]);
    expect(Array.from(new Float32Array(Uint8Array.from(init.rawData!).buffer))).toEqual([1, 2, 3, 4]);
    const attrs = Object.fromEntries(m.graph.node[1].attribute!.map((a) => [a.name, a]));
    expect(attrs.alpha).toMatchObject({ type: AttributeType.FLOAT, f: 1 });
    expect(attrs.axes).toMatchObject({ type: AttributeType.INTS, ints: [0, 1] });
    expect(attrs.scales).toMatchObject({ type: AttributeType.FLOATS, floats: [0.5, 1.5] });
    expect(new TextDecoder().decode(attrs.note.s)).toBe('hi');
    expect(init.dataLocation ?? DataLocation.DEFAULT).toBe(DataLocation.DEFAULT);
  });
});
