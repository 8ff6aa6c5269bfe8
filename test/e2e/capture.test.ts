// Payload capture end to end: a real daemon records sampled requests to Parquet files that pandas
// (pyarrow) reads back with every request, the right columns and types; settings survive a daemon
// restart; bad settings are refused; a capture folder that cannot be written drops records with a
// counter and an event while every request is still answered; a Python model's /invocations body is
// captured column by column, without the dropped inputs.
import { execa } from 'execa';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { irisModel } from '../../src/models/iris-model.js';
import { TestDaemon } from '../helpers/daemon.js';
import { writeOnnx } from '../helpers/models.js';
import { pythonDaemon, pythonEnv } from '../helpers/python.js';

const READ = `
import glob, json, sys
import pandas as pd
files = sorted(glob.glob(sys.argv[1] + "/capture-*.parquet"))
df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
print(json.dumps({"files": len(files), "rows": len(df), "columns": list(df.columns),
  "dtypes": {c: str(t) for c, t in df.dtypes.items()}, "ids": sorted(set(df["request_id"])),
  "records": json.loads(df.drop(columns=["timestamp"]).to_json(orient="records"))}))
`;

async function readCapture(python: string, dir: string) {
  const r = await execa(python, ['-c', READ, dir]);
  return JSON.parse(r.stdout) as { files: number; rows: number; columns: string[]; dtypes: Record<string, string>; ids: string[]; records: Array<Record<string, unknown>> };
}

async function written(d: TestDaemon, endpoint: string, n: number) {
  await expect.poll(async () => (await d.cli(['capture', 'status', '--json'])).json.capture.find((c: any) => c.endpoint === endpoint)?.written, { timeout: 20_000, interval: 300 }).toBe(n);
}

