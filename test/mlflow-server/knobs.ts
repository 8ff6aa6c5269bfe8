// Fault and deployment knobs, settable while the server runs. With every knob at its default the
// server behaves as the recorded MLflow 2.11 server.
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reason, type Ctx } from './http.js';
import { pyJsonDumps } from './pyjson.js';

export type AuthKnob = { basic: { user: string; pass: string } } | { bearer: string } | null;
export type HostileKind = 'dotdot' | 'absolute' | 'symlink' | null;

export interface FailOptions {
  /** Retry-After header value (seconds, or an HTTP date). */
  retryAfter?: number | string;
  /** The body: an object is sent as JSON, a string as text/plain (or `contentType`). Default: MLflow-style JSON error. */
  body?: string | Record<string, unknown>;
  contentType?: string;
  /** Only requests whose path (below the base path) matches are failed; others pass. */
  path?: string | RegExp;
}

/** What the hostile-listing knob injects. */
export const HOSTILE = {
  dotdotEntry: '../../../../tmp/evil',
  absoluteEntry: '/etc/passwd',
  /** Name of the symlink put in every model folder (a folder holding MLmodel); it points outside the artifact root. */
  symlinkEntry: 'leak.bin',
  secretContent: 'TOP SECRET: this file lives outside the artifact root\n',
};

const CODE_FOR_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'RESOURCE_DOES_NOT_EXIST', 409: 'RESOURCE_CONFLICT',
  429: 'REQUEST_LIMIT_EXCEEDED', 500: 'INTERNAL_ERROR', 501: 'NOT_IMPLEMENTED', 503: 'TEMPORARILY_UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};

/** The symlinks behind hostileListing = 'symlink', pointing at a secret file outside the artifact root. */
export class HostileSupport {
  readonly secretFile: string;
  private readonly links = new Set<string>();
  constructor(readonly outsideDir: string) {
    mkdirSync(outsideDir, { recursive: true });
    this.secretFile = join(outsideDir, 'secret.txt');
    writeFileSync(this.secretFile, HOSTILE.secretContent);
  }
  /** Put the symlink into `dir` if it is a model folder. */
  ensureLink(dir: string): void {
    if (!existsSync(join(dir, 'MLmodel'))) return;
    const link = join(dir, HOSTILE.symlinkEntry);
    if (!this.links.has(link)) {
      try { symlinkSync(this.secretFile, link); } catch { /* already there */ }
      this.links.add(link);
    }
  }
  /** Put the symlink into every model folder below `root`. */
  ensureAll(root: string): void {
    const walk = (dir: string): void => {
      this.ensureLink(dir);
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    };
    if (existsSync(root)) walk(root);
  }
  removeAll(): void {
    for (const link of this.links) {
      try { if (lstatSync(link).isSymbolicLink()) unlinkSync(link); } catch { /* gone */ }
    }
    this.links.clear();
  }
}

export class Knobs {
  /** Delay (ms) before answering each request (matching `stallPath`, if set). */
  stallMs = 0;
  stallPath: string | RegExp | null = null;
  /** Require credentials like mlflow's basic-auth app (basic) or a token-checking proxy (bearer). */
  auth: AuthKnob = null;
  /** Answer every request with an HTML page, like a misconfigured proxy: true or 200 = a sign-in page, 502 = nginx's Bad Gateway. */
  htmlProxy: boolean | 200 | 502 = false;
  /** Downloads send only half of the file (the listing still gives the full file_size). */
  truncateDownloads = false;
  /** Downloads destroy the socket after this many body bytes. */
  killAfterBytes: number | null = null;
  /** Downloads send the file, then keep sending bytes (no Content-Length) until the client hangs up. */
  endlessDownloads = false;
  /** Sizes in artifact listings: null = the real ones, 'omit' = no file_size, a number = every file claims it. */
  listingSizes: null | 'omit' | number = null;
  /** What the endless downloads did: streams started, still open, bytes written past the file's end. */
  readonly endless = { streams: 0, open: 0, bytesPastEnd: 0 };
  private failures: Array<{ status: number; opts: FailOptions }> = [];
  private hostile: HostileKind = null;

  constructor(private readonly onHostileChange: (kind: HostileKind) => void = () => {}) {}

