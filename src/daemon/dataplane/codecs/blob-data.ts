// Tensor data from raw bytes (a binary-extension blob or a shared-memory region): a typed-array
// view, or BYTES elements, checked against the declared shape. PURE.
import { badRequest } from '../../../errors.js';
import { DTYPE_SIZE, elementCount, formatShape, viewBytes, type DType } from '../../../tensor.js';
import { decodeBytesTensor } from '../../../runtime/frame.js';

/** Tensor data from a blob: a typed-array view, or BYTES elements (400s name the input). */
export function blobData(name: string, datatype: DType, shape: number[], bytes: Uint8Array, sizeName = 'binary_data_size') {
  const count = elementCount(shape);
  if (datatype === 'BYTES') {
    try {
      return decodeBytesTensor(bytes, count, name);
    } catch (e) {
      throw badRequest(`input '${name}': binary data of ${bytes.byteLength} bytes is not ${count} BYTES elements `
        + `for shape ${formatShape(shape)} (each a 4-byte little-endian length and the bytes): ${(e as Error).message}`);
    }
  }
  const need = count * DTYPE_SIZE[datatype];
  if (bytes.byteLength !== need) {
    throw badRequest(`input '${name}': ${sizeName} is ${bytes.byteLength} bytes, but ${datatype} `
      + `${formatShape(shape)} needs ${need} (${count} elements of ${DTYPE_SIZE[datatype]} bytes)`);
  }
  return viewBytes(datatype, bytes);
}
