import { describe, expect, it } from 'vitest';
import {
  freeShares, normalizeFraction, place, placeAll, roomFor, NO_GPUS_REASON, type Allocation,
} from '../../../src/daemon/fleet/allocator.js';
import { parseSimulatedGpus } from '../../../src/daemon/fleet/gpus.js';
import { MlserveError } from '../../../src/errors.js';

const gpus = (n: number) => (n === 0 ? [] : parseSimulatedGpus(`${n}x80GB`));
const on = (replica: string, ...shares: [number, number][]): Allocation => ({
  replica,
  assignment: { gpus: shares.map(([index, fraction]) => ({ index, uuid: `GPU-sim-${index}`, fraction })) },
});
const where = (r: ReturnType<typeof place>) => (r.ok ? r.assignment.gpus.map((g) => [g.index, g.fraction]) : r.reason);

describe('normalizeFraction', () => {
  it.each([
    [0.33, 0.33], [0.333, 0.33], [1 / 3, 0.33], [0.5, 0.5], [0.255, 0.26], [0.999, 1], [1, 1], [2, 2], [8, 8], [0.01, 0.01],
  ])('%d -> %d', (f, want) => expect(normalizeFraction(f)).toBe(want));

  it.each([
    [0, /above 0/], [-1, /above 0/], [NaN, /above 0/], [Infinity, /above 0/], [0.004, /at least 0.01/],
    [1.5, /above 1 must be a whole number of GPUs \(got 1.5\)/], [2.25, /whole number/],
  ])('rejects %d', (f, re) => {
    expect(() => normalizeFraction(f)).toThrow(MlserveError);
    expect(() => normalizeFraction(f)).toThrow(re);
  });
});

describe('place', () => {
  const cases: [string, number, number, Allocation[], ReturnType<typeof where>][] = [
    ['a fraction on an empty machine goes to GPU 0', 0.5, 2, [], [[0, 0.5]]],
    ['three 0.33 fit on one GPU (0.99)', 0.33, 2, [on('a/0', [0, 0.33]), on('a/1', [0, 0.33])], [[0, 0.33]]],
    ['a fourth 0.33 moves on to GPU 1', 0.33, 2, [on('a/0', [0, 0.33]), on('a/1', [0, 0.33]), on('a/2', [0, 0.33])], [[1, 0.33]]],
    ['best fit: the fullest GPU that still fits', 0.25, 3, [on('a/0', [0, 0.5]), on('b/0', [1, 0.7]), on('c/0', [2, 0.9])], [[1, 0.25]]],
    ['best fit skips a GPU too full', 0.5, 3, [on('a/0', [0, 0.6]), on('b/0', [1, 0.2])], [[1, 0.5]]],
    ['ties go to the lowest index', 0.2, 3, [on('a/0', [1, 0.5]), on('b/0', [2, 0.5])], [[1, 0.2]]],
    ['exact fit', 0.34, 1, [on('a/0', [0, 0.33]), on('a/1', [0, 0.33])], [[0, 0.34]]],
    ['a whole GPU takes the lowest free one', 1, 3, [on('a/0', [0, 0.1])], [[1, 1]]],
    ['two whole GPUs', 2, 4, [on('a/0', [1, 0.5])], [[0, 1], [2, 1]]],
    [
      'nothing fits a fraction',
      0.5, 2, [on('a/0', [0, 0.33]), on('a/1', [0, 0.33]), on('b/0', [1, 0.9])],
      'needs 0.5 of a GPU; GPU 0 has 0.34 free, GPU 1 0.10',
    ],
    ['one GPU, full', 0.5, 1, [on('a/0', [0, 1])], 'needs 0.5 of a GPU; GPU 0 has 0.00 free'],
    ['not enough whole GPUs', 2, 4, [on('a/0', [0, 0.5]), on('b/0', [1, 1]), on('c/0', [2, 0.01])], 'needs 2 whole GPUs; 1 is free (GPU 3)'],
    ['no whole GPU free', 1, 2, [on('a/0', [0, 0.5]), on('b/0', [1, 0.5])], 'needs 1 whole GPU; none is free'],
    ['more GPUs than the machine has', 4, 2, [], 'needs 4 whole GPUs; this machine has 2'],
    ['no GPUs at all', 0.5, 0, [], NO_GPUS_REASON],
    ['allocations on GPUs no longer present are ignored', 1, 1, [on('x/0', [5, 1])], [[0, 1]]],
  ];
  it.each(cases)('%s', (_name, req, n, existing, want) => {
    expect(where(place(req, gpus(n), existing))).toEqual(want);
  });

  it('uses integer hundredths: 0.1 x 10 fills a GPU exactly, an eleventh does not fit', () => {
    const inv = gpus(1);
    const existing = Array.from({ length: 10 }, (_, i) => on(`d/${i}`, [0, 0.1]));
    expect(place(0.1, inv, existing.slice(0, 9)).ok).toBe(true);
    expect(where(place(0.1, inv, existing))).toBe('needs 0.1 of a GPU; GPU 0 has 0.00 free');
  });

  it('rejects a bad request by throwing', () => {
    expect(() => place(1.5, gpus(2), [])).toThrow(/whole number/);
  });
});

