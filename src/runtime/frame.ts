// The binary frame protocol between the daemon and its replica child processes (both sides).
//
//   frame   = u32 LE length of the rest | u32 LE header length | header JSON (utf8) | payload
//   header  = any JSON object + tensors: [{ name, datatype, shape, offset, byteLength }]
//
// Tensor offsets are relative to the payload and aligned to 8; the header is padded with spaces so
// the payload also starts 8-aligned within the frame, so a frame in its own buffer decodes to
// zero-copy typed-array views. BYTES tensors use Triton's layout: per element a u32 LE length and
// the utf8 bytes. PURE: no I/O here (the caller writes the buffers with writev).

import { DTYPE_SIZE, dataBytes, elementCount, formatShape, isDType, viewBytes, type Tensor } from '../tensor.js';

export interface FrameTensorInfo {
  name: string;
  datatype: string;
  shape: number[];
  offset: number;
  byteLength: number;
}

/**
 * A tensor whose bytes are several typed arrays in order (a batch gathered from its requests): the
 * frame carries them as one tensor, written with writev straight from each request's buffer, so
 * the daemon never copies a batch into one allocation.
 */
export interface SegmentedTensor {
  name: string;
  datatype: Tensor['datatype'];
  shape: number[];
  parts: Array<Exclude<Tensor['data'], string[]>>;
}

export type FrameTensor = Tensor | SegmentedTensor;

export interface DecodedFrame<H = any> {
  /** The header as sent, without its `tensors` descriptors. */
  header: H;
  tensors: Tensor[];
}

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024 * 1024;

const ZEROS = Buffer.alloc(8);
const SPACES = Buffer.from('        ');
const align8 = (n: number) => (n + 7) & ~7;

/** Triton's BYTES layout: u32 LE length + utf8 bytes per element. */
export function encodeBytesTensor(strings: readonly string[]): Buffer {
  let total = 0;
  const lengths = new Array<number>(strings.length);
  for (let i = 0; i < strings.length; i++) {
    const n = Buffer.byteLength(strings[i]!, 'utf8');
    lengths[i] = n;
    total += 4 + n;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < strings.length; i++) {
    buf.writeUInt32LE(lengths[i]!, pos);
    pos += 4;
    pos += buf.write(strings[i]!, pos, 'utf8');
  }
  return buf;
}

export function decodeBytesTensor(bytes: Uint8Array, count: number, name = 'tensor'): string[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<string>(count);
  let pos = 0;
  for (let i = 0; i < count; i++) {
    if (pos + 4 > buf.length) throw new Error(`BYTES tensor '${name}': element ${i} runs past its ${buf.length} bytes`);
    const n = buf.readUInt32LE(pos);
    pos += 4;
    if (pos + n > buf.length) throw new Error(`BYTES tensor '${name}': element ${i} runs past its ${buf.length} bytes`);
    out[i] = buf.toString('utf8', pos, pos + n);
    pos += n;
  }
  if (pos !== buf.length) throw new Error(`BYTES tensor '${name}': ${buf.length - pos} bytes left after ${count} elements`);
  return out;
}

/**
 * Encode one frame as a list of buffers for writev: the prefix (lengths + header) followed by each
 * tensor's own bytes (no copy; a segmented tensor's parts one after another; BYTES tensors are
 * serialised) and padding to 8.
 */
export function encodeFrame(header: object, tensors: readonly FrameTensor[]): Buffer[] {
  const bodies: Buffer[][] = [];
  const infos: FrameTensorInfo[] = [];
  let payload = 0;
  for (const t of tensors) {
    const parts = 'parts' in t
      ? t.parts.map(asBuffer)
      : [Array.isArray(t.data) ? encodeBytesTensor(t.data) : asBuffer(t.data)];
    let byteLength = 0;
    for (const b of parts) byteLength += b.length;
    payload = align8(payload);
    infos.push({ name: t.name, datatype: t.datatype, shape: t.shape, offset: payload, byteLength });
    bodies.push(parts);
    payload += byteLength;
  }
  const json = Buffer.from(JSON.stringify({ ...header, tensors: infos }), 'utf8');
  const headerLen = align8(8 + json.length) - 8;
  const rest = 4 + headerLen + payload;
  if (rest > 0xffffffff) throw new Error(`frame of ${rest + 4} bytes is too large for the u32 length prefix`);
  const prefix = Buffer.allocUnsafe(8 + headerLen);
  prefix.writeUInt32LE(rest, 0);
  prefix.writeUInt32LE(headerLen, 4);
  json.copy(prefix, 8);
  SPACES.copy(prefix, 8 + json.length, 0, headerLen - json.length);
  const out: Buffer[] = [prefix];
  let pos = 0;
  for (let i = 0; i < bodies.length; i++) {
    const start = infos[i]!.offset;
    if (start > pos) out.push(ZEROS.subarray(0, start - pos));
    for (const b of bodies[i]!) if (b.length > 0) out.push(b);
    pos = start + infos[i]!.byteLength;
  }
  return out;
}

