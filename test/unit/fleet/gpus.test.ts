import { describe, expect, it } from 'vitest';
import { parseComputeApps, parseNvidiaSmi, parseSimulatedGpus, type Gpu } from '../../../src/daemon/fleet/gpus.js';
import { MlserveError } from '../../../src/errors.js';

const real = (index: number, uuid: string, name: string, total: number, used: number, util: number): Gpu => ({
  index, uuid, name, memoryTotalMiB: total, memoryUsedMiB: used, utilizationPct: util, simulated: false,
});

describe('parseNvidiaSmi', () => {
  const cases: [string, string, Gpu[]][] = [
    ['empty output', '', []],
    ['one GPU', '0, GPU-aaa, NVIDIA A100-SXM4-80GB, 81920, 1024, 37\n', [real(0, 'GPU-aaa', 'NVIDIA A100-SXM4-80GB', 81920, 1024, 37)]],
    [
      'two GPUs, no spaces, CRLF, out of order',
      '1,GPU-b,NVIDIA L4,23034,0,0\r\n0,GPU-a,Tesla T4,15360,5,2\r\n',
      [real(0, 'GPU-a', 'Tesla T4', 15360, 5, 2), real(1, 'GPU-b', 'NVIDIA L4', 23034, 0, 0)],
    ],
    ['[N/A] utilization and memory read as 0', '0, GPU-a, NVIDIA H100, 81559, [N/A], [N/A]', [real(0, 'GPU-a', 'NVIDIA H100', 81559, 0, 0)]],
    ['extra spaces and blank lines', '\n   0 ,  GPU-a ,  Tesla V100  ,  16384 , 12 , 100  \n\n', [real(0, 'GPU-a', 'Tesla V100', 16384, 12, 100)]],
    ['a comma in the name', '0, GPU-a, Odd, Name, 1000, 1, 2', [real(0, 'GPU-a', 'Odd, Name', 1000, 1, 2)]],
    ['units left in (no nounits)', '0, GPU-a, T4, 15360 MiB, 3 MiB, 0 %', [real(0, 'GPU-a', 'T4', 15360, 3, 0)]],
    ['"No devices were found"', 'No devices were found\n', []],
  ];
  it.each(cases)('%s', (_name, csv, want) => {
    expect(parseNvidiaSmi(csv)).toEqual(want);
  });

  const bad: [string, string, RegExp][] = [
    ['too few fields', '0, GPU-a, T4, 15360', /line 1 .*4 fields instead of 6.*"0, GPU-a, T4, 15360"/],
    ['index not a number', '0, GPU-a, T4, 1, 1, 1\nx, GPU-b, T4, 1, 1, 1', /line 2 .*index 'x'/],
    ['total not a number', '0, GPU-a, T4, lots, 1, 1', /line 1 .*memory.total 'lots'/],
    ['missing uuid', '0, , T4, 1, 1, 1', /line 1 .*no uuid/],
    ['an error message', 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.', /line 1/],
  ];
  it.each(bad)('rejects %s, naming the line', (_name, csv, re) => {
    expect(() => parseNvidiaSmi(csv)).toThrow(re);
  });
});

describe('parseSimulatedGpus', () => {
  const sim = (index: number, name: string, gib: number): Gpu => ({
    index, uuid: `GPU-sim-${index}`, name, memoryTotalMiB: gib * 1024, memoryUsedMiB: 0, utilizationPct: 0, simulated: true,
  });
  const cases: [string, Gpu[]][] = [
    ['', []],
    ['0', []],
    ['4', [0, 1, 2, 3].map((i) => sim(i, 'simulated-16GB', 16))],
    ['2x80GB', [sim(0, 'simulated-80GB', 80), sim(1, 'simulated-80GB', 80)]],
    ['A100-80GB,L4-24GB', [sim(0, 'A100-80GB', 80), sim(1, 'L4-24GB', 24)]],
    ['2xA100-80GB, L4-24GB', [sim(0, 'A100-80GB', 80), sim(1, 'A100-80GB', 80), sim(2, 'L4-24GB', 24)]],
    [' 1 x H100-SXM-80GiB ', [sim(0, 'H100-SXM-80GB', 80)]],
    ['24G', [sim(0, 'simulated-24GB', 24)]],
    ['2,L4-24GB', [sim(0, 'simulated-16GB', 16), sim(1, 'simulated-16GB', 16), sim(2, 'L4-24GB', 24)]],
  ];
  it.each(cases)('%j', (spec, want) => {
    expect(parseSimulatedGpus(spec)).toEqual(want);
  });

  it.each(['2x', 'A100', '80TB', 'x80GB', '0x80GB', 'A100-80GB,,L4-24GB', '-80GB', '2.5x80GB'])(
    'rejects %j with the accepted forms',
    (spec) => {
      let err: unknown;
      try {
        parseSimulatedGpus(spec);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MlserveError);
      const msg = (err as Error).message;
      expect(msg).toContain(`MLSERVE_GPUS='${spec}'`);
      expect(msg).toContain("'2x80GB'");
      expect(msg).toContain("'A100-80GB,L4-24GB'");
      expect(msg).toContain("'2xA100-80GB,L4-24GB'");
    },
  );
});

describe('parseComputeApps', () => {
  const cases: [string, string, { pid: number; gpuUuid: string; usedMiB: number }[]][] = [
    ['empty', '', []],
    ['"No running processes found"', 'No running processes found\n', []],
    [
      'two processes',
      '1234, GPU-aaa, 7850\n5678,GPU-bbb,120\n',
      [{ pid: 1234, gpuUuid: 'GPU-aaa', usedMiB: 7850 }, { pid: 5678, gpuUuid: 'GPU-bbb', usedMiB: 120 }],
    ],
    ['[N/A] memory reads as 0', '42, GPU-a, [N/A]', [{ pid: 42, gpuUuid: 'GPU-a', usedMiB: 0 }]],
  ];
  it.each(cases)('%s', (_name, csv, want) => {
    expect(parseComputeApps(csv)).toEqual(want);
  });
  it.each([
    ['1, GPU-a', /line 1 .*2 fields/],
    ['1, GPU-a, 3\nabc, GPU-a, 3', /line 2 .*pid 'abc'/],
    ['1, GPU-a, lots', /line 1 .*used_memory 'lots'/],
  ])('rejects %j, naming the line', (csv, re) => {
    expect(() => parseComputeApps(csv)).toThrow(re);
  });
});
