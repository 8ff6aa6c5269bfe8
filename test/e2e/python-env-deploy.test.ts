// --env-manager through the daemon: a virtualenv built from the model's own requirements (pip from
// PyPI) serves it; a second deploy and a daemon restart reuse it with the package index made
// unreachable; auto picks the local Python when it has what the model needs.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { pythonDaemon, type PythonModels } from '../helpers/python.js';

let d: TestDaemon;
let fx: PythonModels;
let python: string;
const OFFLINE = { PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_NO_CACHE_DIR: '1', UV_INDEX_URL: 'http://127.0.0.1:9/simple' };

beforeAll(async () => {
  ({ d, fx, python } = await pythonDaemon());
}, 600_000);
afterAll(async () => {
  await d?.cleanup();
});

const ask = (endpoint: string) => d.http('POST', `/${endpoint}/invocations`, fx.models.echo_text.invocations[0].body, { 'content-type': 'application/json' });

describe('--env-manager', () => {
  it('auto: the local Python has what the model needs, so it is used', async () => {
    const r = await d.deploy('models:/echo_text/1', ['--endpoint', 'auto']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.settings).toMatchObject({ envManager: 'local', python });
  });

  it('virtualenv: builds an environment from the model\'s requirements, which serves it', async () => {
    const r = await d.deploy('models:/echo_text/1', ['--endpoint', 'venv', '--env-manager', 'virtualenv', '--timeout', '600'], {});
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.settings.envManager).toBe('virtualenv');
    expect(r.json.settings.python.startsWith(`${d.home}/envs/`)).toBe(true);
    expect(existsSync(r.json.settings.python)).toBe(true);
    const res = await ask('venv');
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toEqual(JSON.parse(fx.models.echo_text.invocations[0].response));
    const ev = (await d.cli(['events', 'venv', '--json'])).json.map((e: any) => e.kind);
    expect(ev).toContain('env-built');
  }, 600_000);

  it('a daemon restart and a second deploy reuse it with the package index unreachable', async () => {
    const first = (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'venv-v1').settings.python;
    expect((await d.cli(['daemon', 'stop'])).exitCode).toBe(0);
    d.env = { ...d.env, ...OFFLINE };
    await d.start();
    const again = await d.cli(['status', '--json']);
    expect(again.json.deployments.find((x: any) => x.name === 'venv-v1').settings.python).toBe(first);
    const t0 = Date.now();
    const r = await d.deploy('models:/echo_text/1', ['--endpoint', 'venv2', '--env-manager', 'virtualenv'], OFFLINE);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.settings.python).toBe(first);
    expect(Date.now() - t0).toBeLessThan(60_000);
    for (const ep of ['venv', 'venv2']) {
      const res = await ask(ep);
      expect(res.status, `${ep}: ${res.text}`).toBe(200);
    }
    const built = (await d.cli(['events', '--json', '-n', '500'])).json.filter((e: any) => e.kind === 'env-built');
    expect(built).toHaveLength(1);
  }, 300_000);
});
