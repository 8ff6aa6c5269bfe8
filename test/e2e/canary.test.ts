// Traffic between versions with real daemons, while mlserve bench drives load: canary set,
// promote, rollback and blue-green --replace each complete with zero failed requests; sticky keys
// keep their version; responses say which version served them.
import { served, until, untilServed } from '../helpers/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlp } from '../../src/models/zoo.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';

let d: TestDaemon;
const models = [1, 2, 3, 4].map((seed) => writeOnnx(mlp({ seed, sizes: [8, 16, 2] }), `m${seed}`));
const body = { inputs: [{ name: 'x', shape: [1, 8], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] };
const cli = (args: string[]) => d.cli(args);
// Long enough that the switch happens while it runs, even when a loaded machine takes seconds to start the CLI.
const load = (seconds = 5) => d.cli(['bench', 'ep', '-c', '4', '-d', `${seconds}s`, '--warmup', '0s', '--json']);
const endpoint = async () => (await d.cli(['status', '--json'])).json.endpoints.find((e: any) => e.name === 'ep');
const noErrors = (r: { exitCode: number; json: any; stderr: string }) => {
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.json.requests).toBeGreaterThan(50);
  expect(r.json.errors, JSON.stringify(r.json.errors)).toMatchObject({ total: 0 });
};

beforeAll(async () => {
  d = new TestDaemon();
  await d.start();
  expect((await d.deploy(models[0], ['--endpoint', 'ep', '--name', 'ep-a'])).exitCode).toBe(0);
});
afterAll(async () => {
  await d.cleanup();
});