describe('placeAll', () => {
  it('places in order, each seeing the previous ones, and keeps going past one that does not fit', () => {
    const inv = gpus(2);
    const { placed, pending } = placeAll(
      [
        { replica: 'big/0', gpus: 1 },
        { replica: 'small/0', gpus: 0.4 },
        { replica: 'small/1', gpus: 0.4 },
        { replica: 'big/1', gpus: 1 },
        { replica: 'small/2', gpus: 0.2 },
      ],
      inv,
      [],
    );
    expect(placed.map((a) => [a.replica, a.assignment.gpus.map((g) => `${g.index}:${g.fraction}`).join()])).toEqual([
      ['big/0', '0:1'],
      ['small/0', '1:0.4'],
      ['small/1', '1:0.4'],
      ['small/2', '1:0.2'],
    ]);
    expect(pending).toEqual([{ replica: 'big/1', gpus: 1, reason: 'needs 1 whole GPU; none is free' }]);
  });

  it('retries pending replicas when room appears', () => {
    const inv = gpus(1);
    const existing = [on('a/0', [0, 0.5]), on('a/1', [0, 0.5])];
    const first = placeAll([{ replica: 'b/0', gpus: 0.5 }], inv, existing);
    expect(first.placed).toEqual([]);
    expect(first.pending[0].reason).toBe('needs 0.5 of a GPU; GPU 0 has 0.00 free');
    const again = placeAll(first.pending, inv, existing.slice(1));
    expect(again.placed).toEqual([on('b/0', [0, 0.5])]);
    expect(again.pending).toEqual([]);
  });
});

describe('freeShares and roomFor', () => {
  it('reports allocated and free shares per GPU with the replicas on it', () => {
    const inv = gpus(3);
    const existing = [on('a/0', [0, 0.33]), on('a/1', [0, 0.33]), on('b/0', [1, 1]), on('c/0', [1, 0.5])];
    expect(freeShares(inv, existing)).toEqual([
      { index: 0, uuid: 'GPU-sim-0', name: 'simulated-80GB', allocated: 0.66, free: 0.34, replicas: ['a/0', 'a/1'] },
      { index: 1, uuid: 'GPU-sim-1', name: 'simulated-80GB', allocated: 1.5, free: 0, replicas: ['b/0', 'c/0'] },
      { index: 2, uuid: 'GPU-sim-2', name: 'simulated-80GB', allocated: 0, free: 1, replicas: [] },
    ]);
  });
  it.each([
    [0.33, 2, [], 6],
    [0.33, 2, [on('a/0', [0, 0.5])], 4],
    [1, 4, [on('a/0', [0, 0.5])], 3],
    [2, 4, [], 2],
    [0.5, 0, [], 0],
  ] as [number, number, Allocation[], number][])('room for %d-GPU replicas on %d GPUs', (req, n, existing, want) => {
    expect(roomFor(req, gpus(n), existing)).toBe(want);
  });
});
