// Credentials never stored or shown: a tracking URI with user:password (sent as Basic auth, as
// MLflow's client does) deploys and tracks, but neither state.db nor status, events, logs or the
// KServe export hold the password; tracking credentials live in a 0600 file only, and a restarted
// daemon resumes tracking with them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMlflowServer, type MlflowTestServer } from '../mlflow-server/server.js';
import { TestDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/wait.js';

const SECRET = 'pa55-w0rd-Xq9';
let server: MlflowTestServer;
let d: TestDaemon;

beforeAll(async () => {
  server = await startMlflowServer();
  server.knobs.auth = { basic: { user: 'alice', pass: SECRET } };
  d = new TestDaemon();
  await d.start();
});
afterAll(async () => {
  await d.cleanup();
  await server.close();
});

/** Every byte of the daemon's home (SQLite files and WAL, logs, cache metadata), as text. */
function homeBytes(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out += homeBytes(p);
    else if (e.isFile() && !e.name.endsWith('.onnx')) out += readFileSync(p).toString('latin1');
  }
  return out;
}

describe('credentials in a tracking URI', () => {
  it('deploys and tracks with user:password in the URI; nothing stores or shows the password', async () => {
    const uri = server.url.replace('http://', `http://alice:${SECRET}@`);
    const r = await d.deploy('models:/ResNet50@champion', ['--endpoint', 'sec', '--track', '--track-interval', '1'], { MLFLOW_TRACKING_URI: uri });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(server.requests.some((q) => q.headers.authorization === `Basic ${Buffer.from(`alice:${SECRET}`).toString('base64')}`)).toBe(true);
    expect(r.json.resolved.registry).toBe(server.url);
    for (const args of [['status', '--json'], ['events', 'sec', '--json', '-n', '100'], ['config'], ['export', 'kserve'], ['logs', 'sec-v1']]) {
      const out = await d.cli(args);
      expect(out.stdout + out.stderr, args.join(' ')).not.toContain(SECRET);
    }
    const settings = (await d.cli(['status', '--json'])).json.deployments[0].settings;
    expect(settings.track.env).toEqual({ MLFLOW_TRACKING_URI: server.url });
    // The tracker polls with the credentials (no pause), from memory.
    await new Promise((res) => setTimeout(res, 2500));
    const kinds = (await d.cli(['events', 'sec', '--json', '-n', '100'])).json.map((e: any) => e.kind);
    expect(kinds).not.toContain('track-paused');
    // The one place they live: a file only the daemon's user reads.
    const file = join(d.home, 'credentials', 'sec.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(d.home, 'credentials')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ MLFLOW_TRACKING_USERNAME: 'alice', MLFLOW_TRACKING_PASSWORD: SECRET });
    const elsewhere = homeBytes(d.home).split(readFileSync(file).toString('latin1')).join('');
    expect(elsewhere).not.toContain(SECRET);
  });

  it('a restarted daemon resumes tracking with the stored credentials', async () => {
    expect((await d.cli(['daemon', 'stop'])).exitCode).toBe(0);
    const before = server.requests.length;
    await d.start();
    // Tracking polls the alias with Basic auth again, and does not pause.
    await until(async () => server.requests.slice(before).filter((q) => q.path.includes('registered-models/alias')).length, (n) => n >= 2, 15_000);
    const polls = server.requests.slice(before).filter((q) => q.path.includes('registered-models/alias'));
    expect(polls.length).toBeGreaterThanOrEqual(2);
    for (const q of polls) expect(q.headers.authorization).toBe(`Basic ${Buffer.from(`alice:${SECRET}`).toString('base64')}`);
    const kinds = (await d.cli(['events', 'sec', '--json', '-n', '100'])).json.map((e: any) => e.kind);
    expect(kinds).not.toContain('track-paused');
    expect(homeBytes(d.home).split(readFileSync(join(d.home, 'credentials', 'sec.json')).toString('latin1')).join('')).not.toContain(SECRET);
  });
});
