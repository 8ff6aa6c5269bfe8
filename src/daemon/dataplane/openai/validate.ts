// PURE: OpenAI request bodies -> the checked requests mlserve runs, or a 400 that names the field
// (OpenAI's `param`). Chat completions, completions and embeddings, with the fields mlserve can
// honour; fields it cannot (n > 1, logprobs, tools, echo, token-id prompts) are refused by name
// rather than ignored, and unknown fields are ignored (as vLLM and llama.cpp's server do).
import type { ChatMessage, GenerateRequest } from '../../../runtime/llm/protocol.js';
import { invalid } from './errors.js';

export interface ParsedGenerate {
  model: string;
  request: GenerateRequest;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage counts. */
  includeUsage: boolean;
  /** The session key of the `user` field (routing affinity). */
  user?: string;
}

export interface ParsedEmbeddings {
  model: string;
  input: string[];
  encodingFormat: 'float' | 'base64';
  user?: string;
}

type Body = Record<string, unknown>;

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
/** Most stop sequences (OpenAI's limit). */
export const MAX_STOP = 4;

const isObj = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const given = (v: unknown) => v !== undefined && v !== null;

function body(raw: unknown): Body {
  if (!isObj(raw)) throw invalid('the request body must be a JSON object');
  return raw;
}

function model(b: Body): string {
  if (!given(b.model)) throw invalid("you must provide a model parameter: the name of the endpoint (see GET /v1/models)", 'model');
  if (typeof b.model !== 'string' || b.model === '') throw invalid("'model' must be a non-empty string: the name of the endpoint", 'model');
  return b.model;
}

function num(b: Body, key: string, min: number, max: number, dflt: number): number {
  const v = b[key];
  if (!given(v)) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`'${key}' must be a number`, key);
  if (v < min || v > max) throw invalid(`'${key}' must be between ${min} and ${max}, got ${v}`, key);
  return v;
}

function optInt(b: Body, key: string, min: number): number | undefined {
  const v = b[key];
  if (!given(v)) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`'${key}' must be an integer`, key);
  if (v < min) throw invalid(`'${key}' must be at least ${min}, got ${v}`, key);
  return v;
}

function refuse(b: Body, key: string, why: string, allowed: (v: unknown) => boolean = (v) => !given(v) || v === false): void {
  if (!allowed(b[key])) throw invalid(`'${key}' is not supported by mlserve: ${why}`, key);
}

/** The generation settings shared by chat and completions. */
function sampling(b: Body): Omit<GenerateRequest, 'kind' | 'messages' | 'prompt'> & { stream: boolean; includeUsage: boolean } {
  refuse(b, 'n', 'one choice per request (send n requests)', (v) => !given(v) || v === 1);
  refuse(b, 'best_of', 'one choice per request', (v) => !given(v) || v === 1);
  refuse(b, 'logprobs', 'no log-probabilities are returned', (v) => !given(v) || v === false);
  refuse(b, 'top_logprobs', 'no log-probabilities are returned');
  refuse(b, 'tools', 'no tool calling', (v) => !given(v) || (Array.isArray(v) && v.length === 0));
  refuse(b, 'logit_bias', 'no logit bias', (v) => !given(v) || (isObj(v) && Object.keys(v).length === 0));
  const maxTokens = given(b.max_completion_tokens) ? optInt(b, 'max_completion_tokens', 1) : optInt(b, 'max_tokens', 1);
  let stop: string[] = [];
  if (given(b.stop)) {
    if (typeof b.stop === 'string') stop = [b.stop];
    else if (Array.isArray(b.stop) && b.stop.every((s) => typeof s === 'string')) stop = b.stop as string[];
    else throw invalid("'stop' must be a string or a list of strings", 'stop');
    if (stop.length > MAX_STOP) throw invalid(`'stop' may hold at most ${MAX_STOP} sequences, got ${stop.length}`, 'stop');
    stop = stop.filter((s) => s !== '');
  }
  const stream = given(b.stream) ? b.stream : false;
  if (typeof stream !== 'boolean') throw invalid("'stream' must be true or false", 'stream');
  let includeUsage = false;
  if (given(b.stream_options)) {
    if (!stream) throw invalid("'stream_options' is only allowed when 'stream' is true", 'stream_options');
    if (!isObj(b.stream_options)) throw invalid("'stream_options' must be an object", 'stream_options');
    const iu = b.stream_options.include_usage;
    if (given(iu) && typeof iu !== 'boolean') throw invalid("'stream_options.include_usage' must be true or false", 'stream_options.include_usage');
    includeUsage = iu === true;
  }
  const seed = optInt(b, 'seed', -(2 ** 53));
  const topK = optInt(b, 'top_k', -1);
  const minP = given(b.min_p) ? num(b, 'min_p', 0, 1, 0) : undefined;
  return {
    maxTokens: maxTokens ?? null,
    temperature: num(b, 'temperature', 0, 2, 1),
    topP: num(b, 'top_p', 0, 1, 1),
    ...(topK !== undefined && topK > 0 ? { topK } : {}),
    ...(minP !== undefined ? { minP } : {}),
    ...(seed !== undefined ? { seed: seed >>> 0 } : {}),
    stop,
    presencePenalty: num(b, 'presence_penalty', -2, 2, 0),
    frequencyPenalty: num(b, 'frequency_penalty', -2, 2, 0),
    stream,
    includeUsage,
  };
}

