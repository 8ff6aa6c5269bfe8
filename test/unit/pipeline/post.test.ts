// post.ts: softmax, top-k (ties as torch.topk on CPU), threshold, labels files in their three
// forms, and one request's scores to the answer /predict gives.
import { describe, expect, it } from 'vitest';
import { overThreshold, parseLabels, postProcess, softmax, topk } from '../../../src/pipeline/post.js';
import type { PostStage } from '../../../src/pipeline/spec.js';
import { caught } from '../../helpers/errors.js';

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

describe('softmax', () => {
  it.each([
    ['[1, 2, 3]', [1, 2, 3], [0.09003057317038046, 0.24472847105479764, 0.6652409557748219]],
    ['[1000, 1001]: no overflow', [1000, 1001], [1 / (1 + Math.E), Math.E / (1 + Math.E)]],
    ['[-1000, -1001]: no underflow to 0/0', [-1000, -1001], [Math.E / (1 + Math.E), 1 / (1 + Math.E)]],
    ['equal logits', [7, 7, 7, 7], [0.25, 0.25, 0.25, 0.25]],
    ['one logit', [-3], [1]],
    ['-Infinity is probability 0', [0, -Infinity], [1, 0]],
    ['1e308 next to 0', [1e308, 0], [1, 0]],
  ])('%s', (_name, xs, expected) => {
    const out = softmax(xs);
    expect(out).toBeInstanceOf(Float64Array);
    expect(out.length).toBe(xs.length);
    out.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 14));
    expect(sum(out)).toBeCloseTo(1, 14);
  });

  it('sums to 1 and keeps the order, shifted or not, on float32 input', () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 12.9898) * 30);
    const p = softmax(logits);
    expect(sum(p)).toBeCloseTo(1, 12);
    expect(p.every((x) => x >= 0 && x <= 1)).toBe(true);
    const shifted = softmax(Array.from(logits, (x) => x + 500));
    p.forEach((x, i) => expect(shifted[i]).toBeCloseTo(x, 12));
    expect(topk(p, 10)).toEqual(topk(logits, 10));
  });

  it('is empty for no logits and leaves its input alone', () => {
    expect(softmax([]).length).toBe(0);
    const xs = [3, 1, 2];
    softmax(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

/** The reference: indices sorted by score (highest first), then by index; the first k. */
const refTopk = (xs: ArrayLike<number>, k: number) =>
  Array.from(xs, (_, i) => i)
    .sort((a, b) => xs[b]! - xs[a]! || a - b)
    .slice(0, k);

describe('topk', () => {
  it.each([
    ['highest first', [0.1, 0.5, 0.3], 2, [1, 2]],
    ['k = 1', [0.1, 0.5, 0.3], 1, [1]],
    ['k = length', [0.1, 0.5, 0.3], 3, [1, 2, 0]],
    ['k larger than the length', [0.1, 0.5, 0.3], 10, [1, 2, 0]],
    ['ties keep the lower index first', [1, 3, 3, 2, 3], 3, [1, 2, 4]],
    ['a tie at the cut', [5, 5, 5], 2, [0, 1]],
    ['a tie at the cut after a bigger one', [1, 2, 9, 2, 2], 3, [2, 1, 3]],
    ['negative scores', [-3, -1, -2], 2, [1, 2]],
    ['the best last', [0, 0, 0, 1], 1, [3]],
    ['one score', [42], 5, [0]],
    ['no scores', [], 3, []],
  ])('%s', (_name, xs, k, expected) => {
    expect(topk(xs, k)).toEqual(expected);
  });

  it('matches a full sort on many scores with many ties, for several k', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let round = 0; round < 50; round++) {
      const n = 1 + Math.floor(rand() * 300);
      const xs = Float32Array.from({ length: n }, () => Math.floor(rand() * 8) / 4 - 1);
      for (const k of [1, 2, 5, 17, n, n + 3]) expect(topk(xs, k), `n=${n} k=${k}`).toEqual(refTopk(xs, k));
    }
  });
});

describe('overThreshold', () => {
  it.each([
    ['at least the value, highest first', [0.1, 0.5, 0.3, 0.5], 0.3, [1, 3, 2]],
    ['equal to the value counts', [0.2, 0.2], 0.2, [0, 1]],
    ['none', [0.1, 0.2], 0.9, []],
    ['all, negative threshold', [-1, 0, -2], -5, [1, 0, 2]],
    ['ties by index', [0.7, 0.9, 0.7, 0.9], 0.5, [1, 3, 0, 2]],
    ['no scores', [], 0, []],
  ])('%s', (_name, xs, value, expected) => {
    expect(overThreshold(xs, value)).toEqual(expected);
  });
});

describe('parseLabels', () => {
  it.each([
    ['one per line', 'cat\ndog\nbird\n', ['cat', 'dog', 'bird']],
    ['no final newline', 'cat\ndog', ['cat', 'dog']],
    ['CRLF and trailing blank lines', 'cat\r\ndog\r\n\r\n\r\n', ['cat', 'dog']],
    ['trailing spaces and blank lines', 'cat\ndog \n  \n\t\n', ['cat', 'dog']],
    ['names are trimmed, inner spaces kept', '  tench, Tinca tinca \n goldfish\n', ['tench, Tinca tinca', 'goldfish']],
    ['a blank line in the middle is a class', 'a\n\nc\n', ['a', '', 'c']],
    ['one name', 'only', ['only']],
    ['JSON list', '["cat", "dog"]', ['cat', 'dog']],
    ['JSON list with whitespace around', '\n  ["cat", "dog"]\n\n', ['cat', 'dog']],
    ['JSON list of numbers', '[0, 1.5]', ['0', '1.5']],
    ['JSON list of [id, name]', '[["n01440764", "tench"], ["n01443537", "goldfish"]]', ['tench', 'goldfish']],
    ['JSON object index -> [id, name] or name', '{"0": ["n01440764", "tench"], "1": "goldfish"}', ['tench', 'goldfish']],
    ['JSON object out of order', '{"2": "c", "0": "a", "1": "b"}', ['a', 'b', 'c']],
  ])('%s', (_name, text, expected) => {
    expect(parseLabels(text, 'labels.txt')).toEqual(expected);
  });

  it('reads ImageNet-sized files', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `class ${i}`);
    expect(parseLabels(`${names.join('\r\n')}\r\n`, 'l.txt')).toEqual(names);
    expect(parseLabels(JSON.stringify(Object.fromEntries(names.map((n, i) => [String(i), [`n${i}`, n]]))), 'l.json')).toEqual(names);
  });

  it.each([
    ['an empty file', '', /^labels file labels.txt is empty$/],
    ['an empty JSON list', '[]', /^labels file labels.txt is an empty list$/],
    ['an empty JSON object', '{}', /^labels file labels.txt is an empty object$/],
    ['a key with a leading zero', '{"0": "a", "01": "b"}', /key '01' is not a class index from 0 to 1/],
    ['an empty key', '{"": "a"}', /key '' is not a class index/],
    ['only blank lines', '\n \r\n\t\n', /^labels file labels.txt is empty$/],
    ['bad JSON', '["cat", "dog"', /^labels file labels.txt looks like JSON but does not parse: /],
    ['bad JSON object', '{"0": "cat",}', /looks like JSON but does not parse/],
    ['a key that is not a number', '{"0": "cat", "dog": "dog"}', /^labels file labels.txt: key 'dog' is not a class index from 0 to 1$/],
    ['a key past the end', '{"0": "cat", "2": "bird"}', /key '2' is not a class index from 0 to 1/],
    ['a negative key', '{"-1": "cat"}', /key '-1' is not a class index from 0 to 0/],
    ['a fractional key', '{"0": "a", "0.5": "b"}', /key '0.5' is not a class index/],
  ])('refuses %s (BAD_REQUEST)', (_name, text, message) => {
    const err = caught(() => parseLabels(text, 'labels.txt'));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(message);
  });

  it('refuses a JSON object whose keys name one index twice (no class left unnamed)', () => {
    // "1" and "01" are both index 1: index 0 gets no name. Either refuse it or name every class.
    let labels: string[] | undefined;
    let error: unknown;
    try {
      labels = parseLabels('{"1": "cat", "01": "dog"}', 'labels.json');
    } catch (err) {
      error = err;
    }
    // Array.from visits holes (map and every skip them).
    if (labels) expect(Array.from(labels).flatMap((l, i) => (typeof l === 'string' ? [] : [`class ${i} unnamed`]))).toEqual([]);
    else expect((error as { code?: string }).code).toBe('BAD_REQUEST');
  });
});

