// A burst of concurrent requests is served in batches (mean batch size read from the daemon) and
// every answer equals an in-process onnxruntime run; binary and JSON answers are identical;
// bench --assert gates with its exit code; a full queue answers 503 with Retry-After.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { fixedBatch, mlp, seededInput } from '../../src/models/zoo.js';
import { decodeBinaryResponse } from '../../src/daemon/dataplane/codecs/oip-binary.js';
import { TestDaemon } from '../helpers/daemon.js';
import { runInProcess } from '../helpers/fixtures.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
let file: string;
const model = mlp({ seed: 21, sizes: [32, 64, 8] });

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  file = writeOnnx(model, 'burst');
  const r = await d.deploy(file, ['--max-batch-size', '16']);
  expect(r.exitCode, r.stderr).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

const stats = async (name: string) => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === name).stats;

describe('dynamic batching', () => {
  it('serves a burst in batches, each answer equal to onnxruntime in-process', async () => {
    const before = await stats('burst-v1');
    const N = 120;
    const inputs = Array.from({ length: N }, (_, i) => seededInput(100 + i, (1 + (i % 3)) * 32));
    const answers = await Promise.all(
      inputs.map((x) => d.http('POST', '/v2/models/burst/infer', { inputs: [{ name: 'x', shape: [x.length / 32, 32], datatype: 'FP32', data: Array.from(x) }] })),
    );
    const after = await stats('burst-v1');
    const batches = after.batches - before.batches;
    const served = after.batchedRequests - before.batchedRequests;
    expect(served).toBe(N);
    expect(served / batches).toBeGreaterThan(1);
    for (let i = 0; i < N; i++) {
      expect(answers[i].status, answers[i].text).toBe(200);
      const want = await runInProcess(file, { x: { type: 'float32', data: inputs[i], dims: [inputs[i].length / 32, 32] } });
      expect(answers[i].json.outputs[0].shape).toEqual([inputs[i].length / 32, 8]);
      expect(answers[i].json.outputs[0].data).toEqual(Array.from(want.y.data as Float32Array));
    }
  });

  it('gives identical outputs over the binary tensor extension and JSON', async () => {
    const x = seededInput(7, 2 * 32);
    const json = await d.http('POST', '/v2/models/burst/infer', { inputs: [{ name: 'x', shape: [2, 32], datatype: 'FP32', data: Array.from(x) }] });
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 32], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }], parameters: { binary_data_output: true } }));
    const res = await request(`${d.url}/v2/models/burst/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, Buffer.from(x.buffer, x.byteOffset, x.byteLength)]),
    });
    expect(res.statusCode).toBe(200);
    const len = Number(res.headers['inference-header-content-length']);
    const body = Buffer.from(await res.body.arrayBuffer());
    const decoded = decodeBinaryResponse(body, len);
    expect(Array.from(decoded.outputs[0].data as Float32Array)).toEqual(json.json.outputs[0].data);
    expect(decoded.outputs[0].shape).toEqual([2, 8]);

    const bad = await request(`${d.url}/v2/models/burst/infer`, {
      method: 'POST',
      headers: { 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, Buffer.alloc(12)]),
    });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as { error: string }).error).toMatch(/binary_data_size|bytes/);
  });

  it('never batches a model whose first dimension is fixed', async () => {
    const r = await d.deploy(writeOnnx(fixedBatch(), 'fixed'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.dispatch?.maxBatchSize ?? (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'fixed-v1').dispatch.maxBatchSize).toBe(1);
    const body = { inputs: [{ name: 'x', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] };
    const all = await Promise.all(Array.from({ length: 20 }, () => d.http('POST', '/v2/models/fixed/infer', body)));
    for (const a of all) expect(a.json.outputs[0].data).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const s = await stats('fixed-v1');
    expect(s.batches).toBe(s.batchedRequests);
  });
});

describe('bounded queue', () => {
  it('answers 503 with Retry-After past max-queued-requests', async () => {
    const r = await d.deploy(writeOnnx(mlp({ seed: 2, sizes: [512, 2048, 2048, 2048, 8] }), 'slow'), ['--max-queued-requests', '2', '--max-batch-size', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    // Bodies under the 128 KiB at which JSON is parsed on a worker thread: parsed at once, they reach
    // the queue together (worker-parsed ones arrive one by one, and a loaded machine may drain the queue between them).
    const x = Array.from(seededInput(1, 8 * 512));
    const all = await Promise.all(Array.from({ length: 60 }, () => d.http('POST', '/v2/models/slow/infer', { inputs: [{ name: 'x', shape: [8, 512], datatype: 'FP32', data: x }] })));
    const full = all.filter((a) => a.status === 503);
    expect(full.length).toBeGreaterThan(0);
    expect(full[0].headers['retry-after']).toBe('1');
    expect(full[0].json.error).toMatch(/queue full/);
    expect(all.filter((a) => a.status === 200).length).toBeGreaterThan(0);
  });
});

describe('bench --assert', () => {
  it('exits 0 when the gates hold and 1 with a table when one fails', async () => {
    const ok = await d.cli(['bench', 'burst', '-c', '4', '-d', '1s', '--warmup', '0s', '--assert', 'errors<1%,throughput>1', '--json']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.json.requests).toBeGreaterThan(0);
    expect(ok.json.server.meanBatchSize).toBeGreaterThanOrEqual(1);
    const bad = await d.cli(['bench', 'burst', '-c', '2', '-d', '1s', '--warmup', '0s', '--assert', 'p99<0.001ms']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/p99<0.001ms\s+.*FAIL/);
    const usage = await d.cli(['bench', 'burst', '--assert', 'p99 fast']);
    expect(usage.exitCode).toBe(2);
  });
});
