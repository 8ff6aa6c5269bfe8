// A pipeline endpoint's stages, as the operator declares them (mlserve.yaml `pipeline:` or
// `mlserve deploy --pre ... --post ...`), checked into one typed form. Pre-processing turns a
// human input (an image) into the model's input tensor; post-processing turns its output into an
// answer (softmax, top-k, labels). PURE.
import { MlserveError } from '../errors.js';

export type Layout = 'NCHW' | 'NHWC';

/** Decode an image, resize/crop it as torchvision's Resize + CenterCrop, scale and normalize it. */
export interface ImageStage {
  kind: 'image';
  /** The model input it feeds (default: the model's only input). */
  input?: string;
  /** Shorter side to this many pixels, keeping the aspect ratio (torchvision Resize(int)). */
  resize?: number;
  /** Exactly this height and width (torchvision Resize((h, w))); instead of resize. */
  size?: [number, number];
  /** Center crop to this height and width (torchvision CenterCrop). */
  crop?: [number, number];
  /** Pixel values are multiplied by scale, then (x - mean[c]) / std[c] per RGB channel. */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  layout: Layout;
  /** FP32 (scaled and normalized) or UINT8 (raw pixels; scale, mean and std unused). */
  dtype: 'FP32' | 'UINT8';
  /** Images with more pixels than this are refused from their header, before decoding. */
  maxPixels: number;
}

/** Tokenize text with a Hugging Face tokenizer.json from the model's artifacts. */
export interface TextStage {
  kind: 'text';
  /** The tokenizer file in the model directory (tokenizer_config.json beside it is read when there). */
  tokenizer: string;
  /** Most tokens per text, special tokens included (default: the model's own limit, see text.ts). */
  maxLength?: number;
  /** Cut longer texts to maxLength (default: refuse them with 413). */
  truncate: boolean;
  /** Pad each request's texts to the longest of them, or every text to maxLength (so any requests batch together). */
  padding: 'longest' | 'max_length';
}

export type PreStage = ImageStage | TextStage;

export type PostStage =
  | { kind: 'softmax' }
  | { kind: 'topk'; k: number }
  | { kind: 'argmax' }
  | { kind: 'threshold'; value: number }
  /** Token embeddings [T, H] to one vector: the mean over the attention mask (sentence-transformers), or the first token's. */
  | { kind: 'mean_pool' }
  | { kind: 'cls_pool' }
  /** Scale the vector to unit L2 length. */
  | { kind: 'normalize' }
  /** Call another endpoint's model with the vectors so far (its input; default its only one) and go on with its output. */
  | { kind: 'model'; endpoint: string; input?: string; output?: string }
  /** Call several endpoints with the same vectors and merge their outputs: the mean, or side by side. */
  | { kind: 'ensemble'; endpoints: string[]; merge: 'mean' | 'concat'; input?: string; output?: string }
  /** Class names: a file in the model's artifacts (one per line, or a JSON list/object), or a list. */
  | { kind: 'labels'; file?: string; list?: string[] };

export interface PipelineSpec {
  pre: PreStage[];
  post: PostStage[];
  /** The model output the post stages read (default: the model's first output). */
  output?: string;
}

/** torchvision's ImageNet normalization, the default of an image stage. */
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];
/** 40 megapixels: a 20,000 x 20,000 image (400 MP) is refused; any camera photo passes. */
export const DEFAULT_MAX_PIXELS = 40_000_000;

const PRE_KINDS = ['image', 'text'];
const POST_KINDS = ['softmax', 'topk', 'argmax', 'threshold', 'labels', 'mean_pool', 'cls_pool', 'normalize', 'model', 'ensemble'];
const ENDPOINT = /^[a-z0-9]([a-z0-9._-]{0,62})$/;

const bad = (where: string, msg: string) => new MlserveError('BAD_REQUEST', `pipeline${where ? ` ${where}` : ''}: ${msg}`);

type Raw = Record<string, unknown>;

function onlyKeys(where: string, o: Raw, allowed: string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw bad(where, `unknown option '${k}'; it takes ${allowed.length ? allowed.join(', ') : 'no options'}`);
  }
}

