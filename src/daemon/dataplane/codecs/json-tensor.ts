// JSON <-> tensor helpers shared by the OIP v2 and MLflow codecs: nested/flat JSON arrays to typed
// arrays (one pass, with errors that name the input and the element), shape inference, and back.
// PURE: no I/O here.

import { badRequest } from '../../../errors.js';
import { allocData, formatShape, type DType, type Tensor, type TensorData } from '../../../tensor.js';

/** A JSON value as toJsonData produces it (INT64/UINT64 beyond 2^53 as decimal strings). */
export type JsonScalar = number | string | boolean | null;

const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  UINT8: [0, 0xff], UINT16: [0, 0xffff], UINT32: [0, 0xffffffff],
  INT8: [-0x80, 0x7f], INT16: [-0x8000, 0x7fff], INT32: [-0x80000000, 0x7fffffff],
};
const BIG_RANGE: Partial<Record<DType, [bigint, bigint]>> = {
  INT64: [-(1n << 63n), (1n << 63n) - 1n],
  UINT64: [0n, (1n << 64n) - 1n],
};
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = -MAX_SAFE;
const INT_STRING = /^[+-]?\d+$/;
/** Non-finite floats cannot be JSON numbers; accept the usual spellings as strings. */
const SPECIAL_FLOATS: Record<string, number> = {
  NaN: NaN, nan: NaN, Infinity: Infinity, inf: Infinity, '+Infinity': Infinity, '+inf': Infinity,
  '-Infinity': -Infinity, '-inf': -Infinity,
};

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'bigint') return v.toString();
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function elementError(name: string, index: number, what: string): never {
  throw badRequest(`input '${name}': element ${index}: ${what}`);
}

/** Largest finite value of each float type (JSON numbers past float64's range parse as Infinity). */
const FLOAT_MAX: Partial<Record<DType, number>> = { FP16: 65504, FP32: 3.4028234663852886e38, FP64: Number.MAX_VALUE };

/** A number as the client wrote it, as well as JSON.parse kept it. */
const showNumber = (v: number) => (Number.isFinite(v) ? String(v) : `a number beyond ${v < 0 ? '-' : '+'}1.7976931348623157e308`);

function outOfRange(name: string, index: number, v: number, dtype: DType): never {
  return elementError(name, index, `${showNumber(v)} is out of range for ${dtype} (largest magnitude ${FLOAT_MAX[dtype]}); `
    + 'send "Infinity" or "-Infinity" as a string for an infinite value');
}

// ---- FP16 -------------------------------------------------------------------------------------

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** IEEE 754 binary16 bits for a number, rounding to nearest even (directly from float64). */
export function floatToHalf(v: number): number {
  if (v !== v) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 6.103515625e-5) {
    // Subnormal (or zero): a = m * 2^-24. m === 1024 rounds up into the smallest normal: still right.
    return sign | roundHalfEven(a * 16777216);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e > 15) return sign | 0x7c00;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024); // exact scaling: only the rounding loses bits
  if (m === 1024) {
    m = 0;
    e++;
    if (e > 15) return sign | 0x7c00;
  }
  return sign | ((e + 15) << 10) | m;
}

/** The number an IEEE 754 binary16 bit pattern stands for. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 5.960464477539063e-8; // 2^-24
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// ---- JSON -> typed array ----------------------------------------------------------------------

type Conv = (v: unknown, index: number) => number | bigint | string;

/**
 * A JSON number past the type's range is refused (it would become an infinity silently); an
 * infinity or NaN must be asked for by name ("Infinity", "-inf", "NaN").
 */
function floatConv(name: string, dtype: DType): Conv {
  // FP16: values from 65520 up round to infinity; FP32: past the largest float32 after rounding.
  const fits = dtype === 'FP16' ? (v: number) => Math.abs(v) < 65520 : dtype === 'FP32' ? (v: number) => Math.abs(Math.fround(v)) !== Infinity : (v: number) => Number.isFinite(v);
  return (v, i) => {
    if (typeof v === 'number') return fits(v) ? v : outOfRange(name, i, v, dtype);
    if (typeof v === 'string' && v in SPECIAL_FLOATS) return SPECIAL_FLOATS[v]!;
    return elementError(name, i, `expected a number for ${dtype}, got ${show(v)}`);
  };
}

