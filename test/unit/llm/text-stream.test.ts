import { describe, expect, it } from 'vitest';
import { MAX_HELD_TOKENS, StopText, TokenText } from '../../../src/runtime/llm/text-stream.js';

// A byte-level vocabulary: token = byte value; decoding replaces incomplete characters with U+FFFD.
const bytes = (t: readonly number[]) => Buffer.from(t).toString('utf8');

describe('TokenText: never splits a character', () => {
  it.each([
    ['ASCII goes out token by token', 'abc', ['a', 'b', 'c']],
    ['a 2-byte character waits for its second byte', 'é!', ['', 'é', '!']],
    ['a 4-byte emoji waits for all four', '😀', ['', '', '', '😀']],
  ])('%s', (_n, text, pieces) => {
    const t = new TokenText((toks) => bytes(toks));
    expect([...Buffer.from(text)].map((b) => t.push(b))).toEqual(pieces);
    expect(t.flush()).toBe('');
  });

  it(`gives up holding after ${MAX_HELD_TOKENS} tokens of broken text`, () => {
    const t = new TokenText((toks) => bytes(toks));
    const out = [0xff, 0xfe, 0xfd, 0xfc].map((b) => t.push(b));
    expect(out.slice(0, MAX_HELD_TOKENS - 1)).toEqual(['', '', '']);
    expect(out[MAX_HELD_TOKENS - 1]).toContain('\uFFFD');
  });

  it('flushes what is held at the end', () => {
    const t = new TokenText((toks) => bytes(toks));
    expect(t.push(0xc3)).toBe('');
    expect(t.flush()).toBe('\uFFFD');
  });

  it('passes the tokens before as context (SentencePiece leading spaces)', () => {
    const seen: number[][] = [];
    const t = new TokenText((toks, before) => {
      seen.push([...before]);
      return bytes(toks);
    });
    'abcdef'.split('').forEach((c) => t.push(c.charCodeAt(0)));
    expect(seen.at(-1)).toEqual([...'bcde'].map((c) => c.charCodeAt(0)));
  });
});

describe('StopText: cuts at the first stop sequence, holds what may start one', () => {
  const run = (stops: string[], pieces: string[]) => {
    const s = new StopText(stops);
    const out = pieces.map((p) => s.push(p));
    return { out, rest: s.flush(), stopped: s.stopped };
  };
  it.each([
    ['no stops: everything at once', [], ['ab', 'cd'], ['ab', 'cd'], '', false],
    ['a stop inside one piece', ['END'], ['abENDcd'], ['ab'], '', true],
    ['a stop across pieces is held, then cut', ['END'], ['abE', 'N', 'Dxy'], ['ab', '', ''], '', true],
    ['a false start is released', ['END'], ['abE', 'Nx'], ['ab', 'ENx'], '', false],
    ['held text at the end is flushed', ['END'], ['abEN'], ['ab'], 'EN', false],
    ['the earliest of several stops', ['yy', 'x'], ['ayyx'], ['a'], '', true],
    ['nothing after a stop', ['.'], ['a.', 'b'], ['a', ''], '', true],
    ['a stop at the very start', ['<|im_end|>'], ['<|im_', 'end|>tail'], ['', ''], '', true],
  ])('%s', (_n, stops, pieces, out, rest, stopped) => {
    expect(run(stops, pieces)).toEqual({ out, rest, stopped });
  });
});
