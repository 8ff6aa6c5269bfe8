// OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, with the status that goes
// with it, and the mapping from mlserve's own errors (unknown endpoint 404, queue full 429 with
// Retry-After, no replica 503 with Retry-After, ...). PURE.
import { MlserveError } from '../../../errors.js';
import { LlmRequestError } from '../../../runtime/llm/protocol.js';

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class OpenAiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'OpenAiError';
  }

  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 about one field of the request. */
export const invalid = (message: string, param: string | null = null, code: string | null = null) => new OpenAiError(400, message, 'invalid_request_error', code, param);

const BY_CODE: Record<string, { status: number; type: string; code: string | null }> = {
  BAD_REQUEST: { status: 400, type: 'invalid_request_error', code: null },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error', code: null },
  NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  METHOD_NOT_ALLOWED: { status: 405, type: 'invalid_request_error', code: null },
  PAYLOAD_TOO_LARGE: { status: 413, type: 'invalid_request_error', code: null },
  // A full queue is the client's cue to slow down (OpenAI's 429); no replica yet is the server's (503).
  OVERLOADED: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  NOT_READY: { status: 503, type: 'server_error', code: 'service_unavailable' },
  TIMEOUT: { status: 504, type: 'server_error', code: 'timeout' },
};

/** Any error as an OpenAI error (unknown ones are ours: 500 server_error). */
export function toOpenAiError(err: unknown): OpenAiError {
  if (err instanceof OpenAiError) return err;
  if (err instanceof LlmRequestError) {
    return new OpenAiError(err.status, err.message, err.status >= 500 ? 'server_error' : 'invalid_request_error', err.code, err.param);
  }
  if (err instanceof MlserveError) {
    const m = BY_CODE[err.code] ?? { status: err.status, type: err.status >= 500 ? 'server_error' : 'invalid_request_error', code: null };
    const headers = { ...err.headers };
    if ((m.status === 429 || m.status === 503) && !headers['Retry-After']) headers['Retry-After'] = '1';
    return new OpenAiError(m.status, err.message, m.type, m.code, null, headers);
  }
  return new OpenAiError(500, err instanceof Error ? err.message : String(err), 'server_error');
}
