// predict-body.ts: the image of a /predict request, sent as raw bytes, as a multipart upload (the
// body built byte for byte as curl -F builds it) or as base64 in JSON; and every way to get it wrong.
import { describe, expect, it } from 'vitest';
import { imageFromBody, parseMultipart } from '../../../src/pipeline/predict-body.js';
import { caught } from '../../helpers/errors.js';

const BOUNDARY = '------------------------d74496d66958873e';
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

/** Bytes an image might hold that look like multipart syntax: CRLF, '--', a blank line, a near-boundary. */
const TRICKY = Buffer.concat([
  Buffer.from([0xff, 0xd8, 0xff, 0xe0]),
  Buffer.from('\r\n--\r\n\r\n--'),
  Buffer.from(`\r\n--${BOUNDARY.slice(0, -1)}X`),
  Buffer.from(`--${BOUNDARY}`), // the boundary, but not after a CRLF
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\r\n-'),
  Buffer.from([0xff, 0xd9]),
]);

interface Field {
  name?: string;
  filename?: string;
  type?: string;
  data: Buffer | string;
  /** Raw header lines instead of the ones made from name/filename/type. */
  headers?: string[];
}

/** A multipart/form-data body as curl -F writes it. */
function formBody(fields: Field[], opts: { boundary?: string; preamble?: string; epilogue?: string; close?: boolean } = {}): Buffer {
  const b = opts.boundary ?? BOUNDARY;
  const chunks: Buffer[] = [Buffer.from(opts.preamble ?? '')];
  for (const f of fields) {
    const headers = f.headers ?? [
      `Content-Disposition: form-data${f.name !== undefined ? `; name="${f.name}"` : ''}${f.filename !== undefined ? `; filename="${f.filename}"` : ''}`,
      ...(f.type ? [`Content-Type: ${f.type}`] : []),
    ];
    chunks.push(Buffer.from(`--${b}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`), Buffer.from(f.data), Buffer.from('\r\n'));
  }
  if (opts.close !== false) chunks.push(Buffer.from(`--${b}--\r\n${opts.epilogue ?? ''}`));
  return Buffer.concat(chunks);
}

