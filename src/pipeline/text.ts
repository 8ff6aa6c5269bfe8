// A text stage: texts to the token tensors a transformer takes (input_ids, attention_mask,
// token_type_ids), with the Hugging Face tokenizer.json shipped in the model's artifacts
// (@huggingface/tokenizers, a pure JS port of the Rust tokenizers). Special tokens, truncation
// and padding as the Rust library applies them for one sequence. PURE: the files are read by the caller.
import { Tokenizer } from '@huggingface/tokenizers';
import { MlserveError } from '../errors.js';
import type { Signature, Tensor, TensorSpec } from '../tensor.js';
import { mediaType } from './predict-body.js';
import type { TextStage } from './spec.js';

export interface LoadedTokenizer {
  tok: Tokenizer;
  /** Most tokens per text, special tokens included. */
  maxLength: number;
  /** Where that limit came from, for messages. */
  limitFrom: string;
  padId: number;
  /** The special tokens the tokenizer puts before and after one sequence ([CLS] ... [SEP]). */
  prefix: number[];
  suffix: number[];
}

/** The files a tokenizer is made of, parsed (tokenizer_config.json and sentence_bert_config.json when present). */
export interface TokenizerFiles {
  tokenizer: unknown;
  config?: Record<string, unknown>;
  sentenceBert?: { max_seq_length?: unknown };
}

const TOKEN_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

/** Build the tokenizer and its limit: the stage's max_length, else sentence-transformers' max_seq_length, the tokenizer's truncation, its model_max_length, 512. */
export function loadTokenizer(files: TokenizerFiles, stage: TextStage, file: string): LoadedTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(files.tokenizer as never, (files.config ?? {}) as never);
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `${file} is not a tokenizer the text stage can load: ${(err as Error).message}`);
  }
  const json = files.tokenizer as { truncation?: { max_length?: number } | null; padding?: { pad_id?: number } | null };
  const limits: Array<[unknown, string]> = [
    [stage.maxLength, 'the stage\'s max_length'],
    [files.sentenceBert?.max_seq_length, 'max_seq_length in sentence_bert_config.json'],
    [json.truncation?.max_length, `truncation.max_length in ${file}`],
    [files.config?.model_max_length, 'model_max_length in tokenizer_config.json'],
  ];
  const [maxLength, limitFrom] = (limits.find(([v]) => typeof v === 'number' && Number.isInteger(v) && v >= 2 && v <= 1_000_000) ?? [512, 'the default']) as [number, string];
  const padId = json.padding?.pad_id ?? tok.token_to_id('[PAD]') ?? tok.token_to_id('<pad>') ?? 0;
  // Where the text goes between the special tokens: find the plain ids inside the full ones.
  const plain = tok.encode('a', { add_special_tokens: false }).ids;
  const full = tok.encode('a').ids;
  let at = 0;
  while (at + plain.length <= full.length && plain.some((id: number, i: number) => full[at + i] !== id)) at++;
  if (at + plain.length > full.length) at = full.length;
  return { tok, maxLength, limitFrom, padId, prefix: full.slice(0, at), suffix: full.slice(at + plain.length) };
}

export interface Tokens {
  /** One row per text, all padded to `length`. */
  ids: number[][];
  mask: number[][];
  length: number;
}

/**
 * Tokenize texts: special tokens around each, then every row padded (to the longest text, to
 * max_length, or to the model's fixed sequence length). A text over the limit is refused (413),
 * or cut when the stage says truncate.
 */
export function tokenize(t: LoadedTokenizer, texts: readonly string[], stage: TextStage, fixedLength?: number): Tokens {
  const max = fixedLength ? Math.min(fixedLength, t.maxLength) : t.maxLength;
  const room = max - t.prefix.length - t.suffix.length;
  if (room < 1) throw new MlserveError('BAD_REQUEST', `the text stage's limit of ${max} tokens leaves no room between the special tokens`);
  const ids = texts.map((text, i) => {
    // Every token is at least one character: past this many, the text is over the limit whatever it holds.
    const cut = stage.truncate && text.length > room * 64 ? text.slice(0, room * 64) : text;
    let content = t.tok.encode(cut, { add_special_tokens: false }).ids;
    if (content.length > room) {
      if (!stage.truncate) {
        const which = texts.length > 1 ? `text ${i} is` : 'the text is';
        throw new MlserveError('PAYLOAD_TOO_LARGE', `${which} ${content.length + t.prefix.length + t.suffix.length} tokens, over the limit of ${max} (${fixedLength && fixedLength < t.maxLength ? 'the model\'s sequence length' : t.limitFrom}); send shorter text, or deploy with text:truncate=true to cut it`);
      }
      content = content.slice(0, room);
    }
    return [...t.prefix, ...content, ...t.suffix];
  });
  const length = stage.padding === 'max_length' || fixedLength ? max : Math.max(...ids.map((r) => r.length));
  const mask = ids.map((r) => Array.from({ length }, (_, j) => (j < r.length ? 1 : 0)));
  const padded = ids.map((r) => [...r, ...Array(length - r.length).fill(t.padId)]);
  return { ids: padded, mask, length };
}