describe('canary', () => {
  it('starts dark, takes its weight, promotes with zero failed requests', async () => {
    const c = await d.deploy(models[1], ['--endpoint', 'ep', '--name', 'ep-b', '--canary', '0']);
    expect(c.exitCode, c.stderr).toBe(0);
    expect(await endpoint()).toMatchObject({ primary: 'ep-a', canary: 'ep-b', canaryWeight: 0 });
    const bench = load(12);
    await untilServed(cli, 'ep-a');
    expect((await d.cli(['canary', 'set', '50%'])).exitCode).toBe(0);
    await untilServed(cli, 'ep-b');
    const st = await until(() => d.cli(['canary', 'status', '--json']), (x) => x.json[0].versions.every((v: any) => v.requests > 0));
    const byRole = Object.fromEntries(st.json[0].versions.map((v: any) => [v.role, v]));
    expect(byRole.canary.requests).toBeGreaterThan(0);
    expect(byRole.primary.requests).toBeGreaterThan(0);
    expect(byRole.canary.rps).toBeGreaterThan(0);
    expect(byRole.canary.p99Ms).toBeGreaterThan(0);
    const p = await d.cli(['canary', 'promote']);
    expect(p.exitCode, p.stderr).toBe(0);
    noErrors(await bench);
    expect(await endpoint()).toMatchObject({ primary: 'ep-b', canary: null });
    const res = await d.http('POST', '/v2/models/ep/infer', body);
    expect(res.headers['x-mlserve-deployment']).toBe('ep-b');
    const ev = await d.cli(['events', 'ep', '--json']);
    expect(ev.json.map((e: any) => e.kind)).toEqual(expect.arrayContaining(['canary-started', 'canary-weight', 'canary-promoted']));
  });

  it('keeps sticky keys on one version, and rolls back with zero failed requests', async () => {
    expect((await d.deploy(models[2], ['--endpoint', 'ep', '--name', 'ep-c', '--canary', '30%'])).exitCode).toBe(0);
    await until(() => d.http('POST', '/v2/models/ep/infer', body, { 'x-mlserve-route-key': 'probe' }), () => true);
    await until(endpoint, (e) => e.canary === 'ep-c');
    await until(async () => (await d.cli(['status', '--json'])).json.deployments.find((x: any) => x.name === 'ep-c').state, (st) => st === 'ready');
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    /** Which version each key reaches, asked `times` times per key. */
    const route = async (times: number) => {
      const seen = new Map<string, Set<string>>();
      for (let i = 0; i < times; i++) {
        for (const key of keys) {
          const r = await d.http('POST', '/v2/models/ep/infer', body, { 'x-mlserve-route-key': key });
          expect(r.status).toBe(200);
          seen.set(key, (seen.get(key) ?? new Set<string>()).add(String(r.headers['x-mlserve-deployment'])));
        }
      }
      for (const [key, s] of seen) expect(s.size, `key ${key} reached ${[...s].join(' and ')}`).toBe(1);
      return new Map([...seen].map(([k, s]) => [k, [...s][0]]));
    };
    const at30 = await route(4);
    const toCanary30 = keys.filter((k) => at30.get(k) === 'ep-c');
    // Keys reach both versions (60 keys at 30%: about 18 to the canary), each always the same one.
    expect(toCanary30.length).toBeGreaterThan(5);
    expect(toCanary30.length).toBeLessThan(40);
    // Raising the weight moves keys only towards the canary: every canary key stays there.
    expect((await d.cli(['canary', 'set', '70%'])).exitCode).toBe(0);
    const at70 = await route(2);
    for (const k of toCanary30) expect(at70.get(k), `key ${k} left the canary when its weight rose`).toBe('ep-c');
    expect(keys.filter((k) => at70.get(k) === 'ep-c').length).toBeGreaterThan(toCanary30.length);
    const base = await served(cli, 'ep-b');
    const bench = load(8);
    await untilServed(cli, 'ep-b', base + 20);
    expect((await d.cli(['canary', 'rollback'])).exitCode).toBe(0);
    noErrors(await bench);
    expect(await endpoint()).toMatchObject({ primary: 'ep-b', canary: null });
  });

  it('blue-green --replace switches all traffic once ready, with zero failed requests', async () => {
    const base = await served(cli, 'ep-b');
    const bench = load(8);
    await untilServed(cli, 'ep-b', base + 20);
    const r = await d.deploy(models[3], ['--endpoint', 'ep', '--name', 'ep-d', '--replace']);
    expect(r.exitCode, r.stderr).toBe(0);
    const ep = await until(endpoint, (e) => e.primary === 'ep-d');
    expect(ep.primary).toBe('ep-d');
    noErrors(await bench);
    const st = await d.cli(['status', '--json']);
    expect(st.json.deployments.map((x: any) => x.name)).toEqual(['ep-d']);
    const res = await d.http('POST', '/v2/models/ep/infer', body);
    expect(res.json.model_version).toBe('1');
    expect(res.headers['x-mlserve-deployment']).toBe('ep-d');
  });

  it('mirrors shadow traffic to the canary, never answers with it, and counts differing outputs', async () => {
    expect((await d.deploy(models[0], ['--endpoint', 'ep', '--name', 'ep-shadow', '--canary', '0'])).exitCode).toBe(0);
    expect((await d.cli(['canary', 'shadow', '100%'])).exitCode).toBe(0);
    for (let i = 0; i < 20; i++) {
      const r = await d.http('POST', '/v2/models/ep/infer', body);
      expect(r.headers['x-mlserve-deployment']).toBe('ep-d');
    }
    const st = await until(() => d.cli(['canary', 'status', '--json']), (x) => x.json[0].shadow.mirrored >= 20);
    const shadow = st.json[0].shadow;
    expect(shadow).toMatchObject({ weight: 100, mirrored: 20, errors: 0, differing: 20 });
    expect(shadow.maxAbsDiff.y).toBeGreaterThan(0);
    expect((await d.cli(['canary', 'rollback'])).exitCode).toBe(0);
  });

  it('says what to do when the endpoint is taken or has no canary', async () => {
    const taken = await d.cli(['deploy', models[0], '--endpoint', 'ep']);
    expect(taken.stderr).toMatch(/--replace .*--canary .*mlserve undeploy ep/);
    const none = await d.cli(['canary', 'promote']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/no endpoint has a canary/);
  });
});
