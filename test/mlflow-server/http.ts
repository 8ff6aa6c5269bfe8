// The Flask/MLflow plumbing the handlers share: the request context, MlflowException and its HTTP
// mapping (mlflow/exceptions.py), Flask's HTML error pages, and `_get_request_message` /
// `_validate_param_against_schema` as MLflow 2.11's mlflow/server/handlers.py does them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { HostileSupport, Knobs } from './knobs.js';
import { pyIntLike, pyJsonDumps, pyStr, pyTypeName } from './pyjson.js';
import type { MlflowState } from './state.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Path below the base path, percent-decoded as Flask routes it. */
  path: string;
  rawQuery: string;
  query: URLSearchParams;
  body: Buffer;
}

/** What handlers can reach. */
export interface Env {
  state: MlflowState;
  knobs: Knobs;
  hostile: HostileSupport;
}

/**
 * A Flask URL rule. `path` may hold `<name>` and `<path:name>` converters. Scope: 'both' serves it
 * under /api/2.0 and /ajax-api/2.0 (what handlers.py::_get_paths does), 'ajax' only under
 * /ajax-api/2.0, 'root' at the path as written.
 */
export interface Route {
  path: string;
  methods: string[];
  scope?: 'both' | 'ajax' | 'root';
  handler: (ctx: Ctx, env: Env, params: Record<string, string>) => void | Promise<void>;
}

/** mlflow/exceptions.py::ERROR_CODE_TO_HTTP_STATUS */
const ERROR_CODE_TO_HTTP: Record<string, number> = {
  RESOURCE_DOES_NOT_EXIST: 404, NOT_FOUND: 404, ENDPOINT_NOT_FOUND: 404,
  INVALID_PARAMETER_VALUE: 400, BAD_REQUEST: 400, RESOURCE_ALREADY_EXISTS: 400, INVALID_STATE: 500,
  PERMISSION_DENIED: 403, UNAUTHENTICATED: 401, CUSTOMER_UNAUTHORIZED: 401,
  RESOURCE_CONFLICT: 409, ABORTED: 409, ALREADY_EXISTS: 409,
  REQUEST_LIMIT_EXCEEDED: 429, RESOURCE_EXHAUSTED: 429,
  INTERNAL_ERROR: 500, DATA_LOSS: 500, NOT_IMPLEMENTED: 501, TEMPORARILY_UNAVAILABLE: 503, DEADLINE_EXCEEDED: 504,
};

/** An MlflowException: answered as JSON `{"error_code", "message"}` by catch_mlflow_exception. */
export class MlflowError extends Error {
  constructor(message: string, readonly errorCode = 'INTERNAL_ERROR') {
    super(message);
  }
  get status(): number {
    return ERROR_CODE_TO_HTTP[this.errorCode] ?? 500;
  }
}

/** A non-MLflow failure: Flask answers with its own HTML page (404, 405, or 500 for a Python error). */
export class FlaskAbort extends Error {
  constructor(readonly status: 404 | 405 | 500, readonly allow?: string[]) {
    super(`HTTP ${status}`);
  }
}

const FLASK_PAGES: Record<number, [string, string]> = {
  404: ['Not Found', 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.'],
  405: ['Method Not Allowed', 'The method is not allowed for the requested URL.'],
  500: ['Internal Server Error', 'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.'],
};

/** Werkzeug's HTML error page for a status. */
export function flaskErrorPage(status: number): string {
  const [title, text] = FLASK_PAGES[status] ?? [STATUS_CODES[status] ?? 'Error', ''];
  return `<!doctype html>\n<html lang=en>\n<title>${status} ${title}</title>\n<h1>${title}</h1>\n<p>${text}</p>\n`;
}

/** Werkzeug's status line reason: the standard phrase in upper case ("404 NOT FOUND"). */
export function reason(status: number): string {
  return (STATUS_CODES[status] ?? 'UNKNOWN').toUpperCase();
}

/** Send a complete body with Content-Length, the way a Flask Response does (HEAD: headers only). */
export function send(ctx: Ctx, status: number, contentType: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (ctx.res.headersSent) return;
  ctx.res.writeHead(status, reason(status), { Server: 'gunicorn', 'Content-Type': contentType, 'Content-Length': String(buf.length), ...extra });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : buf);
}

/** `_wrap_response(message)`: 200, application/json, `json.dumps(..., indent=2)`. */
export function sendMessage(ctx: Ctx, message: Record<string, unknown>): void {
  send(ctx, 200, 'application/json', pyJsonDumps(message, 2));
}

export function sendMlflowError(ctx: Ctx, e: MlflowError): void {
  send(ctx, e.status, 'application/json', pyJsonDumps({ error_code: e.errorCode, message: e.message }));
}

export function sendFlaskError(ctx: Ctx, e: FlaskAbort): void {
  send(ctx, e.status, 'text/html; charset=utf-8', flaskErrorPage(e.status), e.allow ? { Allow: e.allow.join(', ') } : {});
}

// ---- request decoding -------------------------------------------------------------------------

