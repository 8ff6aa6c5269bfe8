// The quickstart's demo model: trained on Fisher's 150 iris rows, deterministically; it tells the
// three species apart (the three sample flowers are setosa, versicolor, virginica), and the ONNX
// graph onnxruntime runs gives the same probabilities as the plain-JS reference.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DEMO_CLASSES, DEMO_INPUTS } from '../../../src/models/demo.js';
import { irisAccuracy, irisModel, predictProba, trainIris } from '../../../src/models/iris-model.js';
import { IRIS_CLASSES, irisRows } from '../../../src/models/iris.js';

describe('iris data', () => {
  it("is Fisher's 150 rows, 50 per species", () => {
    const rows = irisRows();
    expect(rows).toHaveLength(150);
    expect([0, 1, 2].map((c) => rows.filter((r) => r.y === c).length)).toEqual([50, 50, 50]);
    expect(rows[0]).toEqual({ x: [5.1, 3.5, 1.4, 0.2], y: 0 });
    expect(rows[149]).toEqual({ x: [5.9, 3.0, 5.1, 1.8], y: 2 });
    // Column sums (a transcription check): 876.5, 458.6, 563.7, 179.9.
    const sums = [0, 1, 2, 3].map((j) => Math.round(rows.reduce((s, r) => s + r.x[j], 0) * 10) / 10);
    expect(sums).toEqual([876.5, 458.6, 563.7, 179.9]);
    expect(IRIS_CLASSES).toEqual(['setosa', 'versicolor', 'virginica']);
  });
});

describe('the demo model', () => {
  const weights = trainIris();

  it('is trained deterministically and classifies the data set well', () => {
    expect(trainIris().w).toEqual(weights.w);
    expect(irisAccuracy(weights)).toBeGreaterThanOrEqual(0.95);
  });

  it('answers the three species for the three sample flowers (with names)', () => {
    const argmax = (p: number[]) => p.indexOf(Math.max(...p));
    expect(DEMO_INPUTS.map((x) => DEMO_CLASSES[argmax(predictProba(weights, x))])).toEqual(['setosa', 'versicolor', 'virginica']);
    for (const x of DEMO_INPUTS) expect(Math.max(...predictProba(weights, x))).toBeGreaterThan(0.7);
  });

  it('as ONNX: y = probabilities (as the reference), label = the species index', async () => {
    const model = irisModel(weights);
    expect(model.signature).toEqual({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }, { name: 'label', datatype: 'INT64', shape: [-1] }],
    });
    const session = await ort.InferenceSession.create(model.builder.toBytes().model);
    const rows = irisRows();
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flatMap((r) => r.x)), [150, 4]) });
    const y = out.y.data as Float32Array;
    rows.forEach((r, i) => {
      const ref = predictProba(weights, r.x);
      for (let k = 0; k < 3; k++) expect(y[i * 3 + k]).toBeCloseTo(ref[k], 4);
    });
    const labels = Array.from(out.label.data as BigInt64Array, Number);
    expect(labels.slice(0, 3)).toEqual([0, 0, 0]);
    expect(labels.filter((l, i) => l === rows[i].y).length / 150).toBeGreaterThanOrEqual(0.95);
  });
});
