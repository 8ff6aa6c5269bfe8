// Triton's binary tensor data extension to the OIP v2 infer route (extension_binary_data.md):
//
//   body = JSON header (Inference-Header-Content-Length bytes) | blob | blob | ...
//
// Inputs with parameters.binary_data_size take their bytes from the blobs, in the order the inputs
// appear in the JSON; the others carry JSON `data`. Blobs are little-endian, row-major, no padding;
// BOOL is one byte per element; BYTES elements are a u32 LE length + the bytes. Responses put
// binary_data_size on the outputs sent as blobs. Decoded inputs are zero-copy views over the body
// when aligned (the caller must not reuse the body's memory), copied once otherwise.
// PURE: no I/O here.

import { badRequest } from '../../../errors.js';
import {
  DTYPE_SIZE, dataBytes, elementCount, formatShape, isDType, viewBytes,
  type DType, type Signature, type Tensor,
} from '../../../tensor.js';
import { decodeBytesTensor, encodeBytesTensor } from '../../../runtime/frame.js';
import { flattenJsonData, toJsonData, type JsonScalar } from './json-tensor.js';
import { checkDatatype, decodeInferRequest, requestedOutputs, type InferRequest } from './oip-json.js';
import { checkInputs, checkShapeDims, unknownInput } from './signature-check.js';
import { blobData } from './blob-data.js';

export interface BinaryInferRequest extends InferRequest {
  /** Outputs to answer as blobs: 'all', these names, or null (answer with plain OIP JSON). */
  binaryOutputs: Set<string> | 'all' | null;
}

export interface BinaryResponseArgs {
  modelName: string;
  modelVersion?: string;
  id?: string;
  outputs: Tensor[];
  /** Output names to return, in this order; undefined = all of `outputs`. */
  requested?: string[];
  /** Outputs to send as blobs ('all' or names); the others go as JSON `data`. */
  binary: Set<string> | 'all';
}

export interface BinaryResponse {
  /** The JSON header (utf8). */
  header: Buffer;
  /** One blob per binary output, in output order (zero-copy over the tensors' memory). */
  blobs: Buffer[];
  /** header.length: send it as Inference-Header-Content-Length. */
  headerLength: number;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const plainBytes = (body: Buffer, start: number, end: number) =>
  new Uint8Array(body.buffer, body.byteOffset + start, end - start);


function binarySize(name: string, raw: Record<string, unknown>): number | undefined {
  const params = raw.parameters;
  if (params === undefined) return undefined;
  if (!isObject(params)) throw badRequest(`input '${name}': 'parameters' must be an object`);
  const size = params.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw badRequest(`input '${name}': parameters.binary_data_size must be a non-negative integer (bytes), got ${JSON.stringify(size)}`);
  }
  return size;
}

/** Which outputs the client wants as blobs (request-level default, per-output overrides). */
function binaryOutputsOf(header: Record<string, unknown>, sig: Signature, requested?: string[]): Set<string> | 'all' | null {
  const all = isObject(header.parameters) ? header.parameters.binary_data_output : undefined;
  if (all !== undefined && typeof all !== 'boolean') {
    throw badRequest(`parameters.binary_data_output must be true or false, got ${JSON.stringify(all)}`);
  }
  const overrides = new Map<string, boolean>();
  if (Array.isArray(header.outputs)) {
    for (const o of header.outputs as Record<string, unknown>[]) {
      if (!isObject(o.parameters) || o.parameters.binary_data === undefined) continue;
      const v = o.parameters.binary_data;
      if (typeof v !== 'boolean') throw badRequest(`output '${o.name}': parameters.binary_data must be true or false, got ${JSON.stringify(v)}`);
      overrides.set(o.name as string, v);
    }
  }
  if (all === true && ![...overrides.values()].includes(false)) return 'all';
  const names = requested ?? sig.outputs.map((o) => o.name);
  const set = new Set(names.filter((n) => overrides.get(n) ?? all === true));
  return set.size === 0 ? null : set;
}

