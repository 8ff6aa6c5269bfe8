// mlserve top in a real terminal (tmux, 80x24) with 7 deployments: the frame fits, so Ink redraws in
// place and never sends a clear-screen sequence on refresh; when the daemon stops it says so and
// reconnects by itself when the daemon is back.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { BIN, TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

const HAS_TMUX = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `mlserve-top-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'top');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitScreen(re: RegExp, ms = 20_000): Promise<string> {
  const end = Date.now() + ms;
  let s = '';
  while (Date.now() < end) {
    s = screen();
    if (re.test(s)) return s;
    await sleep(200);
  }
  throw new Error(`screen never matched ${re}:\n${s}`);
}

let d: TestDaemon;
let raw: string;

beforeAll(async () => {
  if (!HAS_TMUX) return;
  // Two replicas each and two (simulated) GPUs: the frame would need 26 lines if nothing were cut.
  d = new TestDaemon({ MLSERVE_GPUS: '2x80GB' });
  await d.start();
  const model = writeOnnx(mlp({ seed: 11, sizes: [4, 8, 2] }), 'tiny');
  const yaml = `applications:\n${Array.from({ length: 7 }, (_, i) => `  - name: m${i}\n    deployments: [{name: m${i}-v1, model: ${model}, num_replicas: 2, ray_actor_options: {num_gpus: 0.1}}]`).join('\n')}\n`;
  const file = join(d.home, 'seven.yaml');
  writeFileSync(file, yaml);
  const r = await d.cli(['apply', '-f', file]);
  expect(r.exitCode, r.stderr).toBe(0);
  raw = join(d.home, 'top.raw');
  // CI=true as a CI runner (and some dev containers) export it: Ink would then draw nothing live.
  tmux('new-session', '-d', '-x', '80', '-y', '24', '-s', 'top', '-e', `MLSERVE_HOME=${d.home}`, '-e', 'CI=true', `${process.execPath} ${BIN} top --interval 250`);
}, 120_000);

afterAll(async () => {
  if (!HAS_TMUX) return;
  try {
    tmux('kill-server');
  } catch {
    /* already gone */
  }
  await d.cleanup();
});

describe.skipIf(!HAS_TMUX)('mlserve top in tmux at 80x24', () => {
  it('fits 7 deployments and refreshes in place: no clear-screen sequence', async () => {
    await waitScreen(/m6-v1 \(m6\)/);
    // Capture what top writes from now on: a dozen refreshes.
    tmux('pipe-pane', '-o', '-t', 'top', `cat >> ${raw}`);
    await sleep(3500);
    tmux('pipe-pane', '-t', 'top');
    const out = existsSync(raw) ? readFileSync(raw, 'latin1') : '';
    expect(out.length).toBeGreaterThan(500); // it did refresh
    expect(out).not.toContain('\x1b[2J'); // clear screen
    expect(out).not.toContain('\x1b[3J'); // clear scrollback
    expect(out).not.toContain('\x1bc'); // reset
    const lines = screen().split('\n');
    for (let i = 0; i < 7; i++) expect(lines.some((l) => l.includes(`m${i}-v1 (m${i})`)), `m${i}`).toBe(true);
    expect(lines.some((l) => l.startsWith('mlserve 0.1.0'))).toBe(true);
    expect(lines.some((l) => l.startsWith('q quit'))).toBe(true);
  });

  it('says the daemon stopped, then reconnects when it is back (a new pid)', async () => {
    const before = d.pid;
    await d.stop();
    await waitScreen(/the daemon (is not running|closed the connection)[^\n]*reconnecting/);
    await d.start();
    const s = await waitScreen(new RegExp(`pid ${d.pid} `));
    expect(d.pid).not.toBe(before);
    expect(s).toMatch(/the daemon restarted: pid \d+ -> \d+|reconnected to the daemon/);
    expect(s).not.toMatch(/other side closed/);
  });
});
