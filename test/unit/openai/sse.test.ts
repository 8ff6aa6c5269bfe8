import { describe, expect, it } from 'vitest';
import { SSE_DONE, SseDecodeError, SseDecoder, sseData } from '../../../src/daemon/dataplane/openai/sse.js';

const all = (chunks: string[]) => {
  const d = new SseDecoder();
  return [...chunks.flatMap((c) => d.push(c)), ...d.end()];
};

describe('SSE encoding', () => {
  it('writes one data line per object and [DONE]', () => {
    expect(sseData({ a: 1 })).toBe('data: {"a":1}\n\n');
    expect(SSE_DONE).toBe('data: [DONE]\n\n');
  });

  it('round-trips a stream split at every byte', () => {
    const text = `${sseData({ x: 'a\nb' })}${sseData({ y: [1, 2] })}${SSE_DONE}`;
    const expected = [{ done: false, data: { x: 'a\nb' } }, { done: false, data: { y: [1, 2] } }, { done: true }];
    expect(all([text])).toEqual(expected);
    expect(all(text.split(''))).toEqual(expected);
  });
});

describe('SSE decoding', () => {
  it.each([
    ['CRLF line ends', ['data: {"a":1}\r\n\r\n'], [{ done: false, data: { a: 1 } }]],
    ['CR split from LF across chunks', ['data: {"a":1}\r', '\n\r\n'], [{ done: false, data: { a: 1 } }]],
    ['comments and keep-alives are skipped', [': ping\n\n', 'data: {"a":1}\n\n'], [{ done: false, data: { a: 1 } }]],
    ['multi-line data joins with newlines', ['data: [1,\ndata: 2]\n\n'], [{ done: false, data: [1, 2] }]],
    ['an event name is kept', ['event: error\ndata: {"e":1}\n\n'], [{ done: false, data: { e: 1 }, event: 'error' }]],
    ['id and retry fields are ignored', ['id: 3\nretry: 10\ndata: {}\n\n'], [{ done: false, data: {} }]],
    ['no space after the colon', ['data:{"a":2}\n\n'], [{ done: false, data: { a: 2 } }]],
    ['a last event without its blank line', ['data: {"a":3}'], [{ done: false, data: { a: 3 } }]],
    ['blank events are nothing', ['\n\n\n'], []],
  ])('%s', (_name, chunks, events) => {
    expect(all(chunks)).toEqual(events);
  });

  it.each([
    ['data that is not JSON', 'data: {oops\n\n'],
    ['a line that is not a field', '<html>502 Bad Gateway</html>\n\n'],
  ])('refuses %s', (_name, text) => {
    expect(() => all([text])).toThrow(SseDecodeError);
  });
});