/** Proto field kinds of a request message, enough to mimic ParseDict's type checks. */
export type FieldKind = 'string' | 'int' | 'bool' | 'string[]' | 'tags';
export type Validator = 'required' | 'string' | 'intlike' | 'bool' | 'array' | 'item_string' | { max: number };
export interface MessageSpec {
  fields: Record<string, FieldKind>;
  /** The handler's `schema=` argument, in its order. */
  schema?: Record<string, Validator[]>;
}

const TYPE_VALIDATORS = new Set<Validator>(['string', 'intlike', 'bool', 'array', 'item_string']);
const SUFFIX = ' See the API docs for more information about request parameters.';

function fieldParses(kind: FieldKind, v: unknown): boolean {
  if (v === null) return true; // ParseDict treats null as "unset"
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'int': return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
    case 'bool': return typeof v === 'boolean';
    case 'string[]': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'tags': return Array.isArray(v) && v.every((t) => t !== null && typeof t === 'object' && !Array.isArray(t));
  }
}

function check(validator: Validator, v: unknown): boolean | 'crash' {
  if (typeof validator === 'object') {
    if (typeof v !== 'number') return 'crash'; // Python: '<=' between str and int raises TypeError
    return v <= validator.max;
  }
  switch (validator) {
    case 'required': return v !== undefined && v !== null && v !== '';
    case 'string': return typeof v === 'string';
    case 'intlike': return v === undefined || v === null ? 'crash' : pyIntLike(v) !== undefined;
    case 'bool': return typeof v === 'boolean';
    case 'array': return Array.isArray(v);
    case 'item_string': return Array.isArray(v) && v.every((x) => typeof x === 'string');
  }
}

/** `_validate_content_type(request, ["application/json"])` for POST and PUT. */
export function validateContentType(ctx: Ctx): void {
  if (ctx.method !== 'POST' && ctx.method !== 'PUT') return;
  const ct = ctx.req.headers['content-type'];
  if (ct === undefined) throw new MlflowError('Bad Request. Content-Type header is missing.', 'INVALID_PARAMETER_VALUE');
  if (ct.split(';')[0] !== 'application/json') {
    throw new MlflowError("Bad Request. Content-Type must be one of ['application/json'].", 'INVALID_PARAMETER_VALUE');
  }
}

/**
 * `_get_request_message` of MLflow 2.11: a GET with a query string is parsed from the query
 * (querystring_parser, then ParseDict, **without** schema validation; a value ParseDict cannot take
 * is an uncaught ParseError, i.e. Flask's 500); anything else reads the body as JSON
 * (`get_json(force=True, silent=True)`: malformed JSON counts as `{}`), then validates the schema,
 * skipping the type checks when ParseDict succeeded.
 */
export function getRequestMessage(ctx: Ctx, spec: MessageSpec): Record<string, unknown> {
  if (ctx.method === 'GET' && ctx.rawQuery.length > 0) {
    const out: Record<string, unknown> = {};
    for (const [key, kind] of Object.entries(spec.fields)) {
      const values = ctx.query.getAll(key);
      if (values.length === 0) continue;
      const v = values[0];
      if (kind === 'string[]') out[key] = values;
      else if (kind === 'int') {
        if (!/^-?\d+$/.test(v)) throw new FlaskAbort(500);
        out[key] = Number.parseInt(v, 10);
      } else if (kind === 'bool') {
        if (v !== 'true' && v !== 'false') throw new FlaskAbort(500);
        out[key] = v === 'true';
      } else if (kind === 'string') out[key] = v;
    }
    return out;
  }
  validateContentType(ctx);
  let json: unknown;
  try {
    json = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    json = null;
  }
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json); // older clients double-encode
    } catch {
      throw new FlaskAbort(500);
    }
  }
  if (json === null) json = {};
  if (typeof json !== 'object' || Array.isArray(json)) throw new FlaskAbort(500); // request_json.get -> AttributeError
  const body = json as Record<string, unknown>;
  const parsed = Object.entries(spec.fields).every(([k, kind]) => !(k in body) || fieldParses(kind, body[k]));
  for (const [key, validators] of Object.entries(spec.schema ?? {})) {
    if (!(key in body) && !validators.includes('required')) continue;
    let value = body[key];
    if (key === 'run_id' && value === undefined && 'run_uuid' in body) value = body.run_uuid;
    for (const validator of validators) {
      if (parsed && TYPE_VALIDATORS.has(validator)) continue;
      const ok = check(validator, value);
      if (ok === 'crash') throw new FlaskAbort(500);
      if (ok) continue;
      const message =
        validator === 'required'
          ? `Missing value for required parameter '${key}'.`
          : `Invalid value ${pyStr(value)} for parameter '${key}' supplied. Hint: Value was of type '${pyTypeName(value)}'.`;
      throw new MlflowError(message + SUFFIX, 'INVALID_PARAMETER_VALUE');
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(spec.fields)) {
    const v = body[key];
    if (v === undefined || v === null || !fieldParses(kind, v)) continue;
    out[key] = kind === 'int' && typeof v === 'string' ? Number.parseInt(v, 10) : v;
  }
  return out;
}

/** The proto default for an unset string field. */
export function str(msg: Record<string, unknown>, key: string): string {
  const v = msg[key];
  return typeof v === 'string' ? v : '';
}

export function strList(msg: Record<string, unknown>, key: string): string[] {
  const v = msg[key];
  return Array.isArray(v) ? (v as string[]) : [];
}
