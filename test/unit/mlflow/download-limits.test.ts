// The bounds on a model download: the cap MLSERVE_MAX_ARTIFACT_BYTES, the per-file limit (listed
// size, else what the cap leaves), the free-space check before starting, the errors that name
// the file, the limit and the variable, and a cache folder that cannot be written.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesText, checkBeforeDownload, fileByteLimit, overLimitError, spaceMargin, type RemoteFile } from '../../../src/mlflow/artifacts.js';
import { cached, cacheWriteError } from '../../../src/mlflow/cache.js';
import { MlflowRestClient } from '../../../src/mlflow/client.js';
import { DEFAULT_MAX_ARTIFACT_BYTES, parseByteSize, restConfig } from '../../../src/mlflow/rest-config.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const tmp = () => mkdtempSync(join(tmpdir(), 'dl-limits-'));

describe('MLSERVE_MAX_ARTIFACT_BYTES', () => {
  it('defaults to 64 GiB and reads bytes or K/M/G/T sizes (binary, as MLSERVE_GPUS)', () => {
    expect(DEFAULT_MAX_ARTIFACT_BYTES).toBe(64 * GiB);
    expect(restConfig('http://h', { HOME: tmp() }).maxArtifactBytes).toBe(64 * GiB);
    expect(restConfig('http://h', { HOME: tmp(), MLSERVE_MAX_ARTIFACT_BYTES: '2G' }).maxArtifactBytes).toBe(2 * GiB);
    expect(['1048576', '1M', '1m', '1MB', '1MiB', '0.5 MiB'].map((s) => parseByteSize('X', s, 0))).toEqual([MiB, MiB, MiB, MiB, MiB, MiB / 2]);
    expect(parseByteSize('X', '1T', 0)).toBe(1024 * GiB);
    expect(parseByteSize('X', '', 7)).toBe(7);
  });
  it.each(['0', '-1', 'lots', '5X', '1e3', '99999999999T'])('refuses %s, naming the variable', (raw) => {
    expect(() => restConfig('http://h', { HOME: tmp(), MLSERVE_MAX_ARTIFACT_BYTES: raw })).toThrow(/MLSERVE_MAX_ARTIFACT_BYTES=.* is not a size/);
  });
});

describe('fileByteLimit', () => {
  const files: RemoteFile[] = [{ rel: 'MLmodel', size: 786 }, { rel: 'weights.bin' }, { rel: 'model.onnx', size: 1341 }, { rel: 'extra' }];
  it('bounds a listed file by its listed size, whatever the cap', () => {
    expect(fileByteLimit(files, 0, 10 * MiB, 0)).toEqual({ maxBytes: 786, by: 'listing', room: 786 });
    expect(fileByteLimit(files, 2, 100, 0)).toMatchObject({ maxBytes: 1341, by: 'listing' });
  });
  it('bounds an unlisted file by the cap, less what was written and what later listed files need', () => {
    expect(fileByteLimit(files, 1, 10 * MiB, 786)).toEqual({ maxBytes: 10 * MiB - 786 - 1341, by: 'cap', room: 10 * MiB - 786 - 1341 });
    expect(fileByteLimit(files, 3, 10 * MiB, 5 * MiB)).toMatchObject({ maxBytes: 5 * MiB, by: 'cap' });
    expect(fileByteLimit(files, 3, MiB, 2 * MiB).maxBytes).toBe(0);
  });
});