function asBuffer(data: Exclude<Tensor['data'], string[]>): Buffer {
  const b = dataBytes(data);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function decodeFrame(frame: Buffer): DecodedFrame {
  if (frame.length < 8) throw new Error(`frame of ${frame.length} bytes is too short for its header length`);
  const headerLen = frame.readUInt32LE(4);
  const payloadStart = 8 + headerLen;
  if (payloadStart > frame.length) {
    throw new Error(`frame header length ${headerLen} runs past the frame's ${frame.length} bytes`);
  }
  const header = JSON.parse(frame.toString('utf8', 8, payloadStart)) as Record<string, unknown>;
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('frame header is not a JSON object');
  const infos = header.tensors ?? [];
  delete header.tensors;
  if (!Array.isArray(infos)) throw new Error('frame header: tensors must be an array');
  const payloadLen = frame.length - payloadStart;
  const tensors = (infos as FrameTensorInfo[]).map((info) => {
    const { name, datatype, shape, offset, byteLength } = info;
    if (typeof name !== 'string' || !isDType(datatype) || !Array.isArray(shape)
      || !shape.every((d) => Number.isInteger(d) && d >= 0)
      || !Number.isInteger(offset) || !Number.isInteger(byteLength) || offset < 0 || byteLength < 0) {
      throw new Error(`frame header: bad tensor descriptor ${JSON.stringify(info)}`);
    }
    if (offset + byteLength > payloadLen) {
      throw new Error(`frame tensor '${name}': bytes ${offset}..${offset + byteLength} run past the ${payloadLen}-byte payload`);
    }
    const count = elementCount(shape);
    // A plain Uint8Array, not a Buffer: viewBytes copies unaligned bytes with .slice(), which on a
    // Buffer would be another view.
    const bytes = new Uint8Array(frame.buffer, frame.byteOffset + payloadStart + offset, byteLength);
    if (datatype === 'BYTES') return { name, datatype, shape, data: decodeBytesTensor(bytes, count, name) };
    if (byteLength !== count * DTYPE_SIZE[datatype]) {
      throw new Error(`frame tensor '${name}': ${byteLength} bytes for ${datatype} ${formatShape(shape)}, expected ${count * DTYPE_SIZE[datatype]}`);
    }
    return { name, datatype, shape, data: viewBytes(datatype, bytes) };
  });
  return { header, tensors };
}

/**
 * Incremental decoder: push chunks as they arrive, get back every frame they complete. A frame
 * inside one chunk is decoded in place; a frame spread over chunks is copied once into its own
 * buffer (allocated at full size when its length is known, so no re-buffering). After a throw
 * (oversize or malformed frame) the stream is out of sync and should be closed.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  /** The length prefix when it arrives split across chunks. */
  private readonly lenBuf = Buffer.alloc(4);
  private lenFilled = 0;
  /** The frame being assembled across chunks (prefix included). */
  private frame: Buffer | null = null;
  private filled = 0;

  constructor(opts: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.frame ? this.filled : this.lenFilled;
  }

  push(chunk: Buffer): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.frame) {
        const n = Math.min(this.frame.length - this.filled, chunk.length - pos);
        chunk.copy(this.frame, this.filled, pos, pos + n);
        this.filled += n;
        pos += n;
        if (this.filled === this.frame.length) {
          const frame = this.frame;
          this.frame = null;
          this.filled = 0;
          out.push(decodeFrame(frame));
        }
        continue;
      }
      if (this.lenFilled === 0 && chunk.length - pos >= 4) {
        const total = this.frameSize(chunk.readUInt32LE(pos));
        if (chunk.length - pos >= total) {
          out.push(decodeFrame(chunk.subarray(pos, pos + total)));
          pos += total;
        } else {
          this.startFrame(total, chunk.subarray(pos, pos + 4));
          pos += 4;
        }
        continue;
      }
      const n = Math.min(4 - this.lenFilled, chunk.length - pos);
      chunk.copy(this.lenBuf, this.lenFilled, pos, pos + n);
      this.lenFilled += n;
      pos += n;
      if (this.lenFilled === 4) {
        this.lenFilled = 0;
        this.startFrame(this.frameSize(this.lenBuf.readUInt32LE(0)), this.lenBuf);
      }
    }
    return out;
  }

  /**
   * Where the next read from the pipe should land (for net.Socket's `onread`): the rest of the
   * frame being assembled, so that a big frame's bytes arrive straight in its own buffer (no chunk
   * per read, no copy), else `scratch`. Hand what was read to commit().
   */
  readTarget(scratch: Buffer): Buffer {
    return this.frame ? this.frame.subarray(this.filled) : scratch;
  }

  /**
   * `n` bytes were read into `target` (what readTarget returned). Bytes read into the frame are in
   * place already; bytes read into `scratch` are copied out first, since decoded tensors are views
   * over their frame and scratch is reused by the next read.
   */
  commit(target: Buffer, n: number, scratch: Buffer): DecodedFrame[] {
    if (n <= 0) return [];
    if (target === scratch || !this.frame) return this.push(Buffer.from(target.subarray(0, n)));
    this.filled += n;
    if (this.filled < this.frame.length) return [];
    const frame = this.frame;
    this.frame = null;
    this.filled = 0;
    return [decodeFrame(frame)];
  }

  private frameSize(rest: number): number {
    const total = 4 + rest;
    if (total > this.maxFrameBytes) {
      throw new Error(`frame of ${total} bytes exceeds the maximum of ${this.maxFrameBytes} bytes`);
    }
    if (rest < 4) throw new Error(`frame length ${rest} is too short to hold a header length`);
    return total;
  }

  private startFrame(total: number, prefix: Buffer): void {
    // Its own ArrayBuffer at offset 0: the 8-aligned payload gives aligned, zero-copy views.
    this.frame = Buffer.allocUnsafeSlow(total);
    prefix.copy(this.frame, 0, 0, 4);
    this.filled = 4;
  }
}
