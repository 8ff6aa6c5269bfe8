// PURE: the JSON objects of OpenAI's answers: chat.completion and text_completion, their streamed
// chunks (first chunk with the role, one per piece of text, one with finish_reason, an optional
// usage chunk with no choices), embeddings lists and the model list.
import type { Usage } from '../../../runtime/llm/protocol.js';

export type ClientFinish = 'stop' | 'length';

export interface Answer {
  id: string;
  created: number;
  model: string;
  kind: 'chat' | 'completion';
}

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export function usageJson(u: Usage): OpenAiUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    ...(u.cachedTokens !== undefined ? { prompt_tokens_details: { cached_tokens: u.cachedTokens } } : {}),
  };
}

const chatChunk = (a: Answer, delta: Record<string, unknown>, finish: ClientFinish | null) => ({
  id: a.id, object: 'chat.completion.chunk', created: a.created, model: a.model,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

const textChunk = (a: Answer, text: string, finish: ClientFinish | null) => ({
  id: a.id, object: 'text_completion', created: a.created, model: a.model,
  choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
});

/** The first chunk of a stream (chat: the assistant role, empty content), or null (completions have none). */
export function firstChunk(a: Answer): object | null {
  return a.kind === 'chat' ? chatChunk(a, { role: 'assistant', content: '' }, null) : null;
}

/** A piece of generated text. */
export function textDelta(a: Answer, text: string): object {
  return a.kind === 'chat' ? chatChunk(a, { content: text }, null) : textChunk(a, text, null);
}

/** The chunk that ends the choice. */
export function finishChunk(a: Answer, finish: ClientFinish): object {
  return a.kind === 'chat' ? chatChunk(a, {}, finish) : textChunk(a, '', finish);
}

/** stream_options.include_usage: the last chunk, with no choices. */
export function usageChunk(a: Answer, u: Usage): object {
  return { id: a.id, object: a.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion', created: a.created, model: a.model, choices: [], usage: usageJson(u) };
}

/** A whole (non-streamed) answer. */
export function fullAnswer(a: Answer, text: string, finish: ClientFinish, u: Usage): object {
  const choice = a.kind === 'chat'
    ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }
    : { index: 0, text, logprobs: null, finish_reason: finish };
  return { id: a.id, object: a.kind === 'chat' ? 'chat.completion' : 'text_completion', created: a.created, model: a.model, choices: [choice], usage: usageJson(u) };
}

/** POST /v1/embeddings answer; base64 is the float32 little-endian bytes, as OpenAI sends them. */
export function embeddingsAnswer(model: string, vectors: Float32Array, dims: number, u: Usage, format: 'float' | 'base64'): object {
  const n = dims > 0 ? vectors.length / dims : 0;
  const data = Array.from({ length: n }, (_, i) => {
    const v = vectors.subarray(i * dims, (i + 1) * dims);
    const embedding = format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
    return { object: 'embedding', index: i, embedding };
  });
  return { object: 'list', data, model, usage: { prompt_tokens: u.promptTokens, total_tokens: u.promptTokens } };
}

/** GET /v1/models */
export function modelList(models: Array<{ id: string; created: number }>): object {
  return { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: m.created, owned_by: 'mlserve' })) };
}

/** What a client sees as the finish reason ('cancelled' never reaches a client: it left). */
export const clientFinish = (f: string): ClientFinish => (f === 'length' ? 'length' : 'stop');
