// The Open Inference Protocol's system shared-memory extension on a real daemon started with
// --allow-client-shm: a client writes a tensor into a /dev/shm object, registers it as a region,
// sends only the reference, and gets the output written into another region; the answers equal the
// plain JSON ones. Bad registrations and references are 400s/404s that say what to do, and a
// daemon without the flag serves none of it.
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

const HAS_SHM = existsSync('/dev/shm');
const tag = `mlserve-test-${process.pid}`;
const inKey = `/${tag}-in`;
const outKey = `/${tag}-out`;
const linkKey = `/${tag}-link`;
const file = (key: string) => `/dev/shm${key}`;

let d: TestDaemon;
let plain: TestDaemon;
const rows = [Array.from({ length: 8 }, (_, i) => i / 8), Array.from({ length: 8 }, (_, i) => -i / 3)];
const x = Float32Array.from(rows.flat());

beforeAll(async () => {
  if (!HAS_SHM) return;
  // The input object: 16 bytes of padding, then the tensor (registered at offset 16).
  writeFileSync(file(inKey), Buffer.concat([Buffer.alloc(16, 0xee), Buffer.from(x.buffer)]));
  writeFileSync(file(outKey), Buffer.alloc(4096));
  const target = join(tmpdir(), `${tag}-secret`);
  writeFileSync(target, 'not shared memory');
  symlinkSync(target, file(linkKey));
  d = new TestDaemon();
  plain = new TestDaemon();
  await Promise.all([d.start(['--allow-client-shm']), plain.start()]);
  const model = writeOnnx(mlp({ seed: 5, sizes: [8, 16, 4] }), 'mlp');
  for (const daemon of [d, plain]) {
    const r = await daemon.deploy(model);
    expect(r.exitCode, r.stderr).toBe(0);
  }
});
afterAll(async () => {
  await Promise.all([d?.cleanup(), plain?.cleanup()]);
  for (const k of [inKey, outKey, linkKey]) rmSync(file(k), { force: true });
  rmSync(join(tmpdir(), `${tag}-secret`), { force: true });
});

