// mlserve quickstart end to end: it registers the iris demo, starts a daemon, deploys it and its
// three sample flowers come back as the three species, by name.
import { afterAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';

const d = new TestDaemon();
afterAll(async () => {
  await d.cleanup();
});

describe('mlserve quickstart', () => {
  it('predicts setosa, versicolor and virginica for the three sample flowers and prints their names', async () => {
    const r = await d.cli(['quickstart', '--port', '0']);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('  ['));
    expect(lines.map((l) => /-> (\w+) \(p=/.exec(l)?.[1])).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(r.stdout).toMatch(/\[5\.1, 3\.5, 1\.4, 0\.2\] -> setosa \(p=0\.\d{3}; setosa 0\.\d{3}, versicolor 0\.\d{3}, virginica 0\.\d{3}\)/);
    // Again, as JSON: the daemon and the registered model are reused.
    const j = await d.cli(['quickstart', '--json']);
    expect(j.exitCode, j.stderr).toBe(0);
    expect(j.json.predictions.map((p: { class: number; species: string }) => [p.class, p.species])).toEqual([[0, 'setosa'], [1, 'versicolor'], [2, 'virginica']]);
    // The curl it prints works as written.
    const curl = j.json.curl as string;
    const body = JSON.parse(/-d '(.*)'$/.exec(curl)![1]);
    d.url = new URL(j.json.url).origin;
    const res = await d.http('POST', '/v2/models/demo/infer', body);
    expect(res.status).toBe(200);
    expect(res.json.outputs.find((o: { name: string }) => o.name === 'label').data).toEqual([0]);
  });
});
