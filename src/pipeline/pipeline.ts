// A pipeline endpoint at run time: its stages with the labels loaded from the model's artifacts,
// checked against the model's signature, and one /predict request through them. The model call in
// the middle is the deployment's own queue, so requests still batch together.
import { readFileSync, statSync } from 'node:fs';
import { MlserveError } from '../errors.js';
import { safeJoin } from '../mlflow/cache.js';
import type { Signature, Tensor, TensorSpec } from '../tensor.js';
import { parseLabels, postProcess, type PostAnswer } from './post.js';
import { imageFromBody } from './predict-body.js';
import type { ImageStage, PipelineSpec } from './spec.js';

export interface PreparedPipeline {
  spec: PipelineSpec;
  /** The labels stage's names (from its file or list), or null. */
  labels: string[] | null;
}

/** The most a labels file may hold (ImageNet-21k's names are ~1 MB). */
const MAX_LABELS_BYTES = 16 << 20;

/** Load what the stages need from the model directory (labels) and check them; errors say what to fix. */
export function preparePipeline(spec: PipelineSpec, modelDir: string): PreparedPipeline {
  const stage = spec.post.find((s) => s.kind === 'labels');
  if (!stage || stage.kind !== 'labels') return { spec, labels: null };
  if (stage.list) return { spec, labels: stage.list };
  let path: string;
  try {
    path = safeJoin(modelDir, stage.file!);
  } catch {
    throw new MlserveError('BAD_REQUEST', `labels file '${stage.file}' must be a relative path inside the model directory (no '..', not absolute)`);
  }
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new MlserveError('BAD_REQUEST', `labels file '${stage.file}' is not in the model's artifacts (${modelDir}); log it with the model (mlflow.log_artifact into the model directory) or give labels:list=...`);
  }
  if (size > MAX_LABELS_BYTES) throw new MlserveError('BAD_REQUEST', `labels file '${stage.file}' is ${size} bytes, over the ${MAX_LABELS_BYTES >> 20} MiB a labels file may have`);
  return { spec, labels: parseLabels(readFileSync(path, 'utf8'), stage.file!) };
}

/** The input an image stage feeds and whether it has a batch dimension, from the model's signature. */
export function imageInput(stage: ImageStage, sig: Signature): { spec: TensorSpec; batched: boolean } {
  const spec = stage.input ? sig.inputs.find((i) => i.name === stage.input) : sig.inputs.length === 1 ? sig.inputs[0] : undefined;
  if (!spec) {
    const names = sig.inputs.map((i) => i.name).join(', ');
    throw new MlserveError('BAD_REQUEST', stage.input ? `the image stage feeds input '${stage.input}', which the model does not have (inputs: ${names})` : `the model has ${sig.inputs.length} inputs (${names}); name the one the image feeds with image:input=<name>`);
  }
  if (spec.datatype !== stage.dtype) throw new MlserveError('BAD_REQUEST', `the image stage makes ${stage.dtype} but model input '${spec.name}' is ${spec.datatype}; set image:dtype=${spec.datatype === 'UINT8' ? 'UINT8' : 'FP32'} or use a model that takes it`);
  if (spec.shape.length !== 3 && spec.shape.length !== 4) throw new MlserveError('BAD_REQUEST', `model input '${spec.name}' has shape [${spec.shape.join(', ')}]; an image stage feeds [batch,] 3, H, W (NCHW) or H, W, 3 (NHWC)`);
  const batched = spec.shape.length === 4;
  const dims = batched ? spec.shape.slice(1) : spec.shape;
  const channels = stage.layout === 'NCHW' ? dims[0] : dims[2];
  if (channels !== 3 && channels !== -1) throw new MlserveError('BAD_REQUEST', `model input '${spec.name}' has shape [${spec.shape.join(', ')}]: ${channels} channels where ${stage.layout} puts 3; set image:layout=${stage.layout === 'NCHW' ? 'NHWC' : 'NCHW'}`);
  return { spec, batched };
}