describe('payload capture (ONNX model)', () => {
  let d: TestDaemon;
  let python: string;
  beforeAll(async () => {
    python = await pythonEnv('pyfunc');
    d = await new TestDaemon().start();
    const r = await d.deploy(writeOnnx(irisModel(), 'iris'), ['--endpoint', 'iris']);
    expect(r.exitCode, r.stderr).toBe(0);
  }, 600_000);
  afterAll(() => d?.cleanup());

  it('refuses bad settings, saying what was wrong', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['capture', 'on', 'iris', '--sample', '250%'], 2, /percentage from 0.01% to 100%/],
      [['capture', 'on', 'iris', '--sample', '5%', '--max-bytes', '10kb'], 2, /below 1 MiB/],
      [['capture', 'on', 'iris', '--sample', '5%', '--url', 'http://u:pw@sink/'], 2, /must not hold a user or password/],
      [['capture', 'on', 'iris', '--sample', '5%', '--no-files'], 2, /--no-files needs --url/],
      [['capture', 'on', 'nope', '--sample', '5%'], 1, /no endpoint named 'nope' \(endpoints: iris\)/],
      [['capture', 'off', 'iris'], 1, /payload capture is not on for 'iris'/],
      [['capture', 'on', 'iris'], 2, /sample/],
    ];
    for (const [args, code, re] of cases) {
      const r = await d.cli([...args, '--json']);
      expect(r.exitCode, args.join(' ')).toBe(code);
      expect(r.json.error, args.join(' ')).toMatch(re);
    }
    expect((await d.cli(['capture', 'status', '--json'])).json.capture).toEqual([]);
  });

  it('records every sampled request; pandas reads the files with one row per input row and typed columns', async () => {
    const on = await d.cli(['capture', 'on', 'iris', '--sample', '100%', '--json']);
    expect(on.exitCode, on.stderr).toBe(0);
    const ids: string[] = [];
    let rows = 0;
    for (let i = 0; i < 40; i++) {
      const n = 1 + (i % 3);
      const data = Array.from({ length: n * 4 }, (_, j) => 4 + ((i + j) % 30) / 10);
      const res = await d.http('POST', '/v2/models/iris/infer', { id: `q${i}`, inputs: [{ name: 'x', shape: [n, 4], datatype: 'FP32', data }] });
      expect(res.status, res.text).toBe(200);
      ids.push(`q${i}`);
      rows += n;
    }
    for (let i = 0; i < 5; i++) expect((await d.http('POST', '/iris/invocations', { inputs: [[5.1, 3.5, 1.4, 0.2]] })).status).toBe(200);
    await written(d, 'iris', 45);
    const got = await readCapture(python, join(d.home, 'capture', 'iris'));
    expect(got.rows).toBe(rows + 5);
    for (const id of ids) expect(got.ids).toContain(id);
    expect(got.ids).toHaveLength(45); // the 5 /invocations got ids of their own
    expect(got.dtypes).toMatchObject({
      timestamp: 'datetime64[ms, UTC]', row: 'int32', latency_ms: 'float64',
      'input.x_0': 'float32', 'input.x_3': 'float32', 'output.y_0': 'float32', 'output.y_2': 'float32', 'output.label': 'float64',
    });
    expect(['str', 'object', 'string']).toContain(got.dtypes.request_id);
    const q2 = got.records.filter((r) => r.request_id === 'q2');
    expect(q2.map((r) => r.row)).toEqual([0, 1, 2]);
    expect(q2[0]).toMatchObject({ endpoint: 'iris', deployment: 'iris-v1', model_version: '1' });
    expect(q2[0]!['input.x_0']).toBeCloseTo(4.2, 5);
    expect([0, 1, 2]).toContain(q2[0]!['output.label']);
  });

  it('keeps capturing after a daemon restart (the settings are desired state)', async () => {
    await d.stop();
    await d.start();
    await expect.poll(async () => (await d.http('POST', '/v2/models/iris/infer', { id: 'after-restart', inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [6, 3, 5, 2] }] })).status, { timeout: 30_000 }).toBe(200);
    await written(d, 'iris', 1); // counters start again with the daemon
    expect((await readCapture(python, join(d.home, 'capture', 'iris'))).ids).toContain('after-restart');
  });

  it('a capture folder that cannot be written: requests are still answered, drops are counted and told', async () => {
    const dir = join(d.home, 'capture', 'iris');
    rmSync(dir, { recursive: true });
    writeFileSync(dir, 'in the way');
    for (let i = 0; i < 10; i++) expect((await d.http('POST', '/v2/models/iris/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [6, 3, 5, 2] }] })).status).toBe(200);
    await expect.poll(async () => (await d.cli(['capture', 'status', '--json'])).json.capture[0].dropped['write-error'], { timeout: 20_000 }).toBe(10);
    const events = await d.cli(['events', '--json']);
    expect(JSON.stringify(events.json)).toMatch(/payload capture dropped 10 record\(s\) \(write-error\)/);
    const metrics = await d.http('GET', '/metrics');
    expect(metrics.text).toMatch(/mlserve_capture_dropped_total\{endpoint="iris",reason="write-error"\} 10/);
    rmSync(dir);
    const off = await d.cli(['capture', 'off', 'iris']);
    expect(off.exitCode, off.stderr).toBe(0);
    expect((await d.cli(['capture', 'status', '--json'])).json.capture).toEqual([]);
  });
});

describe('payload capture (Python model, /invocations)', () => {
  let d: TestDaemon;
  let python: string;
  beforeAll(async () => {
    ({ d, python } = await pythonDaemon());
    const r = await d.deploy('models:/iris_sklearn/1', ['--endpoint', 'iris', '--env-manager', 'local']);
    expect(r.exitCode, r.stderr).toBe(0);
  }, 900_000);
  afterAll(() => d?.cleanup());

  it('captures MLflow JSON column by column, without the dropped inputs', async () => {
    const on = await d.cli(['capture', 'on', 'iris', '--sample', '100%', '--drop-inputs', 'sepal_width']);
    expect(on.exitCode, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/never recorded: sepal_width/);
    const body = { dataframe_split: { columns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'], data: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] } };
    const res = await d.http('POST', '/iris/invocations', body);
    expect(res.status, res.text).toBe(200);
    await written(d, 'iris', 1);
    const got = await readCapture(python, join(d.home, 'capture', 'iris'));
    expect(got.rows).toBe(2);
    expect(got.columns).toEqual(expect.arrayContaining(['input.sepal_length', 'input.petal_length', 'input.petal_width', 'output.predictions']));
    expect(got.columns).not.toContain('input.sepal_width');
    expect(got.records.map((r) => r['input.petal_length'])).toEqual([1.4, 5.2]);
    expect(got.records.map((r) => r['output.predictions'])).toEqual(res.json.predictions);
    expect(readdirSync(join(d.home, 'capture', 'iris')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
