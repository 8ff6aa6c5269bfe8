import { describe, expect, it } from 'vitest';
import {
  flattenJsonData, floatToHalf, halfToFloat, inferShape, toJsonData, toNested,
} from '../../../../src/daemon/dataplane/codecs/json-tensor.js';
import { MlserveError } from '../../../../src/errors.js';
import type { DType } from '../../../../src/tensor.js';

function err(fn: () => unknown): MlserveError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MlserveError);
    expect((e as MlserveError).status).toBe(400);
    return e as MlserveError;
  }
  throw new Error('expected a throw');
}

describe('flattenJsonData / toJsonData round trip', () => {
  const cases: Array<[DType, unknown[], unknown]> = [
    ['BOOL', [true, false, true], Uint8Array],
    ['UINT8', [0, 7, 255], Uint8Array],
    ['UINT16', [0, 65535, 3], Uint16Array],
    ['UINT32', [0, 4294967295, 9], Uint32Array],
    ['UINT64', [0, 9007199254740991, '18446744073709551615'], BigUint64Array],
    ['INT8', [-128, 0, 127], Int8Array],
    ['INT16', [-32768, 5, 32767], Int16Array],
    ['INT32', [-2147483648, 5, 2147483647], Int32Array],
    ['INT64', [-9007199254740991, '-9223372036854775808', '9223372036854775807'], BigInt64Array],
    ['FP16', [0, 1, -2, 0.5, 65504, -0.000060975551605224609375], Uint16Array],
    ['FP32', [0, 1.5, -2.25, 1e10], Float32Array],
    ['FP64', [0, 0.1, -1e300, 5e-324], Float64Array],
    ['BYTES', ['a', '', 'héllo'], Array],
  ];
  for (const [dtype, values, ctor] of cases) {
    it(`${dtype} flat`, () => {
      const data = flattenJsonData(values, dtype, values.length, 'x');
      expect(data).toBeInstanceOf(ctor as new () => unknown);
      expect(data.length).toBe(values.length);
      expect(toJsonData({ datatype: dtype, data })).toEqual(values);
    });
    it(`${dtype} nested`, () => {
      const nested = [values.slice(0, 2), [values[2], values[2]]];
      const data = flattenJsonData(nested, dtype, 4, 'x');
      expect(toJsonData({ datatype: dtype, data })).toEqual([values[0], values[1], values[2], values[2]]);
    });
  }

  it('INT64 beyond 2^53 goes out as a string, safe values as numbers', () => {
    const data = flattenJsonData(['9007199254740993', 12, '-5'], 'INT64');
    expect(data).toEqual(new BigInt64Array([9007199254740993n, 12n, -5n]));
    expect(toJsonData({ datatype: 'INT64', data })).toEqual(['9007199254740993', 12, -5]);
  });

  it('BOOL accepts 0/1 and returns booleans', () => {
    const data = flattenJsonData([1, 0, true], 'BOOL');
    expect(Array.from(data as Uint8Array)).toEqual([1, 0, 1]);
    expect(toJsonData({ datatype: 'BOOL', data })).toEqual([true, false, true]);
  });

  it('floats accept NaN/Infinity spellings; JSON turns them into null', () => {
    const data = flattenJsonData(['NaN', 'Infinity', '-inf', 1], 'FP32');
    const out = toJsonData({ datatype: 'FP32', data });
    expect(out[0]).toBeNaN();
    expect(out.slice(1)).toEqual([Infinity, -Infinity, 1]);
    expect(JSON.stringify(out)).toBe('[null,null,null,1]');
  });

  it('empty data', () => {
    expect(flattenJsonData([], 'FP32', 0).length).toBe(0);
    expect(flattenJsonData([[], []], 'INT32', 0).length).toBe(0);
  });
});

describe('FP16', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.1, 0x2e66], [1 / 3, 0x3555],
    [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e10, 0x7c00], [-1e300, 0xfc00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002],
    [1023 * 2 ** -24, 0x03ff], [1023.5 * 2 ** -24, 0x0400], [2 ** -14, 0x0400], [1e-8, 0x0000],
    [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2049, 0x6800], [2051, 0x6802],
  ];
  for (const [x, bits] of cases) {
    it(`${Object.is(x, -0) ? '-0' : x} -> 0x${bits.toString(16)}`, () => expect(floatToHalf(x)).toBe(bits));
  }
  it('NaN', () => {
    expect(floatToHalf(NaN)).toBe(0x7e00);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0x7c01)).toBeNaN();
  });
  it('every non-NaN half round-trips through a number', () => {
    const bad: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const f = halfToFloat(h);
      if (f === f && floatToHalf(f) !== h) bad.push(h);
    }
    expect(bad).toEqual([]);
  });
  it('decodes specials', () => {
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7bff)).toBe(65504);
  });
  it('flattens FP16 into bits and back', () => {
    // 65520 would round to infinity: a number past FP16's range is refused (issue 16); infinity is asked for by name.
    expect(() => flattenJsonData([65520], 'FP16')).toThrow(/65520 is out of range for FP16/);
    const data = flattenJsonData([[1, 'Infinity'], [2 ** -24, '+inf']], 'FP16');
    expect(Array.from(data as Uint16Array)).toEqual([0x3c00, 0x7c00, 0x0001, 0x7c00]);
    expect(toJsonData({ datatype: 'FP16', data })).toEqual([1, Infinity, 2 ** -24, Infinity]);
  });
});

