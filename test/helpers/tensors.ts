// Shared codec test data: one tensor of every OIP datatype (edge values), and the message of the
// 400 an input check throws.
import { expect } from 'vitest';
import { MlserveError } from '../../src/errors.js';
import type { Tensor } from '../../src/tensor.js';

export const allDtypes: Tensor[] = [
  { name: 'bool', datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
  { name: 'u8', datatype: 'UINT8', shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
  { name: 'u16', datatype: 'UINT16', shape: [3], data: new Uint16Array([0, 1, 65535]) },
  { name: 'u32', datatype: 'UINT32', shape: [3], data: new Uint32Array([0, 1, 4294967295]) },
  { name: 'u64', datatype: 'UINT64', shape: [2], data: new BigUint64Array([0n, 2n ** 64n - 1n]) },
  { name: 'i8', datatype: 'INT8', shape: [3], data: new Int8Array([-128, 0, 127]) },
  { name: 'i16', datatype: 'INT16', shape: [3], data: new Int16Array([-32768, 0, 32767]) },
  { name: 'i32', datatype: 'INT32', shape: [3], data: new Int32Array([-5, 0, 5]) },
  { name: 'i64', datatype: 'INT64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
  { name: 'f16', datatype: 'FP16', shape: [3], data: new Uint16Array([0x3c00, 0x7c00, 0x0001]) },
  { name: 'f32', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1.5, -2, NaN, Infinity]) },
  { name: 'f64', datatype: 'FP64', shape: [3], data: new Float64Array([0.1, -1e300, 5e-324]) },
  { name: 'str', datatype: 'BYTES', shape: [4], data: ['', 'a', 'héllo wörld', '日本'] },
  { name: 'empty', datatype: 'FP32', shape: [0, 3], data: new Float32Array(0) },
];

/** The message of the 400 that `fn` throws (fails the test when it does not throw one). */
export function badRequestMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MlserveError);
    expect((e as MlserveError).status).toBe(400);
    return (e as Error).message;
  }
  throw new Error('expected a throw');
}
