import { describe, expect, it } from 'vitest';
import type { Allocation, Assignment } from '../../../src/daemon/fleet/allocator.js';
import { cudaProviderOptions, overShare, replicaGpuEnv, shareMiB } from '../../../src/daemon/fleet/gpu-env.js';
import { parseNvidiaSmi, parseSimulatedGpus } from '../../../src/daemon/fleet/gpus.js';

// GPU 0: 23789 MiB (0.33 share = 7850 MiB), GPU 1: 81920 MiB, GPU 2: memory unknown.
const inv = parseNvidiaSmi(
  ['0, GPU-aaa, NVIDIA L4, 23789, 0, 0', '1, GPU-bbb, NVIDIA A100, 81920, 0, 0', '2, GPU-ccc, Odd, [N/A], 0, 0'].join('\n'),
);
const asg = (...shares: [number, number][]): Assignment => ({
  gpus: shares.map(([index, fraction]) => ({ index, uuid: inv[index].uuid, fraction })),
});

describe('replicaGpuEnv', () => {
  const cases: [string, Assignment, boolean, Record<string, string>][] = [
    ['a fraction without MPS: visible device only', asg([0, 0.33]), false, { CUDA_VISIBLE_DEVICES: 'GPU-aaa' }],
    [
      'a fraction with MPS',
      asg([0, 0.33]),
      true,
      { CUDA_VISIBLE_DEVICES: 'GPU-aaa', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '33', CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: '0=7850M' },
    ],
    [
      'a tiny fraction still gets 1% of the threads',
      asg([1, 0.01]),
      true,
      { CUDA_VISIBLE_DEVICES: 'GPU-bbb', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '1', CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: '0=819M' },
    ],
    [
      'whole GPUs: uuids comma separated, ordinals 0..n-1',
      asg([1, 1], [0, 1]),
      true,
      { CUDA_VISIBLE_DEVICES: 'GPU-bbb,GPU-aaa', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '100', CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: '0=81920M,1=23789M' },
    ],
    ['unknown memory total: no memory limit', asg([2, 0.5]), true, { CUDA_VISIBLE_DEVICES: 'GPU-ccc', CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '50' }],
  ];
  it.each(cases)('%s', (_name, a, mps, want) => {
    expect(replicaGpuEnv(a, inv, { mps })).toEqual(want);
  });

  it('simulated GPUs get their simulated uuids', () => {
    const sim = parseSimulatedGpus('2x80GB');
    expect(replicaGpuEnv({ gpus: [{ index: 1, uuid: 'GPU-sim-1', fraction: 0.5 }] }, sim, { mps: true })).toEqual({
      CUDA_VISIBLE_DEVICES: 'GPU-sim-1',
      CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: '50',
      CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: '0=40960M',
    });
  });

  it('rejects an empty assignment or a GPU not in the inventory', () => {
    expect(() => replicaGpuEnv({ gpus: [] }, inv, { mps: false })).toThrow(/at least one GPU/);
    expect(() => replicaGpuEnv({ gpus: [{ index: 7, uuid: 'GPU-zzz', fraction: 1 }] }, inv, { mps: false })).toThrow(/GPU 7 \(GPU-zzz\).*not in the GPU inventory/);
  });
});

describe('cudaProviderOptions', () => {
  it.each([asg([0, 0.33]), asg([1, 1]), asg([1, 1], [0, 1])])('is device 0 (the first visible device) with no memory option: %j', (a) => {
    expect(cudaProviderOptions(a, inv)).toEqual({ name: 'cuda', deviceId: 0 });
  });
  it('rejects a GPU not in the inventory', () => {
    expect(() => cudaProviderOptions({ gpus: [{ index: 9, uuid: 'GPU-x', fraction: 1 }] }, inv)).toThrow(/not in the GPU inventory/);
  });
});

describe('shareMiB', () => {
  it.each([
    [0.33, 0, 7850], [0.5, 1, 40960], [1, 1, 81920], [0.07, 0, 1665], [0.5, 2, 0],
  ])('%d of GPU %d = %d MiB', (fraction, index, want) => {
    expect(shareMiB({ index, uuid: inv[index].uuid, fraction }, inv[index])).toBe(want);
  });
});

describe('overShare', () => {
  const allocs = new Map<number, Allocation>([
    [123, { replica: 'dep/0', assignment: asg([0, 0.33]) }],
    [124, { replica: 'dep/1', assignment: asg([0, 0.33]) }],
    [200, { replica: 'big/0', assignment: asg([1, 1]) }],
    [300, { replica: 'odd/0', assignment: asg([2, 0.5]) }],
  ]);
  const cases: [string, { pid: number; gpuUuid: string; usedMiB: number }[], number | undefined, string[]][] = [
    ['nobody over', [{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 7000 }, { pid: 200, gpuUuid: 'GPU-bbb', usedMiB: 80000 }], undefined, []],
    [
      'over its share',
      [{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 9000 }, { pid: 124, gpuUuid: 'GPU-aaa', usedMiB: 100 }],
      undefined,
      ['replica dep/0 (pid 123) uses 9000 MiB of GPU 0, over its 0.33 share (7850 MiB)'],
    ],
    ['within the default 5% slack (7850 * 1.05 = 8242)', [{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 8242 }], undefined, []],
    ['just over the slack', [{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 8243 }], undefined, ['replica dep/0 (pid 123) uses 8243 MiB of GPU 0, over its 0.33 share (7850 MiB)']],
    ['slack 0', [{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 7851 }], 0, ['replica dep/0 (pid 123) uses 7851 MiB of GPU 0, over its 0.33 share (7850 MiB)']],
    [
      'rows of one process are summed',
      [{ pid: 124, gpuUuid: 'GPU-aaa', usedMiB: 5000 }, { pid: 124, gpuUuid: 'GPU-aaa', usedMiB: 5000 }],
      undefined,
      ['replica dep/1 (pid 124) uses 10000 MiB of GPU 0, over its 0.33 share (7850 MiB)'],
    ],
    ['processes that are not replicas are ignored', [{ pid: 999, gpuUuid: 'GPU-aaa', usedMiB: 23000 }], undefined, []],
    ['unknown memory total is skipped', [{ pid: 300, gpuUuid: 'GPU-ccc', usedMiB: 99999 }], undefined, []],
    ['a GPU it was not given', [{ pid: 123, gpuUuid: 'GPU-bbb', usedMiB: 300 }], undefined, ['replica dep/0 (pid 123) uses 300 MiB of GPU 1, which is not assigned to it']],
  ];
  it.each(cases)('%s', (_name, apps, slack, want) => {
    expect(overShare(apps, allocs, inv, slack).map((o) => o.message)).toEqual(want);
  });

  it('accepts allocations as a record and returns the numbers', () => {
    const rec = Object.fromEntries(allocs);
    expect(overShare([{ pid: 123, gpuUuid: 'GPU-aaa', usedMiB: 9000 }], rec, inv)).toEqual([
      {
        replica: 'dep/0', pid: 123, gpuIndex: 0, gpuUuid: 'GPU-aaa', usedMiB: 9000, shareMiB: 7850, limitMiB: 8242,
        message: 'replica dep/0 (pid 123) uses 9000 MiB of GPU 0, over its 0.33 share (7850 MiB)',
      },
    ]);
  });
});
