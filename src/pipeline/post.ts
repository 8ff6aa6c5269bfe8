// Post-processing: one model output (the scores of one request) to the answer /predict returns:
// softmax, then the classes picked by topk, argmax or threshold, named by labels. PURE.
import { MlserveError } from '../errors.js';
import type { PostStage } from './spec.js';

export interface Pick {
  index: number;
  label: string;
  score: number;
}

/** With a stage that picks classes: the best one and the list; without: the scores (by label when named). */
export type PostAnswer =
  | { label: string | null; index: number | null; score: number | null; top: Pick[] }
  | { scores: number[] | Record<string, number> }
  | { embedding: number[] };

/**
 * One text's token embeddings (`tokens` x `width` values from `offset`) to one vector: the mean of
 * the tokens the attention mask keeps (sentence-transformers' mean pooling), or the first token.
 */
export function pool(kind: 'mean_pool' | 'cls_pool', hidden: ArrayLike<number>, offset: number, tokens: number, width: number, mask: readonly number[]): Float64Array {
  const out = new Float64Array(width);
  if (kind === 'cls_pool') {
    for (let h = 0; h < width; h++) out[h] = hidden[offset + h]!;
    return out;
  }
  let kept = 0;
  for (let t = 0; t < tokens; t++) {
    if (!mask[t]) continue;
    kept++;
    const base = offset + t * width;
    for (let h = 0; h < width; h++) out[h]! += hidden[base + h]!;
  }
  const n = Math.max(kept, 1e-9);
  for (let h = 0; h < width; h++) out[h]! /= n;
  return out;
}

/** The vector scaled to unit L2 length (torch's F.normalize: the norm at least 1e-12). */
export function l2normalize(v: ArrayLike<number>): Float64Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.max(Math.sqrt(sum), 1e-12);
  return Float64Array.from(v, (x) => x / norm);
}

/** Numerically stable softmax (the max is subtracted first), in float64. */
export function softmax(xs: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i]! > max) max = xs[i]!;
  const out = new Float64Array(xs.length);
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += out[i] = Math.exp(xs[i]! - max);
  for (let i = 0; i < xs.length; i++) out[i]! /= sum;
  return out;
}

/** Indices of the k highest scores, highest first; ties keep the lower index first (as torch.topk on CPU). */
export function topk(scores: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, scores.length);
  // A small sorted buffer: k is small next to the number of classes.
  const best: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (best.length === n && !(s > scores[best[n - 1]!]!)) continue;
    let at = best.length;
    while (at > 0 && s > scores[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return best;
}

/** Indices whose score is at least `value`, highest first. */
export function overThreshold(scores: ArrayLike<number>, value: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= value) out.push(i);
  return out.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** Class names from a labels file: one per line, or JSON (a list, or an object index -> name or [id, name]). */
export function parseLabels(text: string, file: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (err) {
      throw new MlserveError('BAD_REQUEST', `labels file ${file} looks like JSON but does not parse: ${(err as Error).message}`);
    }
    const name = (v: unknown) => String(Array.isArray(v) ? v[v.length - 1] : v);
    if (Array.isArray(data)) {
      if (data.length === 0) throw new MlserveError('BAD_REQUEST', `labels file ${file} is an empty list`);
      return data.map(name);
    }
    const entries = Object.entries(data as Record<string, unknown>);
    if (entries.length === 0) throw new MlserveError('BAD_REQUEST', `labels file ${file} is an empty object`);
    const out: string[] = [];
    for (const [k, v] of entries) {
      const i = Number(k);
      // Class indexes as written by json.dump: "0", "1", ... (not "01", not ""), each once, so none is left unnamed.
      if (!/^(0|[1-9][0-9]*)$/.test(k) || i >= entries.length) throw new MlserveError('BAD_REQUEST', `labels file ${file}: key '${k}' is not a class index from 0 to ${entries.length - 1}`);
      out[i] = name(v);
    }
    return out;
  }
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0) throw new MlserveError('BAD_REQUEST', `labels file ${file} is empty`);
  return lines.map((l) => l.trim());
}

/** A stage that changes the vector (softmax, normalize); any other leaves it. */
export function transformRow(row: ArrayLike<number>, stage: PostStage): ArrayLike<number> {
  if (stage.kind === 'softmax') return softmax(row);
  if (stage.kind === 'normalize') return l2normalize(row);
  return row;
}

/**
 * The answer for one request's scores. `labels` is the labels stage's list (loaded). A model
 * whose output has more classes than there are labels is a deploy-time mistake, reported here.
 */
export function postProcess(raw: ArrayLike<number>, stages: readonly PostStage[], labels: readonly string[] | null): PostAnswer {
  let scores: ArrayLike<number> = raw;
  let picked: number[] | null = null;
  for (const s of stages) {
    if (s.kind === 'softmax') scores = softmax(scores);
    else if (s.kind === 'topk') picked = topk(scores, s.k);
    else if (s.kind === 'argmax') picked = topk(scores, 1);
    else if (s.kind === 'threshold') picked = overThreshold(scores, s.value);
    else if (s.kind === 'normalize') scores = l2normalize(scores);
    // mean_pool and cls_pool ran before (they read the token embeddings, see pipeline.ts).
  }
  if (labels && labels.length < scores.length) {
    throw new MlserveError('INTERNAL', `the model answered ${scores.length} scores but the labels name ${labels.length} classes; deploy with a labels list that matches the model`);
  }
  const name = (i: number) => (labels ? labels[i]! : String(i));
  if (picked) {
    const top = picked.map((i) => ({ index: i, label: name(i), score: Number(scores[i]) }));
    const first = top[0];
    return { label: first?.label ?? null, index: first?.index ?? null, score: first?.score ?? null, top };
  }
  const values = Array.from(scores, Number);
  if (stages.some((s) => s.kind === 'mean_pool' || s.kind === 'cls_pool' || s.kind === 'normalize')) return { embedding: values };
  return { scores: labels ? Object.fromEntries(values.map((v, i) => [name(i), v])) : values };
}
