// Issue 16's overload and slow-client attacks on the ingress, reproduced against an ingress in this
// process with small limits: load shed before the body, the connection cap, nginx's timeouts
// (header, body idle, send, keep-alive), the JSON body limit, and big JSON parsed off the event loop.
import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { until } from '../../helpers/wait.js';
import { head, inferBody, RawClient, sleep, startIngress, WORKER, type TestIngress } from '../../helpers/ingress.js';

let ing: TestIngress | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await ing?.close();
  ing = undefined;
  vi.restoreAllMocks();
});
const raw = async () => {
  const c = new RawClient(ing!.port);
  clients.push(c);
  await c.ready();
  return c;
};
const openConnections = () => new Promise<number>((r, j) => ing!.server.getConnections((e, n) => (e ? j(e) : r(n))));
const infer = (body = inferBody()) => head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) + body;

describe('overload: refuse before reading, cap connections', () => {
  it('a full queue answers 503 + Retry-After from the headers alone, without waiting for the body', async () => {
    ing = await startIngress({}, { maxQueued: 1, maxOngoingRequests: 1, maxConcurrentBatches: 0 });
    ing.replica.hold = true;
    const running = request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: inferBody(), headers: { 'content-type': 'application/json' } });
    await until(async () => ing!.replica.held.length, (n) => n === 1, 3000, 10);
    const queued = request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: inferBody(), headers: { 'content-type': 'application/json' } });
    expect(await until(async () => ing!.dispatcher.queued, (n) => n === 1, 3000, 10)).toBe(1);
    const c = await raw();
    c.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': 50_000 })); // and no body yet
    const text = await c.waitFor(/\r\n\r\n\{.*\}/s, 2000);
    expect(text).toMatch(/^HTTP\/1.1 503/);
    expect(text).toMatch(/retry-after: 1/i);
    expect(text).toMatch(/queue full/);
    ing.replica.release();
    expect((await running).statusCode).toBe(200);
    expect((await queued).statusCode).toBe(200);
  });

  it('a refused connection is not read again before Retry-After, which doubles for refusals in a row (a client that retries at once waits)', async () => {
    ing = await startIngress({}, { maxQueued: 0 });
    const server: import('node:net').Socket[] = [];
    ing.server.on('connection', (s) => server.push(s));
    const c = await raw();
    c.write(infer());
    expect(await c.waitFor(/503[\s\S]*\r\n\r\n\{.*\}/)).toMatch(/retry-after: 1\r\n/i);
    const listeners = server[0]!.listenerCount('close');
    const t = performance.now();
    c.data = '';
    c.write(infer());
    // Asked again at once: answered only once the first Retry-After has passed, and told to wait twice as long.
    expect(await c.waitFor(/503[\s\S]*\r\n\r\n\{.*\}/)).toMatch(/retry-after: 2\r\n/i);
    expect(performance.now() - t).toBeGreaterThan(800);
    expect(server[0]!.listenerCount('close')).toBe(listeners); // nothing left behind per refusal on a kept-alive connection
    const fresh = await raw(); // another connection is served at once
    const f = performance.now();
    fresh.write(infer());
    await fresh.waitFor(/503/);
    expect(performance.now() - f).toBeLessThan(500);
  });

  it('past --max-connections a new connection gets a 503 at once and is closed', async () => {
    ing = await startIngress({ limits: { maxConnections: 3 } });
    const held = [await raw(), await raw(), await raw()];
    await sleep(50);
    const extra = await raw();
    expect(await extra.waitFor(/\r\n\r\n\{.*\}/s)).toMatch(/^HTTP\/1.1 503[\s\S]*open connections, its limit \(--max-connections\)/);
    await extra.closedAt;
    held[0]!.destroy();
    await sleep(50);
    const next = await raw();
    next.write(head('GET', '/v2/health/live'));
    expect(await next.waitFor(/^HTTP\/1.1 \d+/)).toMatch(/^HTTP\/1.1 200/);
  });
});

