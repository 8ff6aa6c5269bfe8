// Log files that do not grow without bound: RotatingFile (the daemon's own log), rotateIfFull (a
// replica's log before it starts), copyTruncateIfFull (a replica's log while it runs), and the
// policy from the environment.
import { appendFileSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyTruncateIfFull, rotateIfFull, RotatingFile, rotationFromEnv } from '../../../src/daemon/logging/log-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlserve-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const files = () => readdirSync(dir).sort();
const size = (f: string) => statSync(join(dir, f)).size;

describe('RotatingFile', () => {
  it('rotates at maxBytes and keeps `keep` old files: the total stays bounded however much is written', () => {
    const f = new RotatingFile(join(dir, 'daemon.log'), { maxBytes: 1000, keep: 3 });
    for (let i = 0; i < 500; i++) f.write(`line ${String(i).padStart(4, '0')} ${'x'.repeat(40)}\n`);
    f.close();
    expect(files()).toEqual(['daemon.log', 'daemon.log.1', 'daemon.log.2', 'daemon.log.3']);
    for (const x of files()) expect(size(x)).toBeLessThanOrEqual(1000);
    // The newest lines are in daemon.log, the ones just before in .1.
    const cur = readFileSync(join(dir, 'daemon.log'), 'utf8');
    expect(cur.trimEnd().split('\n').at(-1)).toMatch(/^line 0499/);
    const prev = readFileSync(join(dir, 'daemon.log.1'), 'utf8').trimEnd().split('\n');
    expect(Number(prev.at(-1)!.slice(5, 9)) + 1).toBe(Number(cur.slice(5, 9)));
  });

  it('keep 0: the full file is dropped', () => {
    const f = new RotatingFile(join(dir, 'a.log'), { maxBytes: 100, keep: 0 });
    for (let i = 0; i < 10; i++) f.write(`${'y'.repeat(30)}\n`);
    f.close();
    expect(files()).toEqual(['a.log']);
    expect(size('a.log')).toBeLessThanOrEqual(100);
  });

  it('appends to an existing file and counts its size', () => {
    appendFileSync(join(dir, 'a.log'), 'z'.repeat(90));
    const f = new RotatingFile(join(dir, 'a.log'), { maxBytes: 100, keep: 1 });
    f.write('0123456789abcdef\n');
    f.close();
    expect(files()).toEqual(['a.log', 'a.log.1']);
    expect(size('a.log.1')).toBe(90);
  });

  it('reopen() after an external rotation (logrotate moved the file) writes a new file at the path', () => {
    const f = new RotatingFile(join(dir, 'daemon.log'), { maxBytes: 1 << 20, keep: 3 });
    f.write('before\n');
    renameSync(join(dir, 'daemon.log'), join(dir, 'daemon.log.moved'));
    f.write('still to the moved file\n');
    f.reopen();
    f.write('after\n');
    f.close();
    expect(readFileSync(join(dir, 'daemon.log.moved'), 'utf8')).toBe('before\nstill to the moved file\n');
    expect(readFileSync(join(dir, 'daemon.log'), 'utf8')).toBe('after\n');
  });

  it('a write that fails (the folder is gone) is counted, never thrown', () => {
    const sub = join(dir, 'sub');
    const f = new RotatingFile(join(dir, 'x.log'), { maxBytes: 10, keep: 1 });
    f.write('0123456789\n');
    rmSync(dir, { recursive: true, force: true });
    expect(() => f.write('more than ten bytes\n')).not.toThrow();
    expect(f.failed).toBe(1);
    expect(existsSync(sub)).toBe(false);
    f.close();
  });
});

describe('rotateIfFull and copyTruncateIfFull', () => {
  it('rotateIfFull renames a full file (a replica about to start opens a new one); a small one stays', () => {
    appendFileSync(join(dir, 'm.0.log'), 'a'.repeat(50));
    expect(rotateIfFull(join(dir, 'm.0.log'), { maxBytes: 100, keep: 2 })).toBe(false);
    appendFileSync(join(dir, 'm.0.log'), 'a'.repeat(50));
    expect(rotateIfFull(join(dir, 'm.0.log'), { maxBytes: 100, keep: 2 })).toBe(true);
    expect(files()).toEqual(['m.0.log.1']);
    appendFileSync(join(dir, 'm.0.log'), 'b'.repeat(100));
    rotateIfFull(join(dir, 'm.0.log'), { maxBytes: 100, keep: 2 });
    appendFileSync(join(dir, 'm.0.log'), 'c'.repeat(100));
    rotateIfFull(join(dir, 'm.0.log'), { maxBytes: 100, keep: 2 });
    expect(files()).toEqual(['m.0.log.1', 'm.0.log.2']);
    expect(readFileSync(join(dir, 'm.0.log.1'), 'utf8')).toMatch(/^c+$/);
    expect(rotateIfFull(join(dir, 'missing.log'), { maxBytes: 1, keep: 1 })).toBe(false);
  });

  it('copyTruncateIfFull keeps a writer with O_APPEND writing at the start of the emptied file', () => {
    const file = join(dir, 'm.1.log');
    const fd = openSync(file, 'a'); // as the supervisor opens a replica's stdout/stderr
    writeSync(fd, 'x'.repeat(200));
    expect(copyTruncateIfFull(file, { maxBytes: 100, keep: 1 })).toBe(true);
    writeSync(fd, 'after\n');
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('after\n');
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('x'.repeat(200));
  });
});

describe('rotationFromEnv', () => {
  it.each([
    ['defaults: 10 MiB, keep 3', {}, { maxBytes: 10 * 1024 * 1024, keep: 3 }],
    ['sizes as the flags take them', { MLSERVE_LOG_MAX_SIZE: '64kb', MLSERVE_LOG_KEEP: '5' }, { maxBytes: 65536, keep: 5 }],
    ['keep 0', { MLSERVE_LOG_KEEP: '0' }, { maxBytes: 10 * 1024 * 1024, keep: 0 }],
  ])('%s', (_n, env, want) => {
    expect(rotationFromEnv(env)).toEqual(want);
  });

  it('refuses nonsense', () => {
    expect(() => rotationFromEnv({ MLSERVE_LOG_MAX_SIZE: '10' })).toThrow('MLSERVE_LOG_MAX_SIZE=10 is below 1 KiB');
    expect(() => rotationFromEnv({ MLSERVE_LOG_MAX_SIZE: 'big' })).toThrow("'big' is not a size");
    expect(() => rotationFromEnv({ MLSERVE_LOG_KEEP: '1.5' })).toThrow('MLSERVE_LOG_KEEP=1.5 is not a whole number from 0 to 100');
  });
});
