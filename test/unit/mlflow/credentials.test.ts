import { describe, expect, it } from 'vitest';
import { redactText, redactUri, splitSecrets, stripUserinfo } from '../../../src/mlflow/credentials.js';

describe('credentials in MLflow settings', () => {
  it.each([
    ['http://alice:s3cret@mlflow:5000/base', { uri: 'http://mlflow:5000/base', username: 'alice', password: 's3cret' }],
    ['https://bob@host', { uri: 'https://host', username: 'bob', password: undefined }],
    ['https://a%40b:p%3Aw:x@host:443/', { uri: 'https://host:443/', username: 'a@b', password: 'p:w:x' }],
    ['http://host:5000', { uri: 'http://host:5000' }],
    ['file:///srv/mlruns', { uri: 'file:///srv/mlruns' }],
    ['http://host/path@notuserinfo', { uri: 'http://host/path@notuserinfo' }],
  ])('stripUserinfo(%s)', (uri, want) => expect(stripUserinfo(uri)).toEqual(want));

  it('redacts userinfo in URIs and in any text', () => {
    expect(redactUri('http://alice:s3cret@mlflow:5000')).toBe('http://***@mlflow:5000');
    expect(redactUri('http://mlflow:5000')).toBe('http://mlflow:5000');
    expect(redactText("cannot reach 'http://alice:s3cret@h:1/x' or https://t@k/")).toBe("cannot reach 'http://***@h:1/x' or https://***@k/");
  });

  it('splits variables into what may be stored and the secrets; userinfo becomes Basic credentials unless set', () => {
    expect(splitSecrets({ MLFLOW_TRACKING_URI: 'http://alice:s3cret@h:5000', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '3' })).toEqual({
      public: { MLFLOW_TRACKING_URI: 'http://h:5000', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '3' },
      secret: { MLFLOW_TRACKING_USERNAME: 'alice', MLFLOW_TRACKING_PASSWORD: 's3cret' },
    });
    expect(splitSecrets({ MLFLOW_TRACKING_URI: 'http://x:y@h', MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p', MLFLOW_TRACKING_TOKEN: 't' })).toEqual({
      public: { MLFLOW_TRACKING_URI: 'http://h' },
      secret: { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p', MLFLOW_TRACKING_TOKEN: 't' },
    });
    expect(splitSecrets({ MLFLOW_REGISTRY_URI: 'https://r:q@reg' }).secret).toEqual({ MLFLOW_TRACKING_USERNAME: 'r', MLFLOW_TRACKING_PASSWORD: 'q' });
  });
});
