// POST /v1/mlflow/webhook: MLflow 3 registry webhooks (model version created, alias set, tags)
// make tracked deployments look at the registry at once instead of at their next poll. A
// delivery is trusted only when its HMAC verifies as MLflow signs it (mlflow/webhooks/delivery.py):
//   X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>
// with X-MLflow-Delivery-Id and X-MLflow-Timestamp (unix seconds, within 5 minutes of now). The
// payload only says which model to look at: the tracker reads the registry itself, so a forged or
// replayed delivery could at most cause one extra registry read. The secret is the daemon's
// MLSERVE_WEBHOOK_SECRET; without it the route answers 404.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface WebhookOptions {
  secret: string;
  /** A verified registry event; answers how many tracked deployments will look (now). */
  onEvent: (e: RegistryEvent) => number;
  now?: () => number;
}

export interface RegistryEvent {
  entity: string;
  action: string;
  /** The registered model the event is about (absent in events without one). */
  name?: string;
  version?: string;
  alias?: string;
  deliveryId: string;
}

/** How far a delivery's timestamp may be from now (Standard Webhooks' default). */
export const TOLERANCE_S = 300;

const header = (h: IncomingHttpHeaders, k: string) => {
  const v = h[k];
  return Array.isArray(v) ? v[0] : v;
};

/** PURE (crypto only): does `signature` ("v1,<b64>", possibly several space-separated) sign this delivery? */
export function verifySignature(secret: string, deliveryId: string, timestamp: string, body: Buffer, signature: string): boolean {
  const mac = createHmac('sha256', secret).update(`${deliveryId}.${timestamp}.`).update(body).digest();
  return signature.split(' ').some((s) => {
    const [version, b64] = s.split(',', 2);
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === mac.length && timingSafeEqual(got, mac);
  });
}

const reply = (status: number, body: unknown) => ({ status, body });

/** Check and act on one delivery; the status and JSON body to answer. */
export function mlflowWebhook(opts: WebhookOptions | undefined, method: string, headers: IncomingHttpHeaders, body: Buffer): { status: number; body: unknown } {
  if (!opts) return reply(404, { error: 'registry webhooks are off: start the daemon with MLSERVE_WEBHOOK_SECRET set to the secret of the MLflow webhook' });
  if (method !== 'POST') return reply(405, { error: 'use POST for /v1/mlflow/webhook' });
  const deliveryId = header(headers, 'x-mlflow-delivery-id');
  const timestamp = header(headers, 'x-mlflow-timestamp');
  const signature = header(headers, 'x-mlflow-signature');
  if (!deliveryId || !timestamp || !signature) {
    return reply(401, { error: 'unsigned delivery: X-MLflow-Signature, X-MLflow-Timestamp and X-MLflow-Delivery-Id are needed (create the webhook with a secret)' });
  }
  if (!verifySignature(opts.secret, deliveryId, timestamp, body, signature)) {
    return reply(401, { error: 'bad signature: the webhook\'s secret is not the daemon\'s MLSERVE_WEBHOOK_SECRET' });
  }
  const now = (opts.now ?? Date.now)() / 1000;
  const ts = Number(timestamp);
  if (!Number.isFinite(ts) || Math.abs(now - ts) > TOLERANCE_S) {
    return reply(401, { error: `stale delivery: its timestamp is more than ${TOLERANCE_S} s from this machine's clock` });
  }
  let payload: { entity?: unknown; action?: unknown; data?: Record<string, unknown> };
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return reply(400, { error: 'the delivery is not JSON' });
  }
  const data = payload.data && typeof payload.data === 'object' ? payload.data : {};
  const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
  const event: RegistryEvent = {
    entity: str(payload.entity) ?? 'unknown',
    action: str(payload.action) ?? 'unknown',
    name: str(data.name),
    version: str(data.version),
    alias: str(data.alias),
    deliveryId,
  };
  return reply(200, { ok: true, trackers: opts.onEvent(event) });
}
