import { describe, expect, it } from 'vitest';
import { deploySettings, requestedRuntime, revisionOf } from '../../../src/daemon/control/settings.js';
import { toOpenAiError } from '../../../src/daemon/dataplane/openai/errors.js';
import { MlserveError } from '../../../src/errors.js';
import { LlmRequestError } from '../../../src/runtime/llm/protocol.js';

describe('LLM deploy settings', () => {
  it('keeps --ctx-size, --slots, --engine and --engine-cmd, checked', () => {
    expect(deploySettings({ source: 'x', llm: { ctxSize: 1024, slots: 2 } }).llm).toEqual({ ctxSize: 1024, slots: 2 });
    expect(deploySettings({ source: 'x', runtime: 'openai', llm: { engine: 'vllm' } }).llm).toEqual({ engine: 'vllm' });
    expect(deploySettings({ source: 'x', llm: { engineCmd: 'srv --port {port} -m {model}' } }).llm).toEqual({ engineCmd: 'srv --port {port} -m {model}' });
    expect(deploySettings({ source: 'x', llm: {} }).llm).toBeUndefined();
  });

  it.each([
    [{ llm: { ctxSize: 8 } }, /--ctx-size must be a whole number from 16/],
    [{ llm: { slots: 0 } }, /--slots must be/],
    [{ llm: { engine: 'tgi' } }, /--engine must be vllm/],
    [{ llm: { engine: 'vllm', engineCmd: 'x --port {port}' } }, /not both/],
    [{ llm: { engineCmd: 'srv | tee log' } }, /shell syntax/],
    [{ llm: { engineCmd: 'srv -m {model}' } }, /must pass \{port\}/],
    [{ runtime: 'openai' }, /--engine vllm or --engine-cmd/],
    [{ runtime: 'llamacpp', llm: { engine: 'vllm' } }, /go with --runtime openai/],
    [{ runtime: 'tensorrt' }, /--runtime must be onnx, python, llamacpp, openai/],
  ])('refuses %j', (req, why) => {
    expect(() => deploySettings({ source: 'x', ...(req as object) })).toThrow(why);
  });

  it('an engine implies the openai runtime', () => {
    expect(requestedRuntime({ llm: { engineCmd: 'x' } })).toBe('openai');
    expect(requestedRuntime({ runtime: 'llamacpp' })).toBe('llamacpp');
    expect(requestedRuntime({})).toBeUndefined();
  });

  it('a new context size or slot count is a new revision', () => {
    const base = { modelDir: '/m', modelFile: '/m/x.gguf', settings: { replicas: 1, runtime: 'llamacpp' as const, llm: { slots: 2 } } };
    expect(revisionOf(base)).not.toBe(revisionOf({ ...base, settings: { ...base.settings, llm: { slots: 4 } } }));
  });
});

describe('OpenAI error mapping', () => {
  it.each([
    [new MlserveError('NOT_FOUND', 'x'), 404, 'invalid_request_error', 'model_not_found', undefined],
    [new MlserveError('OVERLOADED', 'queue full', { headers: { 'Retry-After': '1' } }), 429, 'rate_limit_error', 'rate_limit_exceeded', '1'],
    [new MlserveError('NOT_READY', 'no replica'), 503, 'server_error', 'service_unavailable', '1'],
    [new MlserveError('TIMEOUT', 'slow'), 504, 'server_error', 'timeout', undefined],
    [new MlserveError('PAYLOAD_TOO_LARGE', 'big'), 413, 'invalid_request_error', null, undefined],
    [new LlmRequestError('too long', 400, 'context_length_exceeded', 'messages'), 400, 'invalid_request_error', 'context_length_exceeded', undefined],
    [new Error('boom'), 500, 'server_error', null, undefined],
  ])('%s', (err, status, type, code, retryAfter) => {
    const e = toOpenAiError(err);
    expect([e.status, e.type, e.code, e.headers['Retry-After']]).toEqual([status, type, code, retryAfter]);
    expect(Object.keys(e.body().error)).toEqual(['message', 'type', 'param', 'code']);
  });
});