function converter(dtype: DType, name: string): Conv {
  switch (dtype) {
    case 'FP32':
    case 'FP64':
      return floatConv(name, dtype);
    case 'FP16': {
      const f = floatConv(name, dtype);
      return (v, i) => floatToHalf(f(v, i) as number);
    }
    case 'BOOL':
      return (v, i) => {
        if (v === true || v === 1) return 1;
        if (v === false || v === 0) return 0;
        return elementError(name, i, `expected true or false for BOOL, got ${show(v)}`);
      };
    case 'INT64':
    case 'UINT64': {
      const [lo, hi] = BIG_RANGE[dtype]!;
      return (v, i) => {
        let b: bigint;
        if (typeof v === 'number') {
          if (!Number.isFinite(v)) elementError(name, i, `${showNumber(v)} is out of range for ${dtype} [${lo}, ${hi}]`);
          if (!Number.isInteger(v)) elementError(name, i, `${show(v)} is not an integer (${dtype})`);
          b = BigInt(v);
        } else if (typeof v === 'string' && INT_STRING.test(v)) {
          b = BigInt(v);
        } else {
          return elementError(name, i, `expected an integer (or a decimal string) for ${dtype}, got ${show(v)}`);
        }
        if (b < lo || b > hi) elementError(name, i, `${show(v)} is out of range for ${dtype} [${lo}, ${hi}]`);
        return b;
      };
    }
    case 'BYTES':
      return (v, i) => {
        if (typeof v === 'string') return v;
        return elementError(name, i, `expected a string for BYTES, got ${show(v)}`);
      };
    default: {
      const [lo, hi] = INT_RANGE[dtype]!;
      return (v, i) => {
        if (typeof v !== 'number') return elementError(name, i, `expected an integer for ${dtype}, got ${show(v)}`);
        if (!Number.isFinite(v) || v < lo || v > hi) elementError(name, i, `${showNumber(v)} is out of range for ${dtype} [${lo}, ${hi}]`);
        if (!Number.isInteger(v)) elementError(name, i, `${show(v)} is not an integer (${dtype})`);
        return v;
      };
    }
  }
}

function mixed(name: string): never {
  throw badRequest(`input '${name}': data mixes nested arrays and values at the same level`);
}

/** Leaves under `node` (arrays of arrays recurse on their first element's kind; mixes found later). */
function countLeaves(node: unknown[]): number {
  if (node.length === 0 || !Array.isArray(node[0])) return node.length;
  let n = 0;
  for (let i = 0; i < node.length; i++) {
    const child = node[i];
    if (Array.isArray(child)) n += countLeaves(child);
  }
  return n;
}

/** `floats`: FP32/FP64, where a plain number is stored as is (the common case, kept inline). */
interface Sink { out: TensorData; pos: number; conv: Conv; name: string; floats: boolean }

function fill(node: unknown[], s: Sink): void {
  const len = node.length;
  if (len === 0) return;
  if (Array.isArray(node[0])) {
    for (let i = 0; i < len; i++) {
      const child = node[i];
      if (!Array.isArray(child)) mixed(s.name);
      fill(child, s);
    }
    return;
  }
  const out = s.out as unknown as Array<number | bigint | string>;
  const conv = s.conv;
  let pos = s.pos;
  if (s.floats) {
    const f = s.out as Float32Array | Float64Array;
    for (let i = 0; i < len; i++, pos++) {
      const v = node[i];
      if (typeof v === 'number') {
        f[pos] = v;
        if (f[pos]! - f[pos]! !== 0) conv(v, pos); // stored as an infinity: out of range (conv says so)
      } else if (Array.isArray(v)) mixed(s.name);
      else out[pos] = conv(v, pos);
    }
    s.pos = pos;
    return;
  }
  for (let i = 0; i < len; i++, pos++) {
    const v = node[i];
    if (Array.isArray(v)) mixed(s.name);
    out[pos] = conv(v, pos);
  }
  s.pos = pos;
}

/** Fast path: a flat array of plain numbers within range into a float array. False if anything else shows up. */
function fillFloatsFlat(arr: unknown[], out: Float32Array | Float64Array): boolean {
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (typeof v !== 'number') return false;
    out[i] = v;
    if (out[i]! - out[i]! !== 0) return false; // an infinity: the slow path names the element
  }
  return true;
}

/**
 * Flatten flat or nested JSON `data` (row-major) into the typed array of `dtype`, converting and
 * checking every element. `name` is the input's name for error messages. When `expectedCount` is
 * given, the element count must equal it (`shape`, if given, is quoted when it does not).
 */