/** headerLength 0: the whole body is the only input's bytes (Triton's raw binary request). */
function decodeRawRequest(body: Buffer, sig: Signature): BinaryInferRequest {
  if (sig.inputs.length !== 1) {
    throw badRequest(`a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one `
      + `input, but this one has ${sig.inputs.length} (${sig.inputs.map((s) => `'${s.name}'`).join(', ')}); `
      + `send a JSON header that names the inputs`);
  }
  const spec = sig.inputs[0]!;
  const { name, datatype } = spec;
  if (body.length === 0) throw badRequest(`input '${name}': the raw binary request body is empty`);
  const bytes = plainBytes(body, 0, body.length);
  const dynamic = spec.shape.filter((d) => d < 0).length;
  if (dynamic > 1) {
    throw badRequest(`input '${name}': a raw binary request cannot infer shape ${formatShape(spec.shape)} `
      + `(more than one dynamic dimension); send a JSON header with the shape`);
  }
  const fixed = elementCount(spec.shape.filter((d) => d >= 0));
  let count: number;
  if (datatype === 'BYTES') {
    count = 0;
    for (let pos = 0; pos + 4 <= body.length; count++) pos += 4 + body.readUInt32LE(pos);
  } else {
    count = Math.floor(body.length / DTYPE_SIZE[datatype]);
  }
  const n = dynamic === 0 ? -1 : fixed === 0 ? 0 : count / fixed;
  const shape = spec.shape.map((d) => (d < 0 ? n : d));
  if (dynamic === 1 && !Number.isInteger(n)) {
    throw badRequest(`input '${name}': raw binary data of ${body.length} bytes holds ${count} ${datatype} elements, `
      + `not a whole number of rows of shape ${formatShape(spec.shape)} (${fixed} elements each)`);
  }
  const data = blobData(name, datatype, shape, bytes);
  return { inputs: [{ name, datatype, shape, data }], binaryOutputs: 'all' };
}

/**
 * Decode and validate an OIP v2 infer request sent with the binary extension: `headerLength` is the
 * Inference-Header-Content-Length header (0 = raw binary request). Same result as
 * decodeInferRequest (inputs checked and in the signature's order) plus `binaryOutputs`.
 */
export function decodeBinaryRequest(body: Buffer, headerLength: number, sig: Signature): BinaryInferRequest {
  if (!Number.isInteger(headerLength) || headerLength < 0) {
    throw badRequest(`Inference-Header-Content-Length must be a non-negative integer, got ${headerLength}`);
  }
  if (headerLength > body.length) {
    throw badRequest(`Inference-Header-Content-Length is ${headerLength}, beyond the body's ${body.length} bytes`);
  }
  if (headerLength === 0) return decodeRawRequest(body, sig);
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, headerLength));
  } catch (e) {
    throw badRequest(`the first ${headerLength} bytes (Inference-Header-Content-Length) are not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(header) || !Array.isArray(header.inputs)) {
    // Let the JSON codec word it.
    decodeInferRequest(header, sig);
    throw badRequest(`the inference header must be a JSON object with an 'inputs' array`);
  }
  // id, parameters and outputs exactly as the JSON route checks them.
  const base = decodeInferRequest({ ...header, inputs: [] }, { inputs: [], outputs: sig.outputs });
  const raws = header.inputs as unknown[];
  const blobStart = headerLength;
  const blobBytes = body.length - headerLength;
  let pos = blobStart;
  let lastBinary: string | undefined;
  const inputs = raws.map((raw, index): Tensor => {
    if (!isObject(raw)) throw badRequest(`inputs[${index}] must be an object {"name", "shape", "datatype", "data" or parameters.binary_data_size}`);
    const { name, shape, data } = raw;
    if (typeof name !== 'string' || name === '') throw badRequest(`inputs[${index}]: 'name' must be a non-empty string`);
    const spec = sig.inputs.find((s) => s.name === name);
    if (!spec) throw unknownInput(name, sig);
    const datatype = checkDatatype(name, raw.datatype, spec);
    checkShapeDims(name, shape);
    const size = binarySize(name, raw);
    if (size === undefined) {
      if (data === undefined) throw badRequest(`input '${name}': has neither 'data' nor parameters.binary_data_size`);
      return { name, datatype, shape: shape.slice(), data: flattenJsonData(data, datatype, elementCount(shape), name, shape) };
    }
    if (data !== undefined) throw badRequest(`input '${name}': has both 'data' and parameters.binary_data_size; send one`);
    if (pos + size > body.length) {
      const left = body.length - pos;
      throw badRequest(`input '${name}': binary_data_size is ${size} bytes, but only ${left} of the body's `
        + `${blobBytes} binary bytes are left for it (the blobs come in the order of the inputs in the JSON)`);
    }
    const bytes = plainBytes(body, pos, pos + size);
    pos += size;
    lastBinary = name;
    return { name, datatype, shape: shape.slice(), data: blobData(name, datatype, shape, bytes) };
  });
  if (pos !== body.length) {
    const extra = body.length - pos;
    throw badRequest(lastBinary === undefined
      ? `the body has ${extra} bytes after the ${headerLength}-byte JSON header, but no input has parameters.binary_data_size`
      : `the body has ${extra} bytes after the binary data of the last input '${lastBinary}'; `
        + `the inputs' binary_data_size values must add up to the ${blobBytes} bytes after the header`);
  }
  return { ...base, inputs: checkInputs(inputs, sig), binaryOutputs: binaryOutputsOf(header, sig, base.outputs) };
}

