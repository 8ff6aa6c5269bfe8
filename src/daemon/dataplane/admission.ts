// What the ingress decides from a request's headers alone, before it reads a byte of the body:
// the kind of an /infer body from its Content-Type (anything a web page could send unasked is
// refused), and load shedding: a deployment whose queue is full is refused at once, so that a
// flood of requests past the queue costs a header parse each, not a body read, parse and check.
import { MlserveError } from '../../errors.js';
import type { ServingTarget } from './routes.js';

/** The media type of a Content-Type header, lowercase, without parameters. */
export const mediaType = (header: string | undefined): string => (header ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * An /infer body is JSON (`application/json`) or the binary tensor extension
 * (Inference-Header-Content-Length, with `application/octet-stream` or no Content-Type: a page
 * cannot send that custom header without a CORS preflight, which the ingress never grants).
 * Anything else (text/plain, forms: what a browser sends cross-site without asking) is a 415.
 */
export function inferBodyKind(contentType: string | undefined, binaryHeader: boolean): 'json' | 'binary' {
  const type = mediaType(contentType);
  if (binaryHeader) {
    if (type === '' || type === 'application/octet-stream') return 'binary';
    throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `Content-Type '${contentType}' with Inference-Header-Content-Length: the binary tensor extension is sent as application/octet-stream`);
  }
  if (type === 'application/json') return 'json';
  throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `Content-Type '${contentType ?? ''}' is not accepted on /infer: send JSON as application/json, `
    + 'or binary tensors as application/octet-stream with Inference-Header-Content-Length');
}

/**
 * Refuse at once when the deployment cannot take the request (queue full, closed, no replica):
 * the same refusal the dispatcher would give after the body, counted the same way.
 */
export function shedBeforeBody(rt: ServingTarget): MlserveError | null {
  return rt.dispatcher.precheck();
}
