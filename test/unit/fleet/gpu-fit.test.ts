// A GPU request that exceeds the inventory is refused at once; one that only lacks free room waits,
// and its reason names the deployments that hold the room.
import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../../src/daemon/fleet/allocator.js';
import { inventoryProblem, roomHolders } from '../../../src/daemon/fleet/gpu-fit.js';
import { parseSimulatedGpus } from '../../../src/daemon/fleet/gpus.js';
import { GpuBook } from '../../../src/daemon/fleet/placement.js';

const gpus = (n: number) => (n === 0 ? [] : parseSimulatedGpus(`${n}x16GB`));
const on = (replica: string, ...shares: [number, number][]): Allocation => ({
  replica,
  assignment: { gpus: shares.map(([index, fraction]) => ({ index, uuid: `GPU-sim-${index}`, fraction })) },
});
const SRC = 'MLSERVE_GPUS=1x16GB';

describe('inventoryProblem: requests that can never be placed', () => {
  it.each([
    [2, 1, 1, /asks for 2 whole GPUs per replica, but this machine has 1 \(MLSERVE_GPUS=1x16GB\); it could never start: ask for at most 1/],
    [1, 2, 1, /2 replicas of 1 whole GPU each do not fit this machine's 1 GPU .*: at most 1 fit/],
    [0.5, 3, 1, /3 replicas of 0.5 of a GPU each do not fit .*: at most 2 fit/],
    [0.4, 5, 2, /5 replicas of 0.4 of a GPU each do not fit this machine's 2 GPUs .*: at most 4 fit/],
    [0.5, 1, 0, /asks for 0.5 GPU per replica, but this machine has no GPU/],
  ])('%d GPU x %d replicas on %d GPUs is refused', (g, replicas, n, re) => {
    expect(inventoryProblem(g, replicas, gpus(n), SRC)).toMatch(re);
  });

  it.each([[1, 1, 1], [0.5, 2, 1], [0.33, 3, 1], [2, 1, 2], [1, 4, 4], [0.25, 8, 2]])('%d GPU x %d replicas on %d GPUs fits', (g, replicas, n) => {
    expect(inventoryProblem(g, replicas, gpus(n), SRC)).toBeNull();
  });

  it('refuses a share above 1 that is not whole, as the allocator does', () => {
    expect(() => inventoryProblem(1.5, 1, gpus(2), SRC)).toThrow(/whole number/);
  });
});

describe('roomHolders', () => {
  it('names each deployment holding room, its replicas and shares per GPU', () => {
    const existing = [on('big-v1/0', [0, 1]), on('small-v2/3', [1, 0.5]), on('small-v2/4', [1, 0.25])];
    expect(roomHolders(existing, gpus(2))).toBe('held by big-v1 (1 replica: 1.00 of GPU 0), small-v2 (2 replicas: 0.75 of GPU 1)');
    expect(roomHolders([], gpus(1))).toBe('nothing holds it');
  });

  it('is part of the reason a replica waits for room', () => {
    const book = new GpuBook({ gpus: gpus(1), simulated: true, source: SRC, mps: false });
    expect(book.reserve('a-v1/0', 0.75).ok).toBe(true);
    const r = book.reserve('b-v1/0', 0.5);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe('needs 0.5 of a GPU; GPU 0 has 0.25 free; held by a-v1 (1 replica: 0.75 of GPU 0)');
  });
});
