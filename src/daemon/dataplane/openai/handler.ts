// The OpenAI-compatible API on the ingress port: GET /v1/models, POST /v1/chat/completions,
// /v1/completions and /v1/embeddings. `model` names the endpoint (canary weights and sticky keys
// apply as on every endpoint). Streams go out as server-sent events piece by piece as the replica
// decodes them, ending with `data: [DONE]`; an error before any text is an HTTP error in OpenAI's
// shape, after it an error event. A client that closes the connection cancels the generation.
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { FinishReason, Usage } from '../../../runtime/llm/protocol.js';
import type { RouteTable, ServingTarget } from '../routes.js';
import { clientGone } from '../ingress-env.js';
import { clientFinish, embeddingsAnswer, finishChunk, firstChunk, fullAnswer, modelList, textDelta, usageChunk, type Answer } from './chunks.js';
import { invalid, OpenAiError, toOpenAiError } from './errors.js';
import { LlmDispatcher } from './llm-dispatcher.js';
import { SSE_DONE, sseData } from './sse.js';
import { parseChatRequest, parseCompletionRequest, parseEmbeddingRequest, type ParsedGenerate } from './validate.js';

/** What the ingress records about a request (its metrics). */
export interface OpenAiCtx {
  rt?: ServingTarget;
  infer?: boolean;
}

export interface LlmMetrics {
  observeLlm(labels: { endpoint: string; deployment: string; version: string }, o: { ttftS: number | null; itlS: readonly number[]; promptTokens: number; completionTokens: number }): void;
}

export interface OpenAiDeps {
  routes: RouteTable;
  maxBodyBytes: number;
  readBody(req: http.IncomingMessage, limit: number): Promise<Buffer>;
  metrics?: LlmMetrics;
}

/** The status the ingress records for a request whose client left before the answer. */
export const CLIENT_GONE = 499;

export type OpenAiHandler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: OpenAiCtx) => Promise<{ status: number; body: null }>;

const STARTED = Math.floor(Date.now() / 1000);

function writeJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  if (res.headersSent || res.destroyed) return status;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
  return status;
}

const servedBy = (rt: ServingTarget) => ({ 'x-mlserve-deployment': rt.name, 'x-mlserve-model-version': rt.version });

function sessionKey(req: http.IncomingMessage, user: string | undefined): string | undefined {
  const k = req.headers['x-mlserve-route-key'];
  return (Array.isArray(k) ? k[0] : k) || user;
}

/** The LLM revision behind `model` (404 unknown, 400 a tensor endpoint). */
function llmTarget(routes: RouteTable, model: string, key: string | undefined): { rt: ServingTarget; llm: LlmDispatcher } {
  const llms = routes.list().filter((r) => (r.primary ?? r.canary)?.dispatcher instanceof LlmDispatcher).map((r) => r.endpoint);
  let rt: ServingTarget;
  try {
    rt = routes.target(model, key, Math.random());
  } catch {
    throw new OpenAiError(404, `The model '${model}' does not exist${llms.length ? `; models: ${llms.join(', ')}` : '; no language model is deployed (mlserve deploy ./model.gguf --endpoint <name>)'}`, 'invalid_request_error', 'model_not_found', 'model');
  }
  if (!(rt.dispatcher instanceof LlmDispatcher)) {
    throw invalid(`endpoint '${model}' serves a tensor model, not a language model: use POST /v2/models/${model}/infer`, 'model', 'model_not_supported');
  }
  return { rt, llm: rt.dispatcher };
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) throw invalid('the request body is empty; send a JSON object');
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw invalid(`the request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Run one generation and answer it, streamed or whole. Resolves with the status the client got. */
function generate(deps: OpenAiDeps, req: http.IncomingMessage, res: http.ServerResponse, p: ParsedGenerate, ctx: OpenAiCtx, started: number): Promise<number> {
  const { rt, llm } = llmTarget(deps.routes, p.model, sessionKey(req, p.user));
  Object.assign(ctx, { rt, infer: true });
  const a: Answer = { id: `${p.request.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model: p.model, kind: p.request.kind };
  const gone = clientGone(res);
  const labels = { endpoint: rt.endpoint, deployment: rt.name, version: rt.version };
  let text = '';
  let first: number | null = null;
  let last = 0;
  const itl: number[] = [];
  return new Promise<number>((resolve) => {
    const open = () => {
      if (res.headersSent) return;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', ...servedBy(rt) });
      const head = firstChunk(a);
      if (head) res.write(sseData(head));
    };
    // Time to first token and between tokens are streaming measures: whole answers count tokens only.
    const observe = (usage: Usage | null) => deps.metrics?.observeLlm(labels, {
      ttftS: first === null || !p.stream ? null : (first - started) / 1000, itlS: p.stream ? itl : [], promptTokens: usage?.promptTokens ?? 0, completionTokens: usage?.completionTokens ?? 0,
    });
    llm.generate({ ...p.request, stream: p.stream }, sessionKey(req, p.user), {
      onToken(piece, tokens) {
        const now = performance.now();
        if (first === null) first = now;
        else if (tokens > 0) for (let i = 0; i < tokens; i++) itl.push((now - last) / 1000 / tokens);
        last = now;
        if (gone.aborted) return;
        if (!p.stream) {
          text += piece;
          return;
        }
        res.cork();
        open();
        if (piece) res.write(sseData(textDelta(a, piece)));
        process.nextTick(() => res.uncork());
      },
      onDone(finish: FinishReason, usage: Usage) {
        observe(usage);
        if (gone.aborted || finish === 'cancelled') return resolve(CLIENT_GONE);
        if (!p.stream) return resolve(writeJson(res, 200, fullAnswer(a, text, clientFinish(finish), usage), servedBy(rt)));
        res.cork();
        open();
        res.write(sseData(finishChunk(a, clientFinish(finish))));
        if (p.includeUsage) res.write(sseData(usageChunk(a, usage)));
        res.end(SSE_DONE);
        res.uncork();
        resolve(200);
      },
      onError(err: Error) {
        observe(null);
        if (gone.aborted) return resolve(CLIENT_GONE);
        const e = toOpenAiError(err);
        if (e.status >= 500) console.error(`openai: ${rt.name}: ${e.message}`);
        if (!res.headersSent) return resolve(writeJson(res, e.status, e.body(), e.headers));
        // Text already went out: the stream ends with an error event (OpenAI's clients raise it).
        res.end(`${sseData(e.body())}${SSE_DONE}`);
        resolve(200);
      },
    }, gone);
  });
}

