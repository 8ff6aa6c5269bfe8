// Bad input never crashes the daemon or loses state: each gets its status code and a message
// that says what was wrong. Also a corrupt model file, and a replica killed with SIGKILL.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addTwo, mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { tempDir, writeMlflowDir, writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
const infer = (body: unknown, ep = 'mlp') => d.http('POST', `/v2/models/${ep}/infer`, body);
const x = (shape: number[], data: unknown, datatype = 'FP32', name = 'x') => ({ inputs: [{ name, shape, datatype, data }] });

beforeAll(async () => {
  d = new TestDaemon();
  await d.start(['--max-body-size', '64kb']);
  const r = await d.deploy(writeOnnx(mlp({ seed: 3, sizes: [8, 16, 4] }), 'mlp'));
  expect(r.exitCode, r.stderr).toBe(0);
  const two = await d.deploy(writeMlflowDir(addTwo()), ['--endpoint', 'two']);
  expect(two.exitCode, two.stderr).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('bad requests get the right status and a message that says what to do', () => {
  const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
    ['wrong shape', () => infer(x([2, 5], new Array(10).fill(1))), 400, /input 'x'.*\[2, 5\].*\[-1, 8\]/],
    ['wrong rank', () => infer(x([8], new Array(8).fill(1))), 400, /input 'x'.*rank/],
    ['wrong dtype', () => infer(x([1, 8], new Array(8).fill(1), 'FP64')), 400, /FP64.*FP32/],
    ['unknown datatype', () => infer(x([1, 8], new Array(8).fill(1), 'FLOAT')), 400, /FLOAT/],
    ['unknown input', () => infer(x([1, 8], new Array(8).fill(1), 'FP32', 'nope')), 400, /'nope'.*'x'/],
    ['missing input', () => d.http('POST', '/v2/models/two/infer', x([1, 3], [1, 2, 3], 'FP32', 'a')), 400, /'b'/],
    ['data count vs shape', () => infer(x([2, 8], new Array(8).fill(1))), 400, /8 elements|16/],
    ['non-number data', () => infer(x([1, 8], ['a', 1, 1, 1, 1, 1, 1, 1])), 400, /element 0/],
    ['BYTES to a numeric model', () => infer(x([1, 8], new Array(8).fill('a'), 'BYTES')), 400, /BYTES/],
    ['unknown output', () => infer({ ...x([1, 8], new Array(8).fill(1)), outputs: [{ name: 'zz' }] }), 400, /zz/],
    ['malformed JSON', () => d.http('POST', '/v2/models/mlp/infer', '{"inputs": [', { 'content-type': 'application/json' }), 400, /malformed JSON/],
    ['empty body', () => d.http('POST', '/v2/models/mlp/infer', '', { 'content-type': 'application/json' }), 400, /empty/],
    ['not an object', () => infer([1, 2, 3]), 400, /object/],
    ['oversized body', () => infer(x([1, 8], new Array(20000).fill(1.5))), 413, /limit.*--max-body-size/],
    ['unknown endpoint', () => infer(x([1, 8], new Array(8).fill(1)), 'nope'), 404, /unknown endpoint 'nope'.*mlp/],
    ['unknown version', () => d.http('POST', '/v2/models/mlp/versions/7/infer', x([1, 8], new Array(8).fill(1))), 404, /version 7/],
    ['wrong method', () => d.http('GET', '/v2/models/mlp/infer'), 405, /POST/],
    ['unknown route', () => d.http('GET', '/v3/things'), 404, /no route/],
    ['invocations: wrong content type', () => d.http('POST', '/mlp/invocations', '{}', { 'content-type': 'text/plain' }), 415, /application\/json/],
    ['invocations: no input field', () => d.http('POST', '/mlp/invocations', { rows: [] }), 400, /exactly one of/],
    ['invocations: bad shape', () => d.http('POST', '/mlp/invocations', { inputs: [[1, 2, 3]] }), 400, /\[1, 3\].*\[-1, 8\]/],
  ];
  for (const [name, call, status, message] of cases) {
    it(name, async () => {
      const r = await call();
      expect(r.status).toBe(status);
      expect(typeof r.json?.error).toBe('string');
      expect(r.json.error).toMatch(message);
    });
  }

  it('still serves correct answers after all of that', async () => {
    const r = await infer(x([1, 8], [1, 2, 3, 4, 5, 6, 7, 8]));
    expect(r.status).toBe(200);
    const two = await d.http('POST', '/v2/models/two/infer', {
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
        { name: 'b', shape: [1, 3], datatype: 'FP32', data: [10, 20, 30] },
      ],
      outputs: [{ name: 'diff' }],
    });
    expect(two.status, JSON.stringify(two.json)).toBe(200);
    expect(two.json.outputs).toEqual([{ name: 'diff', datatype: 'FP32', shape: [1, 3], data: [-9, -18, -27] }]);
  });
});

describe('bad deploys', () => {
  it('a missing file says which path', async () => {
    const r = await d.cli(['deploy', '/nonexistent/model.onnx']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('no such file or directory: /nonexistent/model.onnx');
  });

  it('a corrupt model marks the deployment failed with the replica\'s own error, and the daemon keeps serving', async () => {
    const file = join(tempDir(), 'broken.onnx');
    writeFileSync(file, Buffer.from('this is not an onnx protobuf at all'));
    const r = await d.cli(['deploy', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('deployment broken-v1 failed');
    const st = await d.cli(['status', '--json']);
    const dep = st.json.deployments.find((x: any) => x.name === 'broken-v1');
    expect(dep.state).toBe('failed');
    expect(dep.message).toMatch(/protobuf|parse|load/i);
    const ev = await d.cli(['events', 'broken-v1', '--json']);
    expect(ev.json.some((e: any) => e.kind === 'load-failed' && /protobuf|parse|load/i.test(e.message))).toBe(true);
    const res = await d.http('POST', '/v2/models/broken/infer', x([1, 8], new Array(8).fill(1)));
    expect(res.status).toBe(503);
    expect((await infer(x([1, 8], new Array(8).fill(1)))).status).toBe(200);
    expect((await d.cli(['undeploy', 'broken'])).exitCode).toBe(0);
  });

  it('a second deploy to a taken endpoint is a conflict that says what to do', async () => {
    const r = await d.cli(['deploy', writeOnnx(mlp({ seed: 4, sizes: [8, 4] }), 'mlp')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/already (exists|serves)/);
  });
});

describe('replica crash', () => {
  it('a replica killed with SIGKILL is restarted and counted, and the endpoint serves again', async () => {
    const before = await d.cli(['status', '--json']);
    const rep = before.json.deployments.find((x: any) => x.name === 'mlp-v1').replicas[0];
    process.kill(rep.pid, 'SIGKILL');
    let after;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'mlp-v1').replicas[0];
      if (after.state === 'ready' && after.pid !== rep.pid) break;
    }
    expect(after.pid).not.toBe(rep.pid);
    expect(after.restarts).toBe(1);
    expect((await infer(x([1, 8], new Array(8).fill(1)))).status).toBe(200);
    const ev = await d.cli(['events', 'mlp-v1', '--json']);
    expect(ev.json.some((e: any) => e.kind === 'replica-crashed' && /SIGKILL/.test(e.message))).toBe(true);
  });
});
