// A random-weight llama-architecture model as a GGUF file, made by the project for tests and
// benchmarks (nothing from a model hub). Its vocabulary is byte-level: <unk>, <s>, </s>, the 256
// byte tokens <0x00>..<0xFF> (SentencePiece byte fallback, so any text tokenizes) and one normal
// token per printable ASCII character plus "▁" (the space). The output layer only ever scores the
// printable tokens (the other rows are zero and lose to them by far), so generations are readable
// ASCII, never end by themselves (no </s>) and run to max_tokens: deterministic lengths for tests.
// A ChatML chat template makes chat requests work in node-llama-cpp and llama-cpp-python alike.
import { writeFileSync } from 'node:fs';
import { GgmlType, GgufType, arr, bool, encodeGguf, f32, str, u32, type GgufTensor, type GgufValue } from './gguf.js';
import { mulberry32 } from './zoo.js';

export interface TinyLlamaOptions {
  seed?: number;
  nEmbd?: number;
  nLayer?: number;
  nHead?: number;
  nHeadKv?: number;
  nFf?: number;
  /** The context length the model was "trained" on (llama.context_length). */
  contextLength?: number;
  /** Store the weight matrices as F16 (half the file). */
  f16?: boolean;
  name?: string;
}

/** A few MB: what the tests load (fast on one core). */
export const TINY: Required<Omit<TinyLlamaOptions, 'name'>> = { seed: 1, nEmbd: 128, nLayer: 4, nHead: 4, nHeadKv: 4, nFf: 384, contextLength: 4096, f16: false };
/** About 25M parameters (F16): slow enough per token that serving overhead can be measured against it. */
export const SMALL: Required<Omit<TinyLlamaOptions, 'name'>> = { seed: 1, nEmbd: 512, nLayer: 8, nHead: 8, nHeadKv: 8, nFf: 1536, contextLength: 4096, f16: true };

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
  + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const;

/** The vocabulary: pieces, scores and token types, in id order. */
export function tinyVocab(): { tokens: string[]; scores: number[]; types: number[]; firstPrintable: number } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TOKEN_TYPE.UNKNOWN, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TOKEN_TYPE.BYTE);
  }
  const firstPrintable = tokens.length;
  tokens.push('▁');
  types.push(TOKEN_TYPE.NORMAL);
  for (let c = 0x21; c <= 0x7e; c++) {
    tokens.push(String.fromCharCode(c));
    types.push(TOKEN_TYPE.NORMAL);
  }
  return { tokens, scores: tokens.map((_, i) => (i < firstPrintable ? 0 : -(i - firstPrintable))), types, firstPrintable };
}

