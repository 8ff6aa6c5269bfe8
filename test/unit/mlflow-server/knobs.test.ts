// The test server's knobs: auth, injected failures, stalls, an HTML-answering proxy, hostile
// listings, broken downloads, and a base path. With no knob set it answers as recorded
// (transcripts.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadIds, serverArtifactsDir } from '../../mlflow-server/fixtures.js';
import { HOSTILE, startMlflowServer, type MlflowTestServer } from '../../mlflow-server/server.js';
import { rawRequest } from './client.js';

const ids = loadIds();
const MODEL_DIR = ids.model_dir_artifact_path; // 0/<run>/artifacts/model
const GET_RM = '/api/2.0/mlflow/registered-models/get?name=ResNet50';
const LIST_MODEL = `/api/2.0/mlflow-artifacts/artifacts?path=${MODEL_DIR}`;
const ONNX = `/api/2.0/mlflow-artifacts/artifacts/${MODEL_DIR}/model.onnx`;
const onnxBytes = readFileSync(join(serverArtifactsDir(), MODEL_DIR, 'model.onnx'));
const basic = (user: string, pass: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

let server: MlflowTestServer;
beforeEach(async () => {
  server = await startMlflowServer();
});
afterEach(async () => {
  await server.close();
});

describe('auth knob', () => {
  it('basic: 401 as mlflow basic-auth answers without or with wrong credentials, 200 with them', async () => {
    server.knobs.auth = { basic: { user: 'alice', pass: 's3cret' } };
    for (const headers of [{}, basic('alice', 'wrong')]) {
      const res = await rawRequest(server.url, GET_RM, { headers });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="mlflow"');
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.text).toBe(
        'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.',
      );
    }
    const ok = await rawRequest(server.url, GET_RM, { headers: basic('alice', 's3cret') });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).registered_model.name).toBe('ResNet50');
    expect((await rawRequest(server.url, '/health')).status).toBe(200); // unprotected, as in mlflow's auth app
    expect((await rawRequest(server.url, ONNX, { headers: basic('alice', 's3cret') })).sha256).toBe((await sha(onnxBytes)));
  });

  it('bearer: 401 without a token, 403 PERMISSION_DENIED with a wrong one, 200 with it', async () => {
    server.knobs.auth = { bearer: 'tok-123' };
    const none = await rawRequest(server.url, GET_RM);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="mlflow"');
    expect(JSON.parse(none.text).error_code).toBe('UNAUTHENTICATED');
    const wrong = await rawRequest(server.url, GET_RM, { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(403);
    expect(wrong.headers['content-type']).toBe('application/json');
    expect(JSON.parse(wrong.text)).toEqual({ error_code: 'PERMISSION_DENIED', message: 'Permission denied' });
    expect((await rawRequest(server.url, GET_RM, { headers: { Authorization: 'Bearer tok-123' } })).status).toBe(200);
  });
});

describe('failNext and stallMs', () => {
  it('fails the next n requests with Retry-After, then answers normally', async () => {
    server.knobs.failNext(2, 503, { retryAfter: 3 });
    for (let i = 0; i < 2; i++) {
      const res = await rawRequest(server.url, GET_RM);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('3');
      expect(JSON.parse(res.text).error_code).toBe('TEMPORARILY_UNAVAILABLE');
    }
    expect(server.knobs.pendingFailures).toBe(0);
    expect((await rawRequest(server.url, GET_RM)).status).toBe(200);
  });

  it('can target a path and send a custom body', async () => {
    server.knobs.failNext(1, 429, { path: '/mlflow-artifacts/', body: 'slow down', retryAfter: 'Wed, 21 Oct 2026 07:28:00 GMT' });
    expect((await rawRequest(server.url, GET_RM)).status).toBe(200);
    const res = await rawRequest(server.url, ONNX);
    expect([res.status, res.text, res.headers['content-type']]).toEqual([429, 'slow down', 'text/plain; charset=utf-8']);
    expect(res.headers['retry-after']).toBe('Wed, 21 Oct 2026 07:28:00 GMT');
    expect((await rawRequest(server.url, ONNX)).status).toBe(200);
  });

  it('stallMs delays answers (a client timeout fires), 0 restores them', async () => {
    server.knobs.stallMs = 2_000;
    await expect(rawRequest(server.url, GET_RM, { timeoutMs: 200 })).rejects.toThrow(/timeout/);
    server.knobs.stallMs = 0;
    expect((await rawRequest(server.url, GET_RM, { timeoutMs: 2_000 })).status).toBe(200);
  });
});

describe('htmlProxy', () => {
  it('answers every API call with an HTML page, 200 or 502', async () => {
    server.knobs.htmlProxy = true;
    const res = await rawRequest(server.url, GET_RM);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html');
    expect(res.text).toMatch(/^<!DOCTYPE html>/);
    server.knobs.htmlProxy = 502;
    const bad = await rawRequest(server.url, '/api/2.0/mlflow/model-versions/get-download-uri?name=ResNet50&version=1');
    expect([bad.status, bad.headers['content-type']]).toEqual([502, 'text/html']);
    expect(bad.text).toContain('502 Bad Gateway');
    server.knobs.htmlProxy = false;
    expect((await rawRequest(server.url, GET_RM)).headers['content-type']).toBe('application/json');
  });
});

