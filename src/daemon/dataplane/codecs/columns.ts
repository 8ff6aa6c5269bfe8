// Column-based models (an MLflow signature of named DataFrame columns, served by Python replicas)
// take one OIP input tensor per column. Clients that hold a table as one 2-D tensor may send that
// instead: its columns follow the signature's order (as MLServer's MLflow runtime reads a 2-D
// input). This rewrites such a JSON request into one input per column before decoding. PURE.
import { badRequest } from '../../../errors.js';
import type { Signature } from '../../../tensor.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function flatten(data: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(data)) for (const d of data) flatten(d, out);
  else out.push(data);
  return out;
}

/** Is this signature one of columns (several named 1-D inputs of variable length)? */
export const columnBased = (sig: Signature): boolean => sig.inputs.length > 1 && sig.inputs.every((s) => s.shape.length === 1 && s.shape[0] === -1);

/**
 * When `sig` is column-based and the request's only input is a 2-D tensor [rows, columns] that is
 * not one of the columns, split it into one input per column (each with the column's datatype).
 * Any other request is returned as it is.
 */
export function splitTableInput(body: unknown, sig: Signature): unknown {
  if (!columnBased(sig) || !isObject(body) || !Array.isArray(body.inputs) || body.inputs.length !== 1) return body;
  const only = body.inputs[0];
  if (!isObject(only) || sig.inputs.some((s) => s.name === only.name)) return body;
  const shape = only.shape;
  if (!Array.isArray(shape) || shape.length !== 2) return body;
  const [rows, cols] = shape as number[];
  const k = sig.inputs.length;
  if (cols !== k) {
    throw badRequest(`input '${String(only.name)}': a table of shape [${shape.join(', ')}] needs ${k} columns, one per model input in order (${sig.inputs.map((s) => s.name).join(', ')})`);
  }
  if (only.data === undefined) throw badRequest(`input '${String(only.name)}': 'data' is missing (a 2-D table is split into columns only from JSON data)`);
  const flat = flatten(only.data);
  if (flat.length !== rows * k) throw badRequest(`input '${String(only.name)}': data has ${flat.length} elements, but shape [${rows}, ${k}] needs ${rows * k}`);
  const inputs = sig.inputs.map((spec, j) => ({
    name: spec.name,
    datatype: spec.datatype,
    shape: [rows],
    data: Array.from({ length: rows }, (_, i) => flat[i * k + j]),
  }));
  return { ...body, inputs };
}
