// Every OIP datatype travels ingress -> binary frame -> replica -> ORT -> back unchanged, and the
// MLP answers exactly as onnxruntime in-process, deployed from a .onnx file and an MLflow dir.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTYPES, type DType } from '../../src/tensor.js';
import { elementwise, mlp, mlpReference, seededInput } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { runInProcess } from '../helpers/fixtures.js';
import { writeMlflowDir, writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
});

const SAMPLE: Record<DType, unknown[]> = {
  BOOL: [true, false, true, true, false, false, true, false],
  UINT8: [0, 1, 127, 255, 3, 4, 5, 6],
  UINT16: [0, 1, 65535, 300, 3, 4, 5, 6],
  UINT32: [0, 1, 4294967295, 70000, 3, 4, 5, 6],
  UINT64: [0, 1, 2 ** 40, 7, 3, 4, 5, 6],
  INT8: [-128, 127, 0, -1, 3, 4, 5, 6],
  INT16: [-32768, 32767, 0, -1, 3, 4, 5, 6],
  INT32: [-2147483648, 2147483647, 0, -1, 3, 4, 5, 6],
  INT64: [-(2 ** 50), 2 ** 50, 0, -1, 3, 4, 5, 6],
  FP16: [0.5, -2, 1024, 0.0999755859375, 3, 4, 5, 6],
  FP32: [0.5, -2.25, Math.fround(1e30), 3.1415927410125732, 3, 4, 5, 6],
  FP64: [0.1, -2.5, 1e300, Math.PI, 3, 4, 5, 6],
  BYTES: ['a', '', 'héllo', 'x'.repeat(100), 'b', 'c', 'd', 'e'],
};

describe('datatypes', () => {
  it('round-trips every OIP datatype through an Identity model', async () => {
    for (const dtype of DTYPES) {
      const r = await d.deploy(writeOnnx(elementwise({ dtype }), `id-${dtype.toLowerCase()}`), ['--no-wait']);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    for (const dtype of DTYPES) {
      const ep = `id-${dtype.toLowerCase()}`;
      let res;
      for (let i = 0; i < 200; i++) {
        res = await d.http('POST', `/v2/models/${ep}/infer`, { inputs: [{ name: 'x', shape: [2, 4], datatype: dtype, data: SAMPLE[dtype] }] });
        if (res.status !== 503) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(res!.status, `${dtype}: ${res!.text}`).toBe(200);
      expect(res!.json.outputs[0], dtype).toEqual({ name: 'y', datatype: dtype, shape: [2, 4], data: SAMPLE[dtype] });
    }
  });
});

describe('model sources', () => {
  const model = mlp({ seed: 11, sizes: [16, 32, 5] });
  const input = seededInput(5, 3 * 16);

  it('a bare .onnx file and an MLflow model directory give the in-process answer', async () => {
    const file = writeOnnx(model, 'mlp16');
    const inproc = await runInProcess(file, { x: { type: 'float32', data: input, dims: [3, 16] } });
    const want = Array.from(inproc.y.data as Float32Array);
    const ref = mlpReference(model.weights, input);
    want.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 3));

    expect((await d.deploy(file)).exitCode).toBe(0);
    const dir = writeMlflowDir(model);
    const r = await d.deploy(dir, ['--endpoint', 'mlp16-dir', '--replicas', '2', '--threads', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.replicas).toHaveLength(2);
    for (const ep of ['mlp16', 'mlp16-dir']) {
      const res = await d.http('POST', `/v2/models/${ep}/infer`, { inputs: [{ name: 'x', shape: [3, 16], datatype: 'FP32', data: Array.from(input) }] });
      expect(res.status, res.text).toBe(200);
      expect(res.json.outputs[0].data).toEqual(want);
    }
    // Concurrent requests spread over both replicas and all answer right.
    const all = await Promise.all(
      Array.from({ length: 40 }, () =>
        d.http('POST', '/mlp16-dir/invocations', { inputs: { x: [Array.from(input.subarray(0, 16))] } }),
      ),
    );
    for (const res of all) expect(res.json.predictions.y[0]).toEqual(want.slice(0, 5));
  });
});
