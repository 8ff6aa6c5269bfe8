import { describe, expect, it } from 'vitest';
import { OpenAiError } from '../../../src/daemon/dataplane/openai/errors.js';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from '../../../src/daemon/dataplane/openai/validate.js';

const msgs = [{ role: 'user', content: 'hi' }];

function problem(fn: () => unknown): { status: number; param: string | null; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAiError);
    const e = err as OpenAiError;
    return { status: e.status, param: e.param, message: e.message };
  }
  throw new Error('expected a 400');
}

describe('chat request validation', () => {
  it('takes a minimal request with OpenAI defaults', () => {
    const p = parseChatRequest({ model: 'chat', messages: msgs });
    expect(p).toEqual({
      model: 'chat', stream: false, includeUsage: false, user: undefined,
      request: { kind: 'chat', messages: [{ role: 'user', content: 'hi' }], maxTokens: null, temperature: 1, topP: 1, stop: [], presencePenalty: 0, frequencyPenalty: 0 },
    });
  });

  it('reads the sampling fields, stop, stream options and user', () => {
    const p = parseChatRequest({
      model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, { role: 'assistant', content: null }],
      max_tokens: 5, temperature: 0, top_p: 0.5, top_k: 40, seed: 7, stop: 'END', stream: true, stream_options: { include_usage: true }, user: 'u1', presence_penalty: 0.5,
    });
    expect(p.request).toMatchObject({ maxTokens: 5, temperature: 0, topP: 0.5, topK: 40, seed: 7, stop: ['END'], presencePenalty: 0.5 });
    expect(p.request.messages).toEqual([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'ab' }, { role: 'assistant', content: '' }]);
    expect([p.stream, p.includeUsage, p.user]).toEqual([true, true, 'u1']);
    expect(parseChatRequest({ model: 'm', messages: msgs, max_completion_tokens: 9, max_tokens: 3 }).request.maxTokens).toBe(9);
  });

  it.each([
    [{ messages: msgs }, 'model', /model parameter/],
    [{ model: 3, messages: msgs }, 'model', /non-empty string/],
    [{ model: 'm' }, 'messages', /required property/],
    [{ model: 'm', messages: [] }, 'messages', /non-empty list/],
    [{ model: 'm', messages: [{ role: 'wizard', content: 'x' }] }, 'messages.[0].role', /must be one of/],
    [{ model: 'm', messages: [{ role: 'user' }] }, 'messages.[0].content', /required/],
    [{ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 'messages.[0].content.[0]', /text part/],
    [{ model: 'm', messages: msgs, max_tokens: -1 }, 'max_tokens', /at least 1, got -1/],
    [{ model: 'm', messages: msgs, max_tokens: 0 }, 'max_tokens', /at least 1/],
    [{ model: 'm', messages: msgs, max_tokens: 2.5 }, 'max_tokens', /integer/],
    [{ model: 'm', messages: msgs, temperature: 3 }, 'temperature', /between 0 and 2/],
    [{ model: 'm', messages: msgs, top_p: 'x' }, 'top_p', /number/],
    [{ model: 'm', messages: msgs, n: 2 }, 'n', /not supported/],
    [{ model: 'm', messages: msgs, logprobs: true }, 'logprobs', /not supported/],
    [{ model: 'm', messages: msgs, tools: [{ type: 'function' }] }, 'tools', /not supported/],
    [{ model: 'm', messages: msgs, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
    [{ model: 'm', messages: msgs, stop: [1] }, 'stop', /string/],
    [{ model: 'm', messages: msgs, stream_options: { include_usage: true } }, 'stream_options', /only allowed when 'stream' is true/],
    [{ model: 'm', messages: msgs, stream: 'yes' }, 'stream', /true or false/],
  ])('refuses %j (param %s)', (body, param, message) => {
    const p = problem(() => parseChatRequest(body));
    expect(p.status).toBe(400);
    expect(p.param).toBe(param);
    expect(p.message).toMatch(message);
  });

  it('refuses a body that is not an object', () => {
    expect(problem(() => parseChatRequest([1, 2])).message).toMatch(/JSON object/);
  });
});

describe('completion request validation', () => {
  it('defaults max_tokens to 16 as OpenAI does, takes a one-string list', () => {
    expect(parseCompletionRequest({ model: 'm', prompt: 'Once' }).request).toMatchObject({ kind: 'completion', prompt: 'Once', maxTokens: 16 });
    expect(parseCompletionRequest({ model: 'm', prompt: ['x'], max_tokens: 2 }).request).toMatchObject({ prompt: 'x', maxTokens: 2 });
  });

  it.each([
    [{ model: 'm' }, 'prompt', /required/],
    [{ model: 'm', prompt: [1, 2, 3] }, 'prompt', /token-id/],
    [{ model: 'm', prompt: ['a', 'b'] }, 'prompt', /one string per request/],
    [{ model: 'm', prompt: 'x', echo: true }, 'echo', /not supported/],
    [{ model: 'm', prompt: 'x', best_of: 3 }, 'best_of', /not supported/],
  ])('refuses %j', (body, param, message) => {
    const p = problem(() => parseCompletionRequest(body));
    expect([p.status, p.param]).toEqual([400, param]);
    expect(p.message).toMatch(message);
  });
});

describe('embedding request validation', () => {
  it.each([
    [{ model: 'e', input: 'a' }, ['a'], 'float'],
    [{ model: 'e', input: ['a', 'b'], encoding_format: 'base64' }, ['a', 'b'], 'base64'],
  ])('%j', (body, input, fmt) => {
    expect(parseEmbeddingRequest(body)).toMatchObject({ model: 'e', input, encodingFormat: fmt });
  });

  it.each([
    [{ model: 'e' }, 'input'],
    [{ model: 'e', input: [] }, 'input'],
    [{ model: 'e', input: [[1, 2]] }, 'input'],
    [{ model: 'e', input: ['a', ''] }, 'input'],
    [{ model: 'e', input: 'a', encoding_format: 'int8' }, 'encoding_format'],
    [{ model: 'e', input: 'a', dimensions: 8 }, 'dimensions'],
  ])('refuses %j', (body, param) => {
    expect(problem(() => parseEmbeddingRequest(body))).toMatchObject({ status: 400, param });
  });
});