/**
 * Build a binary-extension response: a JSON header in which binary outputs carry
 * parameters.binary_data_size instead of `data`, and the blobs (zero-copy; BYTES serialised).
 * Send with Inference-Header-Content-Length: headerLength, Content-Type: application/octet-stream,
 * Content-Length: headerLength + the blobs' lengths.
 */
export function encodeBinaryResponse(args: BinaryResponseArgs): BinaryResponse {
  const tensors = requestedOutputs(args.outputs, args.requested);
  const blobs: Buffer[] = [];
  const outputs = tensors.map((t) => {
    if (args.binary !== 'all' && !args.binary.has(t.name)) {
      return { name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) as JsonScalar[] };
    }
    let blob: Buffer;
    if (Array.isArray(t.data)) {
      blob = encodeBytesTensor(t.data);
    } else {
      const b = dataBytes(t.data);
      blob = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    }
    blobs.push(blob);
    return { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: blob.length } };
  });
  const res: Record<string, unknown> = { model_name: args.modelName };
  if (args.modelVersion !== undefined) res.model_version = args.modelVersion;
  if (args.id !== undefined) res.id = args.id;
  res.outputs = outputs;
  const header = Buffer.from(JSON.stringify(res), 'utf8');
  return { header, blobs, headerLength: header.length };
}

/**
 * Parse a binary-extension response (the client side; also for tests and benchmarks): the JSON
 * header and every output as a tensor (blobs as views over `body`, JSON data converted).
 */
export function decodeBinaryResponse(body: Buffer, headerLength: number): { header: Record<string, unknown>; outputs: Tensor[] } {
  if (headerLength > body.length) throw new Error(`header length ${headerLength} is beyond the body's ${body.length} bytes`);
  const header = JSON.parse(body.toString('utf8', 0, headerLength)) as Record<string, unknown>;
  let pos = headerLength;
  const outputs = ((header.outputs ?? []) as Record<string, unknown>[]).map((o): Tensor => {
    const name = o.name as string;
    const datatype = o.datatype as DType;
    const shape = o.shape as number[];
    if (!isDType(datatype)) throw new Error(`output '${name}': unknown datatype ${String(datatype)}`);
    const size = isObject(o.parameters) ? o.parameters.binary_data_size : undefined;
    if (typeof size !== 'number') return { name, datatype, shape, data: flattenJsonData(o.data, datatype, elementCount(shape), name) };
    if (pos + size > body.length) throw new Error(`output '${name}': ${size} bytes run past the body`);
    const bytes = plainBytes(body, pos, pos + size);
    pos += size;
    return { name, datatype, shape, data: blobData(name, datatype, shape, bytes) };
  });
  if (pos !== body.length) throw new Error(`${body.length - pos} bytes left after the last output`);
  return { header, outputs };
}
