// Payload capture's pure parts, table-driven: settings as typed, a request as rows (tensors and
// MLflow's JSON), retention, the Parquet column types and KServe's CloudEvents.
import { describe, expect, it } from 'vitest';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCaptureSettings, parseMaxAge, parseMaxBytes, parseSample } from '../../../src/daemon/capture/settings.js';
import { captureRows, mlflowAnswerRows, mlflowRequestRows, type CaptureRecord } from '../../../src/daemon/capture/rows.js';
import { filesToRemove } from '../../../src/daemon/capture/retention.js';
import { columnTypes, parquetBytes } from '../../../src/daemon/capture/parquet.js';
import { readParquetTable } from '../../../src/monitor/drift/reference.js';
import { cloudEvents, REQUEST_EVENT, RESPONSE_EVENT } from '../../../src/daemon/capture/cloudevents.js';
import { captureFileName, CAPTURE_FILE_RE, float32Decimal } from '../../../src/monitor/capture-schema.js';
import type { Tensor } from '../../../src/tensor.js';

describe('settings', () => {
  it.each([
    ['5%', 0.05], ['100%', 1], ['0.5%', 0.005], ['0.05', 0.05], ['1', 1], ['.5', 0.5], [' 10% ', 0.1],
  ])('--sample %s -> %s', (s, n) => expect(parseSample(s)).toBeCloseTo(n, 12));
  it.each(['0', '0%', '200%', '1.5', 'abc', '', '-5%', '5 %%'])('--sample %s is refused with the accepted forms', (s) => {
    expect(() => parseSample(s)).toThrow(/percentage from 0.01% to 100%/);
  });
  it.each([['1gb', 1024 ** 3], ['500mb', 500 * 1024 ** 2], ['2 GiB', 2 * 1024 ** 3], ['1048576', 1024 ** 2], ['1tb', 1024 ** 4]])('--max-bytes %s', (s, n) => {
    expect(parseMaxBytes(s)).toBe(n);
  });
  it.each([['10kb', /below 1 MiB/], ['lots', /not a size/], ['-1gb', /not a size/]])('--max-bytes %s refused', (s, re) => expect(() => parseMaxBytes(s)).toThrow(re));
  it.each([['7d', 604_800], ['12h', 43_200], ['90m', 5400], ['60s', 60]])('--max-age %s', (s, n) => expect(parseMaxAge(s)).toBe(n));
  it.each([['30s', /under a minute/], ['7', /not a duration/], ['1w', /not a duration/]])('--max-age %s refused', (s, re) => expect(() => parseMaxAge(s)).toThrow(re));
  it.each([
    [{}, /needs --sample/],
    [{ sample: '5%', url: 'ftp://x/y' }, /only http and https/],
    [{ sample: '5%', url: 'not a url' }, /is not a URL/],
    [{ sample: '5%', url: 'http://user:secret@sink:8080/' }, /must not hold a user or password/],
    [{ sample: '5%', files: false }, /--no-files needs --url/],
    [{ sample: '5%', sampel: '1' }, /unknown capture setting 'sampel'/],
  ])('%j is refused: %s', (body, re) => expect(() => parseCaptureSettings(body as Record<string, unknown>)).toThrow(re));
  it('defaults: files on, 1 GiB, 7 days, nothing dropped', () => {
    expect(parseCaptureSettings({ sample: '5%', dropInputs: 'a, b,,a' })).toEqual({
      sample: 0.05, files: true, url: null, maxBytes: 1024 ** 3, maxAgeS: 604_800, dropInputs: ['a', 'b'],
    });
  });
});

const t = (name: string, datatype: Tensor['datatype'], shape: number[], data: Tensor['data']): Tensor => ({ name, datatype, shape, data });
const rec = (inputs: CaptureRecord['inputs'], outputs: CaptureRecord['outputs']): CaptureRecord => ({
  endpoint: 'iris', deployment: 'iris-v2', version: '2', requestId: 'r1', ts: 1_700_000_000_000, latencyMs: 3.5, inputs, outputs,
});
const META = { timestamp: 1_700_000_000_000, request_id: 'r1', endpoint: 'iris', deployment: 'iris-v2', model_version: '2', latency_ms: 3.5 };

