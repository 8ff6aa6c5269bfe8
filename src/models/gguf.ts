// A GGUF (v3) writer: the file format of llama.cpp models. Enough of it to write test models made
// by the project (src/models/tiny-llama.ts): typed metadata (scalars, strings, arrays) and F32 /
// F16 tensors. PURE: encodes to buffers; the caller writes them.
//
//   file   = "GGUF" | u32 version=3 | u64 tensor count | u64 metadata count
//            | metadata: (gguf string key | u32 type | value)*
//            | tensor infos: (gguf string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset)*
//            | padding to the alignment | tensor data, each tensor aligned
//   string = u64 byte length | utf8 bytes
//   ne[0] is the fastest-moving dimension (ggml's order: the reverse of numpy's shape).

export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

/** gguf_type: how a metadata value is stored. */
export const GgufType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<(typeof GgufType)[keyof typeof GgufType], 9>;

/** ggml_type of the tensors this writer stores. */
export const GgmlType = { F32: 0, F16: 1 } as const;

/** A metadata value: a typed scalar, a string, or a typed array. */
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 9; itemType: GgufScalarType; items: ReadonlyArray<number | bigint | boolean | string> };

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] is contiguous (a [rows, cols] matrix is ne = [cols, rows]). */
  ne: number[];
  type: (typeof GgmlType)[keyof typeof GgmlType];
  data: Float32Array;
}

export const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
export const i32 = (value: number): GgufValue => ({ type: GgufType.INT32, value });
export const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
export const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });
export const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
export const arr = (itemType: GgufScalarType, items: ReadonlyArray<number | bigint | boolean | string>): GgufValue => ({ type: GgufType.ARRAY, itemType, items });

const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** A growable little-endian byte writer. */
class Out {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }

  u64(v: number | bigint): void {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.length);
    this.length += 8;
  }

  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }

  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    if (type === GgufType.STRING) return this.string(String(v));
    const n = SCALAR_BYTES[type];
    this.room(n);
    const at = this.length;
    switch (type) {
      case GgufType.UINT8: this.buf.writeUInt8(Number(v), at); break;
      case GgufType.INT8: this.buf.writeInt8(Number(v), at); break;
      case GgufType.UINT16: this.buf.writeUInt16LE(Number(v), at); break;
      case GgufType.INT16: this.buf.writeInt16LE(Number(v), at); break;
      case GgufType.UINT32: this.buf.writeUInt32LE(Number(v), at); break;
      case GgufType.INT32: this.buf.writeInt32LE(Number(v), at); break;
      case GgufType.FLOAT32: this.buf.writeFloatLE(Number(v), at); break;
      case GgufType.BOOL: this.buf.writeUInt8(v ? 1 : 0, at); break;
      case GgufType.UINT64: this.buf.writeBigUInt64LE(BigInt(v), at); break;
      case GgufType.INT64: this.buf.writeBigInt64LE(BigInt(v), at); break;
      case GgufType.FLOAT64: this.buf.writeDoubleLE(Number(v), at); break;
      default: throw new Error(`gguf: unknown scalar type ${type}`);
    }
    this.length += n;
  }

  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    this.room(n);
    this.length += n; // Buffer.alloc zero-fills
  }

  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** IEEE 754 half-precision bits of a float (round to nearest even). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && (half & 1)) ? half + 1 : half);
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // a carry into the exponent is still right
  return sign | half;
}

function tensorBytes(t: GgufTensor): Uint8Array {
  const count = t.ne.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) throw new Error(`gguf: tensor ${t.name} has ${t.data.length} values for ne ${JSON.stringify(t.ne)} (${count})`);
  if (t.type === GgmlType.F32) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const half = new Uint16Array(count);
  for (let i = 0; i < count; i++) half[i] = toHalf(t.data[i]);
  return new Uint8Array(half.buffer);
}

/** The whole GGUF file: header and metadata, then each tensor's bytes (for writev / writeFileSync of a concat). */
export function encodeGguf(metadata: Record<string, GgufValue>, tensors: readonly GgufTensor[], alignment = GGUF_ALIGNMENT): Buffer[] {
  const head = new Out();
  head.bytes(Buffer.from('GGUF', 'ascii'));
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  const entries = Object.entries(metadata);
  head.u64(entries.length);
  for (const [key, v] of entries) {
    head.string(key);
    head.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      head.u32(v.itemType);
      head.u64(v.items.length);
      for (const item of v.items) head.scalar(v.itemType, item);
    } else head.scalar(v.type, v.value);
  }
  const bodies = tensors.map(tensorBytes);
  let offset = 0;
  tensors.forEach((t, i) => {
    head.string(t.name);
    head.u32(t.ne.length);
    for (const d of t.ne) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset += bodies[i].length;
    offset += (alignment - (offset % alignment)) % alignment;
  });
  head.pad(alignment);
  const out: Buffer[] = [head.done()];
  for (const b of bodies) {
    out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    const pad = (alignment - (b.length % alignment)) % alignment;
    if (pad) out.push(Buffer.alloc(pad));
  }
  return out;
}
