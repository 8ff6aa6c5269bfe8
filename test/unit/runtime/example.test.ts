// Example requests from a signature (the warm-up run, status's curl) and the replicas' log stamps.
import { describe, expect, it } from 'vitest';
import { exampleCurl, signatureLines } from '../../../src/cli/describe.js';
import { exampleRequest, exampleShape, exampleTensors } from '../../../src/runtime/example.js';
import { LOG_STAMP_RE, stampText } from '../../../src/runtime/log-stamp.js';
import { decodeInferRequest } from '../../../src/daemon/dataplane/codecs/oip-json.js';
import type { Signature } from '../../../src/tensor.js';

const SIG: Signature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 4] },
    { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'text', datatype: 'BYTES', shape: [-1] },
    { name: 'mask', datatype: 'BOOL', shape: [2] },
    { name: 'h', datatype: 'FP16', shape: [-1, 1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
};

describe('example requests from a signature', () => {
  it('one row: -1 first is the row count, other -1 are 1, fixed dims kept', () => {
    expect(SIG.inputs.map((s) => exampleShape(s))).toEqual([[1, 4], [1, 1], [1], [2], [1, 1]]);
    expect(exampleShape(SIG.inputs[0], 3)).toEqual([3, 4]);
  });

  it('typed tensors for the warm-up run', () => {
    const [x, ids, text, mask, h] = exampleTensors(SIG.inputs);
    expect(x.data).toEqual(new Float32Array([0.5, 0.5, 0.5, 0.5]));
    expect(ids.data).toEqual(new BigInt64Array([1n]));
    expect(text.data).toEqual(['example']);
    expect(mask.data).toEqual(new Uint8Array([0, 0]));
    expect(h.data).toEqual(new Uint16Array([0x3800]));
  });

  it('an OIP JSON body the decoder accepts against the same signature', () => {
    const body = exampleRequest(SIG.inputs);
    expect(body.inputs[0]).toEqual({ name: 'x', shape: [1, 4], datatype: 'FP32', data: [0.5, 0.5, 0.5, 0.5] });
    const decoded = decodeInferRequest(JSON.parse(JSON.stringify(body)), SIG);
    expect(decoded.inputs.map((t) => t.name)).toEqual(['x', 'ids', 'text', 'mask', 'h']);
  });

  it('status <endpoint>: the inputs and outputs, and a curl that quotes its body for sh', () => {
    const lines = signatureLines(SIG);
    expect(lines[0]).toMatch(/NAME\s+DATATYPE\s+SHAPE/);
    expect(lines).toContainEqual(expect.stringMatching(/^input\s+x\s+FP32\s+\[-1, 4\]$/));
    expect(lines).toContainEqual(expect.stringMatching(/^output\s+y\s+FP32\s+\[-1, 3\]$/));
    const c = exampleCurl('http://127.0.0.1:8000', 'demo', SIG);
    expect(c.url).toBe('http://127.0.0.1:8000/v2/models/demo/infer');
    expect(c.curl).toBe(`curl -s -X POST http://127.0.0.1:8000/v2/models/demo/infer -H 'content-type: application/json' -d '${JSON.stringify(c.body)}'`);
    const quoted = exampleCurl('http://h', 'e', { inputs: [{ name: "it's", datatype: 'FP32', shape: [1] }], outputs: [] });
    expect(quoted.curl).toContain(`"name":"it'\\''s"`);
  });
});

describe('log stamps', () => {
  const now = new Date('2025-01-31T12:00:00.123Z');
  it('stamps every line that starts in a write, across writes', () => {
    const a = stampText('loading\nready', true, now);
    expect(a).toEqual({ text: '2025-01-31T12:00:00.123Z loading\n2025-01-31T12:00:00.123Z ready', atStart: false });
    expect(stampText(' in 5 ms\n', a.atStart, now)).toEqual({ text: ' in 5 ms\n', atStart: true });
    expect(stampText('', true, now)).toEqual({ text: '', atStart: true });
    expect(LOG_STAMP_RE.exec('2025-01-31T12:00:00.123Z x')?.[1]).toBe('2025-01-31T12:00:00.123Z');
  });
});
