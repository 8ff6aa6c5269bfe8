import { describe, expect, it } from 'vitest';
import {
  batchKey, nextBatch, requestRows, type BatchDecision, type BatchPolicy, type Pending,
} from '../../../src/daemon/dataplane/batcher.js';
import { dynamicFirstDim } from '../../../src/daemon/fleet/kinds/onnx.js';
import type { Signature } from '../../../src/tensor.js';

/** p(rows, key, enqueuedAt, deadline = never) */
const p = (rows: number, key = 'a', enqueuedAt = 0, deadline = Infinity): Pending => ({ rows, key, enqueuedAt, deadline });

interface Case {
  name: string;
  queue: Pending[];
  policy: BatchPolicy;
  now: number;
  want: BatchDecision | null;
}

const NOW = 100;
const cases: Case[] = [
  // ---- flush rules
  { name: 'empty queue', queue: [], policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: null },
  { name: 'one request, no wait', queue: [p(1)], policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW,
    want: { take: [0], expired: [] } },
  { name: 'partial batch, no wait: leaves at once (work-conserving)', queue: [p(1), p(1), p(1)],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [0, 1, 2], expired: [] } },
  { name: 'one request with wait: waits for the rest of batchWaitMs', queue: [p(1, 'a', 97)],
    policy: { maxBatchSize: 8, batchWaitMs: 5 }, now: NOW, want: { waitMs: 2, expired: [] } },
  { name: 'partial with wait: the oldest member sets the wait', queue: [p(1, 'a', 96), p(2, 'a', 99)],
    policy: { maxBatchSize: 8, batchWaitMs: 10 }, now: NOW, want: { waitMs: 6, expired: [] } },
  { name: 'wait elapsed exactly: leaves', queue: [p(1, 'a', 90), p(1, 'a', 99)],
    policy: { maxBatchSize: 8, batchWaitMs: 10 }, now: NOW, want: { take: [0, 1], expired: [] } },
  { name: 'wait long elapsed: leaves', queue: [p(1, 'a', 0)],
    policy: { maxBatchSize: 8, batchWaitMs: 10 }, now: NOW, want: { take: [0], expired: [] } },
  { name: 'full batch with wait: leaves at once', queue: [p(1, 'a', 99), p(1, 'a', 99), p(1, 'a', 100), p(1, 'a', 100)],
    policy: { maxBatchSize: 4, batchWaitMs: 50 }, now: NOW, want: { take: [0, 1, 2, 3], expired: [] } },
  { name: 'more than a full batch: the first maxBatchSize leave', queue: [p(1), p(1), p(1), p(1), p(1)],
    policy: { maxBatchSize: 3, batchWaitMs: 50 }, now: NOW, want: { take: [0, 1, 2], expired: [] } },
  { name: 'maxBatchSize 1: always one at once', queue: [p(1, 'a', 100), p(1, 'a', 100)],
    policy: { maxBatchSize: 1, batchWaitMs: 50 }, now: NOW, want: { take: [0], expired: [] } },
  { name: 'maxBatchSize 0 counts as 1', queue: [p(1), p(1)],
    policy: { maxBatchSize: 0, batchWaitMs: 0 }, now: NOW, want: { take: [0], expired: [] } },
  // ---- max size by rows
  { name: 'multi-row requests sum rows up to the max', queue: [p(3), p(4), p(1), p(2)],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [0, 1, 2], expired: [] } },
  { name: 'multi-row: exactly full by rows leaves at once despite the wait', queue: [p(5, 'a', 100), p(3, 'a', 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 50 }, now: NOW, want: { take: [0, 1], expired: [] } },
  { name: 'next one does not fit: no overtaking within a key, and no point waiting', queue: [p(5, 'a', 100), p(4, 'a', 100), p(1, 'a', 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 50 }, now: NOW, want: { take: [0], expired: [] } },
  { name: 'multi-row partial with wait: waits', queue: [p(2, 'a', 100), p(3, 'a', 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 50 }, now: NOW, want: { waitMs: 50, expired: [] } },
  // ---- oversize
  { name: 'oversize head goes alone, at once', queue: [p(20, 'a', 100), p(1, 'a', 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 50 }, now: NOW, want: { take: [0], expired: [] } },
  { name: 'oversize behind the head stops the batch (it goes alone next)', queue: [p(1, 'a', 100), p(20, 'a', 100), p(1, 'a', 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 50 }, now: NOW, want: { take: [0], expired: [] } },
  // ---- shape grouping
  { name: 'mixed keys: the head key, FIFO; others keep their places', queue: [p(1, 'a'), p(1, 'b'), p(1, 'a'), p(1, 'b'), p(1, 'a')],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [0, 2, 4], expired: [] } },
  { name: 'mixed keys: head of another key', queue: [p(1, 'b'), p(1, 'a'), p(1, 'b'), p(1, 'a')],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [0, 2], expired: [] } },
  { name: 'mixed keys: the max counts only the head key', queue: [p(2, 'a'), p(5, 'b'), p(2, 'a'), p(2, 'a'), p(1, 'b')],
    policy: { maxBatchSize: 4, batchWaitMs: 0 }, now: NOW, want: { take: [0, 2], expired: [] } },
  { name: 'mixed keys with wait: other keys do not fill the batch', queue: [p(1, 'a', 100), p(1, 'b', 100), p(1, 'b', 100)],
    policy: { maxBatchSize: 2, batchWaitMs: 5 }, now: NOW, want: { waitMs: 5, expired: [] } },
  // ---- deadlines
  { name: 'expired head skipped and reported; the next becomes the head', queue: [p(1, 'a', 0, 100), p(1, 'b', 0, 200), p(1, 'a', 0, 200)],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [1], expired: [0] } },
  { name: 'expired members skipped; every expired entry reported', queue: [p(1, 'a', 0), p(1, 'a', 0, 50), p(1, 'a', 0), p(1, 'b', 0, 99), p(1, 'a', 0, 101)],
    policy: { maxBatchSize: 8, batchWaitMs: 0 }, now: NOW, want: { take: [0, 2, 4], expired: [1, 3] } },
  { name: 'expired entries reported even past a full batch', queue: [p(1), p(1), p(1, 'a', 0, 1)],
    policy: { maxBatchSize: 2, batchWaitMs: 0 }, now: NOW, want: { take: [0, 1], expired: [2] } },
  { name: 'expired reported while waiting', queue: [p(1, 'a', 0, 10), p(1, 'a', 98)],
    policy: { maxBatchSize: 8, batchWaitMs: 5 }, now: NOW, want: { waitMs: 3, expired: [0] } },
  { name: 'expired rows do not count toward the max', queue: [p(4, 'a', 0, 1), p(3), p(1)],
    policy: { maxBatchSize: 4, batchWaitMs: 0 }, now: NOW, want: { take: [1, 2], expired: [0] } },
  { name: 'all expired: nothing to take, all reported', queue: [p(1, 'a', 0, 1), p(1, 'b', 0, 100)],
    policy: { maxBatchSize: 8, batchWaitMs: 5 }, now: NOW, want: { take: [], expired: [0, 1] } },
];

describe('nextBatch', () => {
  it.each(cases)('$name', ({ queue, policy, now, want }) => {
    expect(nextBatch(queue, policy, now)).toEqual(want);
  });

  it('waits, then leaves when called again at the promised time', () => {
    const queue = [p(1, 'a', 100)];
    const policy = { maxBatchSize: 4, batchWaitMs: 8 };
    const d = nextBatch(queue, policy, 103);
    expect(d).toEqual({ waitMs: 5, expired: [] });
    expect(nextBatch(queue, policy, 103 + (d as { waitMs: number }).waitMs)).toEqual({ take: [0], expired: [] });
  });
});

describe('batchKey', () => {
  const x = (shape: number[], datatype = 'FP32' as const, name = 'x') => ({ name, datatype, shape });
  const eq: [string, string, string][] = [
    ['different batch sizes', batchKey([x([1, 3])]), batchKey([x([7, 3])])],
    ['same outputs in another order', batchKey([x([1, 3])], ['a', 'b']), batchKey([x([2, 3])], ['b', 'a'])],
    ['rank 1, any length', batchKey([x([1])]), batchKey([x([100])])],
  ];
  it.each(eq)('equal: %s', (_n, a, b) => expect(a).toBe(b));
  const ne: [string, string, string][] = [
    ['non-batch dim differs', batchKey([x([1, 3])]), batchKey([x([1, 4])])],
    ['rank differs', batchKey([x([1, 3])]), batchKey([x([1, 3, 1])])],
    ['datatype differs', batchKey([x([1, 3])]), batchKey([x([1, 3], 'FP64' as 'FP32')])],
    ['name differs', batchKey([x([1, 3])]), batchKey([x([1, 3], 'FP32', 'y')])],
    ['second input differs', batchKey([x([1, 3]), x([1, 2], 'FP32', 'y')]), batchKey([x([1, 3]), x([1, 5], 'FP32', 'y')])],
    ['outputs given vs all', batchKey([x([1, 3])]), batchKey([x([1, 3])], ['a'])],
    ['different outputs', batchKey([x([1, 3])], ['a']), batchKey([x([1, 3])], ['b'])],
    ['empty outputs list vs all', batchKey([x([1, 3])], []), batchKey([x([1, 3])])],
    ['names cannot forge separators', batchKey([x([1, 3], 'FP32', 'a;1:b')]), batchKey([x([1, 3], 'FP32', 'a'), x([1, 3], 'FP32', 'b')])],
    ['output names cannot forge separators', batchKey([x([1])], ['a;1:b']), batchKey([x([1])], ['a', 'b'])],
  ];
  it.each(ne)('not equal: %s', (_n, a, b) => expect(a).not.toBe(b));
  it('does not reorder the caller\'s outputs array', () => {
    const outs = ['b', 'a'];
    batchKey([x([1])], outs);
    expect(outs).toEqual(['b', 'a']);
  });
});

describe('requestRows', () => {
  it.each([
    ['one input', [[3, 2]], 3],
    ['inputs agree', [[3, 2], [3]], 3],
    ['zero rows', [[0, 2]], 0],
    ['inputs disagree', [[3, 2], [2]], undefined],
    ['scalar input', [[]], undefined],
    ['no inputs', [], undefined],
  ] as [string, number[][], number | undefined][])('%s', (_n, shapes, want) => {
    expect(requestRows(shapes.map((shape) => ({ shape })))).toBe(want);
  });
});

describe('dynamicFirstDim (the onnx kind batches these)', () => {
  const spec = (shape: number[], name = 'x') => ({ name, datatype: 'FP32' as const, shape });
  const sig = (ins: number[][], outs: number[][]): Signature => ({
    inputs: ins.map((s, i) => spec(s, `i${i}`)), outputs: outs.map((s, i) => spec(s, `o${i}`)),
  });
  it.each([
    ['all dynamic first dims', sig([[-1, 3], [-1]], [[-1, 2]]), true],
    ['fully dynamic', sig([[-1, -1]], [[-1, -1]]), true],
    ['fixed input batch', sig([[1, 3]], [[-1, 2]]), false],
    ['fixed output batch', sig([[-1, 3]], [[1]]), false],
    ['dynamic only later', sig([[3, -1]], [[-1]]), false],
    ['scalar output', sig([[-1]], [[]]), false],
    ['scalar input', sig([[]], [[-1]]), false],
    ['no inputs', sig([], [[-1]]), false],
  ] as [string, Signature, boolean][])('%s', (_n, s, want) => expect(dynamicFirstDim(s)).toBe(want));
});