describe('a request as rows', () => {
  it.each([
    ['a [2,2] tensor: one row per row, <name>_j per value', rec([t('x', 'FP32', [2, 2], Float32Array.from([1, 2, 3, 4]))], [t('label', 'INT64', [2], BigInt64Array.from([0n, 2n]))]),
      [{ ...META, row: 0, 'input.x_0': 1, 'input.x_1': 2, 'output.label': 0 }, { ...META, row: 1, 'input.x_0': 3, 'input.x_1': 4, 'output.label': 2 }], []],
    ['columns (MLflow columnar): one tensor per feature, strings kept', rec([t('age', 'FP64', [1], Float64Array.from([41])), t('city', 'BYTES', [1], ['Oslo'])], [t('p', 'FP32', [1, 1], Float32Array.from([0.5]))]),
      [{ ...META, row: 0, 'input.age': 41, 'input.city': 'Oslo', 'output.p': 0.5 }], []],
    ['FP16 bits become numbers', rec([t('h', 'FP16', [1], Uint16Array.from([0x3c00]))], []), [{ ...META, row: 0, 'input.h': 1 }], []],
    ['an image-sized input is left out and named', rec([t('img', 'FP32', [1, 3, 224, 224], new Float32Array(3 * 224 * 224)), t('k', 'INT32', [1], Int32Array.from([7]))], []),
      [{ ...META, row: 0, 'input.k': 7 }], ['input img [1,3,224,224]']],
    ['an output that does not line up with the rows is left out', rec([t('x', 'FP32', [2], Float32Array.from([1, 2]))], [t('mean', 'FP32', [1], Float32Array.from([1.5]))]),
      [{ ...META, row: 0, 'input.x': 1 }, { ...META, row: 1, 'input.x': 2 }], ['output mean [1]']],
    ['MLflow dataframe_split in, predictions out', rec({ mlflowJson: '{"dataframe_split":{"columns":["a","b"],"data":[[1,"u"],[2,"v"]]}}' }, { mlflowJson: '{"predictions":[0,1]}' }),
      [{ ...META, row: 0, 'input.a': 1, 'input.b': 'u', 'output.predictions': 0 }, { ...META, row: 1, 'input.a': 2, 'input.b': 'v', 'output.predictions': 1 }], []],
    ['a body that is not JSON: meta only, said why', rec({ mlflowJson: 'nope' }, { mlflowJson: '{"predictions":[1]}' }),
      [{ ...META, row: 0, 'output.predictions': 1 }], ["the request body (not one of MLflow's JSON forms)"]],
  ] as [string, CaptureRecord, unknown[], string[]][])('%s', (_n, r, rows, skipped) => {
    const got = captureRows(r);
    expect({ rows: got.rows, skipped: got.skipped }).toEqual({ rows, skipped });
  });

  it('names the columns of FP32 and FP16 tensors, which are written as FLOAT', () => {
    const got = captureRows(rec([t('x', 'FP32', [1, 2], Float32Array.from([1, 2])), t('k', 'INT32', [1], Int32Array.from([1]))], [t('h', 'FP16', [1], Uint16Array.from([0x3c00]))]));
    expect(got.float32).toEqual(['input.x_0', 'input.x_1', 'output.h']);
  });

  it.each([[Math.fround(5.1), 5.1], [Math.fround(0.2), 0.2], [Math.fround(1 / 3), 0.33333334], [Math.fround(1e-8), 1e-8], [16777216, 16777216], [NaN, NaN]])(
    'a FLOAT value %s reads back as the shortest decimal that is the same float: %s', (f, want) => {
      expect(float32Decimal(f)).toBe(want);
      if (Number.isFinite(want)) expect(Math.fround(want)).toBe(f);
    });

  it('dropped inputs are never in the rows, tensors or columns', () => {
    const tensors = captureRows(rec([t('ssn', 'BYTES', [1], ['123']), t('x', 'FP32', [1], Float32Array.from([1]))], []), ['ssn']);
    expect(Object.keys(tensors.rows[0]!)).not.toContain('input.ssn');
    const json = captureRows(rec({ mlflowJson: '{"dataframe_records":[{"ssn":"123","x":1}]}' }, { mlflowJson: '[5]' }), ['ssn']);
    expect(json.rows[0]).toEqual({ ...META, row: 0, 'input.x': 1, 'output.predictions': 5 });
  });

  it.each([
    [{ dataframe_records: [{ a: 1, b: true }] }, [{ a: 1, b: 1 }]],
    [{ instances: [[1, 2]] }, [{ instances_0: 1, instances_1: 2 }]],
    [{ instances: [3, 4] }, [{ instances: 3 }, { instances: 4 }]],
    [{ inputs: { a: [1, 2], b: ['x', 'y'] } }, [{ a: 1, b: 'x' }, { a: 2, b: 'y' }]],
    [{ inputs: { a: [1, 2], b: ['x'] } }, null],
    [{ something: 1 }, null],
    [[1, 2], null],
  ])('MLflow request %j', (body, rows) => expect(mlflowRequestRows(body)).toEqual(rows));

  it.each([
    [{ predictions: [[0.1, 0.9]] }, [{ predictions_0: 0.1, predictions_1: 0.9 }]],
    [{ predictions: [{ label: 'cat', score: 0.8 }] }, [{ label: 'cat', score: 0.8 }]],
    [{ predictions: { y: [1, 2] } }, [{ y: 1 }, { y: 2 }]],
    [['a'], [{ predictions: 'a' }]],
  ])('MLflow answer %j', (body, rows) => expect(mlflowAnswerRows(body)).toEqual(rows));
});

