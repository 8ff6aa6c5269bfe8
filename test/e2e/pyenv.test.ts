// scripts/pyenv.mjs for real, on a tiny env (one small pinned package) in a temp root: concurrent
// callers build once, a warm call builds nothing, a killed or incomplete build is redone, a pin change
// makes a new directory and removes the old one, a stale lock is taken over.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/python.js';

const SCRIPT = join(REPO, 'scripts', 'pyenv.mjs');
let root: string;
let specFile: string;

function writeSpec(pins: string[]): void {
  writeFileSync(specFile, JSON.stringify({ envs: { tiny: { requirements: pins, check: ['six'] } } }));
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

function pyenv(args: string[], opts: { killAfter?: (stderr: string) => boolean } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MLSERVE_PYENV_DIR: root, MLSERVE_PYENV_SPEC: specFile },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (opts.killAfter?.(stderr)) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started }));
  });
}

const envDirs = () => readdirSync(root).filter((e) => /^tiny-[0-9a-f]{12}$/.test(e));
const builds = (r: Run) => (r.stderr.match(/building env 'tiny'/g) ?? []).length;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'mlserve-pyenv-'));
  specFile = join(root, 'spec.json');
  writeSpec(['six==1.17.0']);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('scripts/pyenv.mjs', () => {
  it('two concurrent callers: one builds, the other waits for it; both print the same python', async () => {
    const [a, b] = await Promise.all([pyenv(['tiny']), new Promise<Run>((r) => setTimeout(() => r(pyenv(['tiny'])), 300))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(builds(a) + builds(b)).toBe(1);
    expect(a.stderr + b.stderr).toMatch(/waiting for pid \d+, which is building this env/);
    const python = a.stdout.trim();
    expect(b.stdout.trim()).toBe(python);
    expect(python).toMatch(new RegExp(`^${root}/tiny-[0-9a-f]{12}/bin/python$`));
    expect(existsSync(join(python, '..', '..', '.complete'))).toBe(true);
    expect(existsSync(join(python, '..', '..', 'pip-freeze.txt'))).toBe(true);
    expect(existsSync(join(root, 'tiny.lock'))).toBe(false);
  }, 180_000);

  it('a warm call builds nothing and is quick; --quiet prints only the path', async () => {
    const r = await pyenv(['tiny', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toMatch(/\/bin\/python$/);
    expect(r.ms).toBeLessThan(3000);
  });

  it('a directory without .complete is removed and built again', async () => {
    const [dir] = envDirs();
    unlinkSync(join(root, dir!, '.complete'));
    const r = await pyenv(['tiny']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('removing the incomplete build');
    expect(builds(r)).toBe(1);
    expect(envDirs()).toEqual([dir]);
  }, 180_000);

  it('a stale lock (its pid is gone) is taken over', async () => {
    mkdirSync(join(root, 'tiny.lock'));
    writeFileSync(join(root, 'tiny.lock', 'pid'), '999999999\n');
    const [dir] = envDirs();
    unlinkSync(join(root, dir!, '.complete'));
    const r = await pyenv(['tiny']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('removing stale lock');
    expect(builds(r)).toBe(1);
  }, 180_000);

  it('a build killed half way leaves nothing in use: the next call rebuilds', async () => {
    writeSpec(['six==1.16.0']);
    const killed = await pyenv(['tiny'], { killAfter: (s) => s.includes('pip install') });
    expect(killed.signal).toBe('SIGKILL');
    const r = await pyenv(['tiny']);
    expect(r.code, r.stderr).toBe(0);
    expect(builds(r)).toBe(1);
    const dirs = envDirs();
    expect(dirs).toHaveLength(1);
    expect(existsSync(join(root, dirs[0]!, '.complete'))).toBe(true);
  }, 180_000);

  it('changing a pin builds a new directory and removes the old one', async () => {
    const before = envDirs();
    writeSpec(['six==1.17.0']);
    const r = await pyenv(['tiny']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('built from other pins');
    const after = envDirs();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(r.stdout.trim()).toBe(join(root, after[0]!, 'bin', 'python'));
  }, 180_000);

  it('refuses up front a build that needs more disk than there is, and says how much', async () => {
    writeFileSync(specFile, JSON.stringify({ envs: { huge: { requirements: ['six==1.17.0'], buildGiB: 1e9 } } }));
    const r = await pyenv(['huge']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not enough disk to build env 'huge': it needs about 1000000000 GiB while it builds and .* has [\d.]+ GiB free/);
    expect(r.stderr).toContain('MLSERVE_PYENV_DIR');
    expect(readdirSync(root).some((e) => e.startsWith('huge-'))).toBe(false);
    writeFileSync(specFile, JSON.stringify({ envs: { huge: { requirements: ['six==1.17.0'], buildGiB: -1 } } }));
    const bad = await pyenv(['huge']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('buildGiB must be a positive number');
  });

  it('rejects unpinned requirements and unknown envs', async () => {
    writeSpec(['six>=1']);
    const loose = await pyenv(['tiny']);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain('exact pins');
    writeSpec(['six==1.17.0']);
    const unknown = await pyenv(['nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no env named 'nope'");
  });
});
