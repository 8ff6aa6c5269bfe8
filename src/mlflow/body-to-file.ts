// One HTTP response body written to a file: batched writes, an optional byte limit checked per
// chunk, and an end that is seen even when the body ended or broke before it was read.
import { rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { finished, type Readable } from 'node:stream';

/** The most a download may bring, and the error once it brings more. */
export interface DownloadLimit {
  maxBytes: number;
  exceeded: (bytesReceived: number) => Error;
}

/** Bytes gathered before one write to the file. */
const WRITE_BATCH = 1 << 20;

/** What went wrong while writing a body, with the bytes written before it. */
export class BodyError extends Error {
  constructor(
    readonly reason: Error,
    readonly written: number,
    /** The limit's own error (thrown as it is), not a transfer or file failure. */
    readonly overLimit: boolean,
  ) {
    super(reason.message);
  }
}

/**
 * Write `body` to `dest` (mode 0600) and return the bytes written. On any failure the body is
 * destroyed, the partial file deleted and a BodyError thrown. The end is watched with
 * `stream.finished` from the first line, which also reports a body that already ended, failed or
 * closed before this was called or while the file was being opened (a server that cuts the
 * connection right after the headers): 'end' and 'error' listeners added after the fact would
 * never fire, and the download would wait forever.
 */
export async function writeBodyToFile(body: Readable, dest: string, onBytes: (n: number) => void, limit?: DownloadLimit): Promise<number> {
  let written = 0;
  let over: Error | undefined;
  // Small chunks are gathered into writes of WRITE_BATCH bytes: a server that sends a file in
  // pieces of a few hundred bytes (MLflow 2's gunicorn does) must not cost one write each.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let file: FileHandle | undefined;
  // Watched from the start: an error while the file opens has a listener (no uncaught 'error').
  const ended = new Promise<Error | undefined>((resolve) => finished(body, (err) => resolve(err ?? undefined)));
  try {
    file = await open(dest, 'w', 0o600);
    const out = file;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const buf = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await out.write(buf);
    };
    // 'data' events (not for-await, which joins what is buffered): each chunk is checked against
    // the limit as it arrives, so the transfer stops within one chunk of the bound.
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      body.on('data', (chunk: Buffer) => {
        if (failed) return;
        if (limit && written + chunk.length > limit.maxBytes) {
          over = limit.exceeded(written + chunk.length);
          fail(over);
          return;
        }
        written += chunk.length;
        onBytes(chunk.length);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH) {
          body.pause();
          flush().then(() => body.resume(), fail);
        }
      });
      void ended.then((err) => {
        if (!err) return void flush().then(resolve, fail);
        const premature = (err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE';
        fail(premature ? new Error('the connection closed before the end of the file') : err);
      });
    });
    await file.close();
    file = undefined;
    return written;
  } catch (err) {
    // Stopping early (the limit, a write error) aborts the HTTP body.
    body.destroy();
    await file?.close().catch(() => {});
    rmSync(dest, { force: true });
    throw new BodyError(over ?? (err as Error), written, over !== undefined);
  }
}