describe('hostileListing', () => {
  const files = async (path: string) => (JSON.parse((await rawRequest(server.url, path)).text).files ?? []) as Array<{ path: string; is_dir: boolean; file_size?: number }>;

  it('dotdot: the model folder lists ../../../../tmp/evil (downloading it is refused as MLflow does)', async () => {
    server.knobs.hostileListing = 'dotdot';
    expect((await files(LIST_MODEL)).map((f) => f.path)).toContain(HOSTILE.dotdotEntry);
    const runList = await files(`/api/2.0/mlflow/artifacts/list?run_id=${ids.resnet50_v1_run_id}&path=model`);
    expect(runList.map((f) => f.path)).toContain(`model/${HOSTILE.dotdotEntry}`);
    const runRoot = `0/${ids.resnet50_v1_run_id}/artifacts`; // not a model folder (no MLmodel in it)
    expect((await files(`/api/2.0/mlflow-artifacts/artifacts?path=${runRoot}`)).map((f) => f.path)).toEqual(['model']);
    const dl = await rawRequest(server.url, `/api/2.0/mlflow-artifacts/artifacts/${MODEL_DIR}/${HOSTILE.dotdotEntry}`);
    expect([dl.status, JSON.parse(dl.text)]).toEqual([400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Invalid path' }]);
    server.knobs.hostileListing = null;
    expect((await files(LIST_MODEL)).map((f) => f.path)).not.toContain(HOSTILE.dotdotEntry);
  });

  it('absolute: the model folder lists /etc/passwd (posixpath.join keeps it absolute in run listings)', async () => {
    server.knobs.hostileListing = 'absolute';
    expect((await files(LIST_MODEL)).map((f) => f.path)).toContain('/etc/passwd');
    const runList = await files(`/api/2.0/mlflow/artifacts/list?run_id=${ids.resnet50_v1_run_id}&path=model`);
    expect(runList.map((f) => f.path)).toContain('/etc/passwd');
  });

  it('symlink: the model folder holds a symlink to a file outside the artifact root, served like any file', async () => {
    server.knobs.hostileListing = 'symlink';
    const entry = (await files(LIST_MODEL)).find((f) => f.path === HOSTILE.symlinkEntry);
    expect(entry).toEqual({ path: HOSTILE.symlinkEntry, is_dir: false, file_size: HOSTILE.secretContent.length });
    const dl = await rawRequest(server.url, `/api/2.0/mlflow-artifacts/artifacts/${MODEL_DIR}/${HOSTILE.symlinkEntry}`);
    expect([dl.status, dl.text]).toEqual([200, HOSTILE.secretContent]);
    server.knobs.hostileListing = null;
    expect((await files(LIST_MODEL)).map((f) => f.path)).not.toContain(HOSTILE.symlinkEntry);
  });
});

describe('broken downloads', () => {
  it('truncateDownloads sends fewer bytes than the listing announces', async () => {
    server.knobs.truncateDownloads = true;
    const listed = (await JSON.parse((await rawRequest(server.url, LIST_MODEL)).text)).files.find((f: { path: string }) => f.path === 'model.onnx');
    expect(listed.file_size).toBe(onnxBytes.length);
    const res = await rawRequest(server.url, ONNX);
    expect(res.status).toBe(200);
    expect(res.body.length).toBeLessThan(onnxBytes.length);
    expect(res.body.equals(onnxBytes.subarray(0, res.body.length))).toBe(true);
    const old = await rawRequest(server.url, `/get-artifact?run_id=${ids.resnet50_v1_run_id}&path=model/model.onnx`);
    expect(Number(old.headers['content-length'])).toBe(old.body.length);
    expect(old.body.length).toBeLessThan(onnxBytes.length);
  });

  it('killAfterBytes cuts the connection mid-body', async () => {
    server.knobs.killAfterBytes = 100;
    const res = await rawRequest(server.url, ONNX).catch((e: Error) => ({ error: e, body: Buffer.alloc(0) }));
    expect(res.error).toBeDefined();
    expect(res.body.length).toBeLessThanOrEqual(100);
    server.knobs.reset();
    expect((await rawRequest(server.url, ONNX)).body.equals(onnxBytes)).toBe(true);
  });
});

describe('basePath and the request log', () => {
  it('serves everything below the base path and logs each request', async () => {
    const prefixed = await startMlflowServer({ basePath: '/mlflow' });
    try {
      expect(prefixed.url).toBe(`http://127.0.0.1:${prefixed.port}/mlflow`);
      const ok = await rawRequest(prefixed.url, GET_RM, { headers: { 'X-Test': '1' } });
      expect(ok.status).toBe(200);
      expect((await rawRequest(prefixed.url, ONNX)).body.equals(onnxBytes)).toBe(true);
      expect((await rawRequest(prefixed.url, '/health')).text).toBe('OK');
      const outside = await rawRequest(`http://127.0.0.1:${prefixed.port}`, GET_RM);
      expect([outside.status, outside.headers['content-type']]).toEqual([404, 'text/html; charset=utf-8']);
      expect(prefixed.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /mlflow/api/2.0/mlflow/registered-models/get',
        `GET /mlflow${ONNX}`,
        'GET /mlflow/health',
        'GET /api/2.0/mlflow/registered-models/get',
      ]);
      expect(prefixed.requests[0].query).toBe('name=ResNet50');
      expect(prefixed.requests[0].headers['x-test']).toBe('1');
    } finally {
      await prefixed.close();
    }
  });
});

async function sha(buf: Buffer): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(buf).digest('hex');
}