describe('parseMultipart', () => {
  it('reads a curl -F upload: names, file names, content types and binary data', () => {
    const body = formBody([
      { name: 'file', filename: 'cat.jpg', type: 'image/jpeg', data: TRICKY },
      { name: 'note', data: 'hello\r\nworld' },
      { name: 'empty', filename: 'e.bin', type: 'application/octet-stream', data: '' },
    ]);
    const parts = parseMultipart(body, BOUNDARY);
    expect(parts.map((p) => ({ ...p, data: p.data.toString('latin1') }))).toEqual([
      { name: 'file', filename: 'cat.jpg', contentType: 'image/jpeg', data: TRICKY.toString('latin1') },
      { name: 'note', filename: undefined, contentType: undefined, data: 'hello\r\nworld' },
      { name: 'empty', filename: 'e.bin', contentType: 'application/octet-stream', data: '' },
    ]);
    expect(parts[0]!.data.equals(TRICKY)).toBe(true);
    // Views over the body, not copies.
    expect(parts[0]!.data.buffer).toBe(body.buffer);
  });

  it('skips a preamble and an epilogue', () => {
    const body = formBody([{ name: 'file', filename: 'a.png', data: 'PNG' }], { preamble: 'This is a preamble.\r\n', epilogue: 'trailing junk\r\n' });
    const parts = parseMultipart(body, BOUNDARY);
    expect(parts).toHaveLength(1);
    expect(parts[0]!.data.toString()).toBe('PNG');
  });

  it.each([
    ['header names in any case, content type lowered', ['content-disposition: form-data; name="file"; filename="x.png"', 'CONTENT-TYPE: IMAGE/PNG'], { name: 'file', filename: 'x.png', contentType: 'image/png' }],
    ['unquoted parameters and spaces', ['Content-Disposition: form-data ; name=file ; filename=x.png'], { name: 'file', filename: 'x.png', contentType: undefined }],
    ['no headers at all', [], { name: undefined, filename: undefined, contentType: undefined }],
    ['a header line without a colon is ignored', ['garbage', 'Content-Disposition: form-data; name="f"'], { name: 'f', filename: undefined, contentType: undefined }],
    ['an empty file name', ['Content-Disposition: form-data; name="file"; filename=""'], { name: 'file', filename: '', contentType: undefined }],
  ])('%s', (_name, headers, expected) => {
    const [part] = parseMultipart(formBody([{ headers, data: 'DATA' }]), BOUNDARY);
    expect({ name: part!.name, filename: part!.filename, contentType: part!.contentType }).toEqual(expected);
    expect(part!.data.toString()).toBe('DATA');
  });

  it('reads a body of only the closing delimiter as no parts', () => {
    expect(parseMultipart(Buffer.from(`--${BOUNDARY}--\r\n`), BOUNDARY)).toEqual([]);
  });

  it('reads a one-letter boundary and data that is only --', () => {
    const parts = parseMultipart(formBody([{ name: 'a', data: 'x' }, { name: 'b', data: '--' }], { boundary: 'b' }), 'b');
    expect(parts.map((p) => [p.name, p.data.toString()])).toEqual([['a', 'x'], ['b', '--']]);
  });

  it.each([
    ['no closing boundary', formBody([{ name: 'file', filename: 'a.jpg', data: 'abc' }], { close: false }), /^the multipart body ends before its closing boundary$/],
    ['the body cut off in the data', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc`), /ends before its closing boundary/],
    ['no blank line after the headers', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\nabc\r\n--${BOUNDARY}--\r\n`), /^a multipart part has no blank line after its headers$/],
    ['a last delimiter without its closing --', Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--${BOUNDARY}`), /multipart/],
    ['not the boundary of the content type', formBody([{ name: 'file', data: 'abc' }], { boundary: 'other' }), new RegExp(`^the multipart body does not contain its boundary '${BOUNDARY}'$`)],
    ['an empty body', Buffer.alloc(0), /does not contain its boundary/],
  ])('refuses %s (BAD_REQUEST)', (_name, body, message) => {
    const err = caught(() => parseMultipart(body, BOUNDARY));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(message);
  });

  it.each([
    ['empty', ''],
    ['over 200 characters', 'x'.repeat(201)],
  ])('refuses a boundary that is %s', (_name, boundary) => {
    const err = caught(() => parseMultipart(Buffer.from(`--${boundary}--`), boundary));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toBe('the multipart body has no usable boundary in its content-type');
  });
});

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), TRICKY]);

describe('imageFromBody', () => {
  it.each(['image/png', 'image/jpeg', 'IMAGE/WEBP', 'image/jpeg; charset=binary', ' image/gif ', 'application/octet-stream', 'Application/Octet-Stream; x=1'])('returns the body itself for %s', (type) => {
    expect(imageFromBody(type, PNG)).toBe(PNG);
  });

  it.each<[string, Field[]]>([
    ['the file field', [{ name: 'note', data: 'hi' }, { name: 'file', filename: 'cat.png', type: 'image/png', data: PNG }]],
    ['file before image, whatever the order', [{ name: 'image', filename: 'other.png', data: 'WRONG' }, { name: 'file', filename: 'cat.png', data: PNG }]],
    ['the image field when there is no file field', [{ name: 'note', data: 'hi' }, { name: 'image', data: PNG }]],
    ['image before any named file', [{ name: 'upload', filename: 'x.png', data: 'WRONG' }, { name: 'image', filename: 'cat.png', data: PNG }]],
    ['any part with a file name', [{ name: 'note', data: 'hi' }, { name: 'upload', filename: 'cat.png', type: 'image/png', data: PNG }]],
    ['a file name without a field name', [{ filename: 'cat.png', data: PNG }]],
  ])('multipart: %s', (_name, fields) => {
    const out = imageFromBody(MULTIPART, formBody(fields));
    expect(out.equals(PNG)).toBe(true);
  });

  it('multipart: a quoted boundary parameter, and the first file field of two', () => {
    const body = formBody([{ name: 'file', filename: 'a.png', data: PNG }, { name: 'file', filename: 'b.png', data: 'SECOND' }], { boundary: 'simple boundary' });
    expect(imageFromBody('multipart/form-data; charset=utf-8; boundary="simple boundary"', body).equals(PNG)).toBe(true);
  });

  it.each<[string, string, Buffer, RegExp]>([
    ['no file part: the error names the fields', MULTIPART, formBody([{ name: 'note', data: 'x' }, { headers: ['X-Other: 1'], data: 'y' }]), /^the upload has no 'file' field \(fields: note, \?\); send it as curl -F file=@cat\.jpg$/],
    ['no parts at all', MULTIPART, Buffer.from(`--${BOUNDARY}--\r\n`), /^the upload has no 'file' field \(fields: none\)/],
    ['an empty file', MULTIPART, formBody([{ name: 'file', filename: 'cat.jpg', type: 'image/jpeg', data: '' }]), /^the uploaded file 'cat\.jpg' is empty$/],
    ['an empty file field without a file name', MULTIPART, formBody([{ name: 'file', data: '' }]), /^the uploaded file is empty$/],
    ['no boundary parameter', 'multipart/form-data', formBody([{ name: 'file', data: PNG }]), /no usable boundary/],
    ['a broken multipart body', MULTIPART, formBody([{ name: 'file', filename: 'a.jpg', data: PNG }], { close: false }), /ends before its closing boundary/],
  ])('multipart: refuses %s (BAD_REQUEST)', (_name, type, body, message) => {
    const err = caught(() => imageFromBody(type, body));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(message);
  });

  const b64 = PNG.toString('base64');
  it.each<[string, unknown]>([
    ['plain base64', { image: b64 }],
    ['a data: URL', { image: `data:image/png;base64,${b64}` }],
    ['{"b64": ...}', { image: { b64 } }],
    ['{"b64": data: URL}', { image: { b64: `data:image/png;base64,${b64}` } }],
    ['base64 wrapped at 76 columns (MIME)', { image: b64.replace(/(.{76})/g, '$1\r\n') }],
    ['URL-safe base64', { image: PNG.toString('base64url') }],
    ['base64 without its padding', { image: b64.replace(/=+$/, '') }],
    ['other keys beside image', { image: b64, parameters: { top: 3 } }],
  ])('JSON: %s', (_name, doc) => {
    expect(imageFromBody('application/json', Buffer.from(JSON.stringify(doc))).equals(PNG)).toBe(true);
    expect(imageFromBody('application/json; charset=utf-8', Buffer.from(JSON.stringify(doc))).equals(PNG)).toBe(true);
  });

  const notBase64 = /^"image" must be the image's bytes in base64 \(a string, a data: URL, or \{"b64": "\.\.\."\}\)$/;
  it.each<[string, string, RegExp]>([
    ['invalid base64', '{"image": "not base64!"}', /^"image" is not valid base64$/],
    ['base64 with a stray character', `{"image": "${b64.slice(0, 8)}*${b64.slice(8)}"}`, /^"image" is not valid base64$/],
    ['too much padding', '{"image": "QQ==="}', /^"image" is not valid base64$/],
    ['a data: URL without a comma', '{"image": "data:image/png;base64"}', /^"image" is not valid base64$/],
    ['an empty string', '{"image": ""}', notBase64],
    ['a number', '{"image": 42}', notBase64],
    ['null', '{"image": null}', notBase64],
    ['a list', '{"image": ["QQ=="]}', notBase64],
    ['b64 not a string', '{"image": {"b64": 5}}', notBase64],
    ['an object without b64', '{"image": {"data": "QQ=="}}', notBase64],
    ['no image key', '{"inputs": "QQ=="}', /^a JSON body is \{"image": "<base64>"\}$/],
    ['a JSON list', '["QQ=="]', /^a JSON body is \{"image": "<base64>"\}$/],
    ['a JSON string', '"QQ=="', /^a JSON body is \{"image"/],
    ['JSON null', 'null', /^a JSON body is \{"image"/],
    ['invalid JSON', '{"image": ', /^the body is not valid JSON: /],
    ['not JSON at all', 'QQ==', /^the body is not valid JSON: /],
  ])('JSON: refuses %s (BAD_REQUEST)', (_name, text, message) => {
    const err = caught(() => imageFromBody('application/json', Buffer.from(text)));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it.each<[string | undefined, string]>([
    ['text/plain', 'text/plain'],
    ['text/plain; charset=utf-8', 'text/plain; charset=utf-8'],
    ['application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
    ['application/jsonl', 'application/jsonl'],
    ['multipart/mixed; boundary=x', 'multipart/mixed; boundary=x'],
    [undefined, ''],
    ['', ''],
  ])('refuses content-type %j with UNSUPPORTED_MEDIA_TYPE (415)', (type, shown) => {
    const err = caught(() => imageFromBody(type, PNG));
    expect(err.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(err.status).toBe(415);
    expect(err.message).toContain(`got content-type '${shown}'`);
    expect(err.message).toMatch(/raw bytes .*multipart upload \(curl -F file=@cat\.jpg\).*JSON \{"image": "<base64>"\}/);
  });

  it.each([['image/png'], ['application/octet-stream'], [MULTIPART], ['application/json'], ['text/plain'], [undefined]])('refuses an empty body (%s) with BAD_REQUEST', (type) => {
    const err = caught(() => imageFromBody(type, Buffer.alloc(0)));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toBe('the request has no body; send an image');
  });
});
