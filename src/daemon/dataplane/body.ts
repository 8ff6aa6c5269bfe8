// Reading a request body: up to a limit (413 past it), with an idle timeout between reads (408: a
// client that sends its body slowly is cut), and a client that leaves mid-upload is a 499 (its
// own doing), never a 500 of ours.
import type http from 'node:http';
import { MlserveError } from '../../errors.js';

export interface BodyOptions {
  /** Longest pause between two chunks of the body, ms (0 or absent: none). */
  idleMs?: number;
  /** The daemon start flag that raises the limit, named in the 413. */
  limitFlag?: string;
  /** The body in a buffer of its own (not a slice of a pool) so that it can be handed to a worker. */
  ownBuffer?: boolean;
  /**
   * Place the body so that this byte offset of it is 8-aligned in memory: the binary tensor
   * extension's blobs start after a JSON header of any length, and an aligned blob becomes a typed
   * array view with no copy (viewBytes copies an unaligned one).
   */
  alignAt?: number;
}

/** Does this request carry a body (a content-length above 0, or chunked)? */
export function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

export const clientClosed = (got: number, declared?: number) =>
  new MlserveError('CLIENT_CLOSED', `the client closed the connection after ${got}${declared === undefined ? '' : ` of ${declared}`} body bytes`);

/** Read a request body up to `limit` bytes; past it, a 413 that says how to raise the limit. */
export function readBody(req: http.IncomingMessage, limit: number, opts: BodyOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () =>
      new MlserveError('PAYLOAD_TOO_LARGE', `request body is over the ${limit}-byte limit; send less data per request or start the daemon with a larger ${opts.limitFlag ?? '--max-body-size'}`);
    const raw = req.headers['content-length'];
    const declared = raw === undefined ? undefined : Number(raw);
    if (declared !== undefined && declared > limit) return reject(tooLarge());
    // With a declared length, chunks are copied into one buffer as they come (no big concat at the end).
    let buf: Buffer | null = null;
    if (declared !== undefined && Number.isSafeInteger(declared)) {
      if (opts.alignAt !== undefined) {
        // A buffer of its own starts its memory 8-aligned: pad so that alignAt lands on a multiple of 8.
        const pad = (8 - (opts.alignAt % 8)) % 8;
        buf = Buffer.allocUnsafeSlow(declared + pad).subarray(pad);
      } else buf = opts.ownBuffer ? Buffer.allocUnsafeSlow(declared) : Buffer.allocUnsafe(declared);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const timer = opts.idleMs ? setTimeout(() => finish(new MlserveError('REQUEST_TIMEOUT',
      `no request body bytes arrived for ${opts.idleMs} ms (after ${size}${declared === undefined ? '' : ` of ${declared}`} bytes); the daemon cuts slow uploads (--body-timeout)`)), opts.idleMs) : null;
    const onData = (c: Buffer) => {
      timer?.refresh();
      if (size + c.length > limit) return finish(tooLarge());
      if (buf && size + c.length <= buf.length) c.copy(buf, size);
      else {
        if (buf) chunks.push(buf.subarray(0, size));
        buf = null;
        chunks.push(c);
      }
      size += c.length;
    };
    const onEnd = () => finish(null);
    const onError = () => finish(clientClosed(size, declared));
    const onClose = () => {
      if (!req.complete) finish(clientClosed(size, declared));
    };
    function finish(err: MlserveError | null) {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      // Later errors of this request (the socket closing) have nothing left to tell.
      req.off('error', onError);
      req.on('error', () => {});
      if (err) return reject(err);
      if (buf) resolve(size === buf.length ? buf : buf.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
