// The image a /predict request carries, in the three ways clients send one: the raw bytes
// (content-type image/*), a multipart/form-data upload with a `file` (or `image`) field, as a
// FastAPI UploadFile endpoint takes it (curl -F file=@cat.jpg), or JSON {"image": "<base64>"}
// (a data: URL or {"b64": ...} too). PURE.
import { MlserveError } from '../errors.js';

const unsupported = (type: string) =>
  new MlserveError('UNSUPPORTED_MEDIA_TYPE', `/predict takes an image: the raw bytes (content-type image/jpeg, image/png or image/webp), a multipart upload (curl -F file=@cat.jpg) or JSON {"image": "<base64>"}; got content-type '${type}'`);
const bad = (msg: string) => new MlserveError('BAD_REQUEST', msg);

/** A content type and its parameters: `multipart/form-data; boundary=x` -> {type: 'multipart/form-data', params: {boundary: 'x'}}. */
export function mediaType(header: string): { type: string; params: Record<string, string> } {
  const [type, ...rest] = header.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type!.trim().toLowerCase(), params };
}

export interface FormPart {
  name: string | undefined;
  filename: string | undefined;
  contentType: string | undefined;
  data: Buffer;
}

/** The parts of a multipart/form-data body (RFC 7578); the data are views over `body`. */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  if (!boundary || boundary.length > 200) throw bad('the multipart body has no usable boundary in its content-type');
  const delim = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delim);
  if (at < 0) throw bad(`the multipart body does not contain its boundary '${boundary}'`);
  for (;;) {
    at += delim.length;
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts; // "--": the closing delimiter
    const headEnd = body.indexOf('\r\n\r\n', at);
    if (headEnd < 0) throw bad('a multipart part has no blank line after its headers');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) throw bad('the multipart body ends before its closing boundary');
    const headers = body.subarray(at, headEnd).toString('latin1').split('\r\n').filter(Boolean);
    const part: FormPart = { name: undefined, filename: undefined, contentType: undefined, data: body.subarray(headEnd + 4, next) };
    for (const h of headers) {
      const colon = h.indexOf(':');
      if (colon < 0) continue;
      const key = h.slice(0, colon).trim().toLowerCase();
      const value = h.slice(colon + 1).trim();
      if (key === 'content-type') part.contentType = value.toLowerCase();
      if (key === 'content-disposition') {
        const { params } = mediaType(value);
        part.name = params.name;
        part.filename = params.filename;
      }
    }
    parts.push(part);
    at = next + 2;
  }
}

function fromBase64(value: unknown): Buffer {
  let text = value;
  if (text && typeof text === 'object' && !Array.isArray(text) && typeof (text as { b64?: unknown }).b64 === 'string') text = (text as { b64: string }).b64;
  if (typeof text !== 'string' || text === '') throw bad('"image" must be the image\'s bytes in base64 (a string, a data: URL, or {"b64": "..."})');
  const comma = text.startsWith('data:') ? text.indexOf(',') : -1;
  const b64 = (comma >= 0 ? text.slice(comma + 1) : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) throw bad('"image" is not valid base64');
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length === 0) throw bad('"image" is empty; send the image\'s bytes in base64');
  return bytes;
}

/** The image bytes of a /predict request. */
export function imageFromBody(contentType: string | undefined, body: Buffer): Buffer {
  const { type, params } = mediaType(contentType ?? '');
  if (body.length === 0) throw bad('the request has no body; send an image');
  if (type.startsWith('image/') || type === 'application/octet-stream') return body;
  if (type === 'multipart/form-data') {
    const parts = parseMultipart(body, params.boundary ?? '');
    const part = parts.find((p) => p.name === 'file') ?? parts.find((p) => p.name === 'image') ?? parts.find((p) => p.filename !== undefined);
    if (!part) throw bad(`the upload has no 'file' field (fields: ${parts.map((p) => p.name ?? '?').join(', ') || 'none'}); send it as curl -F file=@cat.jpg`);
    if (part.data.length === 0) throw bad(`the uploaded file${part.filename ? ` '${part.filename}'` : ''} is empty`);
    return part.data;
  }
  if (type === 'application/json') {
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw bad(`the body is not valid JSON: ${(err as Error).message}`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !('image' in doc)) throw bad('a JSON body is {"image": "<base64>"}');
    return fromBase64((doc as { image: unknown }).image);
  }
  throw unsupported(contentType ?? '');
}
