// LLM test helpers: the tiny random llama GGUF (written once per test process, by the project's
// own GGUF writer) and a streaming client that timestamps each server-sent event as it arrives.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { SseDecoder } from '../../src/daemon/dataplane/openai/sse.js';
import { saveTinyLlama, type TinyLlamaOptions } from '../../src/models/tiny-llama.js';

let tiny: string | undefined;

/** A tiny random-weight llama model (a few MB) in a temp dir. */
export function tinyGguf(opts: TinyLlamaOptions = {}): string {
  if (tiny && Object.keys(opts).length === 0) return tiny;
  const file = join(mkdtempSync(join(tmpdir(), 'tiny-llama-')), 'tiny.gguf');
  saveTinyLlama(file, opts);
  if (Object.keys(opts).length === 0) tiny = file;
  return file;
}

export interface TimedEvent {
  /** ms since the request was sent */
  t: number;
  data: any;
  done: boolean;
}

export interface StreamResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  events: TimedEvent[];
  /** The body when it was not an event stream (an error answer). */
  json?: any;
  /** When the response ended (ms since sent). */
  endedAt: number;
}

/**
 * POST a streaming request and collect its events with arrival times. `stopAfter` closes the
 * connection after that many events (a client that leaves).
 */
export async function stream(url: string, path: string, body: object, opts: { stopAfter?: number; headers?: Record<string, string> } = {}): Promise<StreamResult> {
  const started = performance.now();
  const ac = new AbortController();
  const res = await request(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...opts.headers }, signal: ac.signal });
  const events: TimedEvent[] = [];
  const ctype = String(res.headers['content-type'] ?? '');
  if (!ctype.startsWith('text/event-stream')) {
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, events, json: JSON.parse(text), endedAt: performance.now() - started };
  }
  const dec = new SseDecoder();
  try {
    for await (const chunk of res.body) {
      const t = performance.now() - started;
      for (const ev of dec.push(Buffer.from(chunk as Buffer).toString('utf8'))) {
        events.push({ t, data: ev.done ? null : ev.data, done: ev.done });
        if (opts.stopAfter !== undefined && events.length >= opts.stopAfter) {
          ac.abort();
          return { status: res.statusCode, headers: res.headers, events, endedAt: t };
        }
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  }
  return { status: res.statusCode, headers: res.headers, events, endedAt: performance.now() - started };
}

/** The generated text of a chat or completion stream. */
export const streamedText = (events: TimedEvent[]): string =>
  events.map((e) => e.data?.choices?.[0]?.delta?.content ?? e.data?.choices?.[0]?.text ?? '').join('');
