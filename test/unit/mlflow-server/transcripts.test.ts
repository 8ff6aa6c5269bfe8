// Replays every exchange recorded from a real MLflow 2.11.4.dev0 server (with --serve-artifacts)
// against a fresh test server holding the default (recorded) state, and checks the answers match.
//
// Compared exactly: status and status line; Content-Type; every recorded header's value and their
// relative order (ETag and Last-Modified included: the default state gives the copied files the
// recorded mtimes), and the absence of Content-Length where the real server streamed; the body,
// byte for byte by size and sha256 for every exchange, as text for the non-binary ones, and parsed
// for the JSON ones.
//
// Relaxations:
// - Headers the recorder did not keep (Date, Connection, Keep-Alive, Transfer-Encoding, Allow) are
//   not compared.
// - Exchange #48's body *text* in transcripts.json names /srv/mlflow/artifacts where the real bytes
//   named /tmp/mlflow-run/artifacts (a rewrite made after recording: its recorded size, sha256 and
//   Content-Length are of the original bytes). The server sends the original bytes, so sha256 matches;
//   the text is compared after undoing the rewrite.
import { describe, expect, it } from 'vitest';
import { loadTranscripts, RECORDED_ARTIFACTS_DESTINATION, REWRITTEN_ARTIFACTS_DESTINATION } from '../../mlflow-server/fixtures.js';
import { startMlflowServer } from '../../mlflow-server/server.js';
import { rawRequest } from './client.js';

const transcripts = loadTranscripts();

describe('replay of the recorded MLflow 2.11 exchanges', () => {
  it('has all 74 exchanges', () => {
    expect(transcripts).toHaveLength(74);
  });

  for (const [i, x] of transcripts.entries()) {
    it(`#${i} ${x.name}: ${x.method} ${x.path}${x.query ? `?${x.query}` : ''}`, async () => {
      const server = await startMlflowServer();
      try {
        const headers: Record<string, string> = {};
        if (x.request_content_type !== null) headers['Content-Type'] = x.request_content_type;
        const res = await rawRequest(server.url, x.path + (x.query ? `?${x.query}` : ''), {
          method: x.method,
          headers,
          body: x.request_body ?? undefined,
        });
        expect(res.error).toBeUndefined();
        expect(res.status).toBe(x.status);
        expect(`HTTP/1.1 ${res.status} ${res.statusMessage}`).toBe(x.status_line);
        expect(res.headers['content-type']).toBe(x.content_type ?? undefined);

        // Recorded headers: same values (bar the relaxed ones), same relative order.
        const ours = res.rawHeaders.map(([k]) => k.toLowerCase());
        const recordedKeys = Object.keys(x.headers).map((k) => k.toLowerCase());
        for (const [key, value] of Object.entries(x.headers)) {
          expect(res.headers[key.toLowerCase()], `header ${key}`).toBe(value);
        }
        expect(ours.filter((k) => recordedKeys.includes(k))).toEqual(recordedKeys);
        if (!('Content-Length' in x.headers)) expect(res.headers['content-length']).toBeUndefined();

        expect(res.body.length).toBe(x.body_size);
        expect(res.sha256).toBe(x.body_sha256);
        if (!x.body_is_binary) {
          const recorded = (x.body as string).split(REWRITTEN_ARTIFACTS_DESTINATION).join(RECORDED_ARTIFACTS_DESTINATION);
          expect(res.text).toBe(recorded);
          if (x.content_type === 'application/json') expect(JSON.parse(res.text)).toEqual(JSON.parse(recorded));
        }
      } finally {
        await server.close();
      }
    });
  }

  it('the ajax-api twin of every recorded /api/2.0 GET answers the same', async () => {
    const server = await startMlflowServer();
    try {
      for (const x of transcripts.filter((t) => t.method === 'GET' && t.path.startsWith('/api/2.0/'))) {
        const res = await rawRequest(server.url, x.path.replace('/api/2.0/', '/ajax-api/2.0/') + (x.query ? `?${x.query}` : ''));
        expect([res.status, res.sha256], x.name).toEqual([x.status, x.body_sha256]);
      }
    } finally {
      await server.close();
    }
  });
});
