import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backoffMs, parseBool, readCredentialsFile, restConfig } from '../../../src/mlflow/rest-config.js';

const home = () => mkdtempSync(join(tmpdir(), 'home-'));

describe('restConfig: MLflow client variables', () => {
  it('strips the trailing slash and keeps a base path', () => {
    expect(restConfig('https://h/mlflow/', { HOME: home() }).url).toBe('https://h/mlflow');
  });
  it('sends Basic when username and password are set, even with a token (as rest_utils does)', () => {
    const c = restConfig('http://h', { HOME: home(), MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p', MLFLOW_TRACKING_TOKEN: 't' });
    expect(c.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });
  it('sends Bearer for a token alone, and nothing without credentials', () => {
    expect(restConfig('http://h', { HOME: home(), MLFLOW_TRACKING_TOKEN: 't' }).authorization).toBe('Bearer t');
    expect(restConfig('http://h', { HOME: home(), MLFLOW_TRACKING_USERNAME: 'u' }).authorization).toBeUndefined();
  });
  it('reads ~/.mlflow/credentials when the variables are not set', () => {
    const h = home();
    const dir = join(h, '.mlflow');
    mkdirSync(dir);
    writeFileSync(join(dir, 'credentials'), '[mlflow]\nmlflow_tracking_username = alice\nmlflow_tracking_password = s3cret\n');
    const c = restConfig('http://h', { HOME: h });
    expect(c.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(c.authSource).toBe('~/.mlflow/credentials');
    expect(readCredentialsFile('[other]\nmlflow_tracking_username=x')).toEqual({});
  });
  it('validates TLS variables like MLflow', () => {
    expect(restConfig('https://h', { HOME: home(), MLFLOW_TRACKING_INSECURE_TLS: 'TRUE' }).tls.rejectUnauthorized).toBe(false);
    expect(() => restConfig('https://h', { HOME: home(), MLFLOW_TRACKING_INSECURE_TLS: 'yes' })).toThrow(/not a boolean/);
    const ca = join(home(), 'ca.pem');
    writeFileSync(ca, 'PEM');
    expect(() => restConfig('https://h', { HOME: home(), MLFLOW_TRACKING_INSECURE_TLS: '1', MLFLOW_TRACKING_SERVER_CERT_PATH: ca })).toThrow(/cannot both be set/);
    expect(restConfig('https://h', { HOME: home(), MLFLOW_TRACKING_SERVER_CERT_PATH: ca }).tls.ca).toBe('PEM');
    expect(() => restConfig('https://h', { HOME: home(), MLFLOW_TRACKING_SERVER_CERT_PATH: '/nope.pem' })).toThrow(/cannot be read/);
  });
  it('reads retry settings with MLflow defaults and limits', () => {
    const r = restConfig('http://h', { HOME: home() }).retry;
    expect(r).toMatchObject({ maxRetries: 7, backoffFactor: 2, backoffJitter: 1, requestTimeoutMs: 120_000, respectRetryAfter: true });
    expect(() => restConfig('http://h', { HOME: home(), MLFLOW_HTTP_REQUEST_MAX_RETRIES: '10' })).toThrow(/below 10/);
    expect(restConfig('http://h', { HOME: home(), MLSERVE_REGISTRY_TIMEOUT: '5' }).retry.totalBudgetMs).toBe(5000);
  });
  it('parseBool accepts only true/false/1/0', () => {
    expect(parseBool('X', 'False', true)).toBe(false);
    expect(parseBool('X', undefined, true)).toBe(true);
    expect(() => parseBool('X', 'on', false)).toThrow();
  });
});

describe('backoffMs: urllib3 Retry as MLflow configures it', () => {
  const policy = { maxRetries: 7, backoffFactor: 2, backoffJitter: 1, respectRetryAfter: true, requestTimeoutMs: 1, totalBudgetMs: 1 };
  it('sleeps 0 before the first retry, then factor * 2^(n-1) seconds, capped at 120 s, plus jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, policy, 0))).toEqual([0, 4000, 8000, 16000, 32000, 64000, 120000]);
    expect(backoffMs(2, policy, 0.5)).toBe(4500);
  });
  it('honours Retry-After in seconds or as an HTTP date, unless told not to', () => {
    expect(backoffMs(1, policy, 0, '3')).toBe(3000);
    const now = Date.parse('2026-11-23T10:00:00Z');
    expect(backoffMs(1, policy, 0, 'Mon, 23 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(backoffMs(2, { ...policy, respectRetryAfter: false }, 0, '3')).toBe(4000);
  });
});
