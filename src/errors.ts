// One catalogue of mlserve's errors: each has a code, the HTTP status that says whose fault it is,
// and a message that says what was wrong and what to do. Thrown by any layer; the control server,
// the ingress and the CLI turn them into responses and exit codes.

export type ErrorCode =
  | 'BAD_REQUEST' // malformed body, wrong shape/dtype: the client's fault (400)
  | 'UNAUTHORIZED' // the ingress's bearer token is missing or wrong (401)
  | 'FORBIDDEN' // a Host header the daemon does not serve (DNS rebinding) (403)
  | 'REQUEST_TIMEOUT' // the client stopped sending its request (408)
  | 'CLIENT_CLOSED' // the client left before its answer: nginx's 499, not an error of ours or the model's
  | 'UNSUPPORTED_MEDIA_TYPE' // 415
  | 'NOT_FOUND' // unknown endpoint, deployment, route (404)
  | 'METHOD_NOT_ALLOWED' // 405
  | 'CONFLICT' // already exists (409)
  | 'PAYLOAD_TOO_LARGE' // 413
  | 'NOT_READY' // replicas not ready (503)
  | 'OVERLOADED' // queue full (503 + Retry-After)
  | 'TIMEOUT' // deadline passed (504)
  | 'MODEL_SOURCE' // cannot resolve or read a model source (400 on the control API)
  | 'UNSUPPORTED_MODEL' // non-ONNX flavor, unsupported input types (400)
  | 'NO_GPU' // GPUs asked for where there are none / none left (400)
  | 'MLFLOW_UNAVAILABLE' // registry server down or misbehaving (502)
  | 'STORAGE' // the model cache cannot be written: read-only, no permission, disk full (507)
  | 'INTERNAL'; // our own fault (500)

export const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  REQUEST_TIMEOUT: 408,
  CLIENT_CLOSED: 499,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  NOT_READY: 503,
  OVERLOADED: 503,
  TIMEOUT: 504,
  MODEL_SOURCE: 400,
  UNSUPPORTED_MODEL: 400,
  NO_GPU: 400,
  MLFLOW_UNAVAILABLE: 502,
  STORAGE: 507,
  INTERNAL: 500,
};

export class MlserveError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: { headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MlserveError';
    this.code = code;
    this.status = STATUS[code];
    this.headers = opts.headers ?? {};
  }
}

export const badRequest = (msg: string) => new MlserveError('BAD_REQUEST', msg);
export const notFound = (msg: string) => new MlserveError('NOT_FOUND', msg);

/** Any thrown value as an MlserveError (unknown errors are our own fault: INTERNAL). */
export function asMlserveError(err: unknown): MlserveError {
  if (err instanceof MlserveError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new MlserveError('INTERNAL', msg, { cause: err });
}
