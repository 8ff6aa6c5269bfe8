import { describe, expect, it } from 'vitest';
import { allDtypes } from '../../helpers/tensors.js';
import { FrameDecoder, decodeBytesTensor, encodeBytesTensor, encodeFrame } from '../../../src/runtime/frame.js';
import type { Tensor } from '../../../src/tensor.js';


const concat = (bufs: Buffer[]) => Buffer.concat(bufs);
const frameOf = (header: object, tensors: Tensor[]) => concat(encodeFrame(header, tensors));

function expectAligned(tensors: Tensor[]) {
  for (const t of tensors) {
    if (!Array.isArray(t.data)) expect(t.data.byteOffset % 8).toBe(0);
  }
}

describe('encodeFrame / FrameDecoder', () => {
  it('round-trips tensors of every dtype, header intact', () => {
    const frame = frameOf({ kind: 'infer', id: 7, nested: { a: [1] } }, allDtypes);
    const dec = new FrameDecoder();
    const out = dec.push(frame);
    expect(out).toHaveLength(1);
    expect(out[0]!.header).toEqual({ kind: 'infer', id: 7, nested: { a: [1] } });
    expect(out[0]!.tensors).toEqual(allDtypes);
    expect(dec.buffered).toBe(0);
  });

  it('layout: lengths, 8-aligned payload and tensor offsets', () => {
    const frame = frameOf({ x: 1 }, allDtypes);
    expect(frame.readUInt32LE(0)).toBe(frame.length - 4);
    const headerLen = frame.readUInt32LE(4);
    expect((8 + headerLen) % 8).toBe(0);
    const header = JSON.parse(frame.toString('utf8', 8, 8 + headerLen));
    for (const info of header.tensors) expect(info.offset % 8).toBe(0);
    expect(header.tensors[0]).toEqual({ name: 'bool', datatype: 'BOOL', shape: [3], offset: 0, byteLength: 3 });
  });

  it('does not copy tensor data when encoding', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    const bufs = encodeFrame({}, [{ name: 'x', datatype: 'FP32', shape: [4], data }]);
    expect(bufs).toHaveLength(2);
    expect(bufs[1]!.buffer).toBe(data.buffer);
  });

  it('decodes zero-copy aligned views from a frame split across chunks', () => {
    const frame = frameOf({}, allDtypes);
    const dec = new FrameDecoder();
    expect(dec.push(frame.subarray(0, 13))).toEqual([]);
    const [got] = dec.push(frame.subarray(13));
    expect(got!.tensors).toEqual(allDtypes);
    expectAligned(got!.tensors);
    // all views share one buffer: the frame's own
    const buffers = new Set(got!.tensors.filter((t) => !Array.isArray(t.data)).map((t) => (t.data as Uint8Array).buffer));
    expect(buffers.size).toBe(1);
  });

  it('decodes a frame inside one aligned chunk in place', () => {
    const frame = frameOf({}, allDtypes);
    const chunk = Buffer.allocUnsafeSlow(frame.length);
    frame.copy(chunk);
    const [got] = new FrameDecoder().push(chunk);
    for (const t of got!.tensors) {
      if (!Array.isArray(t.data)) expect(t.data.buffer).toBe(chunk.buffer);
    }
  });

  it('many frames in one chunk', () => {
    const frames = Array.from({ length: 20 }, (_, i) => frameOf({ i }, i % 2 ? allDtypes : [allDtypes[i % allDtypes.length]!]));
    const out = new FrameDecoder().push(Buffer.concat(frames));
    expect(out.map((f) => f.header.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(out[1]!.tensors).toEqual(allDtypes);
    expect(out[4]!.tensors).toEqual([allDtypes[4]]);
  });

  it('one frame split byte by byte', () => {
    const frame = frameOf({ hello: 'world' }, allDtypes);
    const dec = new FrameDecoder();
    const out = [];
    for (let i = 0; i < frame.length; i++) {
      out.push(...dec.push(frame.subarray(i, i + 1)));
      if (i < frame.length - 1) expect(out).toHaveLength(0);
    }
    expect(out).toHaveLength(1);
    expect(out[0]!.header).toEqual({ hello: 'world' });
    expect(out[0]!.tensors).toEqual(allDtypes);
  });

  it('unaligned chunk boundaries across several frames', () => {
    const frames = Array.from({ length: 5 }, (_, i) => frameOf({ i }, allDtypes));
    const all = Buffer.concat(frames);
    for (const step of [1, 3, 7, 13, 61, 250]) {
      const dec = new FrameDecoder();
      const out = [];
      for (let pos = 0; pos < all.length; pos += step) out.push(...dec.push(all.subarray(pos, pos + step)));
      expect(out.map((f) => f.header.i)).toEqual([0, 1, 2, 3, 4]);
      for (const f of out) expect(f.tensors).toEqual(allDtypes);
      expect(dec.buffered).toBe(0);
    }
  });

  it('decodes correctly from an unaligned chunk (copies where it must)', () => {
    const frame = frameOf({}, allDtypes);
    const backing = Buffer.alloc(frame.length + 3);
    frame.copy(backing, 3);
    const [got] = new FrameDecoder().push(backing.subarray(3));
    expect(got!.tensors).toEqual(allDtypes);
  });

  it('a large frame in many chunks', () => {
    const big = new Float32Array(1 << 20).map((_, i) => i);
    const frame = frameOf({ big: true }, [{ name: 'big', datatype: 'FP32', shape: [big.length], data: big }]);
    const dec = new FrameDecoder();
    const out = [];
    for (let pos = 0; pos < frame.length; pos += 65536) out.push(...dec.push(frame.subarray(pos, pos + 65536)));
    expect(out).toHaveLength(1);
    const got = out[0]!.tensors[0]!.data as Float32Array;
    expect(got).toBeInstanceOf(Float32Array);
    expect(got.length).toBe(big.length);
    expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(big.buffer))).toBe(true);
  });

  it('rejects an oversize frame as soon as its length is known', () => {
    const frame = frameOf({}, [{ name: 'x', datatype: 'FP64', shape: [64], data: new Float64Array(64) }]);
    expect(() => new FrameDecoder({ maxFrameBytes: 256 }).push(frame)).toThrow(/frame of \d+ bytes exceeds the maximum of 256 bytes/);
    const dec = new FrameDecoder({ maxFrameBytes: 256 });
    dec.push(frame.subarray(0, 2));
    expect(() => dec.push(frame.subarray(2, 4))).toThrow(/exceeds the maximum/);
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0xfffffff0, 0);
    expect(() => new FrameDecoder().push(huge)).toThrow(/exceeds the maximum of 1073741824 bytes/);
  });

  it('rejects malformed frames', () => {
    const short = Buffer.alloc(4);
    short.writeUInt32LE(2, 0);
    expect(() => new FrameDecoder().push(Buffer.concat([short, Buffer.alloc(2)]))).toThrow(/too short/);
    const frame = frameOf({}, [{ name: 'x', datatype: 'FP32', shape: [2], data: new Float32Array(2) }]);
    const headerLen = frame.readUInt32LE(4);
    const header = JSON.parse(frame.toString('utf8', 8, 8 + headerLen));
    header.tensors[0].byteLength = 64;
    const json = Buffer.from(JSON.stringify(header).padEnd(headerLen, ' '));
    json.copy(frame, 8);
    expect(() => new FrameDecoder().push(frame)).toThrow(/run past the 8-byte payload/);
  });
});

