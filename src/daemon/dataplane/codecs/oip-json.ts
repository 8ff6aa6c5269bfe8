// Open Inference Protocol v2 (KServe V2 / Triton HTTP) JSON inference requests and responses.
// PURE: no I/O here.

import { badRequest } from '../../../errors.js';
import { DTYPES, elementCount, isDType, type DType, type Signature, type Tensor, type TensorSpec } from '../../../tensor.js';
import { flattenJsonData, toJsonData, type JsonScalar } from './json-tensor.js';
import { checkInputs, checkShapeDims, datatypeMismatch, unknownInput } from './signature-check.js';
import { blobData } from './blob-data.js';
import { readShmRef, type ShmReader, type ShmRef } from './shm-params.js';

export interface InferRequest {
  id?: string;
  parameters?: Record<string, unknown>;
  /** Checked against the signature, in the signature's order. */
  inputs: Tensor[];
  /** Names of the requested outputs (all exist in the signature); undefined = all outputs. */
  outputs?: string[];
  /** Outputs to write into client shared memory instead of the response (by output name). */
  shmOutputs?: Record<string, ShmRef>;
}

export interface InferResponseArgs {
  modelName: string;
  modelVersion?: string;
  id?: string;
  outputs: Tensor[];
  /** Output names to return, in this order; undefined = all of `outputs`. */
  requested?: string[];
}

export interface InferResponseOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: JsonScalar[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: InferResponseOutput[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const FORMAT_HINT = 'expected {"inputs": [{"name", "shape", "datatype", "data"}], "outputs"?: [{"name"}]}';

function decodeInput(raw: unknown, index: number, sig: Signature, shm?: ShmReader): Tensor {
  if (!isObject(raw)) throw badRequest(`inputs[${index}] must be an object {"name", "shape", "datatype", "data"}`);
  const { name, shape, datatype, data } = raw;
  if (typeof name !== 'string' || name === '') throw badRequest(`inputs[${index}]: 'name' must be a non-empty string`);
  const spec = sig.inputs.find((s) => s.name === name);
  if (!spec) throw unknownInput(name, sig);
  const dtype = checkDatatype(name, datatype, spec);
  checkShapeDims(name, shape);
  const ref = readShmRef(raw.parameters, `input '${name}'`);
  if (ref) {
    if (data !== undefined) throw badRequest(`input '${name}': give either 'data' or shared_memory_region, not both`);
    if (!shm) throw badRequest(`input '${name}': names shared memory region '${ref.region}', but client shared memory is off; start the daemon with --allow-client-shm, or send the values in 'data'`);
    return { name, datatype: dtype, shape: shape.slice(), data: blobData(name, dtype, shape, shm(ref, `input '${name}'`), 'shared_memory_byte_size') };
  }
  if (data === undefined) {
    const params = raw.parameters;
    if (isObject(params) && params.binary_data_size !== undefined) {
      throw badRequest(`input '${name}': has binary_data_size but the request has no binary part; `
        + `send it with the Inference-Header-Content-Length header, or put the values in 'data'`);
    }
    throw badRequest(`input '${name}': 'data' is missing`);
  }
  const tensorData = flattenJsonData(data, dtype, elementCount(shape), name, shape);
  return { name, datatype: dtype, shape: shape.slice(), data: tensorData };
}

/** Decode and validate an OIP v2 JSON inference request body (already JSON.parsed). */
export function decodeInferRequest(body: unknown, sig: Signature, shm?: ShmReader): InferRequest {
  if (!isObject(body)) throw badRequest(`the inference request must be a JSON object: ${FORMAT_HINT}`);
  const req: InferRequest = { inputs: [] };
  if (body.id !== undefined) {
    if (typeof body.id !== 'string') throw badRequest(`'id' must be a string`);
    req.id = body.id;
  }
  if (body.parameters !== undefined) {
    if (!isObject(body.parameters)) throw badRequest(`'parameters' must be an object`);
    req.parameters = body.parameters;
  }
  if (!Array.isArray(body.inputs)) throw badRequest(`'inputs' must be an array: ${FORMAT_HINT}`);
  const inputs = body.inputs.map((raw, i) => decodeInput(raw, i, sig, shm));
  req.inputs = checkInputs(inputs, sig);
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw badRequest(`'outputs' must be an array of {"name"}`);
    const names: string[] = [];
    const known = sig.outputs.map((o) => o.name);
    body.outputs.forEach((o, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw badRequest(`outputs[${i}] must be an object with a string 'name'`);
      if (!known.includes(o.name)) {
        throw badRequest(`requested output '${o.name}' is not an output of the model; its outputs are `
          + `${known.map((n) => `'${n}'`).join(', ')}`);
      }
      if (names.includes(o.name)) throw badRequest(`output '${o.name}' is requested more than once`);
      names.push(o.name);
      const out = readShmRef(o.parameters, `output '${o.name}'`);
      if (out) {
        if (!shm) throw badRequest(`output '${o.name}': names shared memory region '${out.region}', but client shared memory is off; start the daemon with --allow-client-shm`);
        (req.shmOutputs ??= {})[o.name] = out;
      }
    });
    req.outputs = names;
  }
  return req;
}

/** Build the OIP v2 JSON inference response (flat `data`). Pass it to JSON.stringify. */
export function encodeInferResponse(args: InferResponseArgs): InferResponse {
  const res: InferResponse = { model_name: args.modelName, outputs: [] };
  if (args.modelVersion !== undefined) res.model_version = args.modelVersion;
  if (args.id !== undefined) res.id = args.id;
  const tensors = requestedOutputs(args.outputs, args.requested);
  res.outputs = tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: toJsonData(t) }));
  return res;
}

/** The response as JSON text (JSON.stringify of packed arrays is the fastest path V8 has). */
export function encodeInferResponseText(args: InferResponseArgs): string {
  return JSON.stringify(encodeInferResponse(args));
}

/** An input's declared datatype against the model's: unknown names and mismatches are 400s. */
export function checkDatatype(name: string, datatype: unknown, spec: TensorSpec): DType {
  if (typeof datatype !== 'string') throw badRequest(`input '${name}': 'datatype' must be a string, one of ${DTYPES.join(', ')}`);
  if (!isDType(datatype)) {
    const hint = datatype === 'BF16' ? ' (BF16 is not supported)' : '';
    throw badRequest(`input '${name}': unknown datatype '${datatype}'${hint}; expected one of ${DTYPES.join(', ')}`);
  }
  if (datatype !== spec.datatype) {
    if (datatype === 'BYTES') {
      throw badRequest(`input '${name}': datatype BYTES (strings), but the model takes ${spec.datatype} tensors, `
        + `not strings; send the data as ${spec.datatype === 'BOOL' ? 'booleans' : 'numbers'} with datatype ${spec.datatype}`);
    }
    throw datatypeMismatch(name, datatype, spec.datatype);
  }
  return datatype;
}

/** The outputs a request asked for, in its order (all of them when it named none). */
export function requestedOutputs(outputs: Tensor[], requested?: string[]): Tensor[] {
  if (!requested) return outputs;
  return requested.map((name) => {
    const t = outputs.find((o) => o.name === name);
    if (!t) throw new Error(`output '${name}' was requested but the model did not produce it`);
    return t;
  });
}
