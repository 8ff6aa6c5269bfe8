// The Python replica's pure helpers (dtype mapping, frames, GPU fraction, threads, output conversion):
// test/python/test_replica.py run with unittest in the pinned `pyfunc` env. It also decodes a frame
// made here by src/runtime/frame.ts (every datatype) and must re-encode it to the same bytes; the
// frame it encodes in turn is decoded here with FrameDecoder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/runtime/frame.js';
import type { Tensor } from '../../src/tensor.js';
import { allDtypes } from '../helpers/tensors.js';
import { pythonEnv, REPO } from '../helpers/python.js';

let python: string;
let dir: string;

beforeAll(async () => {
  python = await pythonEnv('pyfunc');
  dir = mkdtempSync(join(tmpdir(), 'mlserve-pyunit-'));
}, 30 * 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** JSON-safe element values: BigInt and non-finite floats as strings Python's int()/float() read. */
function jsonData(t: Tensor): Array<number | string> {
  return Array.from(t.data as ArrayLike<number | bigint | string>, (v) => {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
    return v;
  });
}

describe('python replica helpers (unittest)', () => {
  it('test/python/test_replica.py passes, frames included both ways', () => {
    const header = { t: 'infer', id: 42, reply: 'tensors', requests: [1, 2], note: 'héllo 日本' };
    const tsFrame = join(dir, 'ts.frame');
    const pyFrame = join(dir, 'py.frame');
    writeFileSync(tsFrame, Buffer.concat(encodeFrame(header, allDtypes)));
    writeFileSync(join(dir, 'ts.json'), JSON.stringify({
      header,
      tensors: allDtypes.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: jsonData(t) })),
    }));

    const run = spawnSync(python, ['-m', 'unittest', 'discover', '-s', join(REPO, 'test', 'python'), '-p', 'test_*.py', '-v'], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, MLSERVE_TS_FRAME: tsFrame, MLSERVE_TS_FRAME_JSON: join(dir, 'ts.json'), MLSERVE_PY_FRAME_OUT: pyFrame, MLSERVE_PY_UNIT_ONLY: '' },
      timeout: 120_000,
    });
    const out = `${run.stdout}\n${run.stderr}`;
    expect(run.status, out).toBe(0);
    const ran = /Ran (\d+) tests?/.exec(out);
    expect(ran, out).not.toBeNull();
    expect(Number(ran![1])).toBeGreaterThanOrEqual(25);
    expect(out).toMatch(/\nOK\s*$/m);
    expect(out, 'no test may be skipped here').not.toMatch(/skipped/);
    expect(out).toMatch(/test_frame_from_the_typescript_encoder .* ok/);

    const frames = new FrameDecoder().push(readFileSync(pyFrame));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.header).toEqual({ t: 'result', id: 5, computeMs: 0.25, from: 'python' });
    expect(frames[0]!.tensors).toEqual(allDtypes);
  });
});
