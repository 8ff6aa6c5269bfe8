// Client shared-memory regions (the OIP system shared-memory extension), registered with
// POST /v2/systemsharedmemory/region/<name>/register: each holds an open file descriptor of its
// /dev/shm object, so a request names a region and an offset instead of sending the tensor's bytes,
// and the answer can be written there too. Off unless the daemon starts with --allow-client-shm
// (as Triton's --allow-client-shm): a client that may register regions makes the daemon read and
// write files in /dev/shm that it names.
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { badRequest, notFound } from '../../errors.js';
import { checkRegionName, filePosition, shmKeyFile, type ShmRef, type ShmRegistration } from './codecs/shm-params.js';

/** More regions than this at once is a client that forgets to unregister. */
export const MAX_REGIONS = 256;

interface Region extends ShmRegistration {
  name: string;
  fd: number;
}

export class SharedMemoryRegions {
  private readonly regions = new Map<string, Region>();

  register(name: string, reg: ShmRegistration): void {
    checkRegionName(name);
    if (this.regions.has(name)) throw badRequest(`shared memory region '${name}' is already registered; unregister it first`);
    if (this.regions.size >= MAX_REGIONS) throw badRequest(`${MAX_REGIONS} shared memory regions are registered already; unregister some first`);
    const file = shmKeyFile(reg.key);
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink planted in /dev/shm cannot point the daemon at another file.
      fd = openSync(file, constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw badRequest(`shared memory key '${reg.key}' (${file}) is a symbolic link; register the shared-memory object itself`);
      throw badRequest(`cannot open shared memory key '${reg.key}' (${file}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; create it first (shm_open, or a file in /dev/shm)`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw badRequest(`shared memory key '${reg.key}' (${file}) is not a shared-memory object`);
      if (reg.offset + reg.byteSize > st.size) {
        throw badRequest(`shared memory key '${reg.key}' holds ${st.size} bytes: a region of ${reg.byteSize} bytes at offset ${reg.offset} does not fit`);
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.regions.set(name, { name, ...reg, fd });
  }

  /** Unregister one region, or every one (no name). Unknown names are not an error (nothing to do). */
  unregister(name?: string): void {
    for (const r of name === undefined ? [...this.regions.values()] : [this.regions.get(name)].filter((x): x is Region => x !== undefined)) {
      closeSync(r.fd);
      this.regions.delete(r.name);
    }
  }

  /** Triton's status: [{name, key, offset, byte_size}], of one region (404 when unknown) or all. */
  status(name?: string): Array<{ name: string; key: string; offset: number; byte_size: number }> {
    const list = name === undefined ? [...this.regions.values()] : [this.get(name)];
    return list.map((r) => ({ name: r.name, key: r.key, offset: r.offset, byte_size: r.byteSize }));
  }

  private get(name: string): Region {
    const r = this.regions.get(name);
    if (!r) throw notFound(`no shared memory region '${name}' is registered (POST /v2/systemsharedmemory/region/${name}/register first)`);
    return r;
  }

  /** A tensor's bytes, read into a buffer of their own (8-aligned: typed-array views need no copy). */
  read(ref: ShmRef, what: string): Uint8Array {
    const r = this.get(ref.region);
    const position = filePosition(r, ref, what);
    const out = new Uint8Array(ref.byteSize);
    let done = 0;
    while (done < ref.byteSize) {
      const n = readSync(r.fd, out, done, ref.byteSize - done, position + done);
      if (n === 0) throw badRequest(`${what}: region '${ref.region}' ends before ${ref.byteSize} bytes at offset ${ref.offset} (its file shrank)`);
      done += n;
    }
    return out;
  }

  /** Write an output's bytes where the request asked for them. */
  write(ref: ShmRef, bytes: Uint8Array, what: string): void {
    const r = this.get(ref.region);
    if (bytes.byteLength > ref.byteSize) {
      throw badRequest(`${what}: the output is ${bytes.byteLength} bytes but shared_memory_byte_size is ${ref.byteSize}; give it room for the whole output`);
    }
    const position = filePosition(r, { ...ref, byteSize: bytes.byteLength }, what);
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(r.fd, bytes, done, bytes.byteLength - done, position + done);
  }

  close(): void {
    this.unregister();
  }
}