describe('flattenJsonData errors', () => {
  const cases: Array<[string, unknown, DType, RegExp]> = [
    ['not an array', 5, 'FP32', /input 'x': data must be a JSON array/],
    ['string for a float', [1, 'a'], 'FP32', /input 'x': element 1: expected a number for FP32, got "a"/],
    ['bool for a float', [true], 'FP64', /element 0: expected a number for FP64, got true/],
    ['non-integer', [1, 2.5], 'INT32', /element 1: 2.5 is not an integer \(INT32\)/],
    ['out of range u8', [256], 'UINT8', /element 0: 256 is out of range for UINT8 \[0, 255\]/],
    ['negative unsigned', [0, -1], 'UINT32', /element 1: -1 is out of range for UINT32/],
    ['out of range i8', [-129], 'INT8', /out of range for INT8 \[-128, 127\]/],
    ['string for int32', ['5'], 'INT32', /element 0: expected an integer for INT32, got "5"/],
    ['non-integer int64', [1.5], 'INT64', /element 0: 1.5 is not an integer \(INT64\)/],
    ['bad int64 string', ['12x'], 'INT64', /element 0: expected an integer \(or a decimal string\) for INT64, got "12x"/],
    ['int64 overflow', ['9223372036854775808'], 'INT64', /out of range for INT64/],
    ['uint64 negative', ['-1'], 'UINT64', /"-1" is out of range for UINT64/],
    ['bool 2', [2], 'BOOL', /element 0: expected true or false for BOOL, got 2/],
    ['number for bytes', ['a', 3], 'BYTES', /element 1: expected a string for BYTES, got 3/],
    ['null', [null], 'FP32', /got null/],
    ['mixed levels', [[1, 2], 3], 'FP32', /input 'x': data mixes nested arrays and values/],
    ['mixed leaves', [1, [2]], 'FP32', /mixes nested arrays and values/],
  ];
  for (const [what, data, dtype, re] of cases) {
    it(what, () => expect(err(() => flattenJsonData(data, dtype, undefined, 'x')).message).toMatch(re));
  }
  it('element index counts across nesting', () => {
    expect(err(() => flattenJsonData([[1, 2], [3, 'q']], 'FP32', undefined, 'x')).message).toMatch(/element 3:/);
  });
  it('count mismatch', () => {
    expect(err(() => flattenJsonData([1, 2, 3], 'FP32', 4, 'x', [2, 2])).message)
      .toBe("input 'x': data has 3 elements, but shape [2, 2] needs 4");
    expect(err(() => flattenJsonData([1, 2, 3], 'FP32', 4, 'x')).message).toMatch(/data has 3 elements, but its shape needs 4/);
  });
});

describe('inferShape', () => {
  it('shapes', () => {
    expect(inferShape(5)).toEqual([]);
    expect(inferShape([])).toEqual([0]);
    expect(inferShape([1, 2, 3])).toEqual([3]);
    expect(inferShape([[1, 2, 3], [4, 5, 6]])).toEqual([2, 3]);
    expect(inferShape([[[1], [2]], [[3], [4]]])).toEqual([2, 2, 1]);
    expect(inferShape([[], []])).toEqual([2, 0]);
  });
  it('ragged', () => {
    expect(err(() => inferShape([[1, 2], [3]], 'x')).message).toMatch(/input 'x': ragged nested array: a list at depth 1 has 1 elements where the first has 2/);
    expect(err(() => inferShape([[1, 2], 3], 'x')).message).toMatch(/ragged nested array: expected a list at depth 1, got 3/);
    expect(err(() => inferShape([[1, 2], [3, [4]]], 'x')).message).toMatch(/mixes values and lists/);
  });
});

describe('toNested', () => {
  it('reshapes', () => {
    expect(toNested([1, 2, 3, 4, 5, 6], [2, 3])).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(toNested([1, 2, 3, 4, 5, 6], [3, 2])).toEqual([[1, 2], [3, 4], [5, 6]]);
    expect(toNested([1, 2, 3, 4], [2, 1, 2])).toEqual([[[1, 2]], [[3, 4]]]);
    expect(toNested([1, 2], [2])).toEqual([1, 2]);
    expect(toNested([7], [])).toBe(7);
    expect(toNested([], [2, 0])).toEqual([[], []]);
    expect(toNested([], [0, 3])).toEqual([]);
  });
  it('inverts inferShape + flatten', () => {
    const nested = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]];
    const shape = inferShape(nested);
    const flat = toJsonData({ datatype: 'INT32', data: flattenJsonData(nested, 'INT32') });
    expect(toNested(flat, shape)).toEqual(nested);
  });
});
