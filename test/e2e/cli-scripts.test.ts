// The CLI as scripts and CI see it: usage errors are one line (JSON with --json) and exit 2;
// `events` of an unknown name fails; `bench` writes plain progress lines to a pipe, checks
// --baseline before sending load and warns when the baseline ran another mode; `version`,
// `help <cmd>` and shell completion come from oclif's own plugins.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
const scratch = mkdtempSync(join(tmpdir(), 'mlserve-cli-'));
const requestsServed = async () => (await d.cli(['status', '--json'])).json.deployments.find((x: { name: string }) => x.name === 'tiny-v1').stats.requests as number;

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  const r = await d.deploy(writeOnnx(mlp({ seed: 3, sizes: [4, 8, 2] }), 'tiny'));
  expect(r.exitCode, r.stderr).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('usage errors', () => {
  it.each([
    [['status', '--bogus', '--json'], /^Nonexistent flag: --bogus$/],
    [['deploy', '--json'], /^Missing 1 required arg: source \(model source\)$/],
    [['deploy', 'x.onnx', '--replicas', '0', '--json'], /^Parsing --replicas: Expected an integer greater than or equal to 1 but received: 0$/],
    [['bench', 'tiny', '--protocol', 'xml', '--json'], /^Expected --protocol=xml to be one of: json, binary$/],
    [['deploy', 'x.onnx', '--gpus', 'lots', '--json'], /^--gpus must be a number of GPUs/],
    [['bogus', '--json'], /^'mlserve bogus' is not a command$/],
    [['gpus', 'extra', '--json'], /^'mlserve gpus extra' is not a command$/],
  ])('%j prints one line of JSON with code USAGE and exits 2', async (args, message) => {
    const r = await d.cli(args as string[]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout.endsWith('\n') ? r.stdout.slice(0, -1) : r.stdout).not.toContain('\n');
    expect(r.stdout.length).toBeLessThan(300);
    expect(Object.keys(r.json)).toEqual(['error', 'code']);
    expect(r.json.code).toBe('USAGE');
    expect(r.json.error).toMatch(message);
    expect(r.stderr).toBe('');
  });

  it('without --json: one Error line and a hint on stderr, exit 2', async () => {
    const r = await d.cli(['status', '--bogus']);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('Error: Nonexistent flag: --bogus\nsee mlserve status --help');
    const sub = await d.cli(['canary', 'set']);
    expect(sub.exitCode).toBe(2);
    expect(sub.stderr.split('\n')).toEqual([expect.stringMatching(/^Error: Missing 1 required arg: weight/), 'see mlserve canary set --help']);
    const unknown = await d.cli(['bogus']);
    expect([unknown.exitCode, unknown.stderr]).toEqual([2, "Error: 'mlserve bogus' is not a command\nsee mlserve --help"]);
  });
});

describe('events', () => {
  it('fails for a name that is neither a deployment nor an endpoint, listing the known ones', async () => {
    const r = await d.cli(['events', 'nope']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^Error: no deployment or endpoint named 'nope', and no events for it; known: tiny, tiny-v1/);
    const j = await d.cli(['events', 'nope', '--json']);
    expect(j.exitCode).toBe(1);
    expect(j.json).toMatchObject({ code: 'NOT_FOUND' });
    for (const ok of ['tiny-v1', 'tiny', 'daemon']) {
      const e = await d.cli(['events', ok, '--json']);
      expect(e.exitCode, ok).toBe(0);
      expect(Array.isArray(e.json), ok).toBe(true);
    }
    expect((await d.cli(['events', 'tiny-v1', '--json'])).json.map((e: { kind: string }) => e.kind)).toContain('ready');
  });
});

