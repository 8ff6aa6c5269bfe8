// The Open Inference Protocol's system shared-memory extension, as Triton defines it: the three
// tensor parameters that point at a registered region instead of carrying data, the register body,
// and where a region's key lives (a POSIX shared-memory object: /dev/shm/<key without its slash>).
// PURE: no I/O here (shm.ts opens, reads and writes).
import { badRequest } from '../../../errors.js';

/** A tensor's place in a registered region. */
export interface ShmRef {
  region: string;
  offset: number;
  byteSize: number;
}

export interface ShmRegistration {
  key: string;
  offset: number;
  byteSize: number;
}

/** Reads a tensor's bytes from a registered region (shm.ts); absent when client shared memory is off. */
export type ShmReader = (ref: ShmRef, what: string) => Uint8Array;

export const SHM_DIR = '/dev/shm';
const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const byteCount = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A region name: letters, digits, '_', '.', '-' (it appears in URL paths and in status). */
export function checkRegionName(name: string): string {
  if (!NAME.test(name) || name === '.' || name === '..') {
    throw badRequest(`shared memory region name '${name.slice(0, 140)}' must be 1-128 letters, digits, '_', '.' or '-'`);
  }
  return name;
}

/**
 * The file of a shared-memory key, as shm_open names it: "/name" is /dev/shm/name. A key is one
 * name (no other '/', no '..'), so a registration can never point outside /dev/shm.
 */
export function shmKeyFile(key: string): string {
  const name = key.startsWith('/') ? key.slice(1) : key;
  if (!NAME.test(name) || name === '.' || name === '..') {
    throw badRequest(`shared memory key '${key.slice(0, 140)}' must be a POSIX shared-memory name such as "/input0" `
      + `(one name of letters, digits, '_', '.' or '-': the object ${SHM_DIR}/<name> that shm_open made)`);
  }
  return `${SHM_DIR}/${name}`;
}

/** The body of POST /v2/systemsharedmemory/region/<name>/register: {"key", "offset"?, "byte_size"}. */
export function parseRegistration(body: unknown): ShmRegistration {
  if (!isObject(body)) throw badRequest('the register body must be a JSON object {"key": "/name", "offset": 0, "byte_size": <bytes>}');
  const { key, offset = 0, byte_size: byteSize } = body;
  if (typeof key !== 'string') throw badRequest(`'key' must be a string, the shared-memory object's name (e.g. "/input0")`);
  shmKeyFile(key);
  if (!byteCount(offset)) throw badRequest(`'offset' must be a non-negative integer (bytes), got ${JSON.stringify(offset)}`);
  if (!byteCount(byteSize) || byteSize === 0) throw badRequest(`'byte_size' must be a positive integer (bytes), got ${JSON.stringify(byteSize)}`);
  return { key, offset: offset as number, byteSize: byteSize as number };
}

/**
 * A tensor's shared-memory parameters, or null when it has none. `shared_memory_region` and
 * `shared_memory_byte_size` go together (one without the other is an error, as in Triton);
 * `shared_memory_offset` is optional (0).
 */
export function readShmRef(params: unknown, what: string): ShmRef | null {
  if (!isObject(params)) return null;
  const { shared_memory_region: region, shared_memory_byte_size: byteSize, shared_memory_offset: offset = 0 } = params;
  if (region === undefined && byteSize === undefined) {
    if (params.shared_memory_offset !== undefined) throw badRequest(`${what}: shared_memory_offset without shared_memory_region and shared_memory_byte_size`);
    return null;
  }
  if (typeof region !== 'string' || region === '') throw badRequest(`${what}: shared_memory_byte_size needs shared_memory_region (the name of a registered region)`);
  if (!byteCount(byteSize)) throw badRequest(`${what}: shared_memory_byte_size must be a non-negative integer (bytes), got ${JSON.stringify(byteSize)}`);
  if (!byteCount(offset)) throw badRequest(`${what}: shared_memory_offset must be a non-negative integer (bytes), got ${JSON.stringify(offset)}`);
  return { region, offset: offset as number, byteSize: byteSize as number };
}

/** Where in the key's file a tensor's bytes are, checked against the region's bounds. */
export function filePosition(reg: ShmRegistration, ref: ShmRef, what: string): number {
  if (ref.offset + ref.byteSize > reg.byteSize) {
    throw badRequest(`${what}: ${ref.byteSize} bytes at offset ${ref.offset} run past the end of region '${ref.region}' `
      + `(${reg.byteSize} bytes); register a larger region or send a smaller tensor`);
  }
  return reg.offset + ref.offset;
}
