// The quickstart's demo model: softmax regression trained on Fisher's iris data, deterministically
// (full-batch gradient descent from zero weights, fixed steps), then laid out as an ONNX graph with
// the project's graph builder. Standardisation is folded into the weights, so the graph is one
// Gemm, a Softmax (class probabilities, `y`) and an ArgMax (the species index, `label`).
import { GraphBuilder } from './graph-builder.js';
import { IRIS_CLASSES, irisRows } from './iris.js';
import type { ZooModel } from './zoo.js';

export interface SoftmaxWeights {
  /** Row-major [classes, features], applied to raw measurements (standardisation folded in). */
  w: Float64Array;
  b: Float64Array;
  classes: number;
  features: number;
}

/** Class probabilities for one row (float64, the reference the ONNX graph must match). */
export function predictProba(m: SoftmaxWeights, x: number[]): number[] {
  const z = Array.from({ length: m.classes }, (_, k) => x.reduce((s, v, j) => s + v * m.w[k * m.features + j], m.b[k]));
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

/** Train on every row: the same weights on every run and machine (no randomness, fixed iterations). */
export function trainIris(opts: { steps?: number; learningRate?: number; l2?: number } = {}): SoftmaxWeights {
  const { steps = 2000, learningRate = 0.5, l2 = 1e-3 } = opts;
  const rows = irisRows();
  const F = rows[0].x.length;
  const K = IRIS_CLASSES.length;
  const mean = Array.from({ length: F }, (_, j) => rows.reduce((s, r) => s + r.x[j], 0) / rows.length);
  const std = Array.from({ length: F }, (_, j) => Math.sqrt(rows.reduce((s, r) => s + (r.x[j] - mean[j]) ** 2, 0) / rows.length));
  const xs = rows.map((r) => r.x.map((v, j) => (v - mean[j]) / std[j]));
  const w = new Float64Array(K * F);
  const b = new Float64Array(K);
  const model: SoftmaxWeights = { w, b, classes: K, features: F };
  for (let step = 0; step < steps; step++) {
    const gw = new Float64Array(K * F);
    const gb = new Float64Array(K);
    for (let i = 0; i < xs.length; i++) {
      const p = predictProba(model, xs[i]);
      for (let k = 0; k < K; k++) {
        const d = p[k] - (rows[i].y === k ? 1 : 0);
        gb[k] += d;
        for (let j = 0; j < F; j++) gw[k * F + j] += d * xs[i][j];
      }
    }
    for (let k = 0; k < K; k++) {
      b[k] -= (learningRate * gb[k]) / xs.length;
      for (let j = 0; j < F; j++) w[k * F + j] -= learningRate * (gw[k * F + j] / xs.length + l2 * w[k * F + j]);
    }
  }
  // Fold (x - mean) / std into the weights: the model takes raw measurements in cm.
  const wRaw = new Float64Array(K * F);
  const bRaw = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    bRaw[k] = b[k];
    for (let j = 0; j < F; j++) {
      wRaw[k * F + j] = w[k * F + j] / std[j];
      bRaw[k] -= (w[k * F + j] * mean[j]) / std[j];
    }
  }
  return { w: wRaw, b: bRaw, classes: K, features: F };
}

/** Share of the 150 rows whose most probable class is their species. */
export function irisAccuracy(m: SoftmaxWeights): number {
  const rows = irisRows();
  const argmax = (p: number[]) => p.indexOf(Math.max(...p));
  return rows.filter((r) => argmax(predictProba(m, r.x)) === r.y).length / rows.length;
}

/** x FP32 [-1, 4] (cm) -> y FP32 [-1, 3] (probabilities per species), label INT64 [-1] (the species index). */
export function irisModel(weights: SoftmaxWeights = trainIris()): ZooModel & { weights: SoftmaxWeights } {
  const { classes: K, features: F } = weights;
  const b = new GraphBuilder('iris_softmax');
  b.input('x', 'FP32', [-1, F]).output('y', 'FP32', [-1, K]).output('label', 'INT64', [-1]);
  b.initializer('W', Float32Array.from(weights.w), [K, F]).initializer('B', Float32Array.from(weights.b), [K]);
  b.node('Gemm', ['x', 'W', 'B'], ['logits'], { transB: 1 });
  b.node('Softmax', ['logits'], ['y'], { axis: -1 });
  b.node('ArgMax', ['logits'], ['label'], { axis: 1, keepdims: 0 });
  return { builder: b, signature: b.signature(), weights };
}
