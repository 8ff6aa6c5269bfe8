// PURE: server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]\n\n`
// at the end, and an incremental decoder for reading such a stream (an external engine's answers,
// the bench client, tests) that tolerates chunks split anywhere, CRLF line ends and comments, and
// reports what is not SSE instead of guessing.

export const SSE_DONE = 'data: [DONE]\n\n';

/** One event carrying a JSON object. */
export function sseData(obj: unknown): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

export type SseEvent = { done: true } | { done: false; data: unknown; event?: string };

export class SseDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SseDecodeError';
  }
}

/** Most bytes one event may hold before the stream is judged malformed. */
export const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/**
 * Push text as it arrives; get back the complete events. Each event's `data:` lines are joined
 * with newlines (the SSE rule) and parsed as JSON, except `[DONE]`. Lines starting with ':' are
 * comments (keep-alives). Throws SseDecodeError on a data payload that is not JSON or a line that
 * is not a field.
 */
export class SseDecoder {
  private buf = '';
  private data: string[] = [];
  private event: string | undefined;

  push(text: string): SseEvent[] {
    this.buf += text;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buf.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const sep = this.buf[nl] === '\r' && this.buf[nl + 1] === '\n' ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (this.buf[nl] === '\r' && sep === 1 && nl === this.buf.length - 1) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + sep);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    if (this.buf.length > MAX_EVENT_CHARS) throw new SseDecodeError(`an event line of more than ${MAX_EVENT_CHARS} characters`);
    return out;
  }

  /** The stream ended: an event without its blank line is still delivered. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buf) {
      const ev = this.line(this.buf);
      this.buf = '';
      if (ev) out.push(ev);
    }
    const last = this.dispatch();
    if (last) out.push(last);
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field !== 'id' && field !== 'retry') throw new SseDecodeError(`not a server-sent event line: ${JSON.stringify(line.slice(0, 80))}`);
    return null;
  }

  private dispatch(): SseEvent | null {
    if (this.data.length === 0) {
      this.event = undefined;
      return null;
    }
    const payload = this.data.join('\n');
    const event = this.event;
    this.data = [];
    this.event = undefined;
    if (payload.trim() === '[DONE]') return { done: true };
    try {
      return { done: false, data: JSON.parse(payload), ...(event ? { event } : {}) };
    } catch {
      throw new SseDecodeError(`an event whose data is not JSON: ${JSON.stringify(payload.slice(0, 80))}`);
    }
  }
}
