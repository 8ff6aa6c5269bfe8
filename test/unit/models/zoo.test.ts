import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { saveModel, type BuiltModel } from '../../../src/models/graph-builder.js';
import { DataLocation, decodeModel } from '../../../src/models/onnx-proto.js';
import {
  addTwo, convNet, elementwise, fixedBatch, mlp, mlpReference, resnetNet, seededInput,
} from '../../../src/models/zoo.js';
import { DTYPE_TO_ORT, type DType } from '../../../src/tensor.js';

const dir = mkdtempSync(join(tmpdir(), 'mlserve-zoo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
async function run(built: BuiltModel, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const path = saveModel(join(dir, `m${fileNo++}`), built);
  const session = await ort.InferenceSession.create(path);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('mlp', () => {
  const model = mlp({ seed: 42, sizes: [64, 256, 256, 10] });
  const input = seededInput(7, 5 * 64);
  const x = () => new ort.Tensor('float32', input, [5, 64]);

  it('matches the plain-JS reference within 1e-4', async () => {
    const out = await run(model.builder.toBytes(), { x: x() });
    expect(out.y.dims).toEqual([5, 10]);
    const ref = mlpReference(model.weights, input);
    expect(maxAbsDiff(out.y.data as Float32Array, ref)).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(0.05); // not a trivial all-zero output
  });

  it('is deterministic per seed', () => {
    const again = mlp({ seed: 42, sizes: [64, 256, 256, 10] });
    expect(again.builder.toBytes().model).toEqual(model.builder.toBytes().model);
    expect(mlp({ seed: 43, sizes: [64, 256, 256, 10] }).weights.weights[0]).not.toEqual(model.weights.weights[0]);
  });

  it('gives the same output with external data loaded from the model path', async () => {
    const inline = await run(model.builder.toBytes(), { x: x() });
    const built = model.builder.toBytes({ externalDataFile: 'weights.bin' });
    const external = await run(built, { x: x() });
    expect(Array.from(external.y.data as Float32Array)).toEqual(Array.from(inline.y.data as Float32Array));
    const inits = decodeModel(built.model).graph.initializer!;
    const moved = inits.filter((t) => t.dataLocation === DataLocation.EXTERNAL);
    // Biases of 256 floats (1024 B) move too; B2 (10 floats) stays inline.
    expect(moved.map((t) => t.name)).toEqual(['W0', 'B0', 'W1', 'B1', 'W2']);
    expect(moved[0].externalData).toEqual([
      { key: 'location', value: 'weights.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(256 * 64 * 4) },
    ]);
    expect(moved[1].externalData![1]).toEqual({ key: 'offset', value: String(256 * 64 * 4) });
    expect(moved[2].externalData![1]).toEqual({ key: 'offset', value: String((256 * 64 + 256) * 4) });
    expect(inits.find((t) => t.name === 'B2')?.rawData?.byteLength).toBe(40);
    expect(built.externalData!.byteLength).toBe((256 * 64 + 256 + 256 * 256 + 256 + 10 * 256) * 4);
  });

  it('splits tensors like onnx (sys.getsizeof(raw_data) >= 1024), as in the recorded fixture', () => {
    // The fixture's [4, 64, 3] MLP keeps W2 (768 B) and the biases inline and moves W1 (1024 B).
    const small = mlp({ seed: 1, sizes: [4, 64, 3] }).builder.toBytes({ externalDataFile: 'd' });
    const moved = decodeModel(small.model).graph.initializer!.filter((t) => t.dataLocation === DataLocation.EXTERNAL);
    expect(moved.map((t) => t.name)).toEqual(['W0']);
    expect(small.externalData!.byteLength).toBe(1024);
  });
});

describe('conv nets (tiny presets)', () => {
  for (const [name, make] of [['convNet', convNet], ['resnetNet', resnetNet]] as const) {
    it(`${name} runs with a dynamic batch, inline and external data alike`, async () => {
      const model = make({ seed: 3, preset: 'tiny' });
      expect(model.signature.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 3, 32, 32] }]);
      expect(model.signature.outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [-1, 10] }]);
      const x = new ort.Tensor('float32', seededInput(9, 3 * 3 * 32 * 32), [3, 3, 32, 32]);
      const inline = await run(model.builder.toBytes(), { x });
      expect(inline.y.dims).toEqual([3, 10]);
      const data = inline.y.data as Float32Array;
      expect(data.every(Number.isFinite)).toBe(true);
      const external = await run(model.builder.toBytes({ externalDataFile: 'w.data' }), { x });
      expect(maxAbsDiff(external.y.data as Float32Array, data)).toBe(0);
    });
  }

  it('the tiny MobileNetV2 has depthwise convs and residual adds', () => {
    const ops = convNet({ seed: 1, preset: 'tiny' }).builder.opCounts();
    expect(ops.Add).toBeGreaterThan(0);
    expect(ops.GlobalAveragePool).toBe(1);
  });

  it('the full presets have ResNet-50 / MobileNetV2 sizes (not run)', () => {
    const r = resnetNet({ seed: 1, blocks: [3, 4, 6, 3], width: 64, resolution: 224, classes: 1000 });
    expect(r.builder.opCounts().Conv).toBe(53);
    expect(r.macs / 1e9).toBeCloseTo(4.09, 1);
    const m = convNet({ seed: 1 });
    expect(m.builder.opCounts().Conv).toBe(52);
    expect(m.macs / 1e6).toBeGreaterThan(280);
    expect(m.macs / 1e6).toBeLessThan(320);
  });
});

