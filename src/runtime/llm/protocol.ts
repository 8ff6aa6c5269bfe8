// The LLM messages of the frame protocol (../frame.ts): same frames, same pipe on fd 3, one more
// conversation shape. A generation is a stream:
//   daemon -> replica   {t:'generate', id, request}            then maybe {t:'cancel', id}
//   replica -> daemon   {t:'token', id, text, tokens}*          text as it is decoded (never split inside a UTF-8 character)
//                       then {t:'done', id, finishReason, usage, kv} or {t:'error', id, message, code?, status?}
// A cancelled generation still ends with `done` (finishReason 'cancelled'): the slot is free once
// the daemon reads it. Embeddings are one request, one answer: {t:'embed', id, input} ->
// {t:'embeddings', id, usage} + one FP32 tensor [inputs, dims]. `ready` carries `llm` (LlmAbout).
// Health stays ping/pong.

/** How the daemon starts a llama.cpp replica (one JSON argument, never through a shell). */
export interface LlmReplicaConfig {
  deployment: string;
  replica: number;
  /** The GGUF file. */
  modelFile: string;
  /** Tokens each sequence (slot) may hold: prompt + generated. */
  ctxSize: number;
  /** Parallel sequences: requests generated at once, batched together by llama.cpp. */
  slots: number;
  threads?: number;
  /** Layers offloaded to a GPU: 0 on CPU; 'auto' when the replica was placed on a GPU. */
  gpuLayers?: number | 'auto';
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** One generation, as the OpenAI ingress checked it (dataplane/openai/validate.ts). */
export interface GenerateRequest {
  kind: 'chat' | 'completion';
  /** chat */
  messages?: ChatMessage[];
  /** completion */
  prompt?: string;
  /** Most tokens to generate; null: until the context is full. */
  maxTokens: number | null;
  temperature: number;
  topP: number;
  topK?: number;
  minP?: number;
  seed?: number;
  stop: string[];
  presencePenalty: number;
  frequencyPenalty: number;
  /** Does the client stream? (An external engine is then asked for a stream too; else for the whole answer, with its exact usage.) */
  stream?: boolean;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV-cache state was reused from an earlier request on this slot. */
  cachedTokens?: number;
}

/** KV-cache cells in use over all slots, and how many there are. */
export interface KvUse {
  used: number;
  size: number;
}

/** What an LLM replica says about its model once loaded (in `ready`, as `llm`). */
export interface LlmAbout {
  engine: string;
  contextSize: number;
  slots: number;
  architecture?: string;
  trainContextSize?: number;
  chatTemplate?: string;
  /** The base URL of an external OpenAI-compatible engine (the `openai` kind). */
  baseUrl?: string;
  /** Model ids the engine lists under /v1/models (the `openai` kind). */
  models?: string[];
}

export type LlmToReplica =
  | { t: 'generate'; id: number; request: GenerateRequest }
  | { t: 'cancel'; id: number }
  | { t: 'embed'; id: number; input: string[] };

export type LlmFromReplica =
  | { t: 'token'; id: number; text: string; tokens: number }
  | { t: 'done'; id: number; finishReason: FinishReason; usage: Usage; kv?: KvUse }
  | { t: 'embeddings'; id: number; usage: Usage }
  | { t: 'error'; id: number; message: string; code?: string; status?: number; param?: string };

/** An error the client caused (e.g. a prompt longer than the context): its HTTP status and OpenAI code travel with it. */
export class LlmRequestError extends Error {
  constructor(message: string, readonly status: number, readonly code: string, readonly param: string | null = null) {
    super(message);
    this.name = 'LlmRequestError';
  }
}
