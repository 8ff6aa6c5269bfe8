// MLflow scoring protocol (`POST /invocations`, MLflow >= 2.0) for tensor-signature (ONNX) models:
// the four JSON input forms, the {"predictions": ...} response and the Content-Type rules.
// PURE: no I/O here.

import { MlserveError, badRequest } from '../../../errors.js';
import type { Signature, Tensor, TensorSpec } from '../../../tensor.js';
import { flattenJsonData, inferShape, toJsonData, toNested } from './json-tensor.js';
import { checkInputs, unknownInput } from './signature-check.js';

const FIELDS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;
const FIELDS_TEXT = `{${FIELDS.map((f) => `'${f}'`).join(', ')}}`;
const REQUIRED_INPUT_FORMAT = `The input must be a JSON dictionary with exactly one of the input fields ${FIELDS_TEXT}`;
const PROTOCOL_INFO = 'Note that the MLflow scoring protocol changed in MLflow 2.0: '
  + 'see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const pyList = (names: readonly string[]) => `[${names.map((n) => `'${n}'`).join(', ')}]`;

/** Build one tensor for `spec` from a nested JSON value, cast to the spec's dtype. */
function tensorFor(spec: TensorSpec, value: unknown, shape = inferShape(value, spec.name)): Tensor {
  const data = flattenJsonData(shape.length === 0 ? [value] : value, spec.datatype, undefined, spec.name);
  return { name: spec.name, datatype: spec.datatype, shape, data };
}

function specFor(name: string, sig: Signature): TensorSpec {
  const spec = sig.inputs.find((s) => s.name === name);
  if (!spec) throw unknownInput(name, sig);
  return spec;
}

function singleSpec(sig: Signature, form: string): TensorSpec {
  if (sig.inputs.length !== 1) {
    throw badRequest(`the model has ${sig.inputs.length} inputs (${pyList(sig.inputs.map((s) => s.name))}); `
      + `'${form}' must name them: ${form === 'inputs' ? '{"inputs": {"name": tensor, ...}}' : '[{"name": value, ...}, ...]'}`);
  }
  return sig.inputs[0]!;
}

function fromInputs(value: unknown, sig: Signature): Tensor[] {
  if (isObject(value)) return Object.entries(value).map(([name, v]) => tensorFor(specFor(name, sig), v));
  return [tensorFor(singleSpec(sig, 'inputs'), value)];
}

/** Stack `values` (one per row) along a new dim 0: [rows, ...shape of each value]. */
function stack(spec: TensorSpec, values: unknown[]): Tensor {
  const shape = inferShape(values, spec.name);
  return tensorFor(spec, values, shape);
}

function fromInstances(value: unknown, sig: Signature): Tensor[] {
  if (!Array.isArray(value)) throw badRequest(`'instances' must be a list of rows or of {name: value} dictionaries`);
  if (value.length === 0) throw badRequest(`'instances' is empty`);
  if (!isObject(value[0])) return [tensorFor(singleSpec(sig, 'instances'), value)];
  const keys = Object.keys(value[0]);
  for (let r = 1; r < value.length; r++) {
    const row = value[r];
    if (!isObject(row) || Object.keys(row).length !== keys.length || !keys.every((k) => k in row)) {
      throw badRequest(`Failed to parse data as TF serving input: 'instances' must be a list of dictionaries `
        + `with the same keys; instance 0 has ${pyList(keys)}, instance ${r} differs`);
    }
  }
  return keys.map((name) => stack(specFor(name, sig), value.map((row) => (row as Record<string, unknown>)[name])));
}

interface Frame { columns?: string[]; data: unknown[][] }

function fromSplit(value: unknown): Frame {
  if (!isObject(value) || !Array.isArray(value.data)) {
    throw badRequest(`'dataframe_split' must be {"columns": [...], "data": [[...], ...]} (pandas orient='split')`);
  }
  const { columns, data } = value;
  if (columns !== undefined && (!Array.isArray(columns) || !columns.every((c) => typeof c === 'string'))) {
    throw badRequest(`'dataframe_split': 'columns' must be a list of column names`);
  }
  data.forEach((row, r) => {
    if (!Array.isArray(row)) throw badRequest(`'dataframe_split': data row ${r} must be a list of values`);
    const width = columns ? columns.length : (data[0] as unknown[]).length;
    if (row.length !== width) {
      throw badRequest(`'dataframe_split': data row ${r} has ${row.length} values, but there are ${width} columns`);
    }
  });
  return { columns: columns as string[] | undefined, data: data as unknown[][] };
}

function fromRecords(value: unknown): Frame {
  if (!Array.isArray(value)) throw badRequest(`'dataframe_records' must be a list of {column: value} records`);
  if (value.length > 0 && !isObject(value[0])) throw badRequest(`'dataframe_records': record 0 must be a {column: value} dictionary`);
  const columns = value.length > 0 ? Object.keys(value[0] as object) : [];
  const data = value.map((rec, r) => {
    if (!isObject(rec)) throw badRequest(`'dataframe_records': record ${r} must be a {column: value} dictionary`);
    return columns.map((c) => {
      if (!(c in rec)) throw badRequest(`'dataframe_records': record ${r} has no column '${c}' (record 0 has ${pyList(columns)})`);
      return rec[c];
    });
  });
  return { columns, data };
}

