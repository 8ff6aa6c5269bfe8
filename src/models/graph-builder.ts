// A small fluent builder for ONNX graphs: declare inputs/outputs, add initializers and nodes,
// then serialize, optionally moving large initializers to one external-data side file the way
// `onnx.save_model(..., save_as_external_data=True)` does.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DType, Signature, TensorData, TensorSpec } from '../tensor.js';
import { dataBytes } from '../tensor.js';
import {
  AttributeType, DataLocation, IR_VERSION, OPSET_VERSION, TensorDataType, encodeModel,
  type AttributeProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from './onnx-proto.js';

/** ONNX TensorProto.DataType for each mlserve DType. */
export const DTYPE_TO_ONNX: Record<DType, number> = {
  BOOL: TensorDataType.BOOL, UINT8: TensorDataType.UINT8, UINT16: TensorDataType.UINT16,
  UINT32: TensorDataType.UINT32, UINT64: TensorDataType.UINT64, INT8: TensorDataType.INT8,
  INT16: TensorDataType.INT16, INT32: TensorDataType.INT32, INT64: TensorDataType.INT64,
  FP16: TensorDataType.FLOAT16, FP32: TensorDataType.FLOAT, FP64: TensorDataType.DOUBLE,
  BYTES: TensorDataType.STRING,
};

/** The symbolic name given to a -1 (dynamic) dimension. */
export const BATCH_DIM = 'batch';

/**
 * An attribute value. Plain numbers are INT when integral and FLOAT otherwise (same for arrays);
 * use the tagged forms to force a type, e.g. `{ float: 1 }`.
 */
export type AttrValue =
  | number | number[] | string
  | { int: number } | { ints: number[] } | { float: number } | { floats: number[] }
  | { string: string } | { strings: string[] };

/** A dimension: a size, -1 for the dynamic "batch" dim, or a symbolic name. */
export type Dim = number | string;

export interface ToBytesOptions {
  /** Move large initializers into this side file (a name relative to model.onnx). */
  externalDataFile?: string;
  /** onnx's size_threshold (default 1024), compared like onnx does: sys.getsizeof(raw_data). */
  externalThreshold?: number;
}

export interface BuiltModel {
  model: Uint8Array;
  /** The side file's bytes, when ToBytesOptions.externalDataFile was given. */
  externalData?: Uint8Array;
  /** The side file's name (as referenced from model.onnx). */
  externalDataFile?: string;
}

interface Initializer {
  name: string;
  dtype: DType;
  dims: number[];
  data: TensorData;
}

interface IoDecl {
  name: string;
  dtype: DType;
  shape: Dim[];
}

/** CPython's sys.getsizeof(bytes) overhead on 64-bit builds, which onnx compares to the threshold. */
const PY_BYTES_OVERHEAD = 33;

const utf8 = new TextEncoder();

export class GraphBuilder {
  private readonly inputs: IoDecl[] = [];
  private readonly outputs: IoDecl[] = [];
  private readonly inits: Initializer[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly counters = new Map<string, number>();
  producerName = 'mlserve';
  producerVersion = '0.1.0';

  constructor(readonly graphName = 'mlserve_graph') {}

  input(name: string, dtype: DType, shape: Dim[]): this {
    this.inputs.push({ name, dtype, shape });
    return this;
  }

  output(name: string, dtype: DType, shape: Dim[]): this {
    this.outputs.push({ name, dtype, shape });
    return this;
  }

  /** Add a constant tensor. `dtype` defaults from the array type (Uint8Array -> UINT8, Uint16Array -> UINT16). */
  initializer(name: string, data: TensorData, dims: number[], dtype?: DType): this {
    const dt = dtype ?? inferDType(data);
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`initializer ${name}: ${data.length} values for dims [${dims}]`);
    this.inits.push({ name, dtype: dt, dims: [...dims], data });
    return this;
  }

  node(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): this {
    const attribute = Object.entries(attrs).map(([k, v]) => toAttribute(k, v));
    const node: NodeProto = { input: inputs, output: outputs, opType: op, name: name ?? this.fresh(op.toLowerCase()) };
    if (attribute.length > 0) node.attribute = attribute;
    this.nodes.push(node);
    return this;
  }

  /** A unique name with the given prefix: prefix_0, prefix_1, ... */
  fresh(prefix: string): string {
    const n = this.counters.get(prefix) ?? 0;
    this.counters.set(prefix, n + 1);
    return `${prefix}_${n}`;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Histogram of op types, e.g. { Conv: 52, Relu: 35 }. */
  opCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const n of this.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  }

  /** Total number of initializer elements (the model's parameter count). */
  get parameterCount(): number {
    return this.inits.reduce((sum, t) => sum + t.data.length, 0);
  }

  /** The declared inputs/outputs as an mlserve Signature (symbolic dims become -1). */
  signature(): Signature {
    const spec = (d: IoDecl): TensorSpec => ({
      name: d.name, datatype: d.dtype, shape: d.shape.map((s) => (typeof s === 'number' ? s : -1)),
    });
    return { inputs: this.inputs.map(spec), outputs: this.outputs.map(spec) };
  }

  toModelProto(): ModelProto {
    return {
      irVersion: IR_VERSION,
      producerName: this.producerName,
      producerVersion: this.producerVersion,
      graph: {
        node: this.nodes,
        name: this.graphName,
        initializer: this.inits.map(toTensorProto),
        input: this.inputs.map(toValueInfo),
        output: this.outputs.map(toValueInfo),
      },
      opsetImport: [{ domain: '', version: OPSET_VERSION }],
    };
  }

  toBytes(opts: ToBytesOptions = {}): BuiltModel {
    const proto = this.toModelProto();
    if (!opts.externalDataFile) return { model: encodeModel(proto) };
    const externalData = moveToExternal(proto.graph.initializer ?? [], opts.externalDataFile, opts.externalThreshold ?? 1024);
    return { model: encodeModel(proto), externalData, externalDataFile: opts.externalDataFile };
  }
}

/**
 * Mirror onnx.external_data_helper: convert_model_to_external_data (all_tensors_to_one_file) then
 * save_external_data: tensors are appended in initializer order with no alignment, each gets
 * external_data [location, offset, length] and data_location EXTERNAL, and loses raw_data.
 */
function moveToExternal(tensors: TensorProto[], location: string, threshold: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const raw = t.rawData;
    if (!raw || raw.byteLength + PY_BYTES_OVERHEAD < threshold) continue;
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.byteLength) },
    ];
    t.dataLocation = DataLocation.EXTERNAL;
    delete t.rawData;
    chunks.push(raw);
    offset += raw.byteLength;
  }
  return concatBytes(chunks, offset);
}

