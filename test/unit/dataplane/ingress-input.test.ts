// Issue 16's attacks on the ingress's input and exposure, each reproduced against an ingress in this
// process (real sockets, a real dispatcher, a fake replica): bad paths, deep JSON, out-of-range
// floats, content types a web page can send, DNS rebinding Hosts, the bearer token, TLS, and
// clients that leave (499, never an error).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../helpers/models.js';
import { until } from '../../helpers/wait.js';
import { counter, head, inferBody, RawClient, sleep, startIngress, type TestIngress } from '../../helpers/ingress.js';

let ing: TestIngress | undefined;
afterEach(async () => {
  await ing?.close();
  ing = undefined;
  vi.restoreAllMocks();
});

const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  request(`${ing!.url}${path}`, { method: 'POST', body, headers }).then(async (r) => ({ status: r.statusCode, headers: r.headers, json: (await r.body.json().catch(() => undefined)) as any }));
const get = (path: string, headers: Record<string, string> = {}) =>
  request(`${ing!.url}${path}`, { headers }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));

describe('bad input is a 400 that says what was wrong, never a 500', () => {
  it('a malformed percent-escape in the path', async () => {
    ing = await startIngress();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const r = await get('/v2/models/%ZZ');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toMatch(/malformed percent-escape.*%ZZ/);
    expect((await post('/%E0%A4%A/invocations', '{}')).status).toBe(400);
    expect(errors).not.toHaveBeenCalled();
  });

  it('100,000 levels of nested arrays: 400 naming the depth limit', async () => {
    ing = await startIngress();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const deep = `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`;
    const r = await post('/v2/models/m/infer', deep);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/nested deeper than 64 levels/);
    expect((await post('/m/invocations', `{"inputs":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)).status).toBe(400);
    expect(errors).not.toHaveBeenCalled();
  });

  it('1e400 in FP32 data is out of range, not a null output', async () => {
    ing = await startIngress();
    const r = await post('/v2/models/m/infer', inferBody(['1e400', 1, 2, 3]).replace('"1e400"', '1e400'));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/input 'x': element 0: .* out of range for FP32/);
    const big = await post('/v2/models/m/infer', inferBody([3.5e38, 1, 2, 3]));
    expect(big.status).toBe(400);
    expect(big.json.error).toMatch(/3\.5e\+38 is out of range for FP32/);
    expect((await post('/m/invocations', '{"inputs": [[1e39, 1, 2, 3]]}')).status).toBe(400);
    // Infinity asked for by name stays allowed; the largest finite value too.
    expect((await post('/v2/models/m/infer', inferBody(['Infinity', 3.4028234663852886e38, 2, 3]))).status).toBe(200);
  });
});

describe('exposure: only what the daemon means to serve, to whom it means to', () => {
  it('text/plain (a form or fetch from any web page) on /infer is a 415; JSON and the binary extension pass', async () => {
    ing = await startIngress();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await post('/v2/models/m/infer', inferBody(), { 'content-type': type });
      expect(r.status, type).toBe(415);
      expect(r.json.error).toMatch(/application\/json/);
    }
    expect((await post('/v2/models/m/infer', inferBody(), {})).status).toBe(415); // no Content-Type at all (a Blob body)
    expect((await post('/m/invocations', '{"inputs": [[1, 2, 3, 4]]}', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post('/v2/models/m/infer', inferBody(), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
    const header = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] });
    const body = Buffer.concat([Buffer.from(header), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
    for (const type of ['application/octet-stream', undefined]) {
      const r = await request(`${ing.url}/v2/models/m/infer`, {
        method: 'POST', body, headers: { 'inference-header-content-length': String(header.length), ...(type ? { 'content-type': type } : {}) },
      });
      expect(r.statusCode, String(type)).toBe(200);
      await r.body.dump();
    }
  });

  it('a Host that is not this daemon\'s (DNS rebinding) is a 403; localhost names and IP addresses pass', async () => {
    ing = await startIngress();
    const c = new RawClient(ing.port);
    c.write(head('POST', '/v2/models/m/infer', { host: 'evil.example:8000', 'content-type': 'application/json', 'content-length': inferBody().length }) + inferBody());
    const text = await c.waitFor(/\r\n\r\n\{.*\}/s);
    expect(text).toMatch(/^HTTP\/1.1 403/);
    expect(text).toMatch(/Host 'evil\.example:8000' is not a name this daemon answers to.*--allowed-hosts/);
    c.destroy();
    for (const host of ['evil.example', 'attacker.com:80']) {
      const g = new RawClient(ing.port);
      g.write(head('GET', '/metrics', { host }));
      expect(await g.waitFor(/^HTTP\/1.1 \d+/)).toMatch(/^HTTP\/1.1 403/);
      g.destroy();
    }
    for (const host of ['localhost:8000', 'LOCALHOST', 'api.localhost', '127.0.0.1:1', '[::1]:8000', '10.1.2.3']) {
      const g = new RawClient(ing.port);
      g.write(head('GET', '/v2/health/live', { host }));
      expect(await g.waitFor(/^HTTP\/1.1 \d+/), host).toMatch(/^HTTP\/1.1 200/);
      g.destroy();
    }
  });

  it('--allowed-hosts adds names; * turns the check off', async () => {
    ing = await startIngress({ security: { allowedHosts: ['models.example.com', '.corp'] } });
    for (const [host, status] of [['models.example.com', 200], ['a.b.corp', 200], ['corp', 200], ['evil.example', 403]] as const) {
      const g = new RawClient(ing.port);
      g.write(head('GET', '/v2/health/live', { host }));
      expect(await g.waitFor(/^HTTP\/1.1 \d+/), host).toMatch(new RegExp(`^HTTP/1.1 ${status}`));
      g.destroy();
    }
  });

  it('with a token: 401 without it or with a wrong one, health probes stay open, /metrics only with --metrics-auth', async () => {
    const token = 'a'.repeat(20) + 'b'.repeat(12);
    ing = await startIngress({ security: { token } });
    const none = await post('/v2/models/m/infer', inferBody());
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json.error).toMatch(/needs a token.*Authorization: Bearer/);
    const wrong = await post('/v2/models/m/infer', inferBody(), { 'content-type': 'application/json', authorization: `Bearer ${token.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toMatch(/token is wrong/);
    expect((await post('/v2/models/m/infer', inferBody(), { 'content-type': 'application/json', authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await post('/m/invocations', '{"inputs": [[1, 2, 3, 4]]}', { 'content-type': 'application/json', authorization: `bearer ${token}` })).status).toBe(200);
    expect((await get('/v2/models/m')).status).toBe(401);
    expect((await get('/v2/models/nope', { authorization: `Bearer ${token}` })).text).toMatch(/unknown endpoint 'nope'; endpoints: m/);
    for (const p of ['/v2/health/live', '/v2/health/ready', '/ping', '/health', '/metrics']) expect((await get(p)).status, p).toBe(200);
    await ing.close();
    ing = await startIngress({ security: { token, metricsAuth: true } });
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('an unknown-endpoint 404 lists the endpoints only on a loopback bind or to an authorized caller', async () => {
    ing = await startIngress({ security: { host: '0.0.0.0' } });
    const r = await get('/v2/models/nope/ready');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text).error).toBe("unknown endpoint 'nope'");
    await ing.close();
    ing = await startIngress();
    expect(JSON.parse((await get('/v2/models/nope/ready')).text).error).toMatch(/endpoints: m/);
  });

  it('serves HTTPS with --tls-cert/--tls-key (a self-signed certificate made here)', async () => {
    const dir = tempDir('mlserve-tls-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    ing = await startIngress({ security: { tls: { cert, key: readFileSync(join(dir, 'key.pem')) } } });
    expect(ing.url).toMatch(/^https:/);
    const dispatcher = new Agent({ connect: { ca: cert } });
    const r = await request(`${ing.url}/v2/models/m/infer`, { method: 'POST', body: inferBody(), headers: { 'content-type': 'application/json' }, dispatcher });
    expect(r.statusCode).toBe(200);
    expect(((await r.body.json()) as any).outputs[0].shape).toEqual([1, 2]);
    await expect(request(`http://127.0.0.1:${ing.port}/v2/health/live`).then((x) => x.body.text())).rejects.toThrow();
    await dispatcher.close();
  });
});

describe('clients that leave are 499s (nginx\'s code), never errors', () => {
  it('a body cut off mid-upload: 499 in mlserve_requests_total, not an error, no stack trace', async () => {
    ing = await startIngress();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = new RawClient(ing.port);
    c.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': 1000 }) + '{"inputs": [');
    await sleep(100);
    c.destroy();
    await sleep(200);
    expect(await counter(ing.metrics, 'requests', '499')).toBe(1);
    expect(await counter(ing.metrics, 'requests', '500')).toBe(0);
    expect((await ing.metrics.errors.get()).values).toEqual([]);
    expect(errors).not.toHaveBeenCalled();
  });

  it('a client that leaves while queued: 499, not in the dispatcher\'s error count that canary analysis reads', async () => {
    ing = await startIngress({}, { maxOngoingRequests: 1, maxConcurrentBatches: 0 });
    ing.replica.hold = true;
    const first = post('/v2/models/m/infer', inferBody()); // runs on the replica (held)
    await until(async () => ing!.replica.held.length, (n) => n === 1, 3000, 10);
    const c = new RawClient(ing.port);
    c.write(head('POST', '/v2/models/m/infer', { 'content-type': 'application/json', 'content-length': inferBody().length }) + inferBody());
    expect(await until(async () => ing!.dispatcher.queued, (n) => n === 1, 3000, 10)).toBe(1);
    c.destroy();
    expect(await until(async () => ing!.dispatcher.queued, (n) => n === 0, 3000, 10)).toBe(0);
    ing.replica.release();
    expect((await first).status).toBe(200);
    expect(ing.dispatcher.stats.errors).toBe(0);
    expect(await counter(ing.metrics, 'requests', '499')).toBe(1);
    expect(await counter(ing.metrics, 'requests', '400')).toBe(0);
    expect((await ing.metrics.errors.get()).values).toEqual([]);
  });
});
