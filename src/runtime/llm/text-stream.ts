// PURE: generated tokens -> text chunks a client can show as they come. Two holds:
// - a token may end in the middle of a UTF-8 character (byte-level vocabularies): its text waits
//   until the character is complete (up to MAX_HELD_TOKENS, then it goes out as it is);
// - text that may be the start of a stop sequence waits until it is clearly not one; a stop
//   sequence ends the generation and is not sent (OpenAI's `stop`).

/** Tokens held back at most while their text ends in an incomplete character. */
export const MAX_HELD_TOKENS = 4;
const REPLACEMENT = '\uFFFD';

/** Detokenize `tokens` as the continuation of `before` (the tokens just before them). */
export type Detokenize = (tokens: readonly number[], before: readonly number[]) => string;

/** Token ids -> text, never split inside a character. */
export class TokenText {
  private pending: number[] = [];
  private recent: number[] = [];

  constructor(private readonly detokenize: Detokenize) {}

  /** Add one token; returns the text it completes ('' while held). */
  push(token: number): string {
    this.pending.push(token);
    const text = this.detokenize(this.pending, this.recent);
    if (text.endsWith(REPLACEMENT) && this.pending.length < MAX_HELD_TOKENS) return '';
    return this.release(text);
  }

  /** The text of the tokens still held (at the end of the generation). */
  flush(): string {
    if (this.pending.length === 0) return '';
    return this.release(this.detokenize(this.pending, this.recent));
  }

  private release(text: string): string {
    this.recent = [...this.recent, ...this.pending].slice(-MAX_HELD_TOKENS);
    this.pending = [];
    return text;
  }
}

/** Text chunks -> text to send, cut at the first stop sequence. */
export class StopText {
  private held = '';
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Add generated text; returns what may go out now (the rest is held, or dropped after a stop). */
  push(text: string): string {
    if (this.stopped) return '';
    const buf = this.held + text;
    let cut = -1;
    for (const s of this.stops) {
      if (!s) continue;
      const at = buf.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return buf.slice(0, cut);
    }
    const keep = this.partialStop(buf);
    this.held = buf.slice(buf.length - keep);
    return buf.slice(0, buf.length - keep);
  }

  /** The held text at the end of the generation (it never became a stop sequence). */
  flush(): string {
    const out = this.stopped ? '' : this.held;
    this.held = '';
    return out;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of a stop sequence. */
  private partialStop(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > best; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