export function flattenJsonData(
  data: unknown, dtype: DType, expectedCount?: number, name = 'data', shape?: readonly number[],
): TensorData {
  if (!Array.isArray(data)) {
    throw badRequest(`input '${name}': data must be a JSON array (flat or nested), got ${show(data)}`);
  }
  const count = countLeaves(data);
  if (expectedCount !== undefined && count !== expectedCount) {
    const what = shape ? `shape ${formatShape(shape)}` : 'its shape';
    throw badRequest(`input '${name}': data has ${count} elements, but ${what} needs ${expectedCount}`);
  }
  const out = allocData(dtype, count);
  const floats = dtype === 'FP32' || dtype === 'FP64';
  if (floats && count === data.length && fillFloatsFlat(data, out as Float32Array | Float64Array)) return out;
  const sink: Sink = { out, pos: 0, conv: converter(dtype, name), name, floats };
  fill(data, sink);
  if (sink.pos !== count) mixed(name);
  return out;
}

/**
 * The shape of a nested JSON array (a non-array is a scalar: []). Every sub-array must have the
 * same length as its siblings (ragged -> 400), and arrays and values cannot mix within a level.
 */
export function inferShape(nested: unknown, name = 'data'): number[] {
  const shape: number[] = [];
  let node: unknown = nested;
  while (Array.isArray(node)) {
    shape.push(node.length);
    if (node.length === 0) break;
    node = node[0];
  }
  if (shape.length > 0) checkShape(nested as unknown[], shape, 0, name);
  return shape;
}

function checkShape(node: unknown[], shape: number[], depth: number, name: string): void {
  if (node.length !== shape[depth]) {
    throw badRequest(`input '${name}': ragged nested array: a list at depth ${depth} has ${node.length} `
      + `elements where the first has ${shape[depth]}; every row must have the same length`);
  }
  if (depth === shape.length - 1) {
    for (let i = 0; i < node.length; i++) {
      if (Array.isArray(node[i])) {
        throw badRequest(`input '${name}': ragged nested array: a list at depth ${depth} mixes values and lists`);
      }
    }
    return;
  }
  for (let i = 0; i < node.length; i++) {
    const child = node[i];
    if (!Array.isArray(child)) {
      throw badRequest(`input '${name}': ragged nested array: expected a list at depth ${depth + 1}, `
        + `got ${show(child)}; the first element there has shape ${formatShape(shape.slice(depth + 1))}`);
    }
    checkShape(child, shape, depth + 1, name);
  }
}

// ---- tensor -> JSON ---------------------------------------------------------------------------

/**
 * A tensor's data as a flat JS array ready for JSON.stringify: BigInt as number when safe, else
 * as a decimal string; FP16 as numbers; BOOL as booleans. (Non-finite floats become null in JSON.)
 */
export function toJsonData(tensor: Pick<Tensor, 'datatype' | 'data'>): JsonScalar[] {
  const { datatype, data } = tensor;
  const n = data.length;
  if (Array.isArray(data)) return data.slice();
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const out: JsonScalar[] = [];
    for (let i = 0; i < n; i++) {
      const v = data[i]!;
      out.push(v <= MAX_SAFE && v >= MIN_SAFE ? Number(v) : v.toString());
    }
    return out;
  }
  if (datatype === 'BOOL') {
    const out: boolean[] = [];
    for (let i = 0; i < n; i++) out.push(data[i] !== 0);
    return out;
  }
  if (datatype === 'FP16') {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(halfToFloat(data[i] as number));
    return out;
  }
  // Array.from gives a packed array, which JSON.stringify prints fastest.
  return Array.from(data as ArrayLike<number>);
}

/** Reshape a flat row-major array into nested arrays of `shape` (rank 0: the single element). */
export function toNested<T>(flat: readonly T[], shape: readonly number[]): unknown {
  if (shape.length === 0) return flat[0];
  if (shape.length === 1) return flat.slice();
  return nest(flat, shape, 0, 0, stridesOf(shape));
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

function nest<T>(flat: readonly T[], shape: readonly number[], depth: number, offset: number, strides: number[]): unknown[] {
  const dim = shape[depth]!;
  const stride = strides[depth]!;
  const out: unknown[] = [];
  if (depth === shape.length - 1) return flat.slice(offset, offset + dim);
  for (let i = 0; i < dim; i++) out.push(nest(flat, shape, depth + 1, offset + i * stride, strides));
  return out;
}
