import { describe, expect, it } from 'vitest';
import { cgroupCores, planThreads, usableCores, type ThreadInput } from '../../../src/daemon/fleet/threads.js';

const d = (name: string, replicas: number, more: Partial<ThreadInput> = {}): ThreadInput => ({ name, replicas, onGpu: false, ...more });

describe('threads per replica', () => {
  // [what, deployments, cores, threads per deployment]
  it.each([
    ['one replica alone gets every core', [d('a', 1)], 2, { a: 2 }],
    ['two replicas share the cores', [d('a', 2)], 2, { a: 1 }],
    ['two deployments of one replica', [d('a', 1), d('b', 1)], 8, { a: 4, b: 4 }],
    ['more replicas than cores: at least one thread', [d('a', 3), d('b', 2)], 2, { a: 1, b: 1 }],
    ['a fraction rounds down', [d('a', 3)], 8, { a: 2 }],
    ['--threads is kept and takes its cores out of the share', [d('a', 1, { threads: 2 }), d('b', 2)], 8, { a: 2, b: 3 }],
    ['hand-set threads over the cores leave at least one', [d('a', 1, { threads: 16 }), d('b', 1)], 8, { a: 16, b: 1 }],
    ['GPU replicas take one thread and leave the cores to CPU replicas', [d('g', 4, { onGpu: true }), d('c', 1)], 8, { g: 1, c: 8 }],
    ['an autoscaled deployment counts its floor (at least one)', [d('a', 0), d('b', 1)], 4, { a: 2, b: 2 }],
    ['nothing deployed', [], 4, {}],
  ] as Array<[string, ThreadInput[], number, Record<string, number>]>)('%s', (_what, deps, cores, want) => {
    const plan = planThreads(deps, cores);
    expect(Object.fromEntries([...plan].map(([k, v]) => [k, v.threads]))).toEqual(want);
  });

  it('says why', () => {
    const plan = planThreads([d('a', 1, { threads: 2 }), d('b', 2), d('g', 1, { onGpu: true })], 8);
    expect(plan.get('a')!.reason).toBe('set by --threads');
    expect(plan.get('b')!.reason).toBe('6 cores (8 cores, 2 taken by replicas with --threads) shared by 2 CPU replicas');
    expect(plan.get('g')!.reason).toMatch(/GPU replica/);
    expect(planThreads([d('x', 1)], 2).get('x')!.reason).toBe('2 cores shared by 1 CPU replica');
  });

  it.each([
    ['max 100000', undefined],
    ['200000 100000', 2],
    ['150000 100000', 2],
    ['50000 100000', 1],
    ['garbage', undefined],
    [undefined, undefined],
  ])('cgroup cpu.max %j allows %s cores', (text, want) => expect(cgroupCores(text)).toBe(want));

  it('usable cores: affinity capped by the quota', () => {
    expect(usableCores(8, '200000 100000')).toBe(2);
    expect(usableCores(2, 'max 100000')).toBe(2);
    expect(usableCores(1, '400000 100000')).toBe(1);
  });
});