function int(where: string, key: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw bad(where, `${key} must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return n;
}

function num(where: string, key: string, v: unknown, positive = false): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || (positive && n <= 0)) throw bad(where, `${key} must be a ${positive ? 'positive ' : ''}number (got ${JSON.stringify(v)})`);
  return n;
}

/** A list given as an array or as "a/b/c" (the flag form). */
function list(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return v.split('/').map((s) => s.trim());
  if (typeof v === 'number') return [v];
  return [];
}

function triple(where: string, key: string, v: unknown, positive: boolean): [number, number, number] {
  const xs = list(v);
  if (xs.length === 1) xs.push(xs[0], xs[0]);
  if (xs.length !== 3) throw bad(where, `${key} takes 3 numbers, one per RGB channel, such as ${key}=0.485/0.456/0.406 (got ${JSON.stringify(v)})`);
  return xs.map((x) => num(where, key, x, positive)) as [number, number, number];
}

function pair(where: string, key: string, v: unknown): [number, number] {
  const xs = list(v);
  if (xs.length === 1) xs.push(xs[0]);
  if (xs.length !== 2) throw bad(where, `${key} takes one size or height/width, such as ${key}=224 or ${key}=224/320 (got ${JSON.stringify(v)})`);
  return xs.map((x) => int(where, key, x, 1, 16384)) as [number, number];
}

function imageStage(where: string, o: Raw): ImageStage {
  // maxPixels: the stored form (this function's own output) parses again to itself.
  if (o.maxPixels !== undefined && o.max_pixels === undefined) {
    const { maxPixels, ...rest } = o;
    o = { ...rest, max_pixels: maxPixels };
  }
  onlyKeys(where, o, ['input', 'resize', 'size', 'crop', 'scale', 'mean', 'std', 'layout', 'dtype', 'max_pixels']);
  if (o.resize !== undefined && o.size !== undefined) throw bad(where, 'give resize (the shorter side) or size (exact height/width), not both');
  const layout = String(o.layout ?? 'NCHW').toUpperCase();
  if (layout !== 'NCHW' && layout !== 'NHWC') throw bad(where, `layout must be NCHW or NHWC (got ${JSON.stringify(o.layout)})`);
  const dtype = String(o.dtype ?? 'FP32').toUpperCase().replace(/^FLOAT32$/, 'FP32');
  if (dtype !== 'FP32' && dtype !== 'UINT8') throw bad(where, `dtype must be FP32 or UINT8 (got ${JSON.stringify(o.dtype)})`);
  if (o.input !== undefined && (typeof o.input !== 'string' || o.input === '')) throw bad(where, 'input must name a model input');
  return {
    kind: 'image',
    ...(o.input !== undefined ? { input: o.input as string } : {}),
    ...(o.resize !== undefined ? { resize: int(where, 'resize', o.resize, 1, 16384) } : {}),
    ...(o.size !== undefined ? { size: pair(where, 'size', o.size) } : {}),
    ...(o.crop !== undefined ? { crop: pair(where, 'crop', o.crop) } : {}),
    scale: o.scale === undefined ? 1 / 255 : num(where, 'scale', o.scale, true),
    mean: o.mean === undefined ? [...IMAGENET_MEAN] : triple(where, 'mean', o.mean, false),
    std: o.std === undefined ? [...IMAGENET_STD] : triple(where, 'std', o.std, true),
    layout,
    dtype,
    maxPixels: o.max_pixels === undefined ? DEFAULT_MAX_PIXELS : int(where, 'max_pixels', o.max_pixels, 1, 2 ** 31),
  };
}

function textStage(where: string, o: Raw): TextStage {
  // maxLength: the stored form (this function's own output) parses again to itself.
  if (o.maxLength !== undefined && o.max_length === undefined) {
    const { maxLength, ...rest } = o;
    o = { ...rest, max_length: maxLength };
  }
  onlyKeys(where, o, ['tokenizer', 'max_length', 'truncate', 'padding']);
  if (o.tokenizer !== undefined && (typeof o.tokenizer !== 'string' || o.tokenizer === '')) throw bad(where, 'tokenizer must be a file in the model directory, such as tokenizer.json');
  const truncate = o.truncate === undefined ? false : o.truncate === true || o.truncate === 'true' ? true : o.truncate === false || o.truncate === 'false' ? false : undefined;
  if (truncate === undefined) throw bad(where, `truncate must be true or false (got ${JSON.stringify(o.truncate)})`);
  const padding = String(o.padding ?? 'longest');
  if (padding !== 'longest' && padding !== 'max_length') throw bad(where, `padding must be longest or max_length (got ${JSON.stringify(o.padding)})`);
  return {
    kind: 'text',
    tokenizer: (o.tokenizer as string | undefined) ?? 'tokenizer.json',
    ...(o.max_length !== undefined ? { maxLength: int(where, 'max_length', o.max_length, 2, 1_000_000) } : {}),
    truncate,
    padding,
  };
}

function postStage(where: string, kind: string, o: Raw): PostStage {
  switch (kind) {
    case 'softmax':
    case 'argmax':
    case 'mean_pool':
    case 'cls_pool':
    case 'normalize':
      onlyKeys(where, o, []);
      return { kind };
    case 'topk':
      onlyKeys(where, o, ['k']);
      return { kind, k: int(where, 'k', o.k ?? 5, 1, 100_000) };
    case 'model':
    case 'ensemble': {
      const names = kind === 'model' ? [o.endpoint] : list(o.endpoints);
      onlyKeys(where, o, kind === 'model' ? ['endpoint', 'input', 'output'] : ['endpoints', 'merge', 'input', 'output']);
      if (names.length === 0 || names.some((n) => typeof n !== 'string' || !ENDPOINT.test(n))) {
        throw bad(where, kind === 'model' ? `endpoint must name the endpoint whose model to call, such as model:endpoint=classifier (got ${JSON.stringify(o.endpoint)})` : `endpoints must name two or more endpoints, such as ensemble:endpoints=a/b (got ${JSON.stringify(o.endpoints)})`);
      }
      if (kind === 'ensemble' && names.length < 2) throw bad(where, 'an ensemble merges two or more endpoints; for one, use model:endpoint=...');
      for (const k of ['input', 'output'] as const) if (o[k] !== undefined && (typeof o[k] !== 'string' || o[k] === '')) throw bad(where, `${k} must name a tensor of the called model`);
      const io = { ...(o.input !== undefined ? { input: o.input as string } : {}), ...(o.output !== undefined ? { output: o.output as string } : {}) };
      if (kind === 'model') return { kind, endpoint: names[0] as string, ...io };
      const merge = String(o.merge ?? 'mean');
      if (merge !== 'mean' && merge !== 'concat') throw bad(where, `merge must be mean or concat (got ${JSON.stringify(o.merge)})`);
      return { kind, endpoints: names as string[], merge, ...io };
    }
    case 'threshold':
      onlyKeys(where, o, ['value']);
      if (o.value === undefined) throw bad(where, 'threshold needs value, such as threshold:value=0.5');
      return { kind, value: num(where, 'value', o.value) };
    default: {
      onlyKeys(where, o, ['file', 'list']);
      if ((o.file === undefined) === (o.list === undefined)) throw bad(where, 'labels takes file (a file in the model\'s artifacts) or list (the names), one of them');
      if (o.file !== undefined) {
        if (typeof o.file !== 'string' || o.file === '') throw bad(where, 'labels file must be a path inside the model directory');
        return { kind: 'labels', file: o.file };
      }
      const names = list(o.list);
      if (names.length === 0 || names.some((n) => typeof n !== 'string' && typeof n !== 'number')) throw bad(where, 'labels list must be a list of names');
      return { kind: 'labels', list: names.map(String) };
    }
  }
}

/** One stage as written: "softmax", {"topk": {"k": 5}}, or {"kind": "topk", "k": 5}. */
function stageParts(where: string, raw: unknown): { kind: string; options: Raw } {
  if (typeof raw === 'string') return { kind: raw, options: {} };
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Raw;
    if (typeof o.kind === 'string') {
      const { kind, ...options } = o;
      return { kind: kind as string, options };
    }
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const v = o[keys[0]!];
      if (v === null || v === undefined) return { kind: keys[0]!, options: {} };
      if (typeof v === 'object' && !Array.isArray(v)) return { kind: keys[0]!, options: v as Raw };
    }
  }
  throw bad(where, `a stage is a name ("softmax") or one name with its options ({"topk": {"k": 5}}); got ${JSON.stringify(raw)}`);
}

/** The pipeline an operator declared, checked; errors name the stage and the option. */
export function parsePipeline(raw: unknown): PipelineSpec {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('', 'must be an object with pre and/or post stage lists');
  const o = raw as Raw;
  onlyKeys('', o, ['pre', 'post', 'output']);
  const stages = (key: 'pre' | 'post') => {
    const v = o[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw bad(key, 'must be a list of stages');
    return v.map((s, i) => ({ where: `${key}[${i}]`, ...stageParts(`${key}[${i}]`, s) }));
  };
  const pre = stages('pre').map(({ where, kind, options }) => {
    if (!PRE_KINDS.includes(kind)) throw bad(where, `unknown pre-processing stage '${kind}'; pre stages: ${PRE_KINDS.join(', ')}`);
    return kind === 'text' ? textStage(`${where} (${kind})`, options) : imageStage(`${where} (${kind})`, options);
  });
  if (pre.length > 1) throw bad('pre', 'takes one stage (an image or a text stage)');
  const post = stages('post').map(({ where, kind, options }) => {
    if (!POST_KINDS.includes(kind)) throw bad(where, `unknown post-processing stage '${kind}'; post stages: ${POST_KINDS.join(', ')}`);
    return postStage(`${where} (${kind})`, kind, options);
  });
  const lastCall = post.map((s) => s.kind === 'model' || s.kind === 'ensemble').lastIndexOf(true);
  const early = post.findIndex((s, i) => i < lastCall && (s.kind === 'topk' || s.kind === 'argmax' || s.kind === 'threshold' || s.kind === 'labels'));
  if (early >= 0) throw bad(`post[${early}]`, `${post[early]!.kind} answers, so it comes after the last model or ensemble stage`);
  const picks = post.filter((s) => s.kind === 'topk' || s.kind === 'argmax' || s.kind === 'threshold');
  if (picks.length > 1) throw bad('post', `picks classes once: give one of topk, argmax and threshold (got ${picks.map((s) => s.kind).join(', ')})`);
  if (post.filter((s) => s.kind === 'softmax').length > 1) throw bad('post', 'has softmax twice');
  if (post.filter((s) => s.kind === 'labels').length > 1) throw bad('post', 'has labels twice');
  const softmaxAt = post.findIndex((s) => s.kind === 'softmax');
  const pickAt = post.findIndex((s) => s === picks[0]);
  if (softmaxAt >= 0 && pickAt >= 0 && softmaxAt > pickAt) throw bad('post', 'softmax comes before the stage that picks classes');
  const pools = post.filter((s) => s.kind === 'mean_pool' || s.kind === 'cls_pool');
  if (pools.length > 0) {
    if (pools.length > 1) throw bad('post', 'pools once: give mean_pool or cls_pool');
    if (post[0] !== pools[0]) throw bad('post', `${pools[0]!.kind} comes first: it turns the token embeddings into the vector the other stages read`);
    if (pre[0]?.kind !== 'text') throw bad('post', `${pools[0]!.kind} pools over the tokens of a text stage's attention mask; give pre: [text]`);
  }
  if (pre.length === 0 && post.length === 0) throw bad('', 'has no stages; give pre and/or post stages');
  if (o.output !== undefined && (typeof o.output !== 'string' || o.output === '')) throw bad('output', 'must name a model output');
  return { pre, post, ...(o.output !== undefined ? { output: o.output as string } : {}) };
}

