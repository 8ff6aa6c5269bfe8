// The pure rules behind the ingress's hardening (issue 16): value ranges per datatype, the JSON
// depth limit, content types, the Host check, the token, which binds need one, and the flags' units.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flattenJsonData } from '../../../src/daemon/dataplane/codecs/json-tensor.js';
import { checkJsonDepth, decodeJsonBody, MAX_JSON_DEPTH } from '../../../src/daemon/dataplane/codecs/json-body.js';
import { inferBodyKind } from '../../../src/daemon/dataplane/admission.js';
import { bearerCheck, hostAllowed, hostOf, readTokenFile } from '../../../src/daemon/dataplane/auth.js';
import { checkExposure, isLoopback, parseDurationMs } from '../../../src/daemon/dataplane/ingress-settings.js';
import { MlserveError } from '../../../src/errors.js';
import type { DType } from '../../../src/tensor.js';
import { tempDir } from '../../helpers/models.js';

function refusal(fn: () => unknown, status = 400): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MlserveError);
    expect((e as MlserveError).status).toBe(status);
    return (e as MlserveError).message;
  }
  throw new Error('expected a refusal');
}

describe('JSON numbers out of a datatype\'s range are a 400 naming the element and the type', () => {
  // JSON.parse turns 1e400 into Infinity: what the client sent is a finite number too big for any float.
  const cases: Array<[DType, number | string, RegExp]> = [
    ['FP32', Infinity, /element 1: a number beyond \+1\.79.*out of range for FP32/],
    ['FP32', -Infinity, /beyond -1\.79.*out of range for FP32/],
    ['FP32', 3.5e38, /3\.5e\+38 is out of range for FP32 \(largest magnitude 3\.4028234663852886e\+38\)/],
    ['FP16', 65520, /65520 is out of range for FP16 \(largest magnitude 65504\)/],
    ['FP16', -1e6, /-1000000 is out of range for FP16/],
    ['FP64', Infinity, /out of range for FP64/],
    ['INT8', 128, /128 is out of range for INT8 \[-128, 127\]/],
    ['UINT8', -1, /-1 is out of range for UINT8/],
    ['INT32', 2 ** 31, /out of range for INT32/],
    ['UINT32', 2 ** 32, /out of range for UINT32/],
    ['INT64', Infinity, /beyond \+1\.79.* out of range for INT64/],
    ['INT64', '9223372036854775808', /out of range for INT64/],
    ['UINT64', '18446744073709551616', /out of range for UINT64/],
    ['UINT64', -1, /out of range for UINT64/],
  ];
  it.each(cases)('%s %s', (dtype, v, re) => {
    expect(refusal(() => flattenJsonData([0, v], dtype, 2, 'x'))).toMatch(re);
    expect(refusal(() => flattenJsonData([[0], [v]], dtype, 2, 'x'))).toMatch(re); // nested: the slow path
  });

  it('keeps what is in range, and infinities asked for by name', () => {
    expect(Array.from(flattenJsonData([3.4028234663852886e38, -3.4028234663852886e38, 'Infinity', '-inf'], 'FP32') as Float32Array))
      .toEqual([3.4028234663852886e38, -3.4028234663852886e38, Infinity, -Infinity]);
    expect(Array.from(flattenJsonData([65504, 65519, 'inf'], 'FP16') as Uint16Array)).toEqual([0x7bff, 0x7bff, 0x7c00]);
    expect(Array.from(flattenJsonData([1.7976931348623157e308], 'FP64') as Float64Array)).toEqual([1.7976931348623157e308]);
  });
});

describe('JSON depth', () => {
  const deep = (n: number) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`);
  it('refuses nesting past the limit before parsing (100,000 levels: a 400, not a stack overflow)', () => {
    expect(refusal(() => checkJsonDepth(deep(100_000)))).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels (the limit); send tensors as flat 'data' with a 'shape'`);
    expect(() => checkJsonDepth(deep(MAX_JSON_DEPTH))).not.toThrow();
    expect(refusal(() => checkJsonDepth(deep(MAX_JSON_DEPTH + 1)))).toMatch(/deeper than 64/);
  });
  it('does not count brackets inside strings (escaped quotes included)', () => {
    expect(() => checkJsonDepth(Buffer.from(JSON.stringify({ s: '['.repeat(1000), t: 'a\\"[[[[', u: ['"{{{{'] })))).not.toThrow();
    expect(() => checkJsonDepth(Buffer.from(`["\\\\", ${'['.repeat(70)}${']'.repeat(70)}]`))).toThrow(/deeper/);
  });
  it('decodeJsonBody: the same decode as the ingress, errors as 400s', () => {
    const spec = { inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [-1, 2] }], outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 1] }] };
    const ok = decodeJsonBody('oip', Buffer.from('{"id": "a", "inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}'), spec);
    expect(ok.id).toBe('a');
    expect(Array.from(ok.inputs[0]!.data as Float32Array)).toEqual([1, 2]);
    expect(decodeJsonBody('invocations', Buffer.from('{"inputs": [[1, 2]]}'), spec).inputs[0]!.shape).toEqual([1, 2]);
    expect(refusal(() => decodeJsonBody('oip', Buffer.from(''), spec))).toMatch(/empty/);
    expect(refusal(() => decodeJsonBody('oip', Buffer.from('{"inputs": ['), spec))).toMatch(/malformed JSON/);
  });
});

