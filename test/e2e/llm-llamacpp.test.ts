// LLM serving for real: a tiny random llama GGUF written by the project, served by the llamacpp
// replica kind (node-llama-cpp) behind the OpenAI-compatible ingress, driven over HTTP, by the
// `openai` npm client, and by clients that misbehave.
import net from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { stream, streamedText, tinyGguf } from '../helpers/llm.js';
import { until } from '../helpers/wait.js';

let d: TestDaemon;
const chat = (content: string, extra: object = {}) => ({ model: 'chat', messages: [{ role: 'user', content }], ...extra });
const replicaPid = async () => (await d.cli(['status', '--json'])).json.deployments[0].replicas.find((r: { state: string }) => r.state === 'ready')?.pid as number | undefined;
const ongoing = async () => {
  const text = (await d.http('GET', '/metrics')).text;
  return Number(/mlserve_ongoing_requests\{deployment="chat-v1"\} (\d+)/.exec(text)?.[1] ?? 0);
};

beforeAll(async () => {
  d = await new TestDaemon().start();
  const r = await d.deploy(tinyGguf(), ['--endpoint', 'chat', '--ctx-size', '1024', '--slots', '2', '--threads', '1']);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.json.settings).toMatchObject({ runtime: 'llamacpp', llm: { ctxSize: 1024, slots: 2 } });
}, 120_000);

afterAll(async () => {
  await d?.cleanup();
});