describe('timeouts, as nginx has them', () => {
  it('--header-timeout: headers that do not all arrive in time get a 408 and the connection is closed (slowloris)', async () => {
    ing = await startIngress({ limits: { headerTimeoutMs: 300 } });
    const c = await raw();
    c.write('POST /v2/models/m/infer HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    for (let i = 0; i < 4; i++) {
      await sleep(100);
      if (!c.closed) c.write(`x-slow-${i}: 1\r\n`); // a header line now and then does not help
    }
    expect(await c.closedAt).toBeLessThan(2000);
    expect(c.data).toMatch(/^HTTP\/1.1 408/);
    const idle = await raw(); // says nothing at all
    expect(await idle.closedAt).toBeLessThan(2000);
  });

  it('--body-timeout: a body that stops arriving is cut with a 408; one that keeps trickling is not', async () => {
    ing = await startIngress({ limits: { bodyTimeoutMs: 300 } });
    const body = inferBody();
    const c = await raw();
    c.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': body.length }));
    for (let i = 0; i < 8; i++) { // 8 x 100 ms: longer than the timeout in all, never idle that long
      c.write(body[i]!);
      await sleep(100);
    }
    expect(c.data).toBe('');
    const stopped = performance.now();
    expect(await c.closedAt).toBeGreaterThan(0);
    expect(performance.now() - stopped).toBeLessThan(1500);
    expect(c.data).toMatch(/^HTTP\/1.1 408[\s\S]*no request body bytes arrived for 300 ms.*--body-timeout/);
    const done = await raw();
    done.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': body.length }) + body.slice(0, 10));
    await sleep(150);
    done.write(body.slice(10));
    expect(await done.waitFor(/^HTTP\/1.1 \d+/)).toMatch(/^HTTP\/1.1 200/);
  });

  it('--send-timeout: a client that does not read a big answer is disconnected', async () => {
    ing = await startIngress({ limits: { sendTimeoutMs: 300 } });
    ing.replica.answer = () => [{ name: 'y', datatype: 'FP32', shape: [1, 8_000_000], data: new Float32Array(8_000_000) }];
    const header = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }], parameters: { binary_data_output: true } });
    const c = await raw();
    c.socket.pause(); // never reads
    c.write(head('POST', '/v2/models/m/infer', { 'inference-header-content-length': header.length, 'content-type': 'application/octet-stream', 'content-length': header.length + 16 }));
    c.write(Buffer.concat([Buffer.from(header), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]));
    await sleep(200);
    expect(await openConnections()).toBe(1);
    const t = performance.now();
    while ((await openConnections()) > 0 && performance.now() - t < 3000) await sleep(50);
    expect(await openConnections()).toBe(0);
  });

  it('--keep-alive-timeout: an idle keep-alive connection is closed (node adds its 1 s grace)', async () => {
    ing = await startIngress({ limits: { keepAliveTimeoutMs: 200 } });
    const c = await raw();
    c.write(head('GET', '/v2/health/live'));
    await c.waitFor(/\{"live":true\}/);
    const t = performance.now();
    await c.closedAt;
    expect(performance.now() - t).toBeLessThan(2500);
  });
});

describe('JSON bodies', () => {
  it('have their own, lower limit (--max-json-body-size) than binary ones (--max-body-size)', async () => {
    ing = await startIngress({ maxBodyBytes: 1 << 20, limits: { maxJsonBodyBytes: 1000 } });
    const rows = 200;
    const json = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: inferBody(new Array(rows * 4).fill(1.5), [rows, 4]), headers: { 'content-type': 'application/json' } });
    expect(json.statusCode).toBe(413);
    expect(((await json.body.json()) as any).error).toMatch(/over the 1000-byte limit.*--max-json-body-size/);
    const header = JSON.stringify({ inputs: [{ name: 'x', shape: [rows, 4], datatype: 'FP32', parameters: { binary_data_size: rows * 16 } }] });
    const binary = await request(`${ing.url}/v2/models/m/infer`, {
      method: 'POST', body: Buffer.concat([Buffer.from(header), Buffer.alloc(rows * 16)]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    });
    expect(binary.statusCode).toBe(200);
    await binary.body.dump();
  });

  it('big ones past the in-flight budget are refused (503) before their body is read', async () => {
    ing = await startIngress({ limits: { jsonOffloadBytes: 1024 }, jsonPool: { workerUrl: WORKER, maxBytes: 100_000 } });
    const body = inferBody(new Array(4 * 8000).fill(0.5), [8000, 4]);
    const slow = await raw(); // a big body that takes its time holds its share of the budget
    slow.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': body.length }) + body.slice(0, 100));
    await sleep(100);
    const refused = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(refused.statusCode).toBe(503);
    expect(((await refused.body.json()) as any).error).toMatch(/too many big JSON bodies.*binary extension/);
    slow.write(body.slice(100));
    expect(await slow.waitFor(/^HTTP\/1.1 \d+/)).toMatch(/^HTTP\/1.1 200/);
    const now = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(now.statusCode).toBe(200); // the budget was given back
    await now.body.dump();
  });

  it('big ones are parsed on a worker thread, not on the event loop; answers and errors are the same', async () => {
    ing = await startIngress({ maxBodyBytes: 64 << 20, limits: { maxJsonBodyBytes: 64 << 20 } });
    const rows = 50_000;
    const big = inferBody(Array.from({ length: rows * 4 }, (_, i) => (i % 97) / 7), [rows, 4]);
    expect(big.length).toBeGreaterThan(1 << 20);
    const parse = vi.spyOn(JSON, 'parse');
    const r = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(r.statusCode).toBe(200);
    expect(((await r.body.json()) as any).outputs[0].shape).toEqual([rows, 2]);
    expect(parse.mock.calls.filter(([text]) => typeof text === 'string' && text.length > 1 << 20)).toEqual([]);
    const bad = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: big.replace(/^(.*?"data":\[)[^,]*/, '$11e400'), headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(((await bad.body.json()) as any).error).toMatch(/element 0: .* out of range for FP32/);
    const ragged = await request(`${ing.url}/m/invocations`, { method: 'POST', body: `{"inputs": [${new Array(40_000).fill('[1, 2, 3, 4]').join(',')}, [1]]}`, headers: { 'content-type': 'application/json' } });
    expect(ragged.statusCode).toBe(400);
    expect(((await ragged.body.json()) as any).error).toMatch(/ragged/);
  });
});