describe('bench in CI', () => {
  it('writes plain progress lines to a pipe: no carriage returns or escape codes', async () => {
    const r = await d.cli(['bench', 'tiny', '-c', '2', '-d', '6s', '--warmup', '0s']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/[\r\x1b]/);
    expect(r.stderr).toMatch(/^ {2}[56]s {2}\d+ ok {2}0 errors {2}\d+ req\/s {2}p99 [\d.]+ ms$/m);
  });

  it('refuses a missing or foreign --baseline before sending any load, naming the path (exit 2)', async () => {
    const before = await requestsServed();
    const notJson = join(scratch, 'notes.txt');
    writeFileSync(notJson, 'p99 was fine\n');
    const foreign = join(scratch, 'other.json');
    writeFileSync(foreign, JSON.stringify({ results: [] }));
    for (const [path, why] of [
      [join(scratch, 'missing.json'), 'does not exist'],
      [notJson, 'is not JSON'],
      [foreign, 'is not the output of mlserve bench --json'],
    ]) {
      const started = Date.now();
      const r = await d.cli(['bench', 'tiny', '-d', '30s', '--baseline', path]);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`Error: --baseline ${path} ${why}`);
      expect(Date.now() - started).toBeLessThan(15_000);
    }
    expect(await requestsServed()).toBe(before);
  });

  it('warns when the baseline ran another mode, and says so in --json', async () => {
    const baseline = join(scratch, 'closed-json.json');
    const first = await d.cli(['bench', 'tiny', '-c', '2', '-d', '1s', '--warmup', '0s', '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.json.warnings).toEqual([]);
    writeFileSync(baseline, first.stdout);

    const args = ['bench', 'tiny', '--rate', '50', '--protocol', 'binary', '--batch', '2', '-d', '1s', '--warmup', '0s', '--baseline', baseline, '--max-regression', '1000%'];
    const j = await d.cli([...args, '--json']);
    expect(j.exitCode, j.stderr).toBe(0);
    expect(j.json.warnings).toEqual([
      `baseline ${baseline} was measured with a closed loop at concurrency 2, this run with an open loop at 50 req/s: throughput and latency do not compare`,
      `baseline ${baseline} was measured with the json protocol, this run with binary`,
      `baseline ${baseline} was measured with 1 row(s) per request, this run with 2`,
    ]);
    const human = await d.cli(args);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stderr).toContain(`Warning: baseline ${baseline} was measured with a closed loop at concurrency 2, this run with an open loop at 50 req/s`);
    // The same mode compares without a warning.
    const same = await d.cli(['bench', 'tiny', '-c', '2', '-d', '1s', '--warmup', '0s', '--baseline', baseline, '--max-regression', '1000%', '--json']);
    expect(same.json.warnings).toEqual([]);
  });
});

describe("oclif's own plugins", () => {
  it('mlserve version and mlserve help <cmd>', async () => {
    const v = await d.cli(['version']);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^mlserve\/0\.1\.0 \S+ node-v\d+/);
    const vj = await d.cli(['version', '--json']);
    expect(vj.json).toMatchObject({ cliVersion: 'mlserve/0.1.0' });
    const h = await d.cli(['help', 'deploy']);
    expect(h.exitCode, h.stderr).toBe(0);
    expect(h.stdout).toContain('$ mlserve deploy SOURCE');
    expect(h.stdout).toContain('--max-batch-size=<value>');
    const topic = await d.cli(['help', 'canary', 'set']);
    expect(topic.stdout).toContain('$ mlserve canary set');
    expect(v.stderr + h.stderr).toBe('');
  });

  it('mlserve autocomplete writes completions that complete commands and flags in bash', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'mlserve-ac-'));
    const help = await d.cli(['autocomplete', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('$ mlserve autocomplete [SHELL]');
    const r = await d.cli(['autocomplete', '--refresh-cache'], { env: { XDG_CACHE_HOME: cache } });
    expect(r.exitCode, r.stderr).toBe(0);
    const script = await d.cli(['autocomplete', 'script', 'bash'], { env: { XDG_CACHE_HOME: cache } });
    expect(script.stdout).toContain(join(cache, 'mlserve', 'autocomplete', 'bash_setup'));
    const fn = join(cache, 'mlserve', 'autocomplete', 'functions', 'bash', 'mlserve.bash');
    expect(readFileSync(fn, 'utf8')).toContain('deploy --json --endpoint');
    if (!existsSync('/bin/bash')) return;
    const complete = (...words: string[]) =>
      spawnSync('/bin/bash', ['-c', `source ${fn}; COMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _mlserve_autocomplete; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' }).stdout.trim();
    expect(complete('mlserve', 'dep')).toBe('deploy');
    expect(complete('mlserve', 'deploy', '--rep')).toBe('--replicas --replace');
    expect(complete('mlserve', 'canary', 's')).toBe('set shadow start status');
  });
});
