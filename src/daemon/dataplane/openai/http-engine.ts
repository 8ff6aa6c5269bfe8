// The openai kind's data path: the external engine (vLLM, SGLang, TGI, llama.cpp's server,
// llama-cpp-python's server...) answers OpenAI's API on the port its replica was given. A streamed
// client request goes to it streamed (stream: true, include_usage), so tokens flow through as they
// come; a whole one goes whole (the engine's own usage counts, which not every engine sends in a
// stream). A client that leaves closes the engine's request too (engines stop on disconnect). The engine's SSE is decoded strictly: a malformed
// stream or a dropped connection ends the client's stream with an error, never a hang.
import { Pool } from 'undici';
import { MlserveError } from '../../../errors.js';
import { LlmRequestError, type FinishReason, type GenerateRequest, type Usage } from '../../../runtime/llm/protocol.js';
import type { LinkLoad } from '../dispatch-rules.js';
import { EngineLost, type Embeddings, type Generation, type LlmEngine, type TokenSink } from './engine.js';
import { SseDecoder, SseDecodeError } from './sse.js';

type Json = Record<string, any>;

/** The OpenAI request an engine gets for a generation (streamed: the client's non-streamed requests go whole, see generate). */
export function engineBody(req: GenerateRequest, model: string): Json {
  return {
    model,
    ...(req.kind === 'chat' ? { messages: req.messages } : { prompt: req.prompt }),
    stream: true,
    stream_options: { include_usage: true },
    ...(req.maxTokens !== null ? { max_tokens: req.maxTokens } : {}),
    temperature: req.temperature,
    top_p: req.topP,
    ...(req.topK !== undefined ? { top_k: req.topK } : {}),
    ...(req.minP !== undefined ? { min_p: req.minP } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(req.stop.length ? { stop: req.stop } : {}),
    ...(req.presencePenalty ? { presence_penalty: req.presencePenalty } : {}),
    ...(req.frequencyPenalty ? { frequency_penalty: req.frequencyPenalty } : {}),
  };
}

/** An engine's error answer as an Error: its 4xx stays the client's fault, with its message. */
export function engineError(status: number, text: string): Error {
  let message = text.trim().slice(0, 2000);
  let code: string | undefined;
  let param: string | undefined;
  try {
    const j = JSON.parse(text) as Json;
    const e = j.error ?? j;
    message = typeof e === 'string' ? e : String(e.message ?? j.detail ?? j.message ?? message);
    code = typeof e?.code === 'string' ? e.code : undefined;
    param = typeof e?.param === 'string' ? e.param : undefined;
  } catch {
    /* not JSON: the text is the message */
  }
  if (status >= 400 && status < 500 && status !== 429) return new LlmRequestError(message || `the engine answered ${status}`, status, code ?? 'invalid_request', param ?? null);
  if (status === 429 || status === 503) return new MlserveError(status === 429 ? 'OVERLOADED' : 'NOT_READY', `the engine is busy (${status}): ${message}`, { headers: { 'Retry-After': '1' } });
  return new MlserveError('INTERNAL', `the engine answered ${status}: ${message}`);
}

export class HttpEngine implements LlmEngine {
  private readonly pool: Pool;

  constructor(
    readonly baseUrl: string,
    /** The model id the engine serves (its /v1/models). */
    private readonly model: string,
    /** The replica's load counters (the router and draining read them). */
    private readonly load: LinkLoad,
  ) {
    this.pool = new Pool(baseUrl, { connections: 1024, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
  }

  generate(req: GenerateRequest, sink: TokenSink): Generation {
    const abort = new AbortController();
    this.load.requests++;
    let ended = false;
    let finish: FinishReason | null = null;
    let usage: Usage | null = null;
    let completion = 0;
    const end = (fn: () => void) => {
      if (ended) return;
      ended = true;
      this.load.requests--;
      fn();
    };
    const run = async () => {
      if (req.stream === false) return whole();
      const res = await this.pool.request({
        path: req.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify(engineBody(req, this.model)),
        signal: abort.signal,
      });
      if (res.statusCode !== 200) {
        const text = await res.body.text();
        throw engineError(res.statusCode, text);
      }
      const sse = new SseDecoder();
      const utf8 = new TextDecoder();
      let done = false;
      let seen = 0;
      const take = (events: ReturnType<SseDecoder['push']>) => {
        for (const ev of events) {
          seen++;
          if (ev.done) {
            done = true;
            continue;
          }
          const j = ev.data as Json;
          if (j.error) throw engineError(Number(j.error.code) >= 400 ? Number(j.error.code) : 500, JSON.stringify(j));
          const choice = j.choices?.[0];
          const text = req.kind === 'chat' ? choice?.delta?.content : choice?.text;
          if (typeof text === 'string' && text !== '') {
            completion++;
            sink.onToken(text, 1);
          }
          if (choice?.finish_reason) finish = choice.finish_reason === 'length' ? 'length' : 'stop';
          if (j.usage) {
            usage = {
              promptTokens: Number(j.usage.prompt_tokens) || 0,
              completionTokens: Number(j.usage.completion_tokens) || 0,
              ...(j.usage.prompt_tokens_details?.cached_tokens !== undefined ? { cachedTokens: Number(j.usage.prompt_tokens_details.cached_tokens) } : {}),
            };
          }
        }
      };
      for await (const chunk of res.body) take(sse.push(utf8.decode(chunk as Buffer, { stream: true })));
      take(sse.push(utf8.decode()));
      take(sse.end());
      if (!done && !finish) {
        // Some servers (llama-cpp-python) answer a request they refuse with an empty 200 stream:
        // asking once more without streaming gets the real answer (its 400 and message).
        if (seen === 0) return whole();
        throw new EngineLost('the engine closed its stream before [DONE]');
      }
      end(() => sink.onDone(finish ?? 'stop', usage ?? { promptTokens: 0, completionTokens: completion }));
    };
    const whole = async () => {
      const body = { ...engineBody(req, this.model), stream: false };
      delete (body as Json).stream_options;
      const res = await this.pool.request({ path: req.kind === 'chat' ? '/v1/chat/completions' : '/v1/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: abort.signal });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw engineError(res.statusCode, text);
      const j = JSON.parse(text) as Json;
      const choice = j.choices?.[0];
      const out = req.kind === 'chat' ? choice?.message?.content : choice?.text;
      const u: Usage = { promptTokens: Number(j.usage?.prompt_tokens) || 0, completionTokens: Number(j.usage?.completion_tokens) || 0 };
      if (typeof out === 'string' && out) sink.onToken(out, u.completionTokens || 1);
      end(() => sink.onDone(choice?.finish_reason === 'length' ? 'length' : 'stop', u));
    };
    run().catch((err: Error) => {
      if (abort.signal.aborted) return end(() => sink.onDone('cancelled', usage ?? { promptTokens: 0, completionTokens: completion }));
      if (err instanceof LlmRequestError || err instanceof MlserveError || err instanceof EngineLost) return end(() => sink.onError(err));
      if (err instanceof SseDecodeError) return end(() => sink.onError(new MlserveError('INTERNAL', `the engine sent a malformed stream: ${err.message}`)));
      end(() => sink.onError(new EngineLost(`the engine's connection failed: ${err.message}`)));
    });
    return { cancel: () => abort.abort() };
  }

  async embed(input: string[]): Promise<Embeddings> {
    this.load.requests++;
    try {
      const res = await this.pool.request({
        path: '/v1/embeddings', method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: this.model, input, encoding_format: 'float' }),
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw engineError(res.statusCode, text);
      const j = JSON.parse(text) as Json;
      const rows = (j.data as Json[]).sort((a, b) => a.index - b.index).map((d) => d.embedding as number[]);
      const dims = rows[0]?.length ?? 0;
      const vectors = new Float32Array(dims * rows.length);
      rows.forEach((r, i) => vectors.set(r, i * dims));
      return { vectors, dims, usage: { promptTokens: Number(j.usage?.prompt_tokens) || 0, completionTokens: 0 } };
    } catch (err) {
      if (err instanceof LlmRequestError || err instanceof MlserveError) throw err;
      throw new EngineLost(`the engine's connection failed: ${(err as Error).message}`);
    } finally {
      this.load.requests--;
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
