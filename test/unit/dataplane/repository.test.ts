// Server readiness as Triton's --strict-readiness, Triton's read-only repository index, and
// load-failure messages that name the file the operator gave.
import { describe, expect, it } from 'vitest';
import { RouteTable, type ServingTarget } from '../../../src/daemon/dataplane/routes.js';
import { repositoryIndex, repositoryRoute } from '../../../src/daemon/dataplane/repository.js';
import { operatorPaths } from '../../../src/daemon/fleet/source-path.js';
import { readiness } from '../../../src/daemon/control/status.js';
import { MlserveError } from '../../../src/errors.js';

const target = (name: string, endpoint: string, ready: number, phase = ready ? 'ready' : 'starting', failed: string | null = null): ServingTarget =>
  ({ name, endpoint, version: name.split('-v')[1] ?? '1', platform: 'onnxruntime_onnx', spec: null, dispatcher: null as never, readyReplicas: () => ready, mayScaleToZero: false, dispatchOptions: () => null as never, phase: () => phase, failed });

function table(): RouteTable {
  const t = new RouteTable();
  t.publish([
    { endpoint: 'good', primary: target('good-v1', 'good', 1), canary: target('good-v2', 'good', 0), weight: 10, shadow: 0 },
    { endpoint: 'bad', primary: target('bad-v1', 'bad', 0, 'failed', 'Load model from ./bad.onnx failed: Protobuf parsing failed.'), canary: null, weight: 0, shadow: 0 },
    { endpoint: 'gone', primary: null, canary: null, weight: 0, shadow: 0 },
  ]);
  return t;
}

describe('server readiness', () => {
  it('strict (the default, as Triton): every endpoint ready; not strict: live is ready', () => {
    const t = table();
    expect(t.serverReady(true)).toBe(false);
    expect(t.serverReady(false)).toBe(true);
    expect(t.unready()).toEqual([{ endpoint: 'bad', deployment: 'bad-v1' }, { endpoint: 'gone', deployment: null }]);
    const rows: Record<string, { state: string; message: string | null }> = { 'bad-v1': { state: 'failed', message: 'corrupt' }, 'gone-v3': { state: 'loading', message: null } };
    const store = { getEndpoint: (n: string) => ({ primary: `${n}-v3` }) as never, getDeployment: (n: string) => rows[n] as never };
    expect(readiness(t, true, store)).toEqual({
      strict: true, ready: false,
      holding: [{ endpoint: 'bad', deployment: 'bad-v1', state: 'failed', message: 'corrupt' }, { endpoint: 'gone', deployment: 'gone-v3', state: 'loading', message: null }],
    });
    expect(readiness(t, false, store).ready).toBe(true);
  });
});

describe('POST /v2/repository/index', () => {
  it("lists every endpoint's versions with state and reason; {ready: true} only the ready ones", () => {
    expect(repositoryIndex(table())).toEqual([
      { name: 'bad', version: '1', state: 'UNAVAILABLE', reason: 'deployment bad-v1 failed: Load model from ./bad.onnx failed: Protobuf parsing failed.' },
      { name: 'gone', version: '', state: 'UNAVAILABLE', reason: expect.stringMatching(/not running/) },
      { name: 'good', version: '1', state: 'READY', reason: '' },
      { name: 'good', version: '2', state: 'LOADING', reason: 'deployment good-v2 (canary) has no ready replica yet' },
    ]);
    expect(repositoryIndex(table(), { ready: true }).map((e) => `${e.name}/${e.version}`)).toEqual(['good/1']);
  });

  it('is read-only and answers only its own paths; GET /v2/models says where the list is', async () => {
    const t = table();
    const body = async () => ({ ready: true });
    expect(repositoryRoute(t, 'GET', ['v2', 'models', 'x'], body)).toBeNull();
    expect(await repositoryRoute(t, 'POST', ['v2', 'repository', 'index'], body)).toEqual({ status: 200, body: [{ name: 'good', version: '1', state: 'READY', reason: '' }] });
    const thrown = (method: string, parts: string[]) => {
      try {
        repositoryRoute(t, method, parts, body);
      } catch (err) {
        return [(err as MlserveError).code, (err as Error).message];
      }
      return null;
    };
    expect(thrown('GET', ['v2', 'repository', 'index'])?.[0]).toBe('METHOD_NOT_ALLOWED');
    expect(thrown('POST', ['v2', 'repository', 'models', 'good', 'unload'])).toEqual(['METHOD_NOT_ALLOWED', 'the model repository is read-only here: mlserve undeploy good does that']);
    expect(thrown('GET', ['v2', 'models'])).toEqual(['NOT_FOUND', expect.stringContaining('POST /v2/repository/index lists the models served')]);
  });
});

describe('load failures name the file the operator gave', () => {
  const cache = '/home/u/.mlserve/cache/path/7ad0d41928fd-bad.onnx';
  it.each([
    ['a bare .onnx file, as typed', { modelUri: './bad.onnx', resolved: { kind: 'path' as const, version: '1', source: '/work/bad.onnx' }, modelDir: cache, modelFile: `${cache}/bad.onnx` },
      `Load model from ${cache}/bad.onnx failed:Protobuf parsing failed.`, 'Load model from ./bad.onnx failed:Protobuf parsing failed.'],
    ['an MLflow model directory', { modelUri: '/m/model/', resolved: { kind: 'path' as const, version: '1', source: '/m/model' }, modelDir: cache, modelFile: `${cache}/model.onnx` },
      `Load model from ${cache}/model.onnx failed`, 'Load model from /m/model/model.onnx failed'],
    ['a registry version', { modelUri: 'models:/demo/1', resolved: { kind: 'registry' as const, version: '1' }, modelDir: cache, modelFile: `${cache}/model.onnx` },
      `Load model from ${cache}/model.onnx failed`, 'Load model from models:/demo/1/model.onnx failed'],
  ])('%s', (_what, row, message, want) => {
    expect(operatorPaths(message, row)).toBe(want);
  });
});
