// readBody over a real HTTP connection: alignAt places the body so a binary tensor after a JSON
// header of any length is 8-aligned (a typed-array view with no copy), and the bytes are unchanged.
import { createServer, request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBody } from '../../../src/daemon/dataplane/body.js';
import { decodeBinaryRequest } from '../../../src/daemon/dataplane/codecs/oip-binary.js';

let handle: (req: IncomingMessage) => Promise<unknown>;
const server = createServer((req, res) => {
  handle(req).then((v) => res.end(JSON.stringify(v)), (e: Error) => res.writeHead(500).end(e.message));
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server.close();
});

function post(body: Buffer, chunk = 4096): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ port, method: 'POST', headers: { 'content-length': body.length } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(text))));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += chunk) req.write(body.subarray(i, i + chunk));
    req.end();
  });
}

describe('readBody alignAt', () => {
  it.each([0, 1, 2, 3, 5, 7, 8, 13, 100])('a binary tensor after a %i-byte header is read aligned, bytes unchanged', async (headerLen) => {
    const tensor = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i));
    const body = Buffer.concat([Buffer.alloc(headerLen, 0x20), Buffer.from(tensor.buffer)]);
    handle = async (req) => {
      const got = await readBody(req, 1 << 20, { alignAt: headerLen });
      return { aligned: (got.byteOffset + headerLen) % 8 === 0, same: got.equals(body), length: got.length };
    };
    expect(JSON.parse(await post(body))).toEqual({ aligned: true, same: true, length: body.length });
  });

  it('the decoded FP32 input is a view over the body, not a copy', async () => {
    const tensor = Float32Array.from({ length: 64 }, (_, i) => i / 3);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 64], datatype: 'FP32', parameters: { binary_data_size: 256 } }] }) + ' ');
    expect(header.length % 4).not.toBe(0);
    const body = Buffer.concat([header, Buffer.from(tensor.buffer)]);
    handle = async (req) => {
      const got = await readBody(req, 1 << 20, { alignAt: header.length });
      const decoded = decodeBinaryRequest(got, header.length, { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 64] }], outputs: [] });
      const data = decoded.inputs[0]!.data as Float32Array;
      return { view: data.buffer === got.buffer, values: Array.from(data).every((v, i) => v === tensor[i]) };
    };
    expect(JSON.parse(await post(body, 100))).toEqual({ view: true, values: true });
  });
});