/** Four values of each dtype, as the typed array onnxruntime-node expects. */
function sampleData(dtype: DType): ort.Tensor['data'] {
  const n = [0, 1, 2, 127];
  switch (dtype) {
    case 'BOOL': return new Uint8Array([0, 1, 1, 0]);
    case 'UINT8': return Uint8Array.from(n);
    case 'UINT16': return Uint16Array.from([0, 1, 300, 65535]);
    case 'FP16': return Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x7bff]); // 0, 1, -2, 65504
    case 'UINT32': return Uint32Array.from([0, 1, 70000, 4294967295]);
    case 'UINT64': return BigUint64Array.from([0n, 1n, 2n ** 40n, 2n ** 64n - 1n]);
    case 'INT8': return Int8Array.from([-128, -1, 0, 127]);
    case 'INT16': return Int16Array.from([-32768, -1, 0, 32767]);
    case 'INT32': return Int32Array.from([-2147483648, -1, 0, 2147483647]);
    case 'INT64': return BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 62n]);
    case 'FP32': return Float32Array.from([-1.5, 0, 2.25, 1e30]);
    case 'FP64': return Float64Array.from([-1.5, 0, 2.25, 1e300]);
    case 'BYTES': return ['a', '', 'héllo', 'x y'];
  }
}

describe('tiny IO models', () => {
  const dtypes: DType[] = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];
  for (const dtype of dtypes) {
    it(`Identity round-trips ${dtype}`, async () => {
      const model = elementwise({ dtype });
      expect(model.signature.inputs[0]).toEqual({ name: 'x', datatype: dtype, shape: [-1, 4] });
      const data = sampleData(dtype);
      const type = DTYPE_TO_ORT[dtype] as ort.Tensor.Type;
      const out = await run(model.builder.toBytes(), { x: new ort.Tensor(type, data, [1, 4]) });
      expect(out.y.type).toBe(type);
      expect(out.y.dims).toEqual([1, 4]);
      expect(Array.from(out.y.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
    });
  }

  it('Add(x, x) doubles FP32 and INT64', async () => {
    const f = await run(elementwise({ dtype: 'FP32', op: 'add' }).builder.toBytes(), { x: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [1, 4]) });
    expect(Array.from(f.y.data as Float32Array)).toEqual([2, 4, 6, 8]);
    const i = await run(elementwise({ dtype: 'INT64', op: 'add' }).builder.toBytes(), { x: new ort.Tensor('int64', BigInt64Array.from([1n, -2n, 3n, 4n]), [1, 4]) });
    expect(Array.from(i.y.data as BigInt64Array)).toEqual([2n, -4n, 6n, 8n]);
  });

  it('addTwo gives sum and diff', async () => {
    const model = addTwo();
    expect(model.signature.outputs.map((o) => o.name)).toEqual(['sum', 'diff']);
    const a = new ort.Tensor('float32', new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = new ort.Tensor('float32', new Float32Array([6, 5, 4, 3, 2, 1]), [2, 3]);
    const out = await run(model.builder.toBytes(), { a, b });
    expect(Array.from(out.sum.data as Float32Array)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(Array.from(out.diff.data as Float32Array)).toEqual([-5, -3, -1, 1, 3, 5]);
  });

  it('fixedBatch has a static [2, 4] input and rejects other batches', async () => {
    const model = fixedBatch();
    expect(model.signature.inputs[0].shape).toEqual([2, 4]);
    const ok = await run(model.builder.toBytes(), { x: new ort.Tensor('float32', new Float32Array(8).fill(1), [2, 4]) });
    expect(ok.y.dims).toEqual([2, 4]);
    await expect(run(model.builder.toBytes(), { x: new ort.Tensor('float32', new Float32Array(12), [3, 4]) })).rejects.toThrow();
  });
});