describe.skipIf(!HAS_SHM)('system shared memory (--allow-client-shm)', () => {
  it('GET /v2 lists the extension only where it is on', async () => {
    expect((await d.http('GET', '/v2')).json.extensions).toContain('system_shared_memory');
    expect((await plain.http('GET', '/v2')).json.extensions).not.toContain('system_shared_memory');
  });

  it('register, infer with the input and output in shared memory: the same answer as plain JSON; status; unregister', async () => {
    expect((await d.http('POST', '/v2/systemsharedmemory/region/in0/register', { key: inKey, offset: 16, byte_size: x.byteLength })).status).toBe(200);
    expect((await d.http('POST', '/v2/systemsharedmemory/region/out0/register', { key: outKey, byte_size: 4096 })).status).toBe(200);
    const status = await d.http('GET', '/v2/systemsharedmemory/status');
    expect(status.json).toEqual([
      { name: 'in0', key: inKey, offset: 16, byte_size: x.byteLength },
      { name: 'out0', key: outKey, offset: 0, byte_size: 4096 },
    ]);
    const want = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', data: rows.flat() }] });
    expect(want.status).toBe(200);
    const wanted = want.json.outputs[0];

    const r = await d.http('POST', '/v2/models/mlp/infer', {
      inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'in0', shared_memory_byte_size: x.byteLength } }],
      outputs: [{ name: wanted.name, parameters: { shared_memory_region: 'out0', shared_memory_byte_size: 1024, shared_memory_offset: 8 } }],
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const out = r.json.outputs[0];
    expect(out.data).toBeUndefined();
    expect(out).toMatchObject({ name: wanted.name, datatype: 'FP32', shape: [2, 4], parameters: { shared_memory_region: 'out0', shared_memory_byte_size: 32, shared_memory_offset: 8 } });
    const bytes = readFileSync(file(outKey)).subarray(8, 8 + 32);
    const got = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 32));
    expect(Array.from(got)).toEqual(wanted.data.map((v: number) => Math.fround(v)));

    // The input alone from shared memory, the output in the JSON answer.
    const mixed = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'in0', shared_memory_byte_size: x.byteLength } }] });
    expect(mixed.json.outputs[0].data).toEqual(wanted.data);

    expect((await d.http('POST', '/v2/systemsharedmemory/region/in0/unregister')).status).toBe(200);
    expect((await d.http('GET', '/v2/systemsharedmemory/region/in0/status')).status).toBe(404);
    expect((await d.http('GET', '/v2/systemsharedmemory/region/out0/status')).json).toHaveLength(1);
    expect((await d.http('POST', '/v2/systemsharedmemory/unregister')).status).toBe(200);
    expect((await d.http('GET', '/v2/systemsharedmemory/status')).json).toEqual([]);
  });

  it('bad registrations and references say what was wrong; the daemon keeps serving', async () => {
    const reg = (name: string, body: unknown) => d.http('POST', `/v2/systemsharedmemory/region/${name}/register`, body);
    const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
      ['a key outside /dev/shm', () => reg('a', { key: '/../etc/passwd', byte_size: 4 }), 400, /POSIX shared-memory name/],
      ['a key with a slash inside', () => reg('a', { key: '/x/y', byte_size: 4 }), 400, /POSIX shared-memory name/],
      ['a key that does not exist', () => reg('a', { key: `/${tag}-missing`, byte_size: 4 }), 400, /cannot open.*create it first/],
      ['a region larger than the object', () => reg('a', { key: inKey, offset: 16, byte_size: 4096 }), 400, /does not fit/],
      ['no byte_size', () => reg('a', { key: inKey }), 400, /byte_size/],
      ['a bad region name', () => reg('a b', { key: inKey, byte_size: 4 }), 400, /region name/],
      ['a symlink planted in /dev/shm', () => reg('a', { key: linkKey, byte_size: 4 }), 400, /symbolic link/],
      ['an unknown region in a request', () => d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'nope', shared_memory_byte_size: 64 } }] }), 404, /no shared memory region 'nope'.*register/],
      ['byte_size without a region', () => d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_byte_size: 64 } }] }), 400, /needs shared_memory_region/],
    ];
    for (const [what, call, status, message] of cases) {
      const r = await call();
      expect(r.status, what).toBe(status);
      expect(r.json.error, what).toMatch(message);
    }
    expect((await reg('in1', { key: inKey, offset: 16, byte_size: x.byteLength })).status).toBe(200);
    expect((await reg('in1', { key: inKey, byte_size: 8 })).json.error).toMatch(/already registered/);
    const tooFar = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'in1', shared_memory_byte_size: 64, shared_memory_offset: 32 } }] });
    expect(tooFar.status).toBe(400);
    expect(tooFar.json.error).toMatch(/run past the end of region 'in1'/);
    const wrongSize = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'in1', shared_memory_byte_size: 32 } }] });
    expect(wrongSize.json.error).toMatch(/shared_memory_byte_size is 32 bytes, but FP32 \[2, 8\] needs 64/);
    const both = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: rows[0], parameters: { shared_memory_region: 'in1', shared_memory_byte_size: 32 } }] });
    expect(both.json.error).toMatch(/either 'data' or shared_memory_region/);
    const ok = await d.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: rows[0] }] });
    expect(ok.status).toBe(200);
  });

  it('without --allow-client-shm: the paths are 404 and a reference in a request says how to turn it on', async () => {
    const r = await plain.http('POST', '/v2/systemsharedmemory/region/a/register', { key: inKey, byte_size: 4 });
    expect(r.status).toBe(404);
    expect(r.json.error).toMatch(/--allow-client-shm/);
    const inf = await plain.http('POST', '/v2/models/mlp/infer', { inputs: [{ name: 'x', shape: [2, 8], datatype: 'FP32', parameters: { shared_memory_region: 'in0', shared_memory_byte_size: 64 } }] });
    expect(inf.status).toBe(400);
    expect(inf.json.error).toMatch(/client shared memory is off; start the daemon with --allow-client-shm/);
  });
});
