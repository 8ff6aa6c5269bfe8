// A raw HTTP client for the test server's tests: sends the path and query exactly as given (no URL
// normalisation) and returns the status line, headers and body bytes.
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  /** Header names as sent, in order, with values. */
  rawHeaders: Array<[string, string]>;
  body: Buffer;
  text: string;
  sha256: string;
  /** Set when the connection broke before the body was complete. */
  error?: Error;
}

export function rawRequest(
  baseUrl: string,
  pathAndQuery: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const u = new URL(baseUrl);
  const basePath = u.pathname.replace(/\/+$/, '');
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: basePath + pathAndQuery, headers, timeout: opts.timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        const finish = (error?: Error) => {
          const body = Buffer.concat(chunks);
          const rawHeaders: Array<[string, string]> = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
          resolve({
            status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, rawHeaders, body,
            text: body.toString('utf8'), sha256: createHash('sha256').update(body).digest('hex'), error,
          });
        };
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => finish());
        res.on('error', (e) => finish(e));
        res.on('aborted', () => finish(new Error('aborted')));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}