describe('content types on /infer', () => {
  it('JSON as application/json; binary as octet-stream or without a type; nothing a web page can send unasked', () => {
    expect(inferBodyKind('application/json', false)).toBe('json');
    expect(inferBodyKind('Application/JSON; charset=utf-8', false)).toBe('json');
    expect(inferBodyKind('application/octet-stream', true)).toBe('binary');
    expect(inferBodyKind(undefined, true)).toBe('binary');
    for (const t of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data', undefined]) {
      expect(refusal(() => inferBodyKind(t, false), 415)).toMatch(/not accepted on \/infer/);
    }
    expect(refusal(() => inferBodyKind('text/plain', true), 415)).toMatch(/octet-stream/);
  });
});

describe('Host check', () => {
  it('reads the host part of a Host header', () => {
    expect(['a.b:80', 'A.B.', '[::1]:8000', '[::1]', '127.0.0.1:9', 'x'].map(hostOf)).toEqual(['a.b', 'a.b', '::1', '::1', '127.0.0.1', 'x']);
  });
  it('loopback bind: localhost names and IP addresses (which DNS rebinding cannot produce); not other names', () => {
    const ok = hostAllowed({ host: '127.0.0.1', allowedHosts: [] });
    for (const h of ['localhost', 'localhost:8000', 'x.localhost', '127.0.0.1:8000', '[::1]:1', '192.168.1.4', undefined]) expect(ok(h), String(h)).toBe(true);
    for (const h of ['evil.example', 'evil.example:8000', 'localhost.evil.example', '127.0.0.1.nip.io']) expect(ok(h), h).toBe(false);
  });
  it('a named bind adds its name; --allowed-hosts adds names and suffixes; * allows any', () => {
    expect(hostAllowed({ host: 'box.lan', allowedHosts: [] })('box.lan:8000')).toBe(true);
    const ok = hostAllowed({ host: '0.0.0.0', allowedHosts: ['api.example.com', '.corp', '*.int'] });
    expect(['api.example.com', 'corp', 'x.corp', 'a.int'].map(ok)).toEqual([true, true, true, true]);
    expect(['example.com', 'int', 'evil.example'].map(ok)).toEqual([false, false, false]);
    expect(hostAllowed({ host: '127.0.0.1', allowedHosts: ['*'] })('evil.example')).toBe(true);
  });
});

describe('bearer token', () => {
  it('accepts exactly the token, scheme in any case', () => {
    const ok = bearerCheck('s3cret-token-0123456789');
    expect(ok('Bearer s3cret-token-0123456789')).toBe(true);
    expect(ok('bearer s3cret-token-0123456789')).toBe(true);
    for (const h of [undefined, '', 'Bearer', 'Bearer s3cret-token-012345678', 'Bearer s3cret-token-01234567890', 'Basic s3cret-token-0123456789', 's3cret-token-0123456789']) {
      expect(ok(h), String(h)).toBe(false);
    }
  });
  it('reads the token from a file only its owner can read', () => {
    const dir = tempDir('mlserve-token-');
    const f = join(dir, 'token');
    writeFileSync(f, 'abcdefghijklmnopqrstuvwxyz012345\n');
    chmodSync(f, 0o600);
    expect(readTokenFile(f)).toBe('abcdefghijklmnopqrstuvwxyz012345');
    chmodSync(f, 0o644);
    expect(() => readTokenFile(f)).toThrow(/may be read by other users \(mode 644\); chmod 600/);
    chmodSync(f, 0o640);
    expect(() => readTokenFile(f)).toThrow(/may be read by other users/);
    writeFileSync(f, 'short');
    chmodSync(f, 0o600);
    expect(() => readTokenFile(f)).toThrow(/at least 16 characters/);
    expect(() => readTokenFile(join(dir, 'none'))).toThrow(/cannot read the token file/);
  });
});

describe('which binds need a token', () => {
  it('loopback binds do not; any other needs --auth-token-file or --insecure, and says why', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', 'box.lan'].some(isLoopback)).toBe(false);
    expect(checkExposure({ host: '127.0.0.1', token: false, insecure: false, tls: false, metricsAuth: false })).toEqual({ refusal: null, warnings: [] });
    expect(checkExposure({ host: '0.0.0.0', token: false, insecure: false, tls: false, metricsAuth: false }).refusal)
      .toMatch(/--host 0\.0\.0\.0 is not a loopback address.*--auth-token-file.*--insecure/);
    expect(checkExposure({ host: '0.0.0.0', token: false, insecure: true, tls: false, metricsAuth: false }).warnings[0]).toMatch(/anyone/);
    expect(checkExposure({ host: '0.0.0.0', token: true, insecure: false, tls: false, metricsAuth: false }).warnings[0]).toMatch(/clear text.*--tls-cert/);
    expect(checkExposure({ host: '0.0.0.0', token: true, insecure: false, tls: true, metricsAuth: false })).toEqual({ refusal: null, warnings: [] });
    expect(checkExposure({ host: '127.0.0.1', token: false, insecure: false, tls: false, metricsAuth: true }).refusal).toMatch(/--metrics-auth needs --auth-token-file/);
  });
  it('timeouts take ms, s, m or bare seconds', () => {
    expect(['30s', '500ms', '2m', '1.5', ' 10 s'].map(parseDurationMs)).toEqual([30_000, 500, 120_000, 1500, 10_000]);
    for (const bad of ['', 'soon', '-1s', '0', '10h']) expect(() => parseDurationMs(bad), bad).toThrow();
  });
});