function concatBytes(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function toTensorProto(t: Initializer): TensorProto {
  const base: TensorProto = { dims: t.dims, dataType: DTYPE_TO_ONNX[t.dtype], name: t.name };
  if (Array.isArray(t.data)) return { ...base, stringData: t.data.map((s) => utf8.encode(s)) };
  // Copy so later edits to the caller's array cannot change the serialized bytes.
  return { ...base, rawData: dataBytes(t.data).slice() };
}

function toValueInfo(d: IoDecl): ValueInfoProto {
  const dim = d.shape.map((s) => {
    if (typeof s === 'string') return { dimParam: s };
    return s < 0 ? { dimParam: BATCH_DIM } : { dimValue: s };
  });
  return { name: d.name, type: { tensorType: { elemType: DTYPE_TO_ONNX[d.dtype], shape: { dim } } } };
}

function toAttribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: utf8.encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  }
  if (Array.isArray(v)) {
    return v.every(Number.isInteger)
      ? { name, type: AttributeType.INTS, ints: v }
      : { name, type: AttributeType.FLOATS, floats: v };
  }
  if ('int' in v) return { name, type: AttributeType.INT, i: v.int };
  if ('ints' in v) return { name, type: AttributeType.INTS, ints: v.ints };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  if ('string' in v) return { name, type: AttributeType.STRING, s: utf8.encode(v.string) };
  return { name, type: AttributeType.STRINGS, strings: v.strings.map((s) => utf8.encode(s)) };
}

function inferDType(data: TensorData): DType {
  if (Array.isArray(data)) return 'BYTES';
  if (data instanceof Float32Array) return 'FP32';
  if (data instanceof Float64Array) return 'FP64';
  if (data instanceof Int8Array) return 'INT8';
  if (data instanceof Int16Array) return 'INT16';
  if (data instanceof Int32Array) return 'INT32';
  if (data instanceof BigInt64Array) return 'INT64';
  if (data instanceof Uint8Array) return 'UINT8';
  if (data instanceof Uint16Array) return 'UINT16';
  if (data instanceof Uint32Array) return 'UINT32';
  return 'UINT64';
}

/**
 * Write a built model into `dir` as `fileName` (default model.onnx) plus its external-data file
 * (under the name given to toBytes). Returns the model file's path.
 */
export function saveModel(dir: string, built: BuiltModel, fileName = 'model.onnx'): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, fileName);
  writeFileSync(path, built.model);
  if (built.externalData && built.externalDataFile) {
    writeFileSync(join(dir, built.externalDataFile), built.externalData);
  }
  return path;
}
