// What every ingress request shares: the settings resolved once (limits, Host check, token, JSON
// pool), the per-request context, and how an answer is written (closing the connection when an
// unread body says so, holding off a client refused for load).
import type http from 'node:http';
import { asMlserveError, MlserveError, notFound } from '../../errors.js';
import type { Metrics } from '../metrics.js';
import { bearerCheck, forbiddenHost, hostAllowed, listsEndpoints, unauthorized } from './auth.js';
import type { ClientGone } from './dispatcher.js';
import { beforeEarlyReply, createLimitedServer, holdOff, refusalBackoffMs, type IngressServer } from './http-limits.js';
import { DEFAULT_LIMITS, DEFAULT_SECURITY, type IngressLimits, type IngressSecurity } from './ingress-settings.js';
import { JsonPool, type JsonPoolOptions } from './json-pool.js';
import { ImagePool } from '../../pipeline/image-pool.js';
import type { ServingTarget } from './routes.js';
import { SharedMemoryRegions } from './shm.js';

export interface IngressOptions {
  /** Largest binary body (--max-body-size); the other limits default to DEFAULT_LIMITS. */
  maxBodyBytes: number;
  limits?: Partial<IngressLimits>;
  security?: Partial<IngressSecurity>;
  metrics?: Metrics;
  /** Serve /metrics here (false when --metrics-port splits it off). */
  serveMetrics?: boolean;
  /** Server readiness needs every endpoint ready (Triton's --strict-readiness; default true). */
  strictReadiness?: boolean;
  jsonPool?: JsonPoolOptions;
}

/** What a request turned out to be, for its metrics and its answer. */
export interface Ctx {
  rt?: ServingTarget;
  infer?: boolean;
  /** Set when the client closes the connection before the answer. */
  gone: ClientGone;
  /** When the request arrived (performance.now()). */
  started: number;
  /** The body is being (or was) read. */
  reading?: boolean;
  /** Refused for load before the body: the connection is not read again before Retry-After. */
  shed?: boolean;
}

/** Everything a request needs besides its route. */
export interface Env {
  limits: IngressLimits;
  security: IngressSecurity;
  hostOk: (host: string | undefined) => boolean;
  authOk: ((authorization: string | undefined) => boolean) | null;
  listEndpoints: boolean;
  pool: JsonPool;
  /** Worker threads that decode and resize /predict images. */
  images: ImagePool;
  metrics?: Metrics;
  serveMetrics: boolean;
  strictReadiness: boolean;
  /** Client shared-memory regions, when --allow-client-shm turned them on. */
  shm: SharedMemoryRegions | null;
}

export type Reply = { status: number; body: unknown; headers?: Record<string, string>; chunks?: Buffer[] };

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });

/** A route that answers one method: any other is a 405. */
export function only(method: string, allowed: string, fn: () => Reply): Reply {
  if (method !== allowed) throw new MlserveError('METHOD_NOT_ALLOWED', `use ${allowed} for this route`);
  return fn();
}

/** A client refused for load waits this long at first (Retry-After), and its connection is not read meanwhile. */
const RETRY_AFTER_MS = 1000;

export function environment(opts: IngressOptions): Env {
  // --max-body-size caps every body; --max-json-body-size caps JSON ones further.
  const jsonLimit = opts.limits?.maxJsonBodyBytes ?? DEFAULT_LIMITS.maxJsonBodyBytes;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits, maxBodyBytes: opts.maxBodyBytes, maxJsonBodyBytes: Math.min(jsonLimit, opts.maxBodyBytes) };
  const security = { ...DEFAULT_SECURITY, ...opts.security };
  return {
    limits,
    security,
    hostOk: hostAllowed(security),
    authOk: security.token ? bearerCheck(security.token) : null,
    listEndpoints: listsEndpoints(security),
    // Big JSON bodies in flight at once: room for four of the largest allowed, at least 256 MiB.
    pool: new JsonPool({ maxBytes: Math.max(256 * 2 ** 20, 4 * limits.maxJsonBodyBytes), ...opts.jsonPool }),
    images: new ImagePool(),
    metrics: opts.metrics,
    serveMetrics: opts.serveMetrics ?? false,
    strictReadiness: opts.strictReadiness ?? true,
    shm: security.allowClientShm ? new SharedMemoryRegions() : null,
  };
}

/** A server for --metrics-port: /metrics only, behind the same guards (Host, token with --metrics-auth, TLS, limits). */
export function createMetricsServer(metrics: Metrics, opts: Pick<IngressOptions, 'limits' | 'security'>): IngressServer {
  const env = environment({ ...opts, maxBodyBytes: 0, metrics, serveMetrics: true });
  return createLimitedServer(env.limits, env.security.tls, (req, res) => {
    const ctx: Ctx = { gone: { aborted: false }, started: performance.now() };
    const reply = (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (!env.hostOk(req.headers.host)) throw forbiddenHost(String(req.headers.host));
      if (path !== '/metrics') throw notFound('only /metrics is served here');
      if (env.security.metricsAuth) authorize(env, req);
      return metricsReply(metrics);
    })();
    reply.then((r) => send(env, req, res, ctx, r), (err) => {
      const e = asMlserveError(err);
      send(env, req, res, ctx, { status: e.status, body: { error: e.message }, headers: e.headers });
    });
  });
}

export function send(env: Env, req: http.IncomingMessage, res: http.ServerResponse, ctx: Ctx, reply: Reply): void {
  if (res.writableEnded || res.destroyed) return;
  if (!ctx.reading) beforeEarlyReply(req, res, env.limits.bodyTimeoutMs);
  else if (!req.complete) res.setHeader('connection', 'close'); // stopped reading mid-body (413, 408)
  const waitMs = refusalBackoffMs(res, ctx.shed === true, RETRY_AFTER_MS);
  if (ctx.shed) {
    reply.headers = { ...reply.headers, 'Retry-After': String(waitMs / 1000) };
    holdOff(res, waitMs);
  }
  if (reply.chunks) {
    const length = reply.chunks.reduce((a, c) => a + c.length, 0);
    res.writeHead(reply.status, { 'content-type': 'application/octet-stream', 'content-length': length, ...reply.headers });
    res.cork();
    for (const c of reply.chunks) res.write(c);
    res.end();
    res.uncork();
    return;
  }
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...reply.headers,
  });
  res.end(text);
}

export async function metricsReply(metrics: Metrics): Promise<Reply> {
  return { status: 200, body: await metrics.registry.metrics(), headers: { 'content-type': metrics.registry.contentType } };
}

export function authorize(env: Env, req: http.IncomingMessage): void {
  if (env.authOk && !env.authOk(req.headers.authorization)) throw unauthorized(req.headers.authorization);
}

/** Marks the request abandoned when the client closes the connection before we answer. */
export function clientGone(res: http.ServerResponse): ClientGone {
  const gone: ClientGone = { aborted: false };
  res.once('close', () => {
    if (res.writableFinished) return;
    gone.aborted = true;
    gone.onAbort?.();
  });
  return gone;
}

