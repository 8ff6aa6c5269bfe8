// Warm-up is a deployment setting: stored only when off, part of the revision (a change starts new
// replicas), passed to every replica kind, and written back by mlserve config.
import { describe, expect, it } from 'vitest';
import { deploySettings, revisionOf } from '../../../src/daemon/control/settings.js';
import { onnxKind } from '../../../src/daemon/fleet/kinds/onnx.js';
import { pythonKind } from '../../../src/daemon/fleet/kinds/python.js';
import { toFileDeployment } from '../../../src/config/render.js';
import { currentToDesired } from '../../../src/config/desired.js';

const row = (warmup?: boolean) => ({ modelDir: '/c/m', modelFile: '/c/m/model.onnx', settings: deploySettings({ source: 'm.onnx', warmup }) });

describe('warm-up setting', () => {
  it('is stored only when off, so rows from before it keep their revision', () => {
    expect(deploySettings({ source: 'm.onnx' })).toEqual({ replicas: 1 });
    expect(deploySettings({ source: 'm.onnx', warmup: true })).toEqual({ replicas: 1 });
    expect(deploySettings({ source: 'm.onnx', warmup: false })).toEqual({ replicas: 1, warmup: false });
    expect(() => deploySettings({ source: 'm.onnx', warmup: 'no' as never })).toThrow(/--warmup must be true or false/);
  });

  it('changes the revision (new replicas) when turned off or on', () => {
    expect(revisionOf(row(true))).toBe(revisionOf(row()));
    expect(revisionOf(row(false))).not.toBe(revisionOf(row()));
  });

  it('reaches the replica of either kind', () => {
    const input = { deployment: 'd', replica: 0, modelDir: '/c/m', modelFile: '/c/m/model.onnx', concurrency: 1 };
    const cfg = (k: typeof onnxKind, warmup?: boolean) => JSON.parse(k.spawnPlan({ ...input, warmup }).args.at(-1)!);
    expect(cfg(onnxKind, true).warmup).toBeUndefined();
    expect(cfg(onnxKind, false).warmup).toBe(false);
    expect(cfg(pythonKind, false).warmup).toBe(false);
  });

  it('is written back by mlserve config only when off', () => {
    const d = (warmup?: false) => currentToDesired({ name: 'a-v1', endpoint: 'a', modelUri: '/m.onnx', resolved: { kind: 'path', source: '/m.onnx' }, settings: { replicas: 1, ...(warmup === false ? { warmup } : {}) } });
    expect(toFileDeployment(d()).warmup).toBeUndefined();
    expect(toFileDeployment(d(false)).warmup).toBe(false);
  });
});