function user(b: Body): string | undefined {
  if (!given(b.user)) return undefined;
  if (typeof b.user !== 'string') throw invalid("'user' must be a string", 'user');
  return b.user || undefined;
}

/** A message's content: a string, or a list of text parts (other parts are refused). */
function content(v: unknown, i: number, role: string): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) {
    if (role === 'assistant') return '';
    throw invalid(`messages[${i}].content is required for role '${role}'`, `messages.[${i}].content`);
  }
  if (Array.isArray(v)) {
    return v.map((part, j) => {
      if (!isObj(part) || part.type !== 'text' || typeof part.text !== 'string') {
        throw invalid(`messages[${i}].content[${j}] must be a text part ({"type": "text", "text": "..."}); mlserve serves text models`, `messages.[${i}].content.[${j}]`);
      }
      return part.text;
    }).join('');
  }
  throw invalid(`messages[${i}].content must be a string or a list of text parts`, `messages.[${i}].content`);
}

/** POST /v1/chat/completions */
export function parseChatRequest(raw: unknown): ParsedGenerate {
  const b = body(raw);
  const name = model(b);
  if (!given(b.messages)) throw invalid("'messages' is a required property", 'messages');
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw invalid("'messages' must be a non-empty list of {role, content} objects", 'messages');
  const messages: ChatMessage[] = b.messages.map((m, i) => {
    if (!isObj(m)) throw invalid(`messages[${i}] must be an object with 'role' and 'content'`, `messages.[${i}]`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
      throw invalid(`messages[${i}].role must be one of ${[...ROLES].join(', ')} (got ${JSON.stringify(m.role)})`, `messages.[${i}].role`);
    }
    return { role: m.role as ChatMessage['role'], content: content(m.content, i, m.role) };
  });
  const { stream, includeUsage, ...s } = sampling(b);
  return { model: name, request: { kind: 'chat', messages, ...s }, stream, includeUsage, user: user(b) };
}

/** POST /v1/completions */
export function parseCompletionRequest(raw: unknown): ParsedGenerate {
  const b = body(raw);
  const name = model(b);
  refuse(b, 'echo', 'the prompt is not echoed');
  refuse(b, 'suffix', 'no insertion (suffix)', (v) => !given(v) || v === '');
  if (!given(b.prompt)) throw invalid("'prompt' is a required property", 'prompt');
  let prompt: string;
  if (typeof b.prompt === 'string') prompt = b.prompt;
  else if (Array.isArray(b.prompt) && b.prompt.length === 1 && typeof b.prompt[0] === 'string') prompt = b.prompt[0];
  else if (Array.isArray(b.prompt) && b.prompt.every((p) => typeof p === 'string')) throw invalid("'prompt' may hold one string per request in mlserve (send one request per prompt)", 'prompt');
  else throw invalid("'prompt' must be a string (token-id prompts are not supported)", 'prompt');
  const { stream, includeUsage, ...s } = sampling(b);
  // OpenAI's legacy completions default to 16 tokens.
  return { model: name, request: { kind: 'completion', prompt, ...s, maxTokens: s.maxTokens ?? 16 }, stream, includeUsage, user: user(b) };
}

/** POST /v1/embeddings */
export function parseEmbeddingRequest(raw: unknown): ParsedEmbeddings {
  const b = body(raw);
  const name = model(b);
  if (!given(b.input)) throw invalid("'input' is a required property", 'input');
  let input: string[];
  if (typeof b.input === 'string') input = [b.input];
  else if (Array.isArray(b.input) && b.input.length > 0 && b.input.every((s) => typeof s === 'string')) input = b.input as string[];
  else throw invalid("'input' must be a string or a non-empty list of strings (token-id inputs are not supported)", 'input');
  if (input.some((s) => s === '')) throw invalid("'input' must not contain empty strings", 'input');
  const fmt = given(b.encoding_format) ? b.encoding_format : 'float';
  if (fmt !== 'float' && fmt !== 'base64') throw invalid("'encoding_format' must be 'float' or 'base64'", 'encoding_format');
  refuse(b, 'dimensions', 'the model\'s own embedding size is returned');
  return { model: name, input, encodingFormat: fmt, user: user(b) };
}
