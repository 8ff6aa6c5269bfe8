import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cached, cacheKey, copyLocal, listCache, pruneCache, removePartials, safeJoin } from '../../../src/mlflow/cache.js';
import { proxiedArtifactBase } from '../../../src/mlflow/artifacts.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'cache-'));

describe('safeJoin refuses paths that leave the cache', () => {
  it.each(['../x', 'a/../../x', '/etc/passwd', 'a\\b', '', 'a//b', './a'])('%s', (rel) => {
    expect(() => safeJoin(tmp(), rel)).toThrow(/outside the model cache/);
  });
  it('accepts nested paths and refuses a symlinked folder on the way', () => {
    const root = tmp();
    expect(safeJoin(root, 'a/b/c.onnx')).toBe(join(root, 'a', 'b', 'c.onnx'));
    symlinkSync(tmp(), join(root, 'link'));
    expect(() => safeJoin(root, 'link/x')).toThrow(/symlink/);
  });
});

describe('cached', () => {
  it('fills once, then hits; a failed fill leaves nothing behind', async () => {
    const root = tmp();
    const key = cacheKey('rest', 'host:5000', 'ResNet50', 'v1', 'abc');
    let fills = 0;
    const fill = async (dir: string) => {
      fills++;
      writeFileSync(join(dir, 'model.onnx'), 'x');
      return [{ path: 'model.onnx', size: 1 }];
    };
    const a = await cached(root, key, { source: 's' }, fill);
    const b = await cached(root, key, { source: 's' }, fill);
    expect([a.hit, b.hit, fills]).toEqual([false, true, 1]);
    expect(listCache(root).map((e) => e.key)).toEqual([key]);

    await expect(cached(root, cacheKey('other'), { source: 's' }, async (dir) => {
      writeFileSync(join(dir, 'half'), 'x');
      throw new Error('connection reset');
    })).rejects.toThrow('connection reset');
    expect(readdirSync(root).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(existsSync(join(root, 'other'))).toBe(false);
  });

  it('prune keeps what deployments use and removes partial downloads', async () => {
    const root = tmp();
    const keep = await cached(root, 'a/1', { source: 's' }, async () => []);
    await cached(root, 'b/1', { source: 's' }, async () => []);
    mkdirSync(join(root, '.tmp-dead'));
    const removed = pruneCache(root, new Set([keep.dir]));
    expect(removed.map((e) => e.key)).toEqual(['b/1']);
    expect(listCache(root).map((e) => e.key)).toEqual(['a/1']);
    expect(removePartials(root)).toEqual([]);
  });
});

describe('copyLocal', () => {
  it('refuses a symlink that points outside the model folder', () => {
    const src = tmp();
    writeFileSync(join(src, 'model.onnx'), 'x');
    symlinkSync('/etc/hostname', join(src, 'weights'));
    expect(() => copyLocal(src, tmp())).toThrow(/outside the model folder/);
  });
});

describe('proxiedArtifactBase', () => {
  it('maps mlflow-artifacts URIs onto the tracking server, keeping its base path', () => {
    expect(proxiedArtifactBase('mlflow-artifacts:/0/abc/artifacts/model', 'https://h/mlflow')).toEqual({
      base: 'https://h/mlflow/api/2.0/mlflow-artifacts/artifacts', root: '0/abc/artifacts/model',
    });
    expect(proxiedArtifactBase('mlflow-artifacts://other:5000/0/x', 'http://h:1')).toEqual({ base: 'http://other:5000/api/2.0/mlflow-artifacts/artifacts', root: '0/x' });
    expect(proxiedArtifactBase('http://h/api/2.0/mlflow-artifacts/artifacts/0/x/', 'http://h')).toEqual({ base: 'http://h/api/2.0/mlflow-artifacts/artifacts', root: '0/x' });
  });
});
