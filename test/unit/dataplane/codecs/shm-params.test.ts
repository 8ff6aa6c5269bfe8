import { describe, expect, it } from 'vitest';
import { checkRegionName, filePosition, parseRegistration, readShmRef, shmKeyFile } from '../../../../src/daemon/dataplane/codecs/shm-params.js';

describe('shmKeyFile: a key names one object in /dev/shm, never a path out of it', () => {
  it.each([
    ['/input0', '/dev/shm/input0'],
    ['input0', '/dev/shm/input0'],
    ['/a.b-c_1', '/dev/shm/a.b-c_1'],
  ])('%s -> %s', (key, file) => {
    expect(shmKeyFile(key)).toBe(file);
  });
  it.each(['/../etc/passwd', '/x/y', '', '/', '/..', '/.', '/a b', `/${'x'.repeat(129)}`, '//x'])('refuses %j', (key) => {
    expect(() => shmKeyFile(key)).toThrow(/POSIX shared-memory name/);
  });
});

describe('readShmRef', () => {
  it.each([
    [undefined, null],
    [{}, null],
    [{ binary_data_size: 4 }, null],
    [{ shared_memory_region: 'r', shared_memory_byte_size: 64 }, { region: 'r', offset: 0, byteSize: 64 }],
    [{ shared_memory_region: 'r', shared_memory_byte_size: 64, shared_memory_offset: 8 }, { region: 'r', offset: 8, byteSize: 64 }],
  ])('%j -> %j', (params, want) => {
    expect(readShmRef(params, 'input x')).toEqual(want);
  });
  it.each([
    [{ shared_memory_byte_size: 64 }, /needs shared_memory_region/],
    [{ shared_memory_region: 'r' }, /shared_memory_byte_size must be a non-negative integer/],
    [{ shared_memory_region: 'r', shared_memory_byte_size: -1 }, /non-negative integer/],
    [{ shared_memory_region: 'r', shared_memory_byte_size: 4, shared_memory_offset: 1.5 }, /shared_memory_offset must be/],
    [{ shared_memory_offset: 4 }, /without shared_memory_region/],
  ])('refuses %j', (params, msg) => {
    expect(() => readShmRef(params, 'input x')).toThrow(msg);
  });
});

describe('parseRegistration and bounds', () => {
  it('takes key, offset (default 0) and byte_size', () => {
    expect(parseRegistration({ key: '/k', byte_size: 10 })).toEqual({ key: '/k', offset: 0, byteSize: 10 });
    expect(parseRegistration({ key: '/k', offset: 4, byte_size: 10 })).toEqual({ key: '/k', offset: 4, byteSize: 10 });
  });
  it.each([
    [null, /JSON object/],
    [{ byte_size: 4 }, /'key' must be a string/],
    [{ key: '/k', byte_size: 0 }, /positive integer/],
    [{ key: '/k', byte_size: 4, offset: -2 }, /'offset' must be/],
    [{ key: '../k', byte_size: 4 }, /POSIX shared-memory name/],
  ])('refuses %j', (body, msg) => {
    expect(() => parseRegistration(body)).toThrow(msg);
  });
  it('a tensor must lie inside its region; the file position adds the region offset', () => {
    const reg = { key: '/k', offset: 100, byteSize: 64 };
    expect(filePosition(reg, { region: 'r', offset: 0, byteSize: 64 }, 'x')).toBe(100);
    expect(filePosition(reg, { region: 'r', offset: 32, byteSize: 32 }, 'x')).toBe(132);
    expect(() => filePosition(reg, { region: 'r', offset: 33, byteSize: 32 }, 'x')).toThrow(/run past the end of region 'r' \(64 bytes\)/);
  });
  it.each(['a b', '', '..', 'x'.repeat(129), 'a/b'])('region name %j is refused', (name) => {
    expect(() => checkRegionName(name)).toThrow(/region name/);
  });
});
