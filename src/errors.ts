// One catalogue of mlserve's errors. Each code says whose fault it is (the HTTP status the control
// API and the ingress answer with), how the CLI exits with it, and the remedy for its class (the
// message of each error says what exactly was wrong and what to do). Thrown by any layer; the
// control server, the ingress and the CLI turn them into responses and exit codes. PURE.

export interface ErrorEntry {
  /** HTTP status on the control API and the ingress. */
  status: number;
  /** The CLI's exit code: 2 for what the caller typed wrong (fix the command), 1 for the rest. */
  exit: 1 | 2;
  /** What the error means. */
  meaning: string;
  /** What to do about this class of error. */
  remedy: string;
}

export const ERRORS = {
  USAGE: {
    status: 400, exit: 2, meaning: 'an unknown command or flag, a missing argument, a value the CLI cannot read',
    remedy: 'see mlserve COMMAND --help',
  },
  BAD_REQUEST: {
    status: 400, exit: 2, meaning: 'a value the daemon refused: a setting out of range, an invalid name, a wrong shape or dtype',
    remedy: 'fix the value the message names (its accepted range is in the message)',
  },
  INVALID_CONFIG: {
    status: 400, exit: 2, meaning: 'a config file with errors, or a plan that cannot be carried out',
    remedy: 'fix the lines the errors name (file:line:col); mlserve apply --dry-run checks without changing anything',
  },
  DAEMON_NOT_RUNNING: {
    status: 503, exit: 1, meaning: 'no daemon answers on $MLSERVE_HOME/mlserve.sock',
    remedy: 'mlserve daemon start (or mlserve daemon stop when one holds the home but does not answer)',
  },
  DAEMON_FAILED: {
    status: 500, exit: 1, meaning: 'the daemon did not start or stop in time',
    remedy: 'read $MLSERVE_HOME/logs/daemon.log',
  },
  NOT_FOUND: {
    status: 404, exit: 1, meaning: 'no such endpoint, deployment, model version or route',
    remedy: 'mlserve status lists what is deployed; mlserve models what the registry has',
  },
  CONFLICT: {
    status: 409, exit: 1, meaning: 'a name, endpoint, port or home already in use',
    remedy: 'the message names the ways on (--replace, --canary N, mlserve undeploy, another name or port)',
  },
  UNAUTHORIZED: {
    status: 401, exit: 1, meaning: "the ingress's bearer token is missing or wrong",
    remedy: 'send Authorization: Bearer <the token in the file given to daemon start --auth-token-file>',
  },
  FORBIDDEN: {
    status: 403, exit: 1, meaning: 'a Host header the ingress does not serve (DNS rebinding protection)',
    remedy: 'call it by IP address or localhost, or start the daemon with --allowed-hosts NAME',
  },
  REQUEST_TIMEOUT: {
    status: 408, exit: 1, meaning: 'the client stopped sending its request (header or body) for too long',
    remedy: 'send the whole request at once, or start the daemon with a longer --header-timeout / --body-timeout',
  },
  CLIENT_CLOSED: {
    status: 499, exit: 1, meaning: 'the client left before its answer (counted as nginx\'s 499, not as an error)',
    remedy: 'nothing on the server side; a client that gives up too early needs a longer timeout of its own',
  },
  METHOD_NOT_ALLOWED: { status: 405, exit: 1, meaning: 'the wrong HTTP method for a route', remedy: 'use the method the message names' },
  PAYLOAD_TOO_LARGE: {
    status: 413, exit: 1, meaning: 'a request body over the limit', remedy: 'send less per request, or start the daemon with a larger --max-body-size',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415, exit: 1, meaning: 'the wrong content type, or a /predict image that is not JPEG, PNG or WebP',
    remedy: 'send what the message names (application/json on /invocations; an image on /predict)',
  },
  MODEL_SOURCE: {
    status: 400, exit: 1, meaning: 'a model source that cannot be resolved or read',
    remedy: 'check the path or models:/ URI (mlserve models show NAME lists versions, stages and aliases)',
  },
  UNSUPPORTED_MODEL: {
    status: 400, exit: 1, meaning: 'a model mlserve cannot run as asked (flavors, input types, a Python without what it needs)',
    remedy: 'the message names the flavor or package missing and the command that adds it',
  },
  NO_GPU: {
    status: 400, exit: 1, meaning: 'more GPUs asked for than this machine has (never fits, so refused at once)',
    remedy: 'ask for fewer GPUs or replicas (mlserve gpus shows the inventory), or deploy without --gpus',
  },
  PENDING: {
    status: 503, exit: 1, meaning: 'a deployment waits for GPU room that other deployments hold; it starts by itself once freed',
    remedy: 'free room: mlserve undeploy or mlserve scale the deployments the message names (mlserve gpus shows who holds what)',
  },
  DEPLOY_FAILED: {
    status: 500, exit: 1, meaning: 'a deployment or new revision could not start: the model does not load, replicas crash',
    remedy: 'mlserve logs DEPLOYMENT and mlserve events DEPLOYMENT say why; mlserve undeploy DEPLOYMENT removes it',
  },
  NOT_READY: {
    status: 503, exit: 1, meaning: 'no ready replica yet, or not ready within --timeout',
    remedy: 'mlserve status shows what it waits for; retry after Retry-After, or pass a longer --timeout',
  },
  OVERLOADED: { status: 503, exit: 1, meaning: 'the queue is full', remedy: 'retry after Retry-After; add replicas (mlserve scale) or raise --max-queued-requests' },
  TIMEOUT: { status: 504, exit: 1, meaning: 'the request deadline passed', remedy: 'raise --request-timeout-ms, or add replicas' },
  CHECK_FAILED: {
    status: 500, exit: 1, meaning: 'a bench --assert / --baseline check or a doctor check failed',
    remedy: 'the table printed above says which check and by how much',
  },
  MLFLOW_UNAVAILABLE: {
    status: 502, exit: 1, meaning: 'the MLflow server is down or answers with errors',
    remedy: 'mlserve doctor checks MLFLOW_TRACKING_URI (reachable and authorized)',
  },
  REGISTRY_WRITE: {
    status: 502, exit: 1, meaning: 'a promote or rollback was done here, but writing it back to the MLflow registry (alias, stage) failed',
    remedy: 'the message says what the registry answered; fix the credentials or permission, or set the alias or stage with MLflow\'s client',
  },
  STORAGE: {
    status: 507, exit: 1, meaning: 'the model cache or environments folder cannot be written (read-only, permissions, disk full)',
    remedy: 'free disk space or fix the permissions of the folder the message names; mlserve cache prune removes unused models',
  },
  INTERNAL: {
    status: 500, exit: 1, meaning: "mlserve's own fault (or a model that raised)",
    remedy: 'a bug: see $MLSERVE_HOME/logs/daemon.log and report it with the message',
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** HTTP status per code. */
export const STATUS = Object.fromEntries(ERROR_CODES.map((c) => [c, ERRORS[c].status])) as Record<ErrorCode, number>;

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code);

/** The CLI's exit code for an error code (an unknown code is a failure: 1). */
export const exitCodeOf = (code: unknown): 1 | 2 => (isErrorCode(code) ? ERRORS[code].exit : 1);

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

/** The README's table of the catalogue (a test keeps the README's copy equal to it). */
export function errorTable(): string {
  const rows = ERROR_CODES.map((c) => `| \`${c}\` | ${ERRORS[c].exit} | ${ERRORS[c].status} | ${ERRORS[c].meaning} | ${ERRORS[c].remedy} |`);
  return ['| code | exit | HTTP | meaning | remedy |', '|---|---|---|---|---|', ...rows].join('\n');
}