/**
 * A stage as the CLI writes it: `name` or `name:key=value,key=value` (lists with '/':
 * `image:resize=256,crop=224,mean=0.485/0.456/0.406`), to the object form parsePipeline takes.
 */
export function stageFromFlag(text: string): Record<string, Raw> {
  const colon = text.indexOf(':');
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (!/^[a-z][a-z_]*$/.test(kind)) throw bad('flag', `'${text}' does not start with a stage name such as image, text, softmax or topk`);
  const options: Raw = {};
  if (colon >= 0) {
    for (const part of text.slice(colon + 1).split(',')) {
      if (part.trim() === '') continue;
      const eq = part.indexOf('=');
      if (eq <= 0) throw bad('flag', `'${part}' in '${text}' is not key=value`);
      const key = part.slice(0, eq).trim().replace(/-/g, '_');
      options[key] = part.slice(eq + 1).trim();
    }
  }
  return { [kind]: options };
}

/** The file form of a checked pipeline (`mlserve config` writes it; parsePipeline reads it back to the same spec). */
export function toFilePipeline(spec: PipelineSpec): Record<string, unknown> {
  const pre = spec.pre.map((s) => {
    if (s.kind === 'text') {
      return { text: { tokenizer: s.tokenizer, ...(s.maxLength !== undefined ? { max_length: s.maxLength } : {}), truncate: s.truncate, padding: s.padding } };
    }
    const o: Record<string, unknown> = {};
    if (s.input !== undefined) o.input = s.input;
    if (s.resize !== undefined) o.resize = s.resize;
    if (s.size) o.size = s.size;
    if (s.crop) o.crop = s.crop;
    Object.assign(o, { scale: s.scale, mean: s.mean, std: s.std, layout: s.layout, dtype: s.dtype, max_pixels: s.maxPixels });
    return { image: o };
  });
  const post = spec.post.map((s) => {
    const { kind, ...options } = s;
    return Object.keys(options).length ? { [kind]: options } : kind;
  });
  return { ...(pre.length ? { pre } : {}), ...(post.length ? { post } : {}), ...(spec.output !== undefined ? { output: spec.output } : {}) };
}