/** The texts of a /predict body: text/plain, or JSON {"text": "..."} / {"text": ["...", ...]}. */
export function textsFromBody(contentType: string | undefined, body: Buffer, maxTexts: number): string[] {
  const { type } = mediaType(contentType ?? '');
  if (type === 'text/plain') return [body.toString('utf8')];
  if (type !== 'application/json') {
    throw new MlserveError('UNSUPPORTED_MEDIA_TYPE', `/predict on a text pipeline takes JSON {"text": "..."} or {"text": ["...", ...]}, or text/plain; got content-type '${contentType ?? ''}'`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `the body is not valid JSON: ${(err as Error).message}`);
  }
  const text = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as { text?: unknown }).text : undefined;
  const texts = typeof text === 'string' ? [text] : Array.isArray(text) && text.length > 0 && text.every((x) => typeof x === 'string') ? (text as string[]) : null;
  if (!texts) throw new MlserveError('BAD_REQUEST', 'a JSON body is {"text": "..."} or {"text": ["...", ...]} (strings)');
  if (texts.length > maxTexts) throw new MlserveError('PAYLOAD_TOO_LARGE', `${texts.length} texts in one request, over ${maxTexts} (the deployment's max_batch_size); send fewer per request`);
  return texts;
}

/** The token inputs a model takes, checked: only input_ids, attention_mask and token_type_ids, integers, [batch, sequence]. */
export function tokenInputs(sig: Signature): TensorSpec[] {
  const names = sig.inputs.map((i) => i.name);
  for (const i of sig.inputs) {
    if (!(TOKEN_INPUTS as readonly string[]).includes(i.name)) {
      throw new MlserveError('BAD_REQUEST', `the text stage feeds input_ids, attention_mask and token_type_ids, but the model also takes '${i.name}' (inputs: ${names.join(', ')})`);
    }
    if (i.datatype !== 'INT64' && i.datatype !== 'INT32') throw new MlserveError('BAD_REQUEST', `model input '${i.name}' is ${i.datatype}; token inputs are INT64 or INT32`);
    if (i.shape.length !== 2) throw new MlserveError('BAD_REQUEST', `model input '${i.name}' has shape [${i.shape.join(', ')}]; token inputs are [batch, sequence]`);
  }
  if (!names.includes('input_ids')) throw new MlserveError('BAD_REQUEST', `the text stage feeds input_ids, which the model does not take (inputs: ${names.join(', ')})`);
  return sig.inputs;
}

/** The model's fixed sequence length, if its token inputs have one. */
export function fixedSequence(sig: Signature): number | undefined {
  const n = sig.inputs.find((i) => i.name === 'input_ids')?.shape[1];
  return n !== undefined && n > 0 ? n : undefined;
}

/** Token rows to the model's input tensors, in its dtypes. */
export function tokenTensors(specs: readonly TensorSpec[], tokens: Tokens): Tensor[] {
  const rows = tokens.ids.length;
  return specs.map((s) => {
    const source = s.name === 'input_ids' ? tokens.ids : s.name === 'attention_mask' ? tokens.mask : null;
    const n = rows * tokens.length;
    const data = s.datatype === 'INT64' ? new BigInt64Array(n) : new Int32Array(n);
    if (source) {
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < tokens.length; j++) {
          const v = source[r]![j]!;
          if (data instanceof BigInt64Array) data[r * tokens.length + j] = BigInt(v);
          else data[r * tokens.length + j] = v;
        }
      }
    }
    return { name: s.name, datatype: s.datatype, shape: [rows, tokens.length], data };
  });
}