  /** Listings of model folders carry a hostile entry (see HOSTILE). */
  get hostileListing(): HostileKind {
    return this.hostile;
  }
  set hostileListing(kind: HostileKind) {
    this.hostile = kind;
    this.onHostileChange(kind);
  }

  /** The next `n` requests (matching opts.path, if given) are answered with `status`. */
  failNext(n: number, status = 503, opts: FailOptions = {}): void {
    for (let i = 0; i < n; i++) this.failures.push({ status, opts });
  }

  get pendingFailures(): number {
    return this.failures.length;
  }

  reset(): void {
    Object.assign(this, { stallMs: 0, stallPath: null, auth: null, htmlProxy: false, truncateDownloads: false, killAfterBytes: null, endlessDownloads: false, listingSizes: null });
    Object.assign(this.endless, { streams: 0, open: this.endless.open, bytesPastEnd: 0 });
    this.failures = [];
    if (this.hostile) this.hostileListing = null;
  }

  /** Apply the knobs that act before routing; true when the request was answered. */
  async intercept(ctx: Ctx): Promise<boolean> {
    if (this.stallMs > 0 && matchPath(this.stallPath, ctx.path)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.stallMs);
        ctx.res.once('close', () => { clearTimeout(timer); resolve(); }); // the client gave up
      });
      if (ctx.req.socket.destroyed) return true;
    }
    const i = this.failures.findIndex((f) => matchPath(f.opts.path ?? null, ctx.path));
    if (i >= 0) {
      const [{ status, opts }] = this.failures.splice(i, 1);
      const headers: Record<string, string> = {};
      if (opts.retryAfter !== undefined) headers['Retry-After'] = String(opts.retryAfter);
      const isText = typeof opts.body === 'string';
      const body = isText
        ? (opts.body as string)
        : pyJsonDumps(opts.body ?? { error_code: CODE_FOR_STATUS[status] ?? 'INTERNAL_ERROR', message: `Injected failure (${status}) from the test server's failNext knob` });
      write(ctx, status, opts.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json'), body, headers);
      return true;
    }
    if (this.htmlProxy) {
      const status = this.htmlProxy === 502 ? 502 : 200;
      const page =
        status === 502
          ? '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n'
          : '<!DOCTYPE html>\n<html>\n<head><title>Sign in</title></head>\n<body>\n<h1>Sign in to continue</h1>\n<form method="post" action="/login"><input name="user"><input name="password" type="password"></form>\n</body>\n</html>\n';
      write(ctx, status, 'text/html', page, { Server: 'nginx' });
      return true;
    }
    if (this.auth && !ctx.path.startsWith('/health') && !ctx.path.startsWith('/static')) return this.checkAuth(ctx);
    return false;
  }

  private checkAuth(ctx: Ctx): boolean {
    const header = ctx.req.headers.authorization ?? '';
    const auth = this.auth as NonNullable<AuthKnob>;
    if ('basic' in auth) {
      const m = /^Basic\s+(\S+)$/i.exec(header);
      const decoded = m ? Buffer.from(m[1], 'base64').toString('utf8') : undefined;
      if (decoded === `${auth.basic.user}:${auth.basic.pass}`) return false;
      // mlflow/server/auth/__init__.py::make_basic_auth_response
      write(
        ctx, 401, 'text/html; charset=utf-8',
        'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.',
        { 'WWW-Authenticate': 'Basic realm="mlflow"' },
      );
      return true;
    }
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m) {
      write(ctx, 401, 'application/json', pyJsonDumps({ error_code: 'UNAUTHENTICATED', message: 'Missing bearer token.' }), {
        'WWW-Authenticate': 'Bearer realm="mlflow"',
      });
      return true;
    }
    if (m[1].trim() === auth.bearer) return false;
    write(ctx, 403, 'application/json', pyJsonDumps({ error_code: 'PERMISSION_DENIED', message: 'Permission denied' }));
    return true;
  }
}

function matchPath(filter: string | RegExp | null, path: string): boolean {
  if (filter === null) return true;
  return typeof filter === 'string' ? path.includes(filter) : filter.test(path);
}

function write(ctx: Ctx, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body, 'utf8');
  ctx.res.writeHead(status, reason(status), { Server: 'gunicorn', 'Content-Type': contentType, 'Content-Length': String(buf.length), ...headers });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : buf);
}