/** The GGUF file of a random llama model, as buffers to concatenate. */
export function tinyLlamaGguf(opts: TinyLlamaOptions = {}): Buffer[] {
  const o = { ...TINY, ...opts };
  const { tokens, scores, types, firstPrintable } = tinyVocab();
  const nVocab = tokens.length;
  const headDim = o.nEmbd / o.nHead;
  if (!Number.isInteger(headDim) || o.nHead % o.nHeadKv !== 0) throw new Error(`tiny llama: nEmbd ${o.nEmbd} must divide by nHead ${o.nHead}, and nHead by nHeadKv ${o.nHeadKv}`);
  const nKv = headDim * o.nHeadKv;
  const rand = mulberry32(o.seed);
  const wtype = o.f16 ? GgmlType.F16 : GgmlType.F32;
  const uniform = (n: number, scale: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  /** A [rows, cols] matrix, uniform with variance ~1/cols (ggml ne = [cols, rows]). */
  const matrix = (name: string, cols: number, rows: number): GgufTensor => ({ name, ne: [cols, rows], type: wtype, data: uniform(cols * rows, Math.sqrt(3 / cols)) });
  const tensors: GgufTensor[] = [{ name: 'token_embd.weight', ne: [o.nEmbd, nVocab], type: wtype, data: uniform(o.nEmbd * nVocab, 1) }];
  for (let l = 0; l < o.nLayer; l++) {
    const p = `blk.${l}`;
    tensors.push(
      { name: `${p}.attn_norm.weight`, ne: [o.nEmbd], type: GgmlType.F32, data: ones(o.nEmbd) },
      matrix(`${p}.attn_q.weight`, o.nEmbd, o.nEmbd),
      matrix(`${p}.attn_k.weight`, o.nEmbd, nKv),
      matrix(`${p}.attn_v.weight`, o.nEmbd, nKv),
      matrix(`${p}.attn_output.weight`, o.nEmbd, o.nEmbd),
      { name: `${p}.ffn_norm.weight`, ne: [o.nEmbd], type: GgmlType.F32, data: ones(o.nEmbd) },
      matrix(`${p}.ffn_gate.weight`, o.nEmbd, o.nFf),
      matrix(`${p}.ffn_up.weight`, o.nEmbd, o.nFf),
      matrix(`${p}.ffn_down.weight`, o.nFf, o.nEmbd),
    );
  }
  // Logits of the printable tokens have a standard deviation of about 5; every other row is zero.
  const output = new Float32Array(o.nEmbd * nVocab);
  const scale = 5 * Math.sqrt(3 / o.nEmbd);
  for (let t = firstPrintable; t < nVocab; t++) for (let j = 0; j < o.nEmbd; j++) output[t * o.nEmbd + j] = (rand() * 2 - 1) * scale;
  tensors.push({ name: 'output_norm.weight', ne: [o.nEmbd], type: GgmlType.F32, data: ones(o.nEmbd) });
  tensors.push({ name: 'output.weight', ne: [o.nEmbd, nVocab], type: wtype, data: output });

  const metadata: Record<string, GgufValue> = {
    'general.architecture': str('llama'),
    'general.name': str(opts.name ?? `mlserve-tiny-llama-${o.nEmbd}x${o.nLayer}`),
    'general.alignment': u32(32),
    'llama.vocab_size': u32(nVocab),
    'llama.context_length': u32(o.contextLength),
    'llama.embedding_length': u32(o.nEmbd),
    'llama.block_count': u32(o.nLayer),
    'llama.feed_forward_length': u32(o.nFf),
    'llama.attention.head_count': u32(o.nHead),
    'llama.attention.head_count_kv': u32(o.nHeadKv),
    'llama.rope.dimension_count': u32(headDim),
    'llama.rope.freq_base': f32(10000),
    'llama.attention.layer_norm_rms_epsilon': f32(1e-5),
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': arr(GgufType.STRING, tokens),
    'tokenizer.ggml.scores': arr(GgufType.FLOAT32, scores),
    'tokenizer.ggml.token_type': arr(GgufType.INT32, types),
    'tokenizer.ggml.unknown_token_id': u32(0),
    'tokenizer.ggml.bos_token_id': u32(1),
    'tokenizer.ggml.eos_token_id': u32(2),
    'tokenizer.ggml.add_bos_token': bool(true),
    'tokenizer.ggml.add_eos_token': bool(false),
    'tokenizer.chat_template': str(CHATML_TEMPLATE),
  };
  return encodeGguf(metadata, tensors);
}

/** Parameters of a model with these options (for reports). */
export function tinyLlamaParams(opts: TinyLlamaOptions = {}): number {
  const o = { ...TINY, ...opts };
  const nVocab = tinyVocab().tokens.length;
  const nKv = (o.nEmbd / o.nHead) * o.nHeadKv;
  return 2 * nVocab * o.nEmbd + o.nEmbd + o.nLayer * (2 * o.nEmbd + 2 * o.nEmbd * o.nEmbd + 2 * o.nEmbd * nKv + 3 * o.nEmbd * o.nFf);
}

/** Write a tiny llama GGUF to `file`; returns its size in bytes. */
export function saveTinyLlama(file: string, opts: TinyLlamaOptions = {}): number {
  const data = Buffer.concat(tinyLlamaGguf(opts));
  writeFileSync(file, data);
  return data.length;
}
