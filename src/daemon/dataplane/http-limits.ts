// The ingress's HTTP server with nginx's defences: a cap on open connections (worker_connections),
// a deadline for request headers (client_header_timeout), a keep-alive idle timeout, a send timeout
// for clients that stop reading (send_timeout), and the rules for answering before the body is
// read: a big or slow unread body closes the connection, a refused client is not read again
// before its Retry-After.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { IngressLimits } from './ingress-settings.js';
import { hasBody } from './body.js';

export type IngressServer = http.Server | https.Server;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** An unread body up to this size is read and dropped (the connection stays open); a bigger one closes it. */
const DROP_BODY_BYTES = 64 * 1024;

export function createLimitedServer(limits: IngressLimits, tls: { cert: Buffer; key: Buffer } | null, handler: http.RequestListener): IngressServer {
  const options: http.ServerOptions = {
    // Node's headersTimeout is the nginx kind: the whole header within it, counted from its first byte
    // (for a new connection, from the connection); the C++ side checks every connectionsCheckingInterval.
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: 0, // no cap on a whole upload: the body's idle timeout cuts slow ones (body.ts)
    connectionsCheckingInterval: clamp(Math.floor(limits.headerTimeoutMs / 4), 10, 1000),
  };
  const server: IngressServer = tls ? https.createServer({ ...options, cert: tls.cert, key: tls.key }, handler) : http.createServer(options, handler);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  watchSends(server, limits.sendTimeoutMs, tls !== null);
  capConnections(server, limits.maxConnections, tls !== null); // last: wraps every 'connection' listener
  return server;
}

const overCapacity = (max: number) => {
  const body = JSON.stringify({ error: `the ingress has ${max} open connections, its limit (--max-connections); retry later` });
  return `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`;
};

/**
 * At most `max` connections open: past it, a new connection gets a 503 at once (TLS ones are
 * closed: no plain text into a TLS handshake) and is closed without a request being parsed.
 */
function capConnections(server: IngressServer, max: number, tls: boolean): void {
  let open = 0;
  const inner = server.listeners('connection') as Array<(s: net.Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', (socket: net.Socket) => {
    if (open >= max) {
      socket.on('error', () => {});
      if (tls) return void socket.destroy();
      socket.end(overCapacity(max));
      socket.resume(); // read and drop what the client sends until it closes (a close with unread data would reset the 503)
      socket.setTimeout(2000, () => socket.destroy());
      return;
    }
    open++;
    socket.once('close', () => open--);
    for (const l of inner) l.call(server, socket);
  });
}

interface Watch { pending: number; since: number }

/** Bytes the socket still has to hand to the kernel (libuv's queue moves as partial writes happen). */
function unsent(s: net.Socket): number {
  const handle = (s as net.Socket & { _handle?: { writeQueueSize?: number } | null })._handle;
  return s.writableLength + (handle?.writeQueueSize ?? 0);
}

/**
 * A connection whose unsent bytes made no progress for `timeoutMs` (a client that does not read
 * its responses, or pipelines requests and never reads) is closed. One timer looks at every open
 * connection (a few property reads each), running while any is open.
 */
function watchSends(server: IngressServer, timeoutMs: number, tls: boolean): void {
  const sockets = new Map<net.Socket, Watch>();
  let timer: NodeJS.Timeout | null = null;
  const tick = () => {
    const now = performance.now();
    for (const [s, w] of sockets) {
      const p = s.destroyed ? 0 : unsent(s);
      if (p === 0) {
        w.pending = 0;
        continue;
      }
      if (w.pending === 0 || p < w.pending) w.since = now; // started waiting, or the kernel took bytes
      w.pending = p;
      if (now - w.since >= timeoutMs) s.destroy();
    }
  };
  const period = clamp(Math.floor(timeoutMs / 4), 10, 1000);
  server.on(tls ? 'secureConnection' : 'connection', (s: net.Socket) => {
    sockets.set(s, { pending: 0, since: 0 });
    if (!timer) {
      timer = setInterval(tick, period);
      timer.unref();
    }
    s.once('close', () => {
      sockets.delete(s);
      if (sockets.size === 0 && timer) {
        clearInterval(timer);
        timer = null;
      }
    });
  });
}

/**
 * Before answering a request whose body was not read (refused early: 401, 403, 404, 415, 503): a
 * big or chunked body closes the connection after the answer; a small one is read and dropped,
 * but if it has not all arrived within `bodyTimeoutMs` after the answer, the connection closes.
 */
export function beforeEarlyReply(req: http.IncomingMessage, res: http.ServerResponse, bodyTimeoutMs: number): void {
  if (req.complete || !hasBody(req)) return;
  const declared = Number(req.headers['content-length']);
  if (req.headers['transfer-encoding'] !== undefined || !(declared <= DROP_BODY_BYTES)) {
    res.setHeader('connection', 'close');
    return;
  }
  res.once('finish', () => {
    if (req.complete) return;
    // The timer holds the socket; it goes when the body has all arrived or the socket closed (no listener left behind).
    const t = setTimeout(() => req.socket.destroy(), bodyTimeoutMs);
    t.unref();
    req.once('end', () => clearTimeout(t));
  });
}

/** Refusals in a row per connection (reset by any other answer on it). */
const streaks = new WeakMap<net.Socket, number>();

/**
 * How long a connection refused for load waits: Retry-After seconds, doubling for each refusal in
 * a row on the same connection (1, 2, 4, 8 s): a client that ignores Retry-After and asks again at
 * once is asked to wait longer. Any other answer on the connection starts over at 1 s.
 */
export function refusalBackoffMs(res: http.ServerResponse, shed: boolean, baseMs: number): number {
  const s = res.socket;
  if (!s) return baseMs;
  if (!shed) {
    streaks.delete(s);
    return 0;
  }
  const n = (streaks.get(s) ?? 0) + 1;
  streaks.set(s, n);
  return baseMs * 2 ** Math.min(n - 1, 3);
}

/**
 * A client refused for load (503 + Retry-After) is not read again on this connection until
 * Retry-After has passed: its next request waits in the socket instead of costing the event loop
 * another refusal. A client that honours Retry-After never notices. (This uses node:http's own
 * switch for "do not read this socket", `_paused`, which it checks before every resume and which
 * makes it pause the parser as well; the resume undoes both, as node:http's socketOnDrain does.)
 */
export function holdOff(res: http.ServerResponse, ms: number): void {
  type HttpSocket = net.Socket & { _paused?: boolean; parser?: { resume(): void } | null };
  const s = res.socket as HttpSocket | null; // detached from res once it finishes
  res.once('finish', () => {
    if (!s || s.destroyed || s._paused !== false) return;
    s._paused = true;
    s.pause();
    // No 'close' listener per hold (a keep-alive connection is held again and again): an unref'd
    // timer that finds the socket destroyed does nothing.
    const t = setTimeout(() => {
      if (s.destroyed || !s._paused) return;
      s._paused = false;
      s.parser?.resume();
      s.resume();
    }, ms);
    t.unref();
  });
}