/** A column of scalars for a [-1, 1]-like spec becomes [rows, 1]; otherwise [rows, ...cell shape]. */
function column(spec: TensorSpec, frame: Frame, c: number): Tensor {
  const values = frame.data.map((row) => row[c]);
  const shape = inferShape(values, spec.name);
  if (shape.length === 1 && spec.shape.length === 2 && (spec.shape[1] === 1 || spec.shape[1]! < 0)) shape.push(1);
  return tensorFor(spec, values, shape);
}

function fromFrame(frame: Frame, sig: Signature, form: string): Tensor[] {
  if (frame.data.length === 0) throw badRequest(`'${form}': Input DataFrame is empty.`);
  const width = frame.data[0]!.length;
  if (sig.inputs.length === 1) {
    const spec = sig.inputs[0]!;
    // One column for a non-matrix input: the column's cells stacked; otherwise the frame is the matrix.
    if (width === 1 && spec.shape.length !== 2) return [column(spec, frame, 0)];
    return [tensorFor(spec, frame.data)];
  }
  if (!frame.columns) {
    throw badRequest(`'${form}': the model has inputs ${pyList(sig.inputs.map((s) => s.name))}, `
      + `so the DataFrame needs 'columns' naming them`);
  }
  const cols = frame.columns;
  const tensors: Tensor[] = [];
  for (const spec of sig.inputs) {
    const c = cols.indexOf(spec.name);
    if (c >= 0) tensors.push(column(spec, frame, c));
  }
  if (tensors.length < sig.inputs.length) {
    const missing = sig.inputs.filter((s) => !cols.includes(s.name)).map((s) => s.name);
    throw badRequest(`'${form}': the model's input(s) ${pyList(missing)} are not among the DataFrame's columns `
      + `${pyList(cols)}; it expects one column per input: ${pyList(sig.inputs.map((s) => s.name))}`);
  }
  return tensors;
}

/**
 * Decode a JSON `/invocations` body (already parsed) into input tensors for a tensor-signature
 * model, cast to the signature's dtypes and checked against it (in the signature's order).
 */
export function decodeInvocations(body: unknown, sig: Signature): Tensor[] {
  if (Array.isArray(body)) throw badRequest(`Invalid input. ${REQUIRED_INPUT_FORMAT}. ${PROTOCOL_INFO}`);
  if (!isObject(body)) {
    throw badRequest(`Invalid input. Input should be a dictionary or a list of dictionaries, but got ${body === null ? 'null' : typeof body}.`);
  }
  const present = FIELDS.filter((f) => body[f] !== undefined);
  if (present.length !== 1) {
    const got = present.length === 0 ? Object.keys(body) : present;
    throw badRequest(`Invalid input. ${REQUIRED_INPUT_FORMAT}. Received dictionary with input fields: ${pyList(got)}. ${PROTOCOL_INFO}`);
  }
  if (body.params !== undefined && body.params !== null && !isObject(body.params)) {
    throw badRequest(`Invalid input. 'params' must be a dictionary of parameter name to value.`);
  }
  let tensors: Tensor[];
  switch (present[0]!) {
    case 'inputs': tensors = fromInputs(body.inputs, sig); break;
    case 'instances': tensors = fromInstances(body.instances, sig); break;
    case 'dataframe_split': tensors = fromFrame(fromSplit(body.dataframe_split), sig, 'dataframe_split'); break;
    case 'dataframe_records': tensors = fromFrame(fromRecords(body.dataframe_records), sig, 'dataframe_records'); break;
  }
  return checkInputs(tensors, sig);
}

/** `{"predictions": {output_name: nested lists}}`, what MLflow's ONNX pyfunc returns. */
export function encodePredictions(outputs: Tensor[]): { predictions: Record<string, unknown> } {
  const predictions: Record<string, unknown> = {};
  for (const t of outputs) predictions[t.name] = toNested(toJsonData(t), t.shape);
  return { predictions };
}

/**
 * Only `application/json` (with at most `charset=utf-8`) is accepted; anything else is a 415 worded
 * like MLflow's scoring server.
 */
export function checkContentType(header: string | undefined): void {
  const [rawType = '', ...rawParams] = (header ?? '').split(';');
  const type = rawType.trim().toLowerCase();
  if (type === 'text/csv') {
    throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `Content type 'text/csv' is not supported yet; `
      + `send JSON with Content-Type: application/json (one of ${FIELDS_TEXT}).`);
  }
  if (type !== 'application/json') {
    throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `This predictor only supports the following content types: `
      + `Types: ['application/json']. Got '${header ?? ''}'.`);
  }
  const unknown: string[] = [];
  for (const p of rawParams) {
    if (p.trim() === '') continue;
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? '' : p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (key === 'charset') {
      if (val !== 'utf-8' && val !== 'utf8') {
        throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', 'The scoring server only supports UTF-8');
      }
    } else {
      unknown.push(p.trim());
    }
  }
  if (unknown.length > 0) {
    throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `Unrecognized content type parameters: ${unknown.join(', ')}.`);
  }
}
