// Tensors as mlserve moves them: Open Inference Protocol datatype names, raw typed arrays,
// and the tables that map between OIP, onnxruntime and MLflow (numpy) type names.
// PURE: no I/O here.

export type DType =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export const DTYPES: readonly DType[] = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES',
];

/** The typed array that carries each datatype (FP16 as raw IEEE half bits, BOOL as 0/1 bytes). */
export type TensorData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

/** A named tensor. Shape is concrete (no -1). `data` holds shape.product elements, row-major. */
export interface Tensor {
  name: string;
  datatype: DType;
  shape: number[];
  data: TensorData;
}

/** A declared input or output: -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: DType;
  shape: number[];
}

export interface Signature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Bytes per element; 0 for BYTES (variable length). */
export const DTYPE_SIZE: Record<DType, number> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8,
  FP16: 2, FP32: 4, FP64: 8, BYTES: 0,
};

/** onnxruntime-node's tensor type names. */
export const DTYPE_TO_ORT: Record<DType, string> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', INT8: 'int8',
  INT16: 'int16', INT32: 'int32', INT64: 'int64', FP16: 'float16', FP32: 'float32', FP64: 'float64',
  BYTES: 'string',
};

const ORT_TO_DTYPE: Record<string, DType> = Object.fromEntries(
  Object.entries(DTYPE_TO_ORT).map(([k, v]) => [v, k as DType]),
);

export function dtypeFromOrt(ortType: string): DType | undefined {
  return ORT_TO_DTYPE[ortType];
}

/** MLflow signatures use numpy dtype names. */
const NUMPY_TO_DTYPE: Record<string, DType> = {
  bool: 'BOOL', uint8: 'UINT8', uint16: 'UINT16', uint32: 'UINT32', uint64: 'UINT64', int8: 'INT8',
  int16: 'INT16', int32: 'INT32', int64: 'INT64', float16: 'FP16', float32: 'FP32', float64: 'FP64',
  float: 'FP32', double: 'FP64', str: 'BYTES', object: 'BYTES', bytes: 'BYTES', string: 'BYTES',
};

export function dtypeFromNumpy(name: string): DType | undefined {
  return NUMPY_TO_DTYPE[name];
}

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && (DTYPES as readonly string[]).includes(s);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocate a zeroed array for `count` elements of `dtype`. */
export function allocData(dtype: DType, count: number): TensorData {
  switch (dtype) {
    case 'BOOL':
    case 'UINT8': return new Uint8Array(count);
    case 'UINT16':
    case 'FP16': return new Uint16Array(count);
    case 'UINT32': return new Uint32Array(count);
    case 'UINT64': return new BigUint64Array(count);
    case 'INT8': return new Int8Array(count);
    case 'INT16': return new Int16Array(count);
    case 'INT32': return new Int32Array(count);
    case 'INT64': return new BigInt64Array(count);
    case 'FP32': return new Float32Array(count);
    case 'FP64': return new Float64Array(count);
    case 'BYTES': return new Array<string>(count).fill('');
  }
}

/**
 * View raw little-endian bytes as the typed array of `dtype`, without copying when the bytes
 * are aligned (copies once otherwise). Not for BYTES.
 */
export function viewBytes(dtype: DType, bytes: Uint8Array): TensorData {
  const size = DTYPE_SIZE[dtype];
  if (size === 0) throw new Error('BYTES tensors have no fixed-size view');
  if (bytes.byteLength % size !== 0) {
    throw new Error(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`);
  }
  const src = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes); // copies (Buffer#slice would not)
  const n = src.byteLength / size;
  const { buffer, byteOffset } = src;
  switch (dtype) {
    case 'BOOL':
    case 'UINT8': return new Uint8Array(buffer, byteOffset, n);
    case 'UINT16':
    case 'FP16': return new Uint16Array(buffer, byteOffset, n);
    case 'UINT32': return new Uint32Array(buffer, byteOffset, n);
    case 'UINT64': return new BigUint64Array(buffer, byteOffset, n);
    case 'INT8': return new Int8Array(buffer, byteOffset, n);
    case 'INT16': return new Int16Array(buffer, byteOffset, n);
    case 'INT32': return new Int32Array(buffer, byteOffset, n);
    case 'INT64': return new BigInt64Array(buffer, byteOffset, n);
    case 'FP32': return new Float32Array(buffer, byteOffset, n);
    case 'FP64': return new Float64Array(buffer, byteOffset, n);
    default: throw new Error(`no view for ${dtype}`);
  }
}

/** The raw bytes behind a fixed-size tensor's data (no copy). */
export function dataBytes(data: TensorData): Uint8Array {
  if (Array.isArray(data)) throw new Error('BYTES tensors have no fixed-size byte view');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Does a concrete shape satisfy a spec shape (-1 matches anything)? */
export function shapeMatches(spec: readonly number[], shape: readonly number[]): boolean {
  if (spec.length !== shape.length) return false;
  return spec.every((d, i) => d < 0 || d === shape[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
