// /openapi.json and /docs on a daemon serving a plain model, an image pipeline and a text pipeline:
// the document validates against the OpenAPI 3.1 schema, its examples are answered 200, a fuzz run
// of Schemathesis (PyPI) against it finds no 5xx, and /docs (Swagger UI from the npm package, no
// CDN) lists every endpoint and runs "Try it out" in headless Chromium (Debian's, via playwright-core).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { irisModel } from '../../src/models/iris-model.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { makeTextModels, makeVisionModels, pythonEnv, REPO } from '../helpers/python.js';

const CHROMIUM = [process.env.MLSERVE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
if (!CHROMIUM) console.warn('openapi: the headless Chromium check of /docs is skipped: no chromium executable (apt-get install chromium, or set MLSERVE_CHROMIUM)');
const ARTIFACTS = join(REPO, 'test', 'artifacts');
const ENDPOINTS = ['demo', 'resnet', 'minilm'];

let d: TestDaemon;
let doc: any;

beforeAll(async () => {
  const [vision, text] = await Promise.all([makeVisionModels(), makeTextModels()]);
  d = new TestDaemon();
  await d.start();
  for (const [source, args] of [
    [writeOnnx(irisModel(), 'iris'), ['--endpoint', 'demo']],
    [vision.model_dir, ['--endpoint', 'resnet', '--pre', 'image:resize=256,crop=224', '--post', 'softmax', '--post', 'topk:k=3', '--post', 'labels:file=labels.txt']],
    [text.model_dir, ['--endpoint', 'minilm', '--pre', 'text', '--post', 'mean_pool', '--post', 'normalize']],
  ] as const) {
    const r = await d.deploy(source, [...args]);
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const res = await d.http('GET', '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.json;
}, 300_000);
afterAll(async () => {
  await d?.cleanup();
});

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document with every endpoint\'s routes', async () => {
    const v = new Validator();
    const result = await v.validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(v.version).toBe('3.1');
    for (const e of ENDPOINTS) {
      for (const p of [`/v2/models/${e}/infer`, `/v2/models/${e}`, `/${e}/invocations`]) expect(Object.keys(doc.paths), p).toContain(p);
    }
    expect(Object.keys(doc.paths)).toContain('/v2/models/resnet/predict');
    expect(Object.keys(doc.paths)).toContain('/v2/models/minilm/predict');
    expect(Object.keys(doc.paths)).not.toContain('/v2/models/demo/predict');
    expect(Object.keys(doc.paths['/v2/models/resnet/predict'].post.requestBody.content)).toEqual(expect.arrayContaining(['multipart/form-data', 'image/jpeg', 'application/json']));
    const infer = doc.paths['/v2/models/demo/infer'].post.requestBody.content['application/json'].schema;
    expect(infer.properties.inputs.items.properties.name).toEqual({ const: 'x' });
  });

  it('gives examples the server answers 200', async () => {
    for (const e of ENDPOINTS) {
      for (const [path, method] of [[`/v2/models/${e}/infer`, 'post'], [`/${e}/invocations`, 'post'], [`/v2/models/${e}/predict`, 'post']] as const) {
        const example = doc.paths[path]?.[method]?.requestBody.content['application/json']?.example;
        if (!example) continue;
        const r = await d.http('POST', path, example);
        expect(r.status, `${path}: ${r.text}`).toBe(200);
      }
    }
  });

  it('is fuzzed by Schemathesis with no 5xx answer', async () => {
    const python = await pythonEnv('schemathesis');
    const st = join(python, '..', 'schemathesis');
    const reports = join(d.home, 'schemathesis');
    const run = spawnSync(st, ['run', `${d.url}/openapi.json`, '--checks', 'not_a_server_error', '--max-examples', '20', '--seed', '7', '--request-timeout', '30', '--report', 'junit', '--report-dir', reports], {
      encoding: 'utf8', timeout: 240_000, cwd: d.home, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: '' }, // its cache goes in the daemon's temp home
    });
    const out = `${run.stdout}\n${run.stderr}`;
    expect(run.status, out.slice(-4000)).toBe(0);
    const junit = readFileSync(join(reports, readdirSync(reports).find((f) => f.endsWith('.xml'))!), 'utf8');
    expect(junit).toMatch(/<testsuite[^>]*failures="0"/);
    expect(Number(/(\d+) generated/.exec(out)?.[1] ?? 0), out.slice(-2000)).toBeGreaterThan(100);
    // The daemon took it all and still serves.
    expect((await d.http('GET', '/v2/health/ready')).status).toBe(200);
  }, 300_000);

  it('needs the token when the ingress has one (the docs page does not)', async () => {
    const t = new TestDaemon();
    try {
      const tokenFile = join(mkdtempSync(join(tmpdir(), 'mlserve-token-')), 'token');
      writeFileSync(tokenFile, 'sekret-token-123\n', { mode: 0o600 });
      await t.start(['--auth-token-file', tokenFile]);
      expect((await t.http('GET', '/openapi.json')).status).toBe(401);
      const ok = await t.http('GET', '/openapi.json', undefined, { authorization: 'Bearer sekret-token-123' });
      expect(ok.status).toBe(200);
      expect(ok.json.components.securitySchemes.bearer.scheme).toBe('bearer');
      expect((await t.http('GET', '/docs')).status).toBe(200); // the page itself carries no data
    } finally {
      await t.cleanup();
    }
  });
});

describe('/docs', () => {
  it('serves Swagger UI from the package with a strict CSP, and refuses other files', async () => {
    const page = await d.http('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(String(page.headers['content-security-policy'])).toMatch(/script-src 'self'/);
    expect(page.text).not.toMatch(/https?:\/\//);
    for (const f of ['swagger-ui.css', 'swagger-ui-bundle.js', 'init.js']) expect((await d.http('GET', `/docs/${f}`)).status, f).toBe(200);
    for (const f of ['package.json', '..%2Fpackage.json', 'index.html']) expect((await d.http('GET', `/docs/${f}`)).status, f).toBe(404);
    expect((await d.http('POST', '/docs', {})).status).toBe(405);
  });

  it.skipIf(!CHROMIUM)('lists every endpoint and runs "Try it out" on the demo endpoint in headless Chromium', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
      const external: string[] = [];
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('request', (q) => {
        if (!q.url().startsWith(d.url)) external.push(q.url());
      });
      await page.goto(`${d.url}/docs`);
      await page.waitForSelector('.opblock-tag-section', { timeout: 30_000 });
      const tags = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
      for (const e of ENDPOINTS) expect(tags).toContain(e);
      const op = page.locator('#operations-demo-infer_demo');
      await op.scrollIntoViewIfNeeded();
      await op.locator('button.opblock-summary-control').click();
      await op.locator('.opblock-body').waitFor({ timeout: 30_000 }).catch(async (err) => {
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'docs-failed.png'), fullPage: true });
        throw err;
      });
      await op.locator('button.try-out__btn').click();
      await op.locator('button.execute').click();
      const code = op.locator('.live-responses-table tbody .response-col_status').first();
      await code.waitFor({ timeout: 30_000 });
      expect((await code.innerText()).trim()).toBe('200');
      expect(await op.locator('.live-responses-table tbody .response-col_description').first().innerText()).toMatch(/"model_name": "demo"/);
      expect(external).toEqual([]);
      expect(errors).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'docs.png'), fullPage: false });
      if (process.env.MLSERVE_UPDATE_DOCS === '1') {
        await page.evaluate('window.scrollTo(0, 0)');
        await page.screenshot({ path: join(REPO, 'docs', 'api-docs.png'), fullPage: false });
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});
