// POST /v1/mlflow/webhook: MLflow's signature (mlflow/webhooks/delivery.py), checked and acted on.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mlflowWebhook, verifySignature, type RegistryEvent } from '../../../src/daemon/dataplane/webhook.js';

const SECRET = 'whsec';
const NOW = 1_800_000_000_000;
// As MLflow signs: "v1," + base64(HMAC-SHA256(secret, f"{delivery_id}.{timestamp}.{payload}")).
const sign = (secret: string, id: string, ts: string, body: string) => `v1,${createHmac('sha256', secret).update(`${id}.${ts}.${body}`).digest('base64')}`;
const body = JSON.stringify({ entity: 'model_version_alias', action: 'created', timestamp: '2027-01-15T08:00:00+00:00', data: { name: 'M', alias: 'champion', version: '3' } });

function deliver(headers: Record<string, string>, payload = body, opts: { secret?: string | null; method?: string } = {}) {
  const events: RegistryEvent[] = [];
  const cfg = opts.secret === null ? undefined : { secret: opts.secret ?? SECRET, onEvent: (e: RegistryEvent) => (events.push(e), 2), now: () => NOW };
  return { r: mlflowWebhook(cfg, opts.method ?? 'POST', headers, Buffer.from(payload)), events };
}
const signed = (ts = String(NOW / 1000), secret = SECRET, payload = body) => ({ 'x-mlflow-delivery-id': 'del-1', 'x-mlflow-timestamp': ts, 'x-mlflow-signature': sign(secret, 'del-1', ts, payload) });

describe('MLflow registry webhooks', () => {
  it('verifies MLflow\'s signature and acts on the event', () => {
    const { r, events } = deliver(signed());
    expect(r).toEqual({ status: 200, body: { ok: true, trackers: 2 } });
    expect(events).toEqual([{ entity: 'model_version_alias', action: 'created', name: 'M', alias: 'champion', version: '3', deliveryId: 'del-1' }]);
  });

  it('refuses unsigned, wrongly signed, altered and stale deliveries', () => {
    expect(deliver({}).r.status).toBe(401);
    expect(deliver(signed(undefined, 'other')).r.body).toMatchObject({ error: expect.stringContaining('bad signature') });
    expect(deliver(signed(), body.replace('"3"', '"4"')).r.status).toBe(401);
    const stale = deliver(signed(String(NOW / 1000 - 301)));
    expect(stale.r.body).toMatchObject({ error: expect.stringContaining('stale delivery') });
    expect(stale.events).toEqual([]);
  });

  it('is off without a secret, takes only POST, and wants JSON', () => {
    expect(deliver(signed(), body, { secret: null }).r).toMatchObject({ status: 404, body: { error: expect.stringContaining('MLSERVE_WEBHOOK_SECRET') } });
    expect(deliver(signed(), body, { method: 'GET' }).r.status).toBe(405);
    expect(deliver(signed(undefined, SECRET, 'not json'), 'not json').r.status).toBe(400);
  });

  it('accepts any of several space-separated signatures (a rotated secret)', () => {
    const ts = String(NOW / 1000);
    expect(verifySignature(SECRET, 'd', ts, Buffer.from('{}'), `v1,AAAA ${sign(SECRET, 'd', ts, '{}')}`)).toBe(true);
    expect(verifySignature(SECRET, 'd', ts, Buffer.from('{}'), `v2,${sign(SECRET, 'd', ts, '{}').slice(3)}`)).toBe(false);
  });
});