describe('BYTES layout', () => {
  it('is Triton\'s: u32 LE length + utf8 per element', () => {
    const buf = encodeBytesTensor(['ab', '', 'é']);
    expect([...buf]).toEqual([2, 0, 0, 0, 97, 98, 0, 0, 0, 0, 2, 0, 0, 0, 0xc3, 0xa9]);
    expect(decodeBytesTensor(buf, 3)).toEqual(['ab', '', 'é']);
    expect(() => decodeBytesTensor(buf, 4)).toThrow(/element 3 runs past/);
    expect(() => decodeBytesTensor(buf, 2)).toThrow(/bytes left after 2 elements/);
  });
});

describe('FrameDecoder.readTarget / commit (reads straight into the frame)', () => {
  /** Feed `wire` as a socket with onread would: each read fills at most `readMax` bytes of the target. */
  function feed(wire: Buffer, readMax: number, scratchSize = 64) {
    const dec = new FrameDecoder();
    const scratch = Buffer.alloc(scratchSize);
    const frames = [];
    let direct = 0;
    for (let pos = 0; pos < wire.length;) {
      const target = dec.readTarget(scratch);
      const n = Math.min(readMax, target.length, wire.length - pos);
      wire.copy(target, 0, pos, pos + n);
      if (target !== scratch) direct += n;
      pos += n;
      frames.push(...dec.commit(target, n, scratch));
    }
    return { frames, direct, dec };
  }
  const big = Float32Array.from({ length: 10_000 }, (_, i) => i * 0.5);
  const small = Int32Array.from([1, 2, 3]);
  const wire = Buffer.concat([
    ...encodeFrame({ t: 'infer', id: 1 }, [{ name: 'x', datatype: 'FP32', shape: [100, 100], data: big }]),
    ...encodeFrame({ t: 'ping', id: 2 }, []),
    ...encodeFrame({ t: 'infer', id: 3 }, [{ name: 'y', datatype: 'INT32', shape: [3], data: small }]),
  ]);
  it.each([[1], [7], [64], [1000], [65536], [wire.length]])('reads of up to %i bytes decode the same frames, views stay valid', (readMax) => {
    const { frames, direct, dec } = feed(wire, readMax);
    expect(frames.map((f) => f.header)).toEqual([{ t: 'infer', id: 1 }, { t: 'ping', id: 2 }, { t: 'infer', id: 3 }]);
    // Later reads into the reused scratch did not change earlier frames' tensors.
    expect(Array.from(frames[0]!.tensors[0]!.data as Float32Array)).toEqual(Array.from(big));
    expect(Array.from(frames[2]!.tensors[0]!.data as Int32Array)).toEqual([1, 2, 3]);
    expect(dec.buffered).toBe(0);
    // The big frame's bytes past the first read went straight into its own buffer.
    expect(direct).toBeGreaterThan(big.byteLength - Math.max(64, readMax));
    expect((frames[0]!.tensors[0]!.data as Float32Array).byteOffset % 8).toBe(0);
  });
  it('a read of nothing decodes nothing; a bad length still throws', () => {
    const dec = new FrameDecoder({ maxFrameBytes: 100 });
    const scratch = Buffer.alloc(64);
    expect(dec.commit(scratch, 0, scratch)).toEqual([]);
    scratch.writeUInt32LE(1000, 0);
    expect(() => dec.commit(scratch, 8, scratch)).toThrow(/exceeds the maximum/);
  });
});