const SCORES = [1, 3, 2, 0.5];
const LABELS = ['cat', 'dog', 'bird', 'fish'];
const S = (...stages: PostStage[]) => stages;

describe('postProcess', () => {
  const p = softmax(SCORES);

  it.each<[string, PostStage[], string[] | null, unknown]>([
    ['argmax, no labels: the index as the label', S({ kind: 'argmax' }), null, { label: '1', index: 1, score: 3, top: [{ index: 1, label: '1', score: 3 }] }],
    ['argmax with labels', S({ kind: 'argmax' }, { kind: 'labels', list: LABELS }), LABELS, { label: 'dog', index: 1, score: 3, top: [{ index: 1, label: 'dog', score: 3 }] }],
    ['topk on raw scores', S({ kind: 'topk', k: 2 }), LABELS, { label: 'dog', index: 1, score: 3, top: [{ index: 1, label: 'dog', score: 3 }, { index: 2, label: 'bird', score: 2 }] }],
    ['softmax then topk', S({ kind: 'softmax' }, { kind: 'topk', k: 3 }), LABELS, { label: 'dog', index: 1, score: p[1], top: [1, 2, 0].map((i) => ({ index: i, label: LABELS[i], score: p[i] })) }],
    ['softmax, topk k over the length', S({ kind: 'softmax' }, { kind: 'topk', k: 99 }), null, { label: '1', index: 1, score: p[1], top: [1, 2, 0, 3].map((i) => ({ index: i, label: String(i), score: p[i] })) }],
    ['threshold on raw scores', S({ kind: 'threshold', value: 1 }), LABELS, { label: 'dog', index: 1, score: 3, top: [{ index: 1, label: 'dog', score: 3 }, { index: 2, label: 'bird', score: 2 }, { index: 0, label: 'cat', score: 1 }] }],
    ['softmax then threshold', S({ kind: 'softmax' }, { kind: 'threshold', value: 0.2 }), LABELS, { label: 'dog', index: 1, score: p[1], top: [{ index: 1, label: 'dog', score: p[1] }, { index: 2, label: 'bird', score: p[2] }] }],
    ['threshold that nothing passes', S({ kind: 'threshold', value: 10 }), LABELS, { label: null, index: null, score: null, top: [] }],
    ['no picking stage: the scores', S(), null, { scores: SCORES }],
    ['no picking stage, softmax: probabilities', S({ kind: 'softmax' }), null, { scores: Array.from(p) }],
    ['no picking stage, labels: scores by label', S({ kind: 'labels', list: LABELS }), LABELS, { scores: { cat: 1, dog: 3, bird: 2, fish: 0.5 } }],
    ['softmax and labels: probabilities by label', S({ kind: 'softmax' }, { kind: 'labels', list: LABELS }), LABELS, { scores: Object.fromEntries(LABELS.map((l, i) => [l, p[i]])) }],
    ['more labels than scores is fine', S({ kind: 'argmax' }), [...LABELS, 'extra'], { label: 'dog', index: 1, score: 3, top: [{ index: 1, label: 'dog', score: 3 }] }],
  ])('%s', (_name, stages, labels, expected) => {
    expect(postProcess(SCORES, stages, labels)).toEqual(expected);
  });

  it('gives plain numbers from float32 and float64 rows and leaves the row alone', () => {
    const row = Float32Array.from([0.1, 0.7, 0.2]);
    const a = postProcess(row, S({ kind: 'topk', k: 1 }), null) as { score: number; top: Array<{ score: number }> };
    expect(typeof a.score).toBe('number');
    expect(a.score).toBe(Math.fround(0.7));
    const b = postProcess(row, S(), null) as { scores: number[] };
    expect(Array.isArray(b.scores)).toBe(true);
    expect(b.scores).toEqual(Array.from(row));
    expect(Array.from(row)).toEqual(Array.from(Float32Array.from([0.1, 0.7, 0.2])));
    expect(JSON.parse(JSON.stringify(postProcess(Float64Array.from([2, 1]), S({ kind: 'softmax' }), null)))).toEqual({ scores: Array.from(softmax([2, 1])) });
  });

  it.each([
    ['with a picking stage', S({ kind: 'topk', k: 2 })],
    ['without one', S()],
    ['after softmax', S({ kind: 'softmax' }, { kind: 'argmax' })],
  ])('refuses fewer labels than scores %s (INTERNAL)', (_name, stages) => {
    const err = caught(() => postProcess(SCORES, stages, ['cat', 'dog']));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/^the model answered 4 scores but the labels name 2 classes; deploy with a labels list that matches the model$/);
  });
});