describe('llamacpp replicas behind the OpenAI API', () => {
  it('lists the endpoint as a model', async () => {
    const r = await d.http('GET', '/v1/models');
    expect(r.status).toBe(200);
    expect(r.json.data.map((m: { id: string }) => m.id)).toEqual(['chat']);
  });

  it('answers chat completions whole, with usage', async () => {
    const r = await d.http('POST', '/v1/chat/completions', chat('Hello there', { max_tokens: 12, temperature: 0 }));
    expect(r.status).toBe(200);
    expect(r.headers['x-mlserve-deployment']).toBe('chat-v1');
    expect(r.json).toMatchObject({ object: 'chat.completion', model: 'chat', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'length' }] });
    expect(r.json.usage.completion_tokens).toBe(12);
    expect(r.json.usage.prompt_tokens).toBeGreaterThan(5);
    expect(r.json.usage.total_tokens).toBe(r.json.usage.prompt_tokens + 12);
    // Greedy decoding is deterministic.
    const again = await d.http('POST', '/v1/chat/completions', chat('Hello there', { max_tokens: 12, temperature: 0 }));
    expect(again.json.choices[0].message.content).toBe(r.json.choices[0].message.content);
    expect(again.json.usage.prompt_tokens_details.cached_tokens).toBeGreaterThan(0); // the slot kept the prompt's KV cache
  });

  it('answers completions, honouring stop sequences', async () => {
    const r = await d.http('POST', '/v1/completions', { model: 'chat', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 });
    expect(r.json).toMatchObject({ object: 'text_completion', choices: [{ finish_reason: 'length' }], usage: { completion_tokens: 40 } });
    const text: string = r.json.choices[0].text;
    const stop = text.slice(10, 12);
    const cut = await d.http('POST', '/v1/completions', { model: 'chat', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop });
    expect(cut.json.choices[0]).toMatchObject({ text: text.slice(0, text.indexOf(stop)), finish_reason: 'stop' });
  });

  it('streams chunks as tokens are generated, before the answer ends, then [DONE] with usage', async () => {
    const s = await stream(d.url, '/v1/chat/completions', chat('Tell me a long story', { max_tokens: 300, temperature: 0, stream: true, stream_options: { include_usage: true } }));
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    const content = s.events.filter((e) => e.data?.choices?.[0]?.delta?.content);
    expect(s.events[0].data.choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(content.length).toBeGreaterThan(50);
    expect(s.events.at(-1)!.done).toBe(true);
    const usage = s.events.at(-2)!.data;
    expect(usage).toMatchObject({ choices: [], usage: { completion_tokens: 300 } });
    expect(s.events.at(-3)!.data.choices[0].finish_reason).toBe('length');
    // Streamed, not buffered: the first text arrived well before the last, spread over the generation.
    const firstAt = content[0].t;
    const lastAt = content.at(-1)!.t;
    expect(lastAt - firstAt).toBeGreaterThan(100);
    expect(new Set(content.map((e) => Math.round(e.t / 20))).size).toBeGreaterThan(5);
    expect(streamedText(s.events)).toHaveLength(300); // one printable character per token
  });

  it('serves two streams at once on one replica (continuous batching in its slots)', async () => {
    const body = (c: string) => chat(c, { max_tokens: 200, temperature: 0, stream: true });
    const [a, b] = await Promise.all([stream(d.url, '/v1/chat/completions', body('first')), stream(d.url, '/v1/chat/completions', body('second'))]);
    const span = (s: typeof a) => {
      const c = s.events.filter((e) => e.data?.choices?.[0]?.delta?.content);
      return [c[0].t, c.at(-1)!.t];
    };
    const [a0, a1] = span(a);
    const [b0, b1] = span(b);
    expect(a0).toBeLessThan(b1); // each started before the other finished
    expect(b0).toBeLessThan(a1);
    expect((await d.cli(['status', '--json'])).json.deployments[0].replicas).toHaveLength(1);
  });

  it('a client that disconnects cancels its generation and frees the slot', async () => {
    const generated = async () => Number(/mlserve_llm_completion_tokens_total\{[^}]*deployment="chat-v1"[^}]*\} (\d+)/.exec((await d.http('GET', '/metrics')).text)?.[1] ?? 0);
    const before = await generated();
    const long = chat('go on forever', { max_tokens: 900, temperature: 0, stream: true });
    const [x, y] = await Promise.all([stream(d.url, '/v1/chat/completions', long, { stopAfter: 3 }), stream(d.url, '/v1/chat/completions', long, { stopAfter: 3 })]);
    expect(x.events).toHaveLength(3);
    expect(y.events).toHaveLength(3);
    const gone = performance.now();
    await until(ongoing, (n) => n === 0, 10_000, 20);
    const freedMs = performance.now() - gone;
    // The replica stopped both generations early: far fewer than 2 x 900 tokens were made.
    const made = (await generated()) - before;
    expect(made).toBeLessThan(600);
    // And the slots are free: two new requests run at once, each at full length.
    const t0 = performance.now();
    const full = await Promise.all([0, 1].map(() => d.http('POST', '/v1/completions', { model: 'chat', prompt: 'x', max_tokens: 900, temperature: 0 })));
    expect(full.map((f) => f.json.usage.completion_tokens)).toEqual([900, 900]);
    expect(freedMs).toBeLessThan((performance.now() - t0) / 2);
  });

  it('a raw client that sends a stream request and stops reading, then vanishes, leaves the daemon serving', async () => {
    const port = Number(new URL(d.url).port);
    const body = JSON.stringify(chat('slow reader', { max_tokens: 800, stream: true }));
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    sock.pause(); // reads nothing
    await new Promise((r) => setTimeout(r, 300));
    sock.destroy();
    await until(ongoing, (n) => n === 0, 15_000, 50);
    // A half-written request body, then a hang-up: a 400-class nothing, no crash.
    const half = net.connect(port, '127.0.0.1');
    await new Promise((r) => half.once('connect', r));
    half.end('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"model": "ch');
    await new Promise((r) => setTimeout(r, 200));
    half.destroy();
    expect((await d.http('POST', '/v1/chat/completions', chat('still there?', { max_tokens: 3 }))).status).toBe(200);
  });

  it.each([
    ['an unknown model', '/v1/chat/completions', { model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, 'model_not_found', 'model'],
    ['missing messages', '/v1/chat/completions', { model: 'chat' }, 400, null, 'messages'],
    ['negative max_tokens', '/v1/chat/completions', chat('x', { max_tokens: -5 }), 400, null, 'max_tokens'],
    ['a prompt longer than the context', '/v1/completions', { model: 'chat', prompt: 'word '.repeat(800) }, 400, 'context_length_exceeded', 'prompt'],
    ['malformed JSON', '/v1/chat/completions', '{"model": "chat", ', 400, null, null],
    ['a tensor request to a language model', '/v2/models/chat/infer', { inputs: [] }, 400, undefined, undefined],
  ])('refuses %s with OpenAI\'s error shape', async (_name, path, body, status, code, param) => {
    const r = await d.http('POST', path, body);
    expect(r.status).toBe(status);
    if (code === undefined) return;
    expect(Object.keys(r.json.error)).toEqual(['message', 'type', 'param', 'code']);
    expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code, param });
  });

  it('a prompt longer than the context is refused before any stream starts', async () => {
    const s = await stream(d.url, '/v1/chat/completions', chat('word '.repeat(1200), { stream: true }));
    expect(s.status).toBe(400);
    expect(s.json.error.code).toBe('context_length_exceeded');
  });

  it('the openai npm client works unchanged, streaming included', async () => {
    const client = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('chat');
    const c = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 7, temperature: 0 });
    expect(c.choices[0].message.content).toHaveLength(7);
    expect(c.usage?.completion_tokens).toBe(7);
    const s = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 7, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage: unknown;
    for await (const chunk of s) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(c.choices[0].message.content);
    expect(usage).toMatchObject({ completion_tokens: 7 });
    const comp = await client.completions.create({ model: 'chat', prompt: 'abc', max_tokens: 4, temperature: 0 });
    expect(comp.choices[0].text).toHaveLength(4);
    const emb = await client.embeddings.create({ model: 'chat', input: ['one', 'two'] });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0].embedding.length).toBe(128);
    await expect(client.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('a replica that dies mid-stream ends the client\'s stream with an error event, not a hang; the replica comes back', async () => {
    const pid = await replicaPid();
    expect(pid).toBeGreaterThan(0);
    const started = stream(d.url, '/v1/chat/completions', chat('about to crash', { max_tokens: 900, stream: true }));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid!, 'SIGKILL');
    const s = await started;
    expect(s.status).toBe(200);
    const err = s.events.find((e) => e.data?.error);
    expect(err?.data.error).toMatchObject({ type: 'server_error' });
    expect(err?.data.error.message).toMatch(/replica|engine/);
    expect(s.events.at(-1)!.done).toBe(true);
    await until(replicaPid, (p) => p !== undefined && p !== pid, 30_000);
    expect((await d.http('POST', '/v1/chat/completions', chat('back?', { max_tokens: 3 }))).status).toBe(200);
  });
});
