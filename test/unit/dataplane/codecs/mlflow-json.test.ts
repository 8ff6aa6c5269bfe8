import { describe, expect, it } from 'vitest';
import { checkContentType, decodeInvocations, encodePredictions } from '../../../../src/daemon/dataplane/codecs/mlflow-json.js';
import { MlserveError } from '../../../../src/errors.js';
import type { Signature, Tensor } from '../../../../src/tensor.js';

const single: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
};
const multi: Signature = {
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 2] },
    { name: 'b', datatype: 'INT64', shape: [-1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};
const columns: Signature = {
  inputs: [
    { name: 'age', datatype: 'FP64', shape: [-1] },
    { name: 'income', datatype: 'FP32', shape: [-1, 1] },
    { name: 'flag', datatype: 'BOOL', shape: [-1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};

function fail(fn: () => unknown, status = 400): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MlserveError);
    expect((e as MlserveError).status).toBe(status);
    return (e as Error).message;
  }
  throw new Error('expected a throw');
}

const rows = [[1, 2, 3], [4, 5, 6]];
const expectSingle = (ts: Tensor[]) => expect(ts).toEqual([
  { name: 'input', datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
]);

describe('decodeInvocations, single-input model', () => {
  it('inputs as a nested list', () => expectSingle(decodeInvocations({ inputs: rows }, single)));
  it('inputs as {name: nested}', () => expectSingle(decodeInvocations({ inputs: { input: rows } }, single)));
  it('instances as rows', () => expectSingle(decodeInvocations({ instances: rows }, single)));
  it('instances as {name: row} dicts', () => expectSingle(decodeInvocations({ instances: [{ input: [1, 2, 3] }, { input: [4, 5, 6] }] }, single)));
  it('dataframe_split', () => {
    expectSingle(decodeInvocations({ dataframe_split: { columns: ['c0', 'c1', 'c2'], data: rows, index: [0, 1] } }, single));
    expectSingle(decodeInvocations({ dataframe_split: { data: rows } }, single));
  });
  it('dataframe_records', () => {
    expectSingle(decodeInvocations({ dataframe_records: [{ c0: 1, c1: 2, c2: 3 }, { c0: 4, c1: 5, c2: 6 }] }, single));
  });
  it('params are allowed and ignored', () => {
    expectSingle(decodeInvocations({ inputs: rows, params: { temperature: 0.5 } }, single));
  });
  it('values are cast to the signature dtype', () => {
    const s: Signature = { inputs: [{ name: 'ids', datatype: 'INT64', shape: [-1] }], outputs: [] };
    expect(decodeInvocations({ inputs: [1, 2, '9007199254740993'] }, s)[0]!.data).toEqual(new BigInt64Array([1n, 2n, 9007199254740993n]));
    expect(fail(() => decodeInvocations({ inputs: [1.5] }, s))).toMatch(/input 'ids': element 0: 1.5 is not an integer \(INT64\)/);
  });
  it('a 1-D input from a single dataframe column', () => {
    const s: Signature = { inputs: [{ name: 'v', datatype: 'FP64', shape: [-1] }], outputs: [] };
    const [t] = decodeInvocations({ dataframe_split: { columns: ['whatever'], data: [[1], [2], [3]] } }, s);
    expect(t).toEqual({ name: 'v', datatype: 'FP64', shape: [3], data: new Float64Array([1, 2, 3]) });
  });
  it('an image input from a dataframe column of nested cells', () => {
    const s: Signature = { inputs: [{ name: 'img', datatype: 'UINT8', shape: [-1, 2, 2] }], outputs: [] };
    const [t] = decodeInvocations({ dataframe_records: [{ img: [[1, 2], [3, 4]] }, { img: [[5, 6], [7, 8]] }] }, s);
    expect(t!.shape).toEqual([2, 2, 2]);
    expect(Array.from(t!.data as Uint8Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
  it('shape mismatch', () => {
    expect(fail(() => decodeInvocations({ inputs: [[1, 2]] }, single))).toBe("input 'input': shape [1, 2] does not match the model's [-1, 3]");
  });
});

describe('decodeInvocations, multi-input model', () => {
  const expected = [
    { name: 'a', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    { name: 'b', datatype: 'INT64', shape: [2], data: new BigInt64Array([7n, 8n]) },
  ];
  it('inputs dict', () => {
    expect(decodeInvocations({ inputs: { b: [7, 8], a: [[1, 2], [3, 4]] } }, multi)).toEqual(expected);
  });
  it('instances pivoted and stacked', () => {
    expect(decodeInvocations({ instances: [{ a: [1, 2], b: 7 }, { b: 8, a: [3, 4] }] }, multi)).toEqual(expected);
  });
  it('errors', () => {
    expect(fail(() => decodeInvocations({ inputs: [[1, 2]] }, multi))).toMatch(/the model has 2 inputs \(\['a', 'b'\]\); 'inputs' must name them/);
    expect(fail(() => decodeInvocations({ instances: [[1, 2]] }, multi))).toMatch(/'instances' must name them/);
    expect(fail(() => decodeInvocations({ inputs: { a: [[1, 2]] } }, multi))).toMatch(/input 'b' is missing/);
    expect(fail(() => decodeInvocations({ inputs: { a: [[1, 2]], b: [1], c: [1] } }, multi))).toMatch(/input 'c' is not an input of the model/);
    expect(fail(() => decodeInvocations({ instances: [{ a: [1, 2], b: 7 }, { a: [3, 4] }] }, multi)))
      .toMatch(/must be a list of dictionaries with the same keys; instance 0 has \['a', 'b'\], instance 1 differs/);
    expect(fail(() => decodeInvocations({ instances: [{ a: [1, 2], b: 7 }, { a: [3], b: 8 }] }, multi))).toMatch(/input 'a': ragged/);
    expect(fail(() => decodeInvocations({ dataframe_split: { data: [[1, 2]] } }, multi))).toMatch(/needs 'columns' naming them/);
  });
});

describe('decodeInvocations, column-based signature', () => {
  const expected = [
    { name: 'age', datatype: 'FP64', shape: [2], data: new Float64Array([30, 40]) },
    { name: 'income', datatype: 'FP32', shape: [2, 1], data: new Float32Array([1.5, 2.5]) },
    { name: 'flag', datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  ];
  it('dataframe_split', () => {
    const body = { dataframe_split: { columns: ['flag', 'age', 'income', 'extra'], data: [[true, 30, 1.5, 'x'], [false, 40, 2.5, 'y']] } };
    expect(decodeInvocations(body, columns)).toEqual(expected);
  });
  it('dataframe_records', () => {
    const body = { dataframe_records: [{ age: 30, income: 1.5, flag: true }, { age: 40, income: 2.5, flag: false }] };
    expect(decodeInvocations(body, columns)).toEqual(expected);
  });
  it('missing column', () => {
    const body = { dataframe_records: [{ age: 30, income: 1.5 }] };
    expect(fail(() => decodeInvocations(body, columns))).toMatch(/the model's input\(s\) \['flag'\] are not among the DataFrame's columns \['age', 'income'\]/);
  });
  it('bad cell', () => {
    const body = { dataframe_records: [{ age: 30, income: 1.5, flag: 'yes' }] };
    expect(fail(() => decodeInvocations(body, columns))).toMatch(/input 'flag': element 0: expected true or false for BOOL, got "yes"/);
  });
  it('record without a column', () => {
    const body = { dataframe_records: [{ age: 30, income: 1.5, flag: true }, { age: 1, income: 2 }] };
    expect(fail(() => decodeInvocations(body, columns))).toMatch(/record 1 has no column 'flag'/);
  });
});

describe('decodeInvocations, request-form errors', () => {
  it('not exactly one input field', () => {
    expect(fail(() => decodeInvocations({ foo: 1 }, single))).toMatch(
      /^Invalid input\. The input must be a JSON dictionary with exactly one of the input fields \{'dataframe_split', 'dataframe_records', 'instances', 'inputs'\}\. Received dictionary with input fields: \['foo'\]/,
    );
    expect(fail(() => decodeInvocations({ inputs: rows, instances: rows }, single))).toMatch(/Received dictionary with input fields: \['instances', 'inputs'\]/);
  });
  it('not a dictionary', () => {
    expect(fail(() => decodeInvocations(rows, single))).toMatch(/^Invalid input\. The input must be a JSON dictionary/);
    expect(fail(() => decodeInvocations('x', single))).toMatch(/^Invalid input\. Input should be a dictionary or a list of dictionaries, but got string/);
  });
  it('bad params', () => {
    expect(fail(() => decodeInvocations({ inputs: rows, params: [1] }, single))).toMatch(/'params' must be a dictionary/);
  });
  it('bad forms', () => {
    expect(fail(() => decodeInvocations({ instances: 5 }, single))).toMatch(/'instances' must be a list/);
    expect(fail(() => decodeInvocations({ instances: [] }, single))).toMatch(/'instances' is empty/);
    expect(fail(() => decodeInvocations({ dataframe_split: [[1]] }, single))).toMatch(/'dataframe_split' must be \{"columns"/);
    expect(fail(() => decodeInvocations({ dataframe_split: { data: [] } }, single))).toMatch(/Input DataFrame is empty/);
    expect(fail(() => decodeInvocations({ dataframe_split: { columns: ['a', 'b', 'c'], data: [[1, 2]] } }, single)))
      .toMatch(/data row 0 has 2 values, but there are 3 columns/);
    expect(fail(() => decodeInvocations({ dataframe_split: { columns: [1], data: [[1]] } }, single))).toMatch(/'columns' must be a list of column names/);
    expect(fail(() => decodeInvocations({ dataframe_split: { data: [1, 2] } }, single))).toMatch(/data row 0 must be a list/);
    expect(fail(() => decodeInvocations({ dataframe_records: { a: 1 } }, single))).toMatch(/'dataframe_records' must be a list/);
    expect(fail(() => decodeInvocations({ dataframe_records: [1] }, single))).toMatch(/record 0 must be a \{column: value\} dictionary/);
    expect(fail(() => decodeInvocations({ inputs: [[1, 2, 3], [4, 5]] }, single))).toMatch(/input 'input': ragged nested array/);
  });
});

describe('encodePredictions', () => {
  it('dict of output name -> nested lists', () => {
    const out: Tensor[] = [
      { name: 'output', datatype: 'FP32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
      { name: 'label', datatype: 'INT64', shape: [2], data: new BigInt64Array([1n, 2n ** 62n]) },
      { name: 'ok', datatype: 'BOOL', shape: [1, 1], data: new Uint8Array([1]) },
    ];
    expect(encodePredictions(out)).toEqual({
      predictions: { output: [[1, 2], [3, 4]], label: [1, '4611686018427387904'], ok: [[true]] },
    });
  });
});

describe('checkContentType', () => {
  it('accepts JSON', () => {
    expect(() => checkContentType('application/json')).not.toThrow();
    expect(() => checkContentType('application/json; charset=utf-8')).not.toThrow();
    expect(() => checkContentType('Application/JSON;charset="UTF-8"')).not.toThrow();
  });
  it('rejects the rest with 415', () => {
    expect(fail(() => checkContentType('text/csv'), 415)).toMatch(/'text\/csv' is not supported yet; send JSON with Content-Type: application\/json/);
    expect(fail(() => checkContentType('text/plain'), 415))
      .toBe("This predictor only supports the following content types: Types: ['application/json']. Got 'text/plain'.");
    expect(fail(() => checkContentType(undefined), 415)).toMatch(/Got ''/);
    expect(fail(() => checkContentType('application/json; charset=latin-1'), 415)).toBe('The scoring server only supports UTF-8');
    expect(fail(() => checkContentType('application/json; format=pandas-split'), 415)).toMatch(/Unrecognized content type parameters: format=pandas-split/);
  });
});
