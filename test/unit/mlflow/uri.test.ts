import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MlserveError } from '../../../src/errors.js';
import {
  defaultEndpointName,
  parseModelSource,
  parseTrackingUri,
  type ModelSource,
} from '../../../src/mlflow/uri.js';

describe('parseModelSource', () => {
  const ok: Array<[string, ModelSource]> = [
    ['models:/ResNet50/3', { kind: 'registry', name: 'ResNet50', version: '3' }],
    ['models:/ResNet50/007', { kind: 'registry', name: 'ResNet50', version: '7' }],
    ['models:/ResNet50/Production', { kind: 'registry', name: 'ResNet50', stage: 'Production' }],
    ['models:/ResNet50/staging', { kind: 'registry', name: 'ResNet50', stage: 'staging' }],
    ['models:/ResNet50/None', { kind: 'registry', name: 'ResNet50', stage: 'None' }],
    ['models:/ResNet50/latest', { kind: 'registry', name: 'ResNet50', latest: true }],
    ['models:/ResNet50/LATEST', { kind: 'registry', name: 'ResNet50', latest: true }],
    ['models:/ResNet50@champion', { kind: 'registry', name: 'ResNet50', alias: 'champion' }],
    ['models:/my@model@prod', { kind: 'registry', name: 'my@model', alias: 'prod' }],
    ['models:/ResNet50@champion/sub/dir', { kind: 'registry', name: 'ResNet50', alias: 'champion', subPath: 'sub/dir' }],
    ['models:/ResNet50/1/sub/path', { kind: 'registry', name: 'ResNet50', version: '1', subPath: 'sub/path' }],
    ['models:/ResNet50/1/', { kind: 'registry', name: 'ResNet50', version: '1' }],
    ['models:/ResNet50/Production/onnx', { kind: 'registry', name: 'ResNet50', stage: 'Production', subPath: 'onnx' }],
    ['models:///ResNet50/2', { kind: 'registry', name: 'ResNet50', version: '2' }],
    ['models:/My Model/2', { kind: 'registry', name: 'My Model', version: '2' }],
    ['models:/m-4f2a9c0e1b7d4e6f8a3b2c1d0e9f8a7b', { kind: 'logged-model', modelId: 'm-4f2a9c0e1b7d4e6f8a3b2c1d0e9f8a7b' }],
    ['runs:/4b9bbc01307a45d780939b81dae105bf/model', { kind: 'run', runId: '4b9bbc01307a45d780939b81dae105bf', path: 'model' }],
    ['runs:/abc/a/b/model', { kind: 'run', runId: 'abc', path: 'a/b/model' }],
    ['runs:/abc', { kind: 'run', runId: 'abc', path: '' }],
    ['./model.onnx', { kind: 'path', path: './model.onnx' }],
    ['/abs/dir/model', { kind: 'path', path: '/abs/dir/model' }],
    ['model', { kind: 'path', path: 'model' }],
    ['file:///abs/dir/model.onnx', { kind: 'path', path: '/abs/dir/model.onnx' }],
    ['file:///abs/with%20space/m', { kind: 'path', path: '/abs/with space/m' }],
    ['file://localhost/abs/m', { kind: 'path', path: '/abs/m' }],
    ['file:relative/m', { kind: 'path', path: 'relative/m' }],
  ];
  it.each(ok)('%s', (input, expected) => {
    expect(parseModelSource(input)).toStrictEqual(expected);
  });

  const malformed: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['models:/', /models:\//],
    ['models:ResNet50/1', /models:\//],
    ['models:/ResNet50', /needs a version, stage, 'latest' or '@alias'/],
    ['models:/ResNet50/', /empty/],
    ['models:/@champion', /<name>@<alias>/],
    ['models:/ResNet50@', /<name>@<alias>/],
    ['models:/ResNet50/1/../../etc', /'\.\.'/],
    ['models://profile@databricks/ResNet50/1', /Databricks/],
    ['runs:/', /run id is empty/],
    ['runs:abc/model', /runs:\/<run id>/],
    ['s3://bucket/model', /s3: scheme/],
    ['mlflow-artifacts:/0/abc/artifacts/model', /mlflow-artifacts: scheme/],
    ['https://example.com/model.onnx', /https: scheme/],
  ];
  it.each(malformed)('rejects %j', (input, message) => {
    let err: unknown;
    try {
      parseModelSource(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MlserveError);
    expect((err as MlserveError).code).toBe('MODEL_SOURCE');
    expect((err as MlserveError).message).toMatch(message);
    expect((err as MlserveError).message).toContain('models:/<name>/<version>');
  });
});

describe('parseTrackingUri', () => {
  const cwd = '/work/here';
  it.each([
    [undefined, { kind: 'file', root: '/work/here/mlruns' }],
    ['', { kind: 'file', root: '/work/here/mlruns' }],
    ['file:///srv/mlflow/mlruns', { kind: 'file', root: '/srv/mlflow/mlruns' }],
    ['file:./store', { kind: 'file', root: '/work/here/store' }],
    ['/srv/mlruns', { kind: 'file', root: '/srv/mlruns' }],
    ['other/mlruns', { kind: 'file', root: '/work/here/other/mlruns' }],
    ['http://127.0.0.1:5000', { kind: 'rest', url: 'http://127.0.0.1:5000' }],
    ['https://mlflow.example.com/base/', { kind: 'rest', url: 'https://mlflow.example.com/base' }],
  ])('%s', (uri, expected) => {
    expect(parseTrackingUri(uri, cwd)).toStrictEqual(expected);
  });

  it('defaults to ./mlruns under process.cwd()', () => {
    expect(parseTrackingUri(undefined)).toStrictEqual({ kind: 'file', root: path.resolve('mlruns') });
  });

  it.each([
    ['databricks', /Databricks/],
    ['databricks://profile', /Databricks/],
    ['databricks-uc', /Databricks/],
    ['sqlite:///mlflow.db', /mlflow server --backend-store-uri sqlite:\/\/\/mlflow.db/],
    ['postgresql://u:p@host/db', /mlflow server/],
    ['mysql+pymysql://host/db', /mlflow server/],
    ['ftp://x', /not supported/],
  ])('rejects %s', (uri, message) => {
    expect(() => parseTrackingUri(uri, cwd)).toThrow(message);
    expect(() => parseTrackingUri(uri, cwd)).toThrow(/file store .* or an MLflow tracking server/);
  });
});

describe('defaultEndpointName', () => {
  it.each([
    ['models:/ResNet50/1', 'resnet50'],
    ['models:/My Model_v2.1@prod', 'my-model_v2.1'],
    ['models:/Ünïcode/Production', '-n-code'],
    ['models:/m-abc123', 'm-abc123'],
    ['runs:/4b9bbc01307a45d780939b81dae105bf/model', 'model-4b9bbc01'],
    ['/models/ResNet50.onnx', 'resnet50'],
    ['./some dir/Classifier.ONNX', 'classifier'],
    ['/srv/models/fraud-model/', 'fraud-model'],
    ['/srv/models/fraud/MLmodel', 'fraud'],
    ['file:///srv/x/Tiny.onnx', 'tiny'],
  ])('%s -> %s', (src, name) => {
    expect(defaultEndpointName(parseModelSource(src))).toBe(name);
  });
});
