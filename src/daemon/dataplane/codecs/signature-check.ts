// Check decoded request tensors against a model's signature and put them in the signature's order.
// Every error is a 400 that names the input and says what was expected and what came.
// PURE: no I/O here.

import { badRequest, type MlserveError } from '../../../errors.js';
import { elementCount, formatShape, shapeMatches, type DType, type Signature, type Tensor, type TensorSpec } from '../../../tensor.js';

const quoteList = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');

/** "the model expects inputs 'a', 'b'" (or "no inputs"). */
export function expectedInputsText(sig: Signature): string {
  const names = sig.inputs.map((s) => s.name);
  if (names.length === 0) return 'the model takes no inputs';
  return `the model expects ${names.length === 1 ? 'input' : 'inputs'} ${quoteList(names)}`;
}

export function unknownInput(name: string, sig: Signature): MlserveError {
  return badRequest(`input '${name}' is not an input of the model; ${expectedInputsText(sig)}`);
}

export function datatypeMismatch(name: string, got: string, expected: DType): MlserveError {
  return badRequest(`input '${name}': datatype ${got}, but the model expects ${expected}`);
}

/** A shape must be an array of non-negative integers. Throws a 400 otherwise. */
export function checkShapeDims(name: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape)) {
    throw badRequest(`input '${name}': shape must be an array of non-negative integers`);
  }
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      const shown = typeof d === 'number' ? String(d) : JSON.stringify(d);
      throw badRequest(`input '${name}': shape [${shape.map((x) => (typeof x === 'number' ? String(x) : JSON.stringify(x))).join(', ')}] `
        + `has an invalid dimension ${shown}; dimensions must be non-negative integers`);
    }
  }
}

/** Check one tensor against its spec (datatype, shape dims, rank/shape, element count). */
export function checkTensor(t: Tensor, spec: TensorSpec): void {
  if (t.datatype !== spec.datatype) throw datatypeMismatch(t.name, t.datatype, spec.datatype);
  checkShapeDims(t.name, t.shape);
  if (!shapeMatches(spec.shape, t.shape)) {
    const why = spec.shape.length !== t.shape.length
      ? ` (rank ${t.shape.length}, the model's is rank ${spec.shape.length})`
      : '';
    throw badRequest(`input '${t.name}': shape ${formatShape(t.shape)} does not match the model's `
      + `${formatShape(spec.shape)}${why}`);
  }
  const need = elementCount(t.shape);
  if (t.data.length !== need) {
    throw badRequest(`input '${t.name}': data has ${t.data.length} elements, but shape ${formatShape(t.shape)} needs ${need}`);
  }
}

/**
 * Check `inputs` against the signature: every name known and given once, every signature input
 * present, datatypes and shapes matching (-1 = any), data sized to the shape. Returns the inputs
 * in the signature's order.
 */
export function checkInputs(inputs: Tensor[], sig: Signature): Tensor[] {
  const specs = sig.inputs;
  const ordered = new Array<Tensor | undefined>(specs.length);
  for (const t of inputs) {
    const i = specs.findIndex((s) => s.name === t.name);
    if (i < 0) throw unknownInput(t.name, sig);
    if (ordered[i] !== undefined) throw badRequest(`input '${t.name}' is given more than once`);
    checkTensor(t, specs[i]!);
    ordered[i] = t;
  }
  const missing = specs.filter((_, i) => ordered[i] === undefined).map((s) => s.name);
  if (missing.length > 0) {
    const what = missing.length === 1 ? `input ${quoteList(missing)} is` : `inputs ${quoteList(missing)} are`;
    throw badRequest(`${what} missing; ${expectedInputsText(sig)}`);
  }
  return ordered as Tensor[];
}
