// A pipeline endpoint at run time: its stages with the labels loaded from the model's artifacts,
// checked against the model's signature, and one /predict request through them. The model call in
// the middle is the deployment's own queue, so requests still batch together.
import { MlserveError } from '../errors.js';
import type { Signature, Tensor, TensorSpec } from '../tensor.js';
import { parseLabels, pool, postProcess, transformRow, type PostAnswer } from './post.js';
import { callStage, type CallEndpoint } from './compose.js';
import { imageFromBody } from './predict-body.js';
import { readModelFile, readTokenizerFiles } from './model-files.js';
import type { ImageStage, PipelineSpec } from './spec.js';
import { fixedSequence, loadTokenizer, textsFromBody, tokenInputs, tokenize, tokenTensors, type LoadedTokenizer } from './text.js';

export interface PreparedPipeline {
  spec: PipelineSpec;
  /** The labels stage's names (from its file or list), or null. */
  labels: string[] | null;
  /** The text stage's tokenizer, or null. */
  tokenizer: LoadedTokenizer | null;
}

/** Load what the stages need from the model directory (labels, a tokenizer) and check them; errors say what to fix. */
export function preparePipeline(spec: PipelineSpec, modelDir: string): PreparedPipeline {
  const stage = spec.post.find((s) => s.kind === 'labels');
  let labels: string[] | null = null;
  if (stage?.kind === 'labels') {
    labels = stage.list ?? parseLabels(readModelFile(modelDir, stage.file!, 'labels file', 'log it with the model (mlflow.log_artifact into the model directory) or give labels:list=...'), stage.file!);
  }
  const text = spec.pre[0]?.kind === 'text' ? spec.pre[0] : null;
  const tokenizer = text ? loadTokenizer(readTokenizerFiles(modelDir, text.tokenizer), text, text.tokenizer) : null;
  return { spec, labels, tokenizer };
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
  if (poolOf(spec) && out.shape.length !== 3) throw new MlserveError('BAD_REQUEST', `${poolOf(spec)} reads token embeddings [batch, tokens, width], but output '${out.name}' has shape [${out.shape.join(', ')}]${sig.outputs.length > 1 ? '; name the token embeddings with pipeline output:' : ''}`);
  return out;
}

/** Check a pipeline against a model's signature (when known): at deploy time and when replicas report it. */
export function checkAgainstSignature(spec: PipelineSpec, sig: Signature | null): void {
  if (!sig) return;
  const pre = spec.pre[0];
  if (pre?.kind === 'image') imageInput(pre, sig);
  if (pre?.kind === 'text') tokenInputs(sig);
  if (spec.post.length) scoresOutput(spec, sig);
}

const poolOf = (spec: PipelineSpec) => spec.post.find((s): s is { kind: 'mean_pool' | 'cls_pool' } => s.kind === 'mean_pool' || s.kind === 'cls_pool')?.kind;

/** The model's side of /predict: its signature, its queue, how many rows one request may bring. */
export interface PredictTarget {
  spec: Signature;
  maxRows: number;
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
 * One /predict request: the image or texts in the body to the model inputs (pre), the model
 * through its queue, its scores to labels or its token embeddings to a vector (post). Returns the
 * answer and the tensors (for capture and shadow).
 */
export interface PredictRequest {
  contentType: string | undefined;
  body: Buffer;
  /** The body as OIP JSON tensors (a pipeline without a pre stage). */
  decodeTensors: () => Promise<Tensor[]>;
  /** Another endpoint's model (model and ensemble stages). */
  call: CallEndpoint;
  /** An image to the model input (image-decode.ts, on the image pool's threads). */
  toTensor: (bytes: Buffer, stage: ImageStage, inputName: string, batched: boolean) => Promise<Tensor>;
}

type Answer = PostAnswer | { predictions: PostAnswer[] } | Record<string, unknown>;

export async function runPredict(p: PreparedPipeline, target: PredictTarget, req: PredictRequest): Promise<{ answer: Answer; inputs: Tensor[]; outputs: Tensor[] }> {
  const { spec } = p;
  const pre = spec.pre[0];
  let inputs: Tensor[];
  let mask: number[][] | null = null;
  if (pre?.kind === 'image') {
    const { spec: input, batched } = imageInput(pre, target.spec);
    inputs = [await req.toTensor(imageFromBody(req.contentType, req.body), pre, input.name, batched)];
  } else if (pre?.kind === 'text') {
    const tokens = tokenize(p.tokenizer!, textsFromBody(req.contentType, req.body, target.maxRows), pre, fixedSequence(target.spec));
    inputs = tokenTensors(tokenInputs(target.spec), tokens);
    mask = tokens.mask;
  } else inputs = await req.decodeTensors();
  const result = await target.submit(inputs, undefined);
  if (spec.post.length === 0) {
    return { answer: Object.fromEntries(result.outputs.map((t) => [t.name, Array.isArray(t.data) ? t.data : Array.from(t.data as ArrayLike<number>, Number)])), inputs, outputs: result.outputs };
  }
  const out = scoresOutput(spec, target.spec);
  const scores = result.outputs.find((t) => t.name === out.name);
  if (!scores) throw new MlserveError('INTERNAL', `the model did not answer output ${out.name}`);
  const pooling = poolOf(spec);
  let rows: ArrayLike<number>[] = pooling ? pooledRows(scores, pooling, mask!) : scoreRows(scores);
  // Model and ensemble stages call other endpoints with the vectors so far; what follows the last one answers.
  let from = 0;
  for (const [i, stage] of spec.post.entries()) {
    if (stage.kind !== 'model' && stage.kind !== 'ensemble') continue;
    const before = spec.post.slice(from, i);
    rows = rows.map((row) => before.reduce(transformRow, row));
    rows = await callStage(stage, rows, req.call);
    from = i + 1;
  }
  const tail = spec.post.slice(from);
  const answers = rows.map((row) => postProcess(row, tail, p.labels));
  return { answer: answers.length === 1 ? answers[0]! : { predictions: answers }, inputs, outputs: result.outputs };
}

/** Token embeddings [B, T, H] to one vector per text, over each text's attention mask. */
function pooledRows(t: Tensor, kind: 'mean_pool' | 'cls_pool', mask: number[][]): Float64Array[] {
  if (Array.isArray(t.data) || t.shape.length !== 3) throw new MlserveError('INTERNAL', `output ${t.name} has shape [${t.shape.join(', ')}], not token embeddings [batch, tokens, width]`);
  const [rows, tokens, width] = t.shape as [number, number, number];
  const data = t.data as ArrayLike<number>;
  return Array.from({ length: rows }, (_, r) => pool(kind, data, r * tokens * width, tokens, width, mask[r] ?? []));
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
