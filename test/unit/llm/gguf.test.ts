import { describe, expect, it } from 'vitest';
import { GgmlType, GgufType, arr, encodeGguf, str, toHalf, u32 } from '../../../src/models/gguf.js';
import { tinyLlamaGguf, tinyLlamaParams, tinyVocab, TINY } from '../../../src/models/tiny-llama.js';

describe('GGUF writer', () => {
  it.each([
    [0, 0x0000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [1e6, 0x7c00], [2 ** -24, 0x0001], [1e-9, 0x0000], [0.1, 0x2e66], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ])('half of %d is %s', (x, bits) => {
    expect(toHalf(x)).toBe(bits);
  });

  it('writes header, typed metadata, tensor infos and aligned data', () => {
    const data = new Float32Array([1, 2, 3]);
    const buf = Buffer.concat(encodeGguf({ 'general.architecture': str('llama'), n: u32(7), list: arr(GgufType.INT32, [1, -1]) }, [{ name: 't', ne: [3], type: GgmlType.F32, data }]));
    expect(buf.toString('ascii', 0, 4)).toBe('GGUF');
    expect(buf.readUInt32LE(4)).toBe(3);
    expect(buf.readBigUInt64LE(8)).toBe(1n);
    expect(buf.readBigUInt64LE(16)).toBe(3n);
    let pos = 24;
    const s = () => {
      const n = Number(buf.readBigUInt64LE(pos));
      const v = buf.toString('utf8', pos + 8, pos + 8 + n);
      pos += 8 + n;
      return v;
    };
    expect(s()).toBe('general.architecture');
    expect(buf.readUInt32LE(pos)).toBe(GgufType.STRING);
    pos += 4;
    expect(s()).toBe('llama');
    expect(s()).toBe('n');
    pos += 4;
    expect(buf.readUInt32LE(pos)).toBe(7);
    pos += 4;
    expect(s()).toBe('list');
    expect([buf.readUInt32LE(pos), buf.readUInt32LE(pos + 4), Number(buf.readBigUInt64LE(pos + 8)), buf.readInt32LE(pos + 16), buf.readInt32LE(pos + 20)]).toEqual([GgufType.ARRAY, GgufType.INT32, 2, 1, -1]);
    pos += 24;
    expect(s()).toBe('t');
    expect([buf.readUInt32LE(pos), Number(buf.readBigUInt64LE(pos + 4)), buf.readUInt32LE(pos + 12), Number(buf.readBigUInt64LE(pos + 16))]).toEqual([1, 3, GgmlType.F32, 0]);
    pos += 24;
    const dataStart = Math.ceil(pos / 32) * 32;
    expect(buf.length).toBe(dataStart + 32); // 12 bytes of data padded to 32
    expect([...new Float32Array(buf.buffer.slice(buf.byteOffset + dataStart, buf.byteOffset + dataStart + 12))]).toEqual([1, 2, 3]);
  });
});

describe('the tiny llama model', () => {
  it('has a byte-level vocabulary: specials, 256 byte tokens, printable ASCII', () => {
    const v = tinyVocab();
    expect(v.tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(v.tokens[258]).toBe('<0xFF>');
    expect(v.tokens[v.firstPrintable]).toBe('▁');
    expect(v.tokens).toHaveLength(3 + 256 + 1 + 94);
  });

  it('is a few MB and deterministic', () => {
    const a = Buffer.concat(tinyLlamaGguf());
    const b = Buffer.concat(tinyLlamaGguf());
    expect(a.equals(b)).toBe(true);
    expect(a.length).toBeGreaterThan(tinyLlamaParams() * 4);
    expect(a.length).toBeLessThan(tinyLlamaParams() * 4 + 64 * 1024);
    expect(a.length / 2 ** 20).toBeLessThan(5);
    expect(Buffer.concat(tinyLlamaGguf({ ...TINY, f16: true })).length).toBeLessThan(a.length * 0.6);
  });
});
