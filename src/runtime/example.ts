// PURE: an example request built from a model's inputs: one row (or `rows`) of valid values for
// each input's datatype and shape (-1 in the first dimension is the row count, elsewhere 1). Used
// for the replica's warm-up run and the ready-to-run curl `mlserve status <endpoint>` prints.
import { allocData, elementCount, type Tensor, type TensorSpec } from '../tensor.js';

/** The concrete shape of an example: `rows` for a dynamic first dimension, 1 for other dynamic ones. */
export function exampleShape(spec: TensorSpec, rows = 1): number[] {
  if (spec.shape.length === 0) return [];
  return spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? rows : 1));
}

/** One example value of a datatype, as JSON carries it. */
export function exampleValue(datatype: TensorSpec['datatype']): number | string | boolean {
  if (datatype === 'BYTES') return 'example';
  if (datatype === 'BOOL') return false;
  if (datatype === 'FP16' || datatype === 'FP32' || datatype === 'FP64') return 0.5;
  return 1;
}

/** Example tensors (typed data) for a replica's warm-up run. */
export function exampleTensors(inputs: readonly TensorSpec[], rows = 1): Tensor[] {
  return inputs.map((spec) => {
    const shape = exampleShape(spec, rows);
    const n = elementCount(shape);
    const data = allocData(spec.datatype, n);
    const v = exampleValue(spec.datatype);
    for (let i = 0; i < n; i++) {
      if (Array.isArray(data)) data[i] = String(v);
      else if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = 1n;
      else if (spec.datatype === 'FP16') data[i] = 0x3800; // 0.5 as IEEE half bits
      else if (spec.datatype === 'BOOL') data[i] = 0;
      else data[i] = v as number;
    }
    return { name: spec.name, datatype: spec.datatype, shape, data };
  });
}

/** An OIP v2 JSON inference request body (flat data) for these inputs. */
export function exampleRequest(inputs: readonly TensorSpec[], rows = 1): { inputs: Array<{ name: string; shape: number[]; datatype: string; data: unknown[] }> } {
  return {
    inputs: inputs.map((spec) => {
      const shape = exampleShape(spec, rows);
      return { name: spec.name, shape, datatype: spec.datatype, data: new Array(elementCount(shape)).fill(exampleValue(spec.datatype)) };
    }),
  };
}