/** The output the post stages read. */
export function scoresOutput(spec: PipelineSpec, sig: Signature): TensorSpec {
  const out = spec.output ? sig.outputs.find((o) => o.name === spec.output) : sig.outputs[0];
  if (!out) throw new MlserveError('BAD_REQUEST', `the pipeline reads output '${spec.output}', which the model does not have (outputs: ${sig.outputs.map((o) => o.name).join(', ')})`);
  if (out.datatype === 'BYTES' || out.datatype === 'BOOL') throw new MlserveError('BAD_REQUEST', `output '${out.name}' is ${out.datatype}; post-processing reads numbers (scores or logits)`);
  return out;
}

/** Check a pipeline against a model's signature (when known): at deploy time and when replicas report it. */
export function checkAgainstSignature(spec: PipelineSpec, sig: Signature | null): void {
  if (!sig) return;
  if (spec.pre[0]) imageInput(spec.pre[0], sig);
  if (spec.post.length) scoresOutput(spec, sig);
}

/** The model's side of /predict: its signature and its queue. */
export interface PredictTarget {
  spec: Signature;
  submit(inputs: Tensor[], outputs: string[] | undefined): Promise<{ outputs: Tensor[] }>;
}

/** The rows of a scores tensor: [N, C] gives N rows of C, [C] one row. */
export function scoreRows(t: Tensor): ArrayLike<number>[] {
  if (Array.isArray(t.data)) throw new MlserveError('INTERNAL', `output ${t.name} holds strings, not scores`);
  const data = t.data as ArrayLike<number | bigint>;
  const width = t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
  const rows = width === 0 ? 0 : Math.floor(data.length / width);
  const out: ArrayLike<number>[] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Float64Array(width);
    for (let i = 0; i < width; i++) row[i] = Number(data[r * width + i]);
    out.push(row);
  }
  return out;
}

/**
 * One /predict request: the image in the body to the model input (pre), the model through its
 * queue, its scores to labels (post). Returns the answer and the tensors (for capture and shadow).
 */
export interface PredictRequest {
  contentType: string | undefined;
  body: Buffer;
  /** The body as OIP JSON tensors (a pipeline without a pre stage). */
  decodeTensors: () => Promise<Tensor[]>;
  /** An image to the model input (image-decode.ts, on the image pool's threads). */
  toTensor: (bytes: Buffer, stage: ImageStage, inputName: string, batched: boolean) => Promise<Tensor>;
}

export async function runPredict(p: PreparedPipeline, target: PredictTarget, req: PredictRequest): Promise<{ answer: PostAnswer | { predictions: PostAnswer[] } | Record<string, unknown>; inputs: Tensor[]; outputs: Tensor[] }> {
  const { spec } = p;
  let inputs: Tensor[];
  const image = spec.pre[0];
  if (image) {
    const { spec: input, batched } = imageInput(image, target.spec);
    inputs = [await req.toTensor(imageFromBody(req.contentType, req.body), image, input.name, batched)];
  } else inputs = await req.decodeTensors();
  if (spec.post.length === 0) {
    const result = await target.submit(inputs, undefined);
    return { answer: Object.fromEntries(result.outputs.map((t) => [t.name, Array.isArray(t.data) ? t.data : Array.from(t.data as ArrayLike<number>, Number)])), inputs, outputs: result.outputs };
  }
  const out = scoresOutput(spec, target.spec);
  const result = await target.submit(inputs, undefined);
  const scores = result.outputs.find((t) => t.name === out.name);
  if (!scores) throw new MlserveError('INTERNAL', `the model did not answer output ${out.name}`);
  const answers = scoreRows(scores).map((row) => postProcess(row, spec.post, p.labels));
  return { answer: answers.length === 1 ? answers[0]! : { predictions: answers }, inputs, outputs: result.outputs };
}

/** Why a pipeline does not fit the signature a replica reported, or null when it fits. */
export function pipelineMisfit(spec: PipelineSpec, sig: Signature): string | null {
  try {
    checkAgainstSignature(spec, sig);
    return null;
  } catch (err) {
    return `the pipeline does not fit the model: ${(err as Error).message}`;
  }
}

/** A deploy's pipeline against its model: the labels load, the stages fit the signature (when known). */
export function checkPipeline(spec: PipelineSpec, modelDir: string, sig: Signature | null): void {
  preparePipeline(spec, modelDir);
  checkAgainstSignature(spec, sig);
}
