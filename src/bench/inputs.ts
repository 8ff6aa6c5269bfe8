// Request bodies for `mlserve bench`, generated from the model's signature (seeded values) or
// read from a file: OIP JSON, or Triton's binary tensor extension.
import { allocData, dataBytes, DTYPE_SIZE, elementCount, type DType, type Signature, type TensorData, type TensorSpec } from '../tensor.js';
import type { RequestSpec } from './load.js';

function fill(dtype: DType, n: number, seed: number): TensorData {
  const data = allocData(dtype, n);
  let s = seed >>> 0 || 1;
  const next = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  for (let i = 0; i < n; i++) {
    const r = next();
    if (Array.isArray(data)) data[i] = `s${Math.floor(r * 1000)}`;
    else if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(Math.floor(r * 100));
    else if (data instanceof Float32Array || data instanceof Float64Array) data[i] = r * 2 - 1;
    else if (dtype === 'FP16') data[i] = 0x3c00; // 1.0
    else data[i] = Math.floor(r * (dtype === 'BOOL' ? 2 : 100));
  }
  return data;
}

/** The concrete shape of one request: batch rows for the dynamic first dim, 1 for other dynamic dims. */
export function requestShape(spec: TensorSpec, batch: number): number[] {
  return spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? batch : 1));
}

function jsonValues(data: TensorData): unknown[] {
  if (Array.isArray(data)) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>, (v) => v);
}

export function buildRequest(endpoint: string, sig: Signature, batch: number, protocol: 'json' | 'binary', seed = 1): RequestSpec {
  const path = `/v2/models/${encodeURIComponent(endpoint)}/infer`;
  const tensors = sig.inputs.map((spec, i) => {
    const shape = requestShape(spec, batch);
    return { spec, shape, data: fill(spec.datatype, elementCount(shape), seed + i) };
  });
  if (protocol === 'json') {
    const body = { inputs: tensors.map((t) => ({ name: t.spec.name, shape: t.shape, datatype: t.spec.datatype, data: jsonValues(t.data) })) };
    return { path, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
  }
  for (const t of tensors) {
    if (DTYPE_SIZE[t.spec.datatype] === 0) throw new Error(`--protocol binary: input ${t.spec.name} is BYTES; use --protocol json`);
  }
  const header = {
    inputs: tensors.map((t) => ({ name: t.spec.name, shape: t.shape, datatype: t.spec.datatype, parameters: { binary_data_size: dataBytes(t.data).byteLength } })),
    parameters: { binary_data_output: true },
  };
  const head = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([head, ...tensors.map((t) => Buffer.from(dataBytes(t.data)))]);
  return {
    path,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) },
    body,
  };
}

/** A request body from a file: an OIP JSON inference request as the operator wrote it. */
export function requestFromFile(endpoint: string, text: string): RequestSpec {
  JSON.parse(text); // fail early on a malformed file
  return { path: `/v2/models/${encodeURIComponent(endpoint)}/infer`, headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
}
