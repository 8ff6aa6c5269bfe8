// A registry that streams more than it lists (or lists no size and streams without end) cannot
// fill the disk: each download stops the moment it passes its listed size, or the cap
// MLSERVE_MAX_ARTIFACT_BYTES, with an error that names the file and the limit; nothing is left
// half-cached; a listing bigger than the disk's free space is refused before any byte is fetched.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMlflowServer, type MlflowTestServer } from '../mlflow-server/server.js';
import { TestDaemon } from '../helpers/daemon.js';
import { SHARED_FIXTURES } from '../helpers/fixtures.js';
import { until } from '../helpers/wait.js';

const RUN_V1 = 'd529411c2bed44fd9b44e1cd867ac47a';
const modelDir = join(SHARED_FIXTURES, 'server-artifacts', '0', RUN_V1, 'artifacts', 'model');
/** What one read of the HTTP body may bring past the limit (undici hands over socket reads of up to 64 KiB). */
const ONE_CHUNK = 64 * 1024;

let server: MlflowTestServer;
let d: TestDaemon;
let env: Record<string, string>;

/** Bytes the daemon process has passed to write() so far (files, sockets, logs): /proc/<pid>/io wchar. */
const daemonWrites = () => Number(/wchar:\s*(\d+)/.exec(readFileSync(`/proc/${d.pid}/io`, 'utf8'))![1]);
const partials = () => (existsSync(join(d.home, 'cache')) ? readdirSync(join(d.home, 'cache')).filter((f) => f.startsWith('.tmp-')) : []);
const cachedKeys = async () => (await d.cli(['cache', 'ls', '--json'])).json.entries.map((e: { key: string }) => e.key);

/** Deploy a fresh copy of the fixture model with the knobs set; returns what the attack cost. */
async function attack(name: string, extraEnv: Record<string, string> = {}) {
  const mv = server.state.addModelVersion({ name, shape: '2.x', copyFrom: modelDir });
  const writesBefore = daemonWrites();
  const started = Date.now();
  // The CLI timeout only bounds a broken build of this test; a fixed mlserve answers in well under a second.
  const r = await d.cli(['deploy', `models:/${name}/${mv.version}`, '--endpoint', name.toLowerCase()], { env: { ...env, ...extraEnv }, timeout: 30_000 });
  const ms = Date.now() - started;
  await until(async () => server.knobs.endless.open, (open) => open === 0, 5000, 20);
  return { r, ms, written: daemonWrites() - writesBefore, sentPastEnd: server.knobs.endless.bytesPastEnd };
}

beforeAll(async () => {
  server = await startMlflowServer();
  env = { MLFLOW_TRACKING_URI: server.url, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.01', MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: '0' };
  d = new TestDaemon();
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
  await server.close();
});
afterEach(() => server.knobs.reset());

describe('downloads bounded by the listing', () => {
  it('stops a file the moment the server streams past its listed size', async () => {
    server.knobs.endlessDownloads = true;
    const { r, ms, written, sentPastEnd } = await attack('Endless');
    expect(r.exitCode, r.stderr).toBe(1);
    const m = /artifact (\S+): the server's listing gives ([\d,]+) bytes but it sent more; mlserve stopped the download at (?:[\d.]+ KiB \()?([\d,]+) bytes\)? received/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [file, listed, received] = [m![1], Number(m![2].replace(/,/g, '')), Number(m![3].replace(/,/g, ''))];
    expect(file).toBe('MLmodel'); // the first file of the listing
    expect(listed).toBe(786);
    expect(received).toBeGreaterThan(listed);
    expect(received).toBeLessThanOrEqual(listed + ONE_CHUNK);
    // What the daemon wrote (the partial file, the event, its log and socket answers) stays tiny,
    // and the server saw the connection closed after a few socket buffers, not gigabytes.
    expect(written).toBeLessThan(256 * 1024);
    expect(sentPastEnd).toBeLessThan(64 * 1024 ** 2);
    expect(ms).toBeLessThan(20_000);
    console.log(`endless stream past the listing: ${received} bytes received (listed ${listed}), daemon wrote ${written} bytes, server sent ${sentPastEnd} bytes past the end, ${ms} ms\n${r.stderr}`);
    expect(partials()).toEqual([]);
    expect((await cachedKeys()).some((k: string) => k.includes('/Endless/'))).toBe(false);
  });

  it('stops a file without a listed size at MLSERVE_MAX_ARTIFACT_BYTES, naming the cap and the variable', async () => {
    server.knobs.endlessDownloads = true;
    server.knobs.listingSizes = 'omit';
    const cap = 1024 ** 2;
    const { r, written, sentPastEnd } = await attack('Unlisted', { MLSERVE_MAX_ARTIFACT_BYTES: '1M' });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/artifact MLmodel: the server's listing gives no size, and the download passed the 1 MiB \(1,048,576 bytes\) that MLSERVE_MAX_ARTIFACT_BYTES allows for one model/);
    const received = Number(/stopped it at [\d.]+ MiB \(([\d,]+) bytes\) received/.exec(r.stderr)![1].replace(/,/g, ''));
    expect(received).toBeGreaterThan(cap);
    expect(received).toBeLessThanOrEqual(cap + ONE_CHUNK);
    expect(written).toBeLessThan(cap + 256 * 1024);
    expect(sentPastEnd).toBeLessThan(64 * 1024 ** 2);
    console.log(`endless stream without a listed size, cap 1 MiB: ${received} bytes received, daemon wrote ${written} bytes, server sent ${sentPastEnd} bytes past the end\n${r.stderr}`);
    expect(partials()).toEqual([]);
    // Without the attack, the same unlisted files download within the cap.
    server.knobs.endlessDownloads = false;
    const ok = await d.cli(['deploy', 'models:/Unlisted/1', '--endpoint', 'unlisted', '--json'], { env: { ...env, MLSERVE_MAX_ARTIFACT_BYTES: '1M' } });
    expect(ok.exitCode, ok.stderr).toBe(0);
  });

  it('refuses before downloading when the listing is over the cap or the disk has no room for it', async () => {
    server.knobs.listingSizes = 2 * 1024 ** 3;
    const before = server.requests.length;
    const over = await attack('Huge', { MLSERVE_MAX_ARTIFACT_BYTES: '4G' });
    expect(over.r.exitCode).toBe(1);
    expect(over.r.stderr).toMatch(/the model's files add up to \d+ GiB \([\d,]+ bytes\) by the server's listing, more than the 4 GiB \(4,294,967,296 bytes\) that MLSERVE_MAX_ARTIFACT_BYTES allows/);

    server.knobs.listingSizes = 100 * 1024 ** 4; // 100 TiB per file: no test machine has that free
    const full = await attack('Petabyte', { MLSERVE_MAX_ARTIFACT_BYTES: '4096T' });
    expect(full.r.exitCode).toBe(1);
    expect(full.r.stderr).toMatch(new RegExp(`not enough free disk space in the model cache ${join(d.home, 'cache')}: the model needs [\\d.]+ [TP]iB .* and .* is free`));
    // Listings only: no file was requested.
    const downloads = server.requests.slice(before).filter((q) => /\/mlflow-artifacts\/artifacts\/./.test(q.path));
    expect(downloads).toEqual([]);
    console.log(`${over.r.stderr}${full.r.stderr}`);
    expect(partials()).toEqual([]);
  });
});