async function embeddings(deps: OpenAiDeps, req: http.IncomingMessage, res: http.ServerResponse, raw: unknown, ctx: OpenAiCtx): Promise<number> {
  const p = parseEmbeddingRequest(raw);
  const { rt, llm } = llmTarget(deps.routes, p.model, sessionKey(req, p.user));
  Object.assign(ctx, { rt, infer: true });
  const e = await llm.embed(p.input, clientGone(res));
  deps.metrics?.observeLlm({ endpoint: rt.endpoint, deployment: rt.name, version: rt.version }, { ttftS: null, itlS: [], promptTokens: e.usage.promptTokens, completionTokens: 0 });
  return writeJson(res, 200, embeddingsAnswer(p.model, e.vectors, e.dims, e.usage, p.encodingFormat), servedBy(rt));
}

function models(routes: RouteTable, id?: string): { status: number; body: object } {
  const list = routes.list().filter((r) => (r.primary ?? r.canary)?.dispatcher instanceof LlmDispatcher).map((r) => ({ id: r.endpoint, created: STARTED }));
  if (id === undefined) return { status: 200, body: modelList(list) };
  const m = list.find((x) => x.id === id);
  if (!m) throw new OpenAiError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
  return { status: 200, body: { id: m.id, object: 'model', created: m.created, owned_by: 'mlserve' } };
}

/** The /v1 routes, for the ingress to mount (it passes its body reader, so nothing imports the ingress). */
export function openAiRoutes(deps: OpenAiDeps): OpenAiHandler {
  return async (req, res, ctx) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    let status: number;
    try {
      if (path === '/v1/models' || path.startsWith('/v1/models/')) {
        if (method !== 'GET') throw new OpenAiError(405, `use GET for ${path}`, 'invalid_request_error');
        const m = models(deps.routes, path === '/v1/models' ? undefined : decodeURIComponent(path.slice('/v1/models/'.length)));
        status = writeJson(res, m.status, m.body);
      } else if (path === '/v1/chat/completions' || path === '/v1/completions' || path === '/v1/embeddings') {
        if (method !== 'POST') throw new OpenAiError(405, `use POST for ${path}`, 'invalid_request_error');
        const raw = parseJson(await deps.readBody(req, deps.maxBodyBytes));
        if (path === '/v1/embeddings') status = await embeddings(deps, req, res, raw, ctx);
        else status = await generate(deps, req, res, path === '/v1/completions' ? parseCompletionRequest(raw) : parseChatRequest(raw), ctx, started);
      } else {
        throw new OpenAiError(404, `no route ${method} ${path}; the OpenAI API here has /v1/models, /v1/chat/completions, /v1/completions and /v1/embeddings`, 'invalid_request_error', 'unknown_url');
      }
    } catch (err) {
      const e = toOpenAiError(err);
      if (e.status >= 500 && e.status !== 503) console.error(`openai: ${method} ${path}: ${e.message}`);
      status = writeJson(res, e.status, e.body(), e.headers);
    }
    return { status, body: null };
  };
}
