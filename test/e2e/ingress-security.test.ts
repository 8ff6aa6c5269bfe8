// The ingress's exposure and limits flags through the real CLI: `daemon start` refuses a
// non-loopback bind without a token (or a token file others can read), and a detached daemon
// started with a token, --metrics-auth, TLS and small limits serves with all of them.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { tempDir, writeOnnx } from '../helpers/models.js';

const dir = tempDir('mlserve-sec-');
const token = 'tok-0123456789abcdef0123456789abcdef';
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
const daemons: TestDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.cleanup()));
});
const daemon = () => {
  const d = new TestDaemon();
  daemons.push(d);
  return d;
};

describe('daemon start refuses an exposed ingress it cannot protect', () => {
  it('--host 0.0.0.0 without a token: refused before starting, saying why and what to pass', async () => {
    const d = daemon();
    const r = await d.cli(['daemon', 'start', '--host', '0.0.0.0', '--port', '0']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--host 0\.0\.0\.0 is not a loopback address.*--auth-token-file.*--insecure/);
    expect((await d.cli(['daemon', 'status'])).exitCode).not.toBe(0);
  });

  it('a token file other users can read is refused', async () => {
    const d = daemon();
    const open = join(dir, 'open-token');
    writeFileSync(open, `${token}\n`);
    chmodSync(open, 0o644);
    const r = await d.cli(['daemon', 'start', '--host', '0.0.0.0', '--port', '0', '--auth-token-file', open]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/may be read by other users \(mode 644\); chmod 600/);
  });

  it('--insecure starts it anyway, with a warning', async () => {
    const d = daemon();
    const r = await d.cli(['daemon', 'start', '--host', '0.0.0.0', '--port', '0', '--insecure', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Warning: .*anyone who can reach it/);
    await d.stop();
  });
});

describe('a daemon with a token, TLS and small limits', () => {
  let d: TestDaemon;
  let cert: Buffer;
  let agent: Agent;
  const auth = { authorization: `Bearer ${token}` };
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    const r = await request(`${d.url}${path}`, { method: method as 'GET', body, headers, dispatcher: agent });
    const text = await r.body.text();
    return { status: r.statusCode, text };
  };

  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    chmodSync(join(dir, 'key.pem'), 0o600);
    cert = readFileSync(join(dir, 'cert.pem'));
    agent = new Agent({ connect: { ca: cert } });
    d = daemon();
    await d.start(['--auth-token-file', tokenFile, '--metrics-auth', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'),
      '--max-json-body-size', '2kb', '--body-timeout', '300ms', '--max-connections', '50']);
    expect((await d.deploy(writeOnnx(mlp({ seed: 1, sizes: [4, 8, 2] }), 'm'), ['--endpoint', 'm'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await agent?.close();
  });

  it('serves HTTPS and asks for the token (not for health probes); /metrics too with --metrics-auth', async () => {
    expect(d.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
    const json = { 'content-type': 'application/json' };
    expect((await call('POST', '/v2/models/m/infer', body, json)).status).toBe(401);
    const ok = await call('POST', '/v2/models/m/infer', body, { ...json, ...auth });
    expect(ok.status, ok.text).toBe(200);
    expect((await call('GET', '/v2/health/ready')).status).toBe(200);
    expect((await call('GET', '/metrics')).status).toBe(401);
    expect((await call('GET', '/metrics', undefined, auth)).text).toMatch(/mlserve_requests_total\{.*code="200"\} 1/);
  });

  it('--max-json-body-size: a JSON body past it is a 413 naming the flag', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'x', shape: [100, 4], datatype: 'FP32', data: new Array(400).fill(1.25) }] });
    const r = await call('POST', '/v2/models/m/infer', body, { 'content-type': 'application/json', ...auth });
    expect(r.status).toBe(413);
    expect(r.text).toMatch(/--max-json-body-size/);
  });

  it('--body-timeout: a body that stops arriving is cut (408), not after 300 s', async () => {
    const s = tls.connect({ host: '127.0.0.1', port: Number(new URL(d.url).port), ca: cert });
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => (data += c));
    await new Promise((r) => s.once('secureConnect', r));
    const t = performance.now();
    s.write(`POST /v2/models/m/infer HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"inputs": [`);
    await new Promise((r) => s.once('close', r));
    expect(performance.now() - t).toBeLessThan(3000);
    expect(data).toMatch(/^HTTP\/1.1 408[\s\S]*--body-timeout/);
  });
});
