// PURE: what `mlserve status <endpoint>` prints about one deployment: its inputs and outputs, and a
// ready-to-run curl whose body is built from the signature (valid values for every input).
import type { Signature } from '../tensor.js';
import { exampleRequest } from '../runtime/example.js';
import { table } from './format.js';

const shape = (s: number[]) => `[${s.map((d) => (d < 0 ? '-1' : String(d))).join(', ')}]`;

/** INPUTS / OUTPUTS tables (name, datatype, shape; -1 = any size). */
export function signatureLines(sig: Signature, width = 80): string[] {
  const rows = [
    ...sig.inputs.map((t) => ['input', t.name, t.datatype, shape(t.shape)]),
    ...sig.outputs.map((t) => ['output', t.name, t.datatype, shape(t.shape)]),
  ];
  return table(['', 'NAME', 'DATATYPE', 'SHAPE (-1: any size)'], rows, width).split('\n');
}

/** A curl for POST /v2/models/<endpoint>/infer with one example row; single quotes in the body escaped for sh. */
export function exampleCurl(url: string, endpoint: string, sig: Signature): { url: string; body: ReturnType<typeof exampleRequest>; curl: string } {
  const target = `${url}/v2/models/${encodeURIComponent(endpoint)}/infer`;
  const body = exampleRequest(sig.inputs);
  const json = JSON.stringify(body).replace(/'/g, "'\\''");
  return { url: target, body, curl: `curl -s -X POST ${target} -H 'content-type: application/json' -d '${json}'` };
}
