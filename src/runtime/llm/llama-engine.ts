// llama.cpp in this process through node-llama-cpp: one model, one context with `slots` sequences
// (each its own KV cache of ctxSize tokens). Generations on different slots run at once and
// llama.cpp evaluates them in shared batches (node-llama-cpp batches every sequence's pending
// tokens on each cycle): continuous batching. A new request takes the free slot whose cached
// tokens share the longest prefix with its prompt, and only the rest of the prompt is evaluated.
import { getLlama, resolveChatWrapper, type ChatHistoryItem, type ChatWrapper, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { LlmRequestError, type FinishReason, type GenerateRequest, type KvUse, type LlmAbout, type LlmReplicaConfig, type Usage } from './protocol.js';
import { StopText, TokenText } from './text-stream.js';

export interface GenerateResult {
  finishReason: FinishReason;
  usage: Usage;
}

/** Set by the caller to stop a generation between tokens. */
export interface Cancel {
  cancelled: boolean;
}

interface Slot {
  seq: LlamaContextSequence;
  busy: boolean;
}

type LlamaTextLike = { values: ReadonlyArray<unknown>; tokenize(tokenizer: LlamaModel['tokenizer']): Token[] };

export class LlamaEngine {
  private readonly slots: Slot[];
  private readonly waiting: Array<(s: Slot) => void> = [];
  private embedding?: Promise<{ getEmbeddingFor(text: string): Promise<{ vector: readonly number[] }> }>;

  private constructor(
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    private readonly wrapper: ChatWrapper,
    private readonly config: LlmReplicaConfig,
  ) {
    this.slots = Array.from({ length: config.slots }, () => ({ seq: context.getSequence(), busy: false }));
  }

  static async load(config: LlmReplicaConfig): Promise<LlamaEngine> {
    const gpu = config.gpuLayers === undefined || config.gpuLayers === 0 ? false : 'auto';
    const llama = await getLlama({ gpu, build: 'never', logLevel: 'warn' as never, maxThreads: config.threads ?? 0 });
    const model = await llama.loadModel({ modelPath: config.modelFile, gpuLayers: gpu === false ? 0 : config.gpuLayers === 'auto' ? 'auto' : config.gpuLayers });
    const context = await model.createContext({ contextSize: config.ctxSize, sequences: config.slots, ...(config.threads ? { threads: config.threads } : {}) });
    return new LlamaEngine(model, context, resolveChatWrapper(model), config);
  }

  about(): LlmAbout {
    const arch = this.model.fileInfo.metadata?.general?.architecture;
    return {
      engine: 'llama.cpp (node-llama-cpp)',
      contextSize: this.context.contextSize,
      slots: this.config.slots,
      architecture: typeof arch === 'string' ? arch : undefined,
      trainContextSize: this.model.trainContextSize,
      chatTemplate: this.wrapper.wrapperName,
    };
  }

  /** KV-cache cells holding tokens over all slots. */
  kv(): KvUse {
    return { used: this.slots.reduce((a, s) => a + s.seq.nextTokenIndex, 0), size: this.context.contextSize * this.slots.length };
  }

  /** The prompt as tokens, and the text sequences that end a chat turn. */
  private prompt(req: GenerateRequest): { tokens: Token[]; stops: string[] } {
    if (req.kind === 'completion') {
      const bos = this.model.tokens.bos;
      const body = this.model.tokenize(req.prompt ?? '', false);
      return { tokens: bos !== null && this.model.tokens.shouldPrependBosToken ? [bos, ...body] : body, stops: [] };
    }
    const history: ChatHistoryItem[] = [];
    for (const m of req.messages ?? []) {
      if (m.role === 'system' || m.role === 'developer') history.push({ type: 'system', text: m.content });
      else if (m.role === 'assistant') history.push({ type: 'model', response: [m.content] });
      else history.push({ type: 'user', text: m.content });
    }
    history.push({ type: 'model', response: [] });
    const state = this.wrapper.generateContextState({ chatHistory: history });
    const stops: string[] = [];
    for (const trigger of state.stopGenerationTriggers as ReadonlyArray<LlamaTextLike>) {
      // Plain-text triggers become stop sequences; special tokens (EOS) end a generation as end-of-generation tokens.
      const parts = trigger.values.map((v) => (typeof v === 'string' ? v : v && typeof v === 'object' && 'value' in v && v.constructor?.name === 'SpecialTokensText' ? String((v as { value: string }).value) : null));
      if (parts.every((p) => p !== null) && parts.join('') !== '') stops.push(parts.join(''));
    }
    return { tokens: (state.contextText as unknown as LlamaTextLike).tokenize(this.model.tokenizer), stops };
  }

  /** A free slot, preferring the one whose cached tokens share the longest prefix with `tokens`. */
  private acquire(tokens: Token[]): Promise<Slot> {
    let best: Slot | undefined;
    let bestLen = -1;
    for (const s of this.slots) {
      if (s.busy) continue;
      const len = s.seq.compareContextTokens(tokens).firstDifferentIndex;
      if (len > bestLen) {
        best = s;
        bestLen = len;
      }
    }
    if (best) {
      best.busy = true;
      return Promise.resolve(best);
    }
    return new Promise((resolve) => this.waiting.push((s) => resolve(s)));
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  /** Generate, calling `emit` with text as it is decoded; resolves when it stopped. */
  async generate(req: GenerateRequest, cancel: Cancel, emit: (text: string, tokens: number) => void): Promise<GenerateResult> {
    const { tokens, stops } = this.prompt(req);
    const ctx = this.context.contextSize;
    if (tokens.length >= ctx) {
      throw new LlmRequestError(`This model's maximum context length is ${ctx} tokens. However, your ${req.kind === 'chat' ? 'messages' : 'prompt'} resulted in ${tokens.length} tokens. Please reduce the length of the ${req.kind === 'chat' ? 'messages' : 'prompt'}.`, 400, 'context_length_exceeded', req.kind === 'chat' ? 'messages' : 'prompt');
    }
    const limit = Math.min(req.maxTokens ?? Infinity, ctx - tokens.length);
    const slot = await this.acquire(tokens);
    let generated = 0;
    let cachedTokens = 0;
    let finishReason: FinishReason = 'length';
    try {
      const seq = slot.seq;
      // At least the last prompt token is evaluated: its logits give the first generated token.
      await seq.adaptStateToTokens(tokens.slice(0, -1), false);
      cachedTokens = seq.nextTokenIndex;
      const text = new TokenText((t, before) => this.model.detokenize(t as Token[], false, before as Token[]));
      const stop = new StopText([...req.stop, ...stops]);
      const out: Token[] = [];
      let pendingTokens = 0;
      const send = (s: string) => {
        pendingTokens++;
        const visible = stop.push(s);
        if (visible) {
          emit(visible, pendingTokens);
          pendingTokens = 0;
        }
      };
      const penalties = req.presencePenalty > 0 || req.frequencyPenalty > 0;
      const iter = seq.evaluate(tokens.slice(cachedTokens), {
        temperature: req.temperature,
        topP: req.topP,
        ...(req.topK !== undefined ? { topK: req.topK } : {}),
        ...(req.minP !== undefined ? { minP: req.minP } : {}),
        ...(req.seed !== undefined ? { seed: req.seed } : {}),
        ...(penalties ? { repeatPenalty: { punishTokens: () => out.slice(-64), penalty: 1, presencePenalty: Math.min(1, Math.max(0, req.presencePenalty)), frequencyPenalty: Math.min(1, Math.max(0, req.frequencyPenalty)) } } : {}),
        yieldEogToken: true,
      } as Parameters<LlamaContextSequence['evaluate']>[1]);
      if (limit > 0) {
        for await (const token of iter) {
          if (cancel.cancelled) {
            finishReason = 'cancelled';
            break;
          }
          if (this.model.isEogToken(token)) {
            finishReason = 'stop';
            break;
          }
          out.push(token);
          generated++;
          send(text.push(token));
          if (stop.stopped) {
            finishReason = 'stop';
            break;
          }
          if (generated >= limit) break;
        }
      }
      if (cancel.cancelled) finishReason = 'cancelled';
      if (!stop.stopped && finishReason !== 'cancelled') {
        const rest = stop.push(text.flush()) + stop.flush();
        if (rest || pendingTokens) emit(rest, pendingTokens);
      }
      if (stop.stopped) finishReason = 'stop';
    } finally {
      this.release(slot);
    }
    return { finishReason, usage: { promptTokens: tokens.length, completionTokens: generated, cachedTokens } };
  }

  /** Embeddings of each input (a context of its own, made on first use). */
  async embed(input: string[]): Promise<{ vectors: Float32Array; dims: number; usage: Usage }> {
    this.embedding ??= this.model.createEmbeddingContext({ contextSize: this.config.ctxSize, ...(this.config.threads ? { threads: this.config.threads } : {}) });
    const ctx = await this.embedding;
    const dims = this.model.embeddingVectorSize;
    const vectors = new Float32Array(dims * input.length);
    let promptTokens = 0;
    for (let i = 0; i < input.length; i++) {
      const n = this.model.tokenize(input[i], false).length;
      if (n >= this.config.ctxSize) throw new LlmRequestError(`input ${i} has ${n} tokens; this model's maximum context length is ${this.config.ctxSize} tokens`, 400, 'context_length_exceeded', 'input');
      promptTokens += n;
      vectors.set((await ctx.getEmbeddingFor(input[i])).vector, i * dims);
    }
    return { vectors, dims, usage: { promptTokens, completionTokens: 0 } };
  }
}
