// A response body written to a file, including bodies that ended, failed or closed before the
// writer looked at them (a server that cuts the connection right after the headers, on a busy
// machine where opening the file takes a while). Each case is raced against a timer: a writer
// that waits for an event that already happened fails here instead of hanging.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyError, writeBodyToFile } from '../../../src/mlflow/body-to-file.js';

const dest = () => join(mkdtempSync(join(tmpdir(), 'body-file-')), 'f');
const settle = async (p: Promise<number>) => {
  const timer = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 2000).unref());
  return Promise.race([p.then((n) => ({ n }), (e: BodyError) => ({ e })), timer]);
};
const tick = () => new Promise((r) => setImmediate(r));

describe('writeBodyToFile', () => {
  it.each([
    {
      why: 'ended before it was read',
      body: async () => {
        const b = new PassThrough();
        b.end(Buffer.from('abcdef'));
        b.resume(); // drained by someone else: 'end' is already past
        await tick();
        b.pause();
        return b;
      },
      want: { n: 0 },
    },
    {
      why: 'failed before it was read',
      body: async () => {
        const b = new PassThrough();
        b.on('error', () => {}); // the HTTP client's own listener
        b.destroy(new Error('other side closed'));
        await tick();
        return b;
      },
      want: { error: /^other side closed$/ },
    },
    {
      why: 'closed with no error before its end',
      body: async () => {
        const b = new PassThrough();
        b.write('part');
        b.destroy();
        await tick();
        return b;
      },
      want: { error: /closed before the end of the file/ },
    },
  ])('settles on a body that $why', async ({ body, want }) => {
    const file = dest();
    const out = await settle(writeBodyToFile(await body(), file, () => {}));
    expect(out).not.toBe('hung');
    if ('error' in want) {
      expect((out as { e: BodyError }).e).toBeInstanceOf(BodyError);
      expect((out as { e: BodyError }).e.message).toMatch(want.error!);
      expect(existsSync(file)).toBe(false);
    } else {
      expect(out).toEqual(want);
      expect(statSync(file).size).toBe(want.n);
    }
  });

  it('writes every chunk once, in order, in batches, with mode 0600', async () => {
    const chunks = Array.from({ length: 3000 }, (_, i) => Buffer.alloc(700, i % 251));
    const file = dest();
    let seen = 0;
    const n = await writeBodyToFile(Readable.from(chunks), file, (k) => (seen += k));
    expect(n).toBe(3000 * 700);
    expect(seen).toBe(n);
    expect(readFileSync(file).equals(Buffer.concat(chunks))).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('stops at the limit with its error, marked as the limit, and deletes the file', async () => {
    const file = dest();
    const body = Readable.from(Array.from({ length: 10 }, () => Buffer.alloc(100)));
    const err = (await writeBodyToFile(body, file, () => {}, { maxBytes: 250, exceeded: (got) => new Error(`over at ${got}`) }).catch((e) => e)) as BodyError;
    expect(err.overLimit).toBe(true);
    expect(err.reason.message).toBe('over at 300');
    expect(err.written).toBe(200);
    expect(existsSync(file)).toBe(false);
    expect(body.destroyed).toBe(true);
  });
});
