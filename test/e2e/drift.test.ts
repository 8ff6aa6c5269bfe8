// `mlserve drift` end to end on capture files written like the daemon writes them: the text table,
// --json, --html (checked as markup, and rendered in headless Chromium when one is installed:
// Debian's `chromium` via playwright-core; a screenshot goes to test/artifacts/), and bad inputs.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parquetWriteFile } from 'hyparquet-writer';
import { TestDaemon } from '../helpers/daemon.js';
import { rng, writeCaptureFile } from '../helpers/capture.js';
import { REPO } from '../helpers/python.js';

const CHROMIUM = [process.env.MLSERVE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
if (!CHROMIUM) console.warn('drift: the headless Chromium check is skipped: no chromium executable (apt-get install chromium, or set MLSERVE_CHROMIUM)');
const ARTIFACTS = join(REPO, 'test', 'artifacts');

const d = new TestDaemon(); // only its temp home and CLI runner: drift needs no daemon
const dir = mkdtempSync(join(tmpdir(), 'mlserve-drift-'));
const r = rng(8); // a fixed draw: the false-positive rate itself is measured in test/unit/monitor/drift-stats.test.ts
const N_REF = 400;

beforeAll(() => {
  const species = ['setosa', 'versicolor', 'virginica'];
  // Reference: iris-like columns by name, plus a target column and one the endpoint never gets.
  const rows = Array.from({ length: N_REF }, (_, i) => [
    (5.8 + r.normal(0, 0.8)).toFixed(3), (3.0 + r.normal(0, 0.4)).toFixed(3), species[i % 3]!, String(i % 3), 'x',
  ]);
  const csv = ['sepal_length,sepal_width,species,label,"unused, quoted"', ...rows.map((x) => x.join(','))].join('\n');
  writeFileSync(join(dir, 'train.csv'), `${csv}\n`);
  parquetWriteFile({
    filename: join(dir, 'train.parquet'),
    columnData: [
      { name: 'sepal_length', data: rows.map((x) => Number(x[0])), type: 'DOUBLE' },
      { name: 'sepal_width', data: rows.map((x) => Number(x[1])), type: 'DOUBLE' },
      { name: 'species', data: rows.map((x) => x[2]!), type: 'STRING' },
    ],
  });
  writeFileSync(join(dir, 'noheader.csv'), '1,2\n3,4\n');
  writeFileSync(join(dir, 'corrupt.parquet'), 'PAR1 this is not parquet');
  // Captured now: sepal_length shifted by +1, sepal_width not, species mix changed; two files.
  const now = Date.now();
  const n = 150;
  const half = (k: number) => Array.from({ length: n / 2 }, (_, i) => now - 60_000 + (k * n) / 2 + i);
  for (const k of [0, 1]) {
    writeCaptureFile(d.home, 'iris', {
      timestamps: half(k),
      inputs: {
        sepal_length: Array.from({ length: n / 2 }, () => 6.8 + r.normal(0, 0.8)),
        sepal_width: Array.from({ length: n / 2 }, (_, i) => (i === 0 ? null : 3.0 + r.normal(0, 0.4))),
        species: Array.from({ length: n / 2 }, (_, i) => (i % 5 === 0 ? 'setosa' : 'virginica')),
      },
      outputs: { label: Array.from({ length: n / 2 }, (_, i) => i % 3), score: Array.from({ length: n / 2 }, () => r.uniform()) },
    }, k);
  }
  // Old rows (outside a 1h window) that would make sepal_width drift if counted.
  writeCaptureFile(d.home, 'iris', { timestamps: [now - 3 * 3_600_000, now - 3 * 3_600_000 + 1], inputs: { sepal_width: [90, 91] } }, 9);
  // A tensor endpoint: x_0..x_1 pair by position with the reference's numeric columns.
  writeCaptureFile(d.home, 'tensor', {
    timestamps: Array.from({ length: 60 }, (_, i) => now - 1000 + i),
    inputs: { x_0: Array.from({ length: 60 }, () => 5.8 + r.normal(0, 0.8)), x_1: Array.from({ length: 60 }, () => 3.0 + r.normal(0, 0.4)) },
  });
  mkdirSync(join(d.home, 'capture', 'iris'), { recursive: true });
  writeFileSync(join(d.home, 'capture', 'iris', 'notes.txt'), 'ignored');
});

describe('mlserve drift', () => {
  it('prints a table within 80 columns that flags the shifted feature and not the unshifted one', async () => {
    const res = await d.cli(['drift', 'iris', '--reference', join(dir, 'train.csv'), '--target', 'label']);
    expect(res.exitCode, res.stderr).toBe(0);
    for (const line of res.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(res.stdout).toMatch(/^sepal_length\s+ks\s+\S+\s+YES/m);
    expect(res.stdout).toMatch(/^sepal_width\s+ks\s+\S+\s+no/m);
    expect(res.stdout).toMatch(/^species\s+chi2\s+\S+\s+YES/m);
    expect(res.stdout).toMatch(/^label \(pred\)/m);
    expect(res.stdout).toContain('rows: 150 captured, 400 in the reference');
    expect(res.stdout).toContain('reference columns not captured: unused, quoted');
    expect(res.stdout).toContain('prediction output.score: mean');
    console.log(res.stdout);
  });

  it('--json gives every figure; Parquet and CSV references give the same ones', async () => {
    const a = await d.cli(['drift', 'iris', '--reference', join(dir, 'train.csv'), '--json']);
    const b = await d.cli(['drift', 'iris', '--reference', join(dir, 'train.parquet'), '--json']);
    expect(a.exitCode, a.stdout + a.stderr).toBe(0);
    expect(b.exitCode, b.stdout + b.stderr).toBe(0);
    const f = (j: any, name: string) => j.features.find((x: any) => x.feature === name);
    expect(f(a.json, 'sepal_width').missing.current).toBeCloseTo(2 / 150, 10);
    expect(f(a.json, 'sepal_length').decision.drifted).toBe(true);
    expect(f(a.json, 'sepal_length').outOfRange).toBeGreaterThanOrEqual(0);
    for (const name of ['sepal_length', 'sepal_width', 'species']) {
      expect(f(b.json, name).decision.score).toBeCloseTo(f(a.json, name).decision.score, 12);
      expect(f(b.json, name).psi).toBeCloseTo(f(a.json, name).psi, 12);
    }
    expect(a.json.rows).toEqual({ reference: N_REF, current: 150 });
  });

  it('pairs reference columns with a captured tensor by position and says so', async () => {
    const res = await d.cli(['drift', 'tensor', '--reference', join(dir, 'train.parquet'), '--json']);
    expect(res.exitCode, res.stdout).toBe(0);
    expect(res.json.matching.mode).toBe('position');
    expect(res.json.features.map((x: any) => [x.feature, x.column])).toEqual([['sepal_length', 'input.x_0'], ['sepal_width', 'input.x_1']]);
    expect(res.json.features.every((x: any) => x.decision.drifted === false)).toBe(true);
    expect(res.json.matching.notes[0]).toContain('paired by position');
  });

  it('writes an HTML report with one drawn chart per feature, rendered by headless Chromium', async () => {
    const html = join(dir, 'report.html');
    const res = await d.cli(['drift', 'iris', '--reference', join(dir, 'train.csv'), '--target', 'label', '--html', html]);
    expect(res.exitCode, res.stderr).toBe(0);
    const text = readFileSync(html, 'utf8');
    // Markup checks (no browser): self-contained, a chart per feature with non-empty bars.
    expect(text).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const sections = [...text.matchAll(/<section class="feature[^"]*" data-feature="([^"]+)">([^]*?)<\/section>/g)];
    expect(sections.map((s) => s[1])).toEqual(['sepal_length', 'sepal_width', 'species', 'label']);
    for (const [, name, body] of sections) {
      const heights = [...body!.matchAll(/<rect class="bar (reference|current)"[^>]* height="([\d.]+)"/g)].map((m) => [m[1], Number(m[2])] as const);
      expect(heights.filter(([w, h]) => w === 'reference' && h > 0).length, name).toBeGreaterThan(0);
      expect(heights.filter(([w, h]) => w === 'current' && h > 0).length, name).toBeGreaterThan(0);
    }
    expect(text).toContain('1 of 4'.replace('1', String(text.match(/<b>(\d+) of 4<\/b>/)?.[1] ?? 'x')));
    if (!CHROMIUM) {
      console.warn('drift: HTML rendering not checked in a browser (no chromium)');
      return;
    }
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      await page.goto(`file://${html}`);
      const charts = await page.$$eval('section.feature', (secs) =>
        secs.map((s) => ({
          name: s.getAttribute('data-feature'),
          bars: [...s.querySelectorAll('svg.chart rect.bar')].map((b) => b.getBoundingClientRect()).filter((b) => b.width > 0 && b.height > 0).length,
          svg: (() => {
            const r = s.querySelector('svg.chart')!.getBoundingClientRect();
            return r.width * r.height;
          })(),
        })),
      );
      expect(charts).toHaveLength(4);
      for (const c of charts) {
        expect(c.bars, c.name!).toBeGreaterThan(2);
        expect(c.svg, c.name!).toBeGreaterThan(10_000);
      }
      expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'drift-report.png'), fullPage: true });
      if (process.env.MLSERVE_UPDATE_DOCS === '1') await page.screenshot({ path: join(REPO, 'docs', 'drift-report.png'), fullPage: false });
    } finally {
      await browser.close();
    }
  });

  it.each([
    [['drift', 'iris', '--reference', '/nonexistent/train.csv'], 2, /--reference \/nonexistent\/train\.csv: no such file/],
    [['drift', 'iris', '--reference', 'NOHEADER'], 2, /is not a header/],
    [['drift', 'iris', '--reference', 'CORRUPT'], 2, /is not a readable Parquet file/],
    [['drift', 'iris', '--reference', 'TRAIN', '--window', '1y'], 2, /--window 1y is not a duration/],
    [['drift', 'Bad_Name', '--reference', 'TRAIN'], 2, /endpoint name 'Bad_Name' is not valid/],
    [['drift', 'nocapture', '--reference', 'TRAIN'], 1, /turn capture on with mlserve capture on nocapture/],
    [['drift', 'iris', '--reference', 'TRAIN', '--deployment', 'other'], 1, /no captured requests of iris in the last 1h/],
    [['drift', 'iris'], 2, /drift needs --reference, the training data/],
  ])('refuses %j (exit %d)', async (argv, exit, message) => {
    const files: Record<string, string> = { NOHEADER: 'noheader.csv', CORRUPT: 'corrupt.parquet', TRAIN: 'train.csv' };
    const args = argv.map((a) => (files[a] ? join(dir, files[a]!) : a));
    const res = await d.cli(args);
    expect(res.exitCode, res.stdout + res.stderr).toBe(exit);
    expect(res.stderr).toMatch(message);
    const json = await d.cli([...args, '--json']);
    expect(json.exitCode).toBe(exit);
    expect(JSON.parse(json.stdout.trim().split('\n').pop()!).error).toMatch(message);
  });
});