describe('checkBeforeDownload', () => {
  const files: RemoteFile[] = [{ rel: 'model.onnx', size: 3 * GiB }, { rel: 'MLmodel', size: 1000 }, { rel: 'x' }];
  it('passes when the listing fits the cap and the disk (with a margin)', () => {
    expect(checkBeforeDownload(files, 64 * GiB, 100 * GiB, '/c')).toBeUndefined();
    expect(checkBeforeDownload(files, 64 * GiB, undefined, '/c')).toBeUndefined();
  });
  it('refuses a listing over the cap, naming the cap and the variable', () => {
    const e = checkBeforeDownload(files, 2 * GiB, 100 * GiB, '/c');
    expect(e?.code).toBe('MODEL_SOURCE');
    expect(e?.message).toMatch(/add up to 3 GiB \(3,221,226,472 bytes\) by the server's listing, more than the 2 GiB \(2,147,483,648 bytes\) that MLSERVE_MAX_ARTIFACT_BYTES allows/);
  });
  it('refuses when the disk lacks the listed bytes plus the margin, naming the folder, bytes needed and free', () => {
    expect(spaceMargin(0)).toBe(64 * MiB);
    expect(spaceMargin(10 * GiB)).toBe(512 * MiB);
    const listed = 3 * GiB + 1000;
    const needed = listed + spaceMargin(listed);
    expect(checkBeforeDownload(files, 64 * GiB, needed, '/c')).toBeUndefined();
    const e = checkBeforeDownload(files, 64 * GiB, needed - 1, '/var/mlserve/cache');
    expect(e?.code).toBe('STORAGE');
    expect(e?.message).toContain(`not enough free disk space in the model cache /var/mlserve/cache: the model needs ${bytesText(needed)}`);
    expect(e?.message).toContain(`and ${bytesText(needed - 1)} is free`);
  });
});

describe('overLimitError', () => {
  it('names the file, the listed size and the bytes received', () => {
    const e = overLimitError('model.onnx', { maxBytes: 1341, by: 'listing' }, 64 * GiB, 66877);
    expect(e.message).toMatch(/^artifact model\.onnx: the server's listing gives 1\.3 KiB \(1,341 bytes\) but it sent more; mlserve stopped the download at 65 KiB \(66,877 bytes\) received/);
  });
  it('names the cap, the variable, and the share other files took', () => {
    expect(overLimitError('w.bin', { maxBytes: GiB, by: 'cap' }, GiB, GiB + 10).message).toMatch(
      /^artifact w\.bin: the server's listing gives no size, and the download passed the 1 GiB \(1,073,741,824 bytes\) that MLSERVE_MAX_ARTIFACT_BYTES allows for one model; mlserve stopped it/,
    );
    expect(overLimitError('w.bin', { maxBytes: GiB - 5, by: 'cap' }, GiB, GiB).message).toContain("(5 bytes of it taken by the model's other files)");
  });
});

describe('MlflowRestClient.download with a limit', () => {
  let server: Server;
  let url: string;
  let open = 0;
  beforeAll(async () => {
    // Sends 100 bytes, then 16 KiB chunks until the client hangs up.
    server = createServer((_req, res) => {
      open++;
      res.on('close', () => open--);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(100, 1));
      const chunk = Buffer.alloc(16 * 1024, 2);
      const pump = () => {
        while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/f`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('stops at the limit, aborts the body and deletes the partial file', async () => {
    const client = new MlflowRestClient(restConfig('http://127.0.0.1', { HOME: tmp() }));
    const dest = join(tmp(), 'f');
    let seen = 0;
    let received = 0;
    const err = await client
      .download(url, dest, (n) => (seen += n), { maxBytes: 100_000, exceeded: (n) => ((received = n), new Error(`over: ${n}`)) })
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^over: \d+$/);
    expect(received).toBeGreaterThan(100_000);
    expect(received - 100_000).toBeLessThanOrEqual(64 * 1024); // one chunk at most
    expect(seen).toBeLessThanOrEqual(100_000); // nothing past the limit was passed on to be written
    expect(existsSync(dest)).toBe(false);
    for (let i = 0; i < 50 && open > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(open).toBe(0); // the server saw the connection go
    await client.close();
  });
});

describe('a cache folder that cannot be written', () => {
  it('maps read-only, permission and full-disk errors inside the folder to one that names it', () => {
    const err = (code: string, path: string, dest?: string) => Object.assign(new Error(`${code}: x`), { code, path, dest });
    expect(cacheWriteError(err('EROFS', '/c/.tmp-1'), '/c')?.message).toMatch(/^cannot write the model cache: \/c is on a read-only file system \(EROFS on \/c\/\.tmp-1\); remount it read-write or set MLSERVE_HOME/);
    expect(cacheWriteError(err('EACCES', '/c'), '/c')?.message).toMatch(/^cannot write the model cache: \/c is not writable by the daemon's user .*\(EACCES\); fix its owner or permissions/);
    expect(cacheWriteError(err('ENOSPC', '/src/model.onnx', '/c/.tmp-1/model.onnx'), '/c')?.message).toMatch(/\/c has no room left \(ENOSPC on \/c\/\.tmp-1\/model\.onnx\); free space \(mlserve cache prune/);
    expect(cacheWriteError(err('ENOSPC', '/c'), '/c')?.code).toBe('STORAGE');
    // Not the cache's fault: a source that cannot be read, a network error.
    expect(cacheWriteError(err('EACCES', '/src/model.onnx', '/c/.tmp-1/model.onnx'), '/c')).toBeUndefined();
    expect(cacheWriteError(err('ECONNRESET', '/c'), '/c')).toBeUndefined();
    expect(cacheWriteError(new Error('x'), '/c')).toBeUndefined();
  });

  it('names the folder instead of a bare EACCES when the cache folder is not writable', async () => {
    const base = tmp();
    chmodSync(base, 0o755);
    const root = join(base, 'cache');
    mkdirSync(root, { mode: 0o555 });
    const fill = async (dir: string) => {
      writeFileSync(join(dir, 'model.onnx'), 'x');
      return [{ path: 'model.onnx', size: 1 }];
    };
    if (process.getuid?.() !== 0) {
      await expect(cached(root, 'a/1', { source: 's' }, fill)).rejects.toThrow(`cannot write the model cache: ${root} is not writable`);
    } else {
      // root writes anywhere: run the same call as an unprivileged user, from the built module. It
      // and errors.js (its only import) are copied beside the cache: the clone itself may sit in a
      // folder that user cannot read (a checkout under mktemp -d is 0700).
      const built = fileURLToPath(new URL('../../../dist/', import.meta.url));
      mkdirSync(join(base, 'mod', 'mlflow'), { recursive: true });
      writeFileSync(join(base, 'mod', 'package.json'), '{"type": "module"}\n');
      copyFileSync(join(built, 'errors.js'), join(base, 'mod', 'errors.js'));
      copyFileSync(join(built, 'mlflow', 'cache.js'), join(base, 'mod', 'mlflow', 'cache.js'));
      const mod = join(base, 'mod', 'mlflow', 'cache.js');
      const script = `import(${JSON.stringify(mod)}).then((m) => m.cached(${JSON.stringify(root)}, 'a/1', { source: 's' }, async () => []))` +
        '.then(() => console.log("no error"), (e) => console.log(`${e.code}: ${e.message}`))';
      const r = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
      expect(r.stdout.trim(), r.stderr).toMatch(new RegExp(`^STORAGE: cannot write the model cache: ${root} is not writable by the daemon's user \\(uid 65534\\) \\(EACCES on ${root}/\\.tmp-[0-9a-f]+\\)`));
    }
    expect(readdirSync(root)).toEqual([]);
  });
});