describe('retention', () => {
  const H = 3_600_000;
  const now = 100 * H;
  const f = (name: string, mb: number, hoursAgo: number) => ({ name, bytes: mb * 1024 ** 2, ts: now - hoursAgo * H });
  it.each([
    ['under both limits: nothing', [f('a', 1, 3), f('b', 1, 2)], { maxBytes: 10 * 1024 ** 2, maxAgeS: 86_400 }, []],
    ['too old: removed', [f('a', 1, 30), f('b', 1, 2)], { maxBytes: 10 * 1024 ** 2, maxAgeS: 86_400 }, ['a']],
    ['over the size: oldest first until it fits', [f('c', 4, 1), f('a', 4, 3), f('b', 4, 2)], { maxBytes: 9 * 1024 ** 2, maxAgeS: 86_400 }, ['a']],
    ['the newest stays even when alone over the size', [f('a', 50, 2), f('b', 50, 1)], { maxBytes: 10 * 1024 ** 2, maxAgeS: 86_400 }, ['a']],
    ['everything too old: all go', [f('a', 1, 50), f('b', 1, 49)], { maxBytes: 10 * 1024 ** 2, maxAgeS: 86_400 }, ['a', 'b']],
    ['no files', [], { maxBytes: 1, maxAgeS: 60 }, []],
  ] as [string, ReturnType<typeof f>[], { maxBytes: number; maxAgeS: number }, string[]][])('%s', (_n, files, limits, removed) => {
    expect(filesToRemove(files, limits, now)).toEqual(removed);
  });
});

describe('files', () => {
  it('names sort by time and match the pattern', () => {
    const a = captureFileName(new Date(Date.UTC(2026, 11, 1, 9, 5, 7, 12)), 3);
    expect(a).toBe('capture-20261201T090507012-3.parquet');
    expect(CAPTURE_FILE_RE.test(a)).toBe(true);
    expect(a < captureFileName(new Date(Date.UTC(2026, 11, 1, 10, 0, 0, 0)), 0)).toBe(true);
  });

  it.each([
    ['numbers and nulls: DOUBLE', [{ a: 1 }, { a: null }], [['a', 'DOUBLE']]],
    ['any string: STRING', [{ a: 1 }, { a: 'x' }], [['a', 'STRING']]],
    ['first-seen order; meta columns are not features', [{ request_id: 'r', b: 1 }, { a: 'x', b: 2 }], [['b', 'DOUBLE'], ['a', 'STRING']]],
  ] as [string, Record<string, number | string | null>[], string[][]][])('column types: %s', (_n, rows, types) => {
    expect(columnTypes(rows)).toEqual(types);
  });

  it('a written file reads back with every row and column (hyparquet)', async () => {
    const rows = captureRows(rec([t('x', 'FP32', [2, 2], Float32Array.from([1, 2, 3, 4])), t('c', 'BYTES', [2], ['u', 'v'])], [t('y', 'FP64', [2], Float64Array.from([0.25, 0.75]))])).rows;
    const file = join(mkdtempSync(join(tmpdir(), 'cap-')), 'x.parquet');
    writeFileSync(file, parquetBytes(rows, { 'mlserve.endpoint': 'iris' }));
    const back = await parquetReadObjects({ file: await asyncBufferFromFile(file) });
    expect(back.map((r) => ({ ...r, timestamp: (r.timestamp as Date).getTime() }))).toEqual(rows);
  });

  it('FP32 columns are FLOAT in the file, and a drift reference reads them as the decimals sent', async () => {
    const r = captureRows(rec([t('x', 'FP32', [2], Float32Array.from([5.1, 0.2]))], []));
    const file = join(mkdtempSync(join(tmpdir(), 'cap-')), 'f.parquet');
    writeFileSync(file, parquetBytes(r.rows, {}, new Set(r.float32)));
    const table = await readParquetTable(file);
    expect(table.columns.find((c) => c.name === 'input.x')!.values).toEqual([5.1, 0.2]);
  });
});

describe('CloudEvents (KServe logger format)', () => {
  it('a request and a response event with the request id, dropped inputs left out', () => {
    const [req, res] = cloudEvents(rec([t('ssn', 'BYTES', [1], ['1']), t('x', 'INT64', [1], BigInt64Array.from([5n]))], [t('y', 'FP32', [1], Float32Array.from([0.5]))]), 'mlserve://iris', ['ssn']);
    expect(req.headers).toMatchObject({ 'ce-specversion': '1.0', 'ce-id': 'r1', 'ce-type': REQUEST_EVENT, 'ce-inferenceservicename': 'iris', 'ce-endpoint': 'iris-v2', 'content-type': 'application/json' });
    expect(res.headers['ce-type']).toBe(RESPONSE_EVENT);
    expect(JSON.parse(req.body)).toEqual({ id: 'r1', inputs: [{ name: 'x', datatype: 'INT64', shape: [1], data: [5] }] });
    expect(JSON.parse(res.body)).toEqual({ model_name: 'iris', model_version: '2', id: 'r1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1], data: [0.5] }] });
    const [json] = cloudEvents(rec({ mlflowJson: '{"dataframe_split":{"columns":["ssn","x"],"data":[["1",2]]}}' }, { mlflowJson: '[1]' }), 's', ['ssn']);
    expect(JSON.parse(json.body)).toEqual({ dataframe_records: [{ x: 2 }] });
  });
});
