import { describe, expect, it } from 'vitest';
import { clientFinish, embeddingsAnswer, finishChunk, firstChunk, fullAnswer, textDelta, usageChunk, usageJson } from '../../../src/daemon/dataplane/openai/chunks.js';

const chat = { id: 'chatcmpl-1', created: 100, model: 'chat', kind: 'chat' as const };
const text = { id: 'cmpl-1', created: 100, model: 'chat', kind: 'completion' as const };

describe('OpenAI answer objects', () => {
  it('streams chat as role, deltas, finish, usage', () => {
    expect(firstChunk(chat)).toEqual({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 100, model: 'chat', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
    expect(textDelta(chat, 'Hi')).toMatchObject({ choices: [{ delta: { content: 'Hi' }, finish_reason: null }] });
    expect(finishChunk(chat, 'length')).toMatchObject({ choices: [{ delta: {}, finish_reason: 'length' }] });
    expect(usageChunk(chat, { promptTokens: 3, completionTokens: 2 })).toEqual({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 100, model: 'chat', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } });
  });

  it('streams completions without a role chunk', () => {
    expect(firstChunk(text)).toBeNull();
    expect(textDelta(text, 'x')).toEqual({ id: 'cmpl-1', object: 'text_completion', created: 100, model: 'chat', choices: [{ index: 0, text: 'x', logprobs: null, finish_reason: null }] });
    expect(finishChunk(text, 'stop')).toMatchObject({ choices: [{ text: '', finish_reason: 'stop' }] });
  });

  it('answers whole with usage (cached tokens when known)', () => {
    expect(fullAnswer(chat, 'Hello', 'stop', { promptTokens: 4, completionTokens: 1, cachedTokens: 2 })).toEqual({
      id: 'chatcmpl-1', object: 'chat.completion', created: 100, model: 'chat',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5, prompt_tokens_details: { cached_tokens: 2 } },
    });
    expect(fullAnswer(text, 'Hello', 'length', { promptTokens: 1, completionTokens: 1 })).toMatchObject({ object: 'text_completion', choices: [{ text: 'Hello', finish_reason: 'length' }] });
    expect(usageJson({ promptTokens: 0, completionTokens: 0 })).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  it('encodes embeddings as floats or base64 float32', () => {
    const v = new Float32Array([1, 2, 3, 4]);
    const f = embeddingsAnswer('e', v, 2, { promptTokens: 2, completionTokens: 0 }, 'float') as { data: Array<{ embedding: number[] }> };
    expect(f.data.map((d) => d.embedding)).toEqual([[1, 2], [3, 4]]);
    const b = embeddingsAnswer('e', v, 2, { promptTokens: 2, completionTokens: 0 }, 'base64') as { data: Array<{ embedding: string }>; usage: unknown };
    expect([...new Float32Array(new Uint8Array(Buffer.from(b.data[1].embedding, 'base64')).buffer)]).toEqual([3, 4]);
    expect(b.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
  });

  it('never shows a client "cancelled"', () => {
    expect(['stop', 'length', 'cancelled'].map(clientFinish)).toEqual(['stop', 'length', 'stop']);
  });
});
