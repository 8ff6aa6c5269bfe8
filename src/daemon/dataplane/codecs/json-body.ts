// A JSON request body from bytes to checked tensors: the nesting-depth check (before JSON.parse, so
// that no recursive walker downstream can overflow the stack), the parse, and the decode of the
// route's protocol. The same function runs on the event loop for small bodies and on a worker
// thread for big ones (json-pool.ts). PURE: no I/O here.
import type { ShmReader, ShmRef } from './shm-params.js';
import { MlserveError } from '../../../errors.js';
import type { Signature, Tensor } from '../../../tensor.js';
import { splitTableInput } from './columns.js';
import { decodeInvocations } from './mlflow-json.js';
import { decodeInferRequest } from './oip-json.js';

/** Deepest nesting of arrays and objects a request may have (a rank-8 tensor in OIP JSON needs 11). */
export const MAX_JSON_DEPTH = 64;

export type JsonRoute = 'oip' | 'invocations';

export interface DecodedJson {
  id?: string;
  inputs: Tensor[];
  /** Requested outputs (OIP), undefined = all. */
  outputs?: string[];
  /** Outputs to write into client shared memory (OIP, --allow-client-shm). */
  shmOutputs?: Record<string, ShmRef>;
}

/**
 * Refuse JSON nested deeper than `max` (a 400 that names the limit), by counting brackets outside
 * strings: linear, no recursion, a few ns per byte.
 */
export function checkJsonDepth(buf: Uint8Array, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c === 0x22) {
      // a string: skip to its closing quote (a backslash escapes the next byte)
      for (i++; i < n; i++) {
        const d = buf[i]!;
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        throw new MlserveError('BAD_REQUEST', `JSON nested deeper than ${max} levels (the limit); send tensors as flat 'data' with a 'shape'`);
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

export function parseJsonBody(buf: Uint8Array, max = MAX_JSON_DEPTH): unknown {
  if (buf.length === 0) throw new MlserveError('BAD_REQUEST', 'request body is empty; send a JSON inference request');
  checkJsonDepth(buf, max);
  try {
    return JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('utf8'));
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `malformed JSON in request body: ${(err as Error).message}`);
  }
}

/** Parse and decode a JSON body for its route: OIP v2 `/infer` or MLflow `/invocations` (a tensor model's). */
export function decodeJsonBody(route: JsonRoute, buf: Uint8Array, spec: Signature, shm?: ShmReader): DecodedJson {
  const parsed = parseJsonBody(buf);
  if (route === 'invocations') return { inputs: decodeInvocations(parsed, spec) };
  const r = decodeInferRequest(splitTableInput(parsed, spec), spec, shm);
  return { id: r.id, inputs: r.inputs, outputs: r.outputs, ...(r.shmOutputs ? { shmOutputs: r.shmOutputs } : {}) };
}
