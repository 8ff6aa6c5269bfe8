// Model composition in a pipeline: a `model` stage sends the vectors so far (one row per text or
// image of the request) to another endpoint's model as one batch and goes on with its output; an
// `ensemble` stage sends them to several endpoints at once and merges the outputs (mean, or side
// by side). The called endpoints are ordinary ones: their own queues, batching and canaries.
import { MlserveError } from '../errors.js';
import type { Signature, Tensor, TensorSpec } from '../tensor.js';
import type { PostStage } from './spec.js';

/** What a composition stage needs of the daemon: an endpoint's signature and its queue. */
export type CallEndpoint = (endpoint: string) => { spec: Signature; submit(inputs: Tensor[]): Promise<{ outputs: Tensor[] }> };

type CallStage = Extract<PostStage, { kind: 'model' | 'ensemble' }>;

/** The input the rows feed: the named one, or the model's only input; a float [batch, width] tensor. */
function inputOf(endpoint: string, sig: Signature, name: string | undefined, width: number): TensorSpec {
  const spec = name ? sig.inputs.find((i) => i.name === name) : sig.inputs.length === 1 ? sig.inputs[0] : undefined;
  const names = sig.inputs.map((i) => i.name).join(', ');
  if (!spec) throw new MlserveError('BAD_REQUEST', name ? `the pipeline feeds input '${name}' of endpoint ${endpoint}, which it does not have (inputs: ${names})` : `endpoint ${endpoint} takes ${sig.inputs.length} inputs (${names}); name the one the pipeline feeds with input=`);
  const fixed = spec.shape[1];
  if (spec.datatype !== 'FP32' && spec.datatype !== 'FP64') throw new MlserveError('BAD_REQUEST', `input '${spec.name}' of endpoint ${endpoint} is ${spec.datatype}; a pipeline passes on float vectors (FP32 or FP64)`);
  if (spec.shape.length !== 2 || (fixed !== -1 && fixed !== width)) {
    throw new MlserveError('BAD_REQUEST', `input '${spec.name}' of endpoint ${endpoint} has shape [${spec.shape.join(', ')}]; the pipeline passes [batch, ${width}]`);
  }
  return spec;
}

function rowsTensor(spec: TensorSpec, rows: readonly ArrayLike<number>[]): Tensor {
  const width = rows[0]?.length ?? 0;
  const data = spec.datatype === 'FP64' ? new Float64Array(rows.length * width) : new Float32Array(rows.length * width);
  rows.forEach((r, i) => data.set(r, i * width));
  return { name: spec.name, datatype: spec.datatype, shape: [rows.length, width], data };
}

function outputRows(endpoint: string, outputs: Tensor[], name: string | undefined, rows: number): Float64Array[] {
  const t = name ? outputs.find((o) => o.name === name) : outputs[0];
  if (!t) throw new MlserveError('BAD_REQUEST', `endpoint ${endpoint} did not answer output '${name}' (outputs: ${outputs.map((o) => o.name).join(', ')})`);
  if (Array.isArray(t.data)) throw new MlserveError('BAD_REQUEST', `output '${t.name}' of endpoint ${endpoint} holds strings; a pipeline passes on numbers`);
  const data = t.data as ArrayLike<number | bigint>;
  const width = rows > 0 ? data.length / rows : 0;
  return Array.from({ length: rows }, (_, r) => Float64Array.from({ length: width }, (_, i) => Number(data[r * width + i])));
}

async function callOne(call: CallEndpoint, endpoint: string, stage: CallStage, rows: readonly ArrayLike<number>[]): Promise<Float64Array[]> {
  const target = call(endpoint);
  const input = inputOf(endpoint, target.spec, stage.input, rows[0]?.length ?? 0);
  const { outputs } = await target.submit([rowsTensor(input, rows)]);
  return outputRows(endpoint, outputs, stage.output, rows.length);
}

/** Run one composition stage on the rows; returns the new rows. */
export async function callStage(stage: CallStage, rows: readonly ArrayLike<number>[], call: CallEndpoint): Promise<Float64Array[]> {
  if (stage.kind === 'model') return callOne(call, stage.endpoint, stage, rows);
  const answers = await Promise.all(stage.endpoints.map((e) => callOne(call, e, stage, rows)));
  return rows.map((_, r) => mergeRows(answers.map((a) => a[r]!), stage.merge, stage.endpoints));
}

/** Several models' rows for one item, merged: the element-wise mean (same widths), or one after another. */
export function mergeRows(parts: readonly Float64Array[], merge: 'mean' | 'concat', endpoints: readonly string[]): Float64Array {
  if (merge === 'concat') {
    const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  const width = parts[0]!.length;
  const odd = parts.findIndex((p) => p.length !== width);
  if (odd >= 0) throw new MlserveError('BAD_REQUEST', `an ensemble by mean needs outputs of one width, but ${endpoints[0]} gives ${width} and ${endpoints[odd]} gives ${parts[odd]!.length}; merge them with merge=concat`);
  const out = new Float64Array(width);
  for (const p of parts) for (let i = 0; i < width; i++) out[i]! += p[i]!;
  for (let i = 0; i < width; i++) out[i]! /= parts.length;
  return out;
}
