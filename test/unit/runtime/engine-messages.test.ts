import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { INLINE_MAX_MS, onGpu, runInline, transferList, TRANSFER_MIN_BYTES } from '../../../src/runtime/engine-messages.js';
import type { Tensor } from '../../../src/tensor.js';

const f32 = (buf: ArrayBuffer | SharedArrayBuffer, offset = 0, n = 4): Tensor => ({ name: 'x', datatype: 'FP32', shape: [n], data: new Float32Array(buf, offset, n) });

describe('engine messages: which buffers move to the worker', () => {
  const big = () => new ArrayBuffer(TRANSFER_MIN_BYTES + 8);
  it.each([
    ['a big frame buffer moves once, however many tensors view it', () => {
      const b = big();
      return { tensors: [f32(b, 0), f32(b, 64)], want: [b] };
    }],
    ['a buffer of exactly the threshold is copied (a 64 KiB read chunk may hold several frames)', () => ({ tensors: [f32(new ArrayBuffer(TRANSFER_MIN_BYTES))], want: [] })],
    ['small buffers are copied', () => ({ tensors: [f32(new ArrayBuffer(64))], want: [] })],
    ['shared memory is never transferred', () => ({ tensors: [f32(new SharedArrayBuffer(TRANSFER_MIN_BYTES + 8))], want: [] })],
    ['BYTES tensors have no buffer', () => ({ tensors: [{ name: 's', datatype: 'BYTES', shape: [1], data: ['a'] } as Tensor], want: [] })],
    ['distinct big buffers all move, in order', () => {
      const a = big();
      const b = big();
      return { tensors: [f32(a), f32(b), f32(a)], want: [a, b] };
    }],
  ])('%s', (_what, make) => {
    const { tensors, want } = make();
    const got = transferList(tensors);
    expect(got).toHaveLength(want.length);
    got.forEach((b, i) => expect(b).toBe(want[i]));
  });

  it('a moved buffer arrives with its views intact (structured clone keeps offsets)', async () => {
    const b = big();
    const t = [f32(b, 0), f32(b, 64)];
    (t[1]!.data as Float32Array)[0] = 7;
    const { port1, port2 } = new MessageChannel();
    const got = new Promise<Tensor[]>((resolve) => port2.once('message', resolve));
    port1.postMessage(t, transferList(t));
    const back = await got;
    port1.close();
    expect(b.byteLength).toBe(0); // moved, not copied
    expect((back[1]!.data as Float32Array)[0]).toBe(7);
    expect((back[0]!.data as Float32Array).buffer).toBe((back[1]!.data as Float32Array).buffer);
  });
});

describe('runInline: a tiny model\'s batch runs on the replica\'s main thread only when nothing else runs', () => {
  it.each([
    // inlineMs, inlineBusy, idleEngines, engines -> inline?
    [0.08, false, 2, 2, true],
    [0.08, false, 1, 2, false], // an engine is busy: the engines take the load
    [0.08, true, 2, 2, false], // the main-thread session is running already
    [undefined, false, 2, 2, false], // no main-thread session (a slow model, or a GPU)
    [INLINE_MAX_MS, false, 1, 1, false], // not under the limit
    [INLINE_MAX_MS * 0.99, false, 1, 1, true],
  ])('warm run %s ms, busy %s, %i of %i engines idle -> %s', (inlineMs, inlineBusy, idleEngines, engines, want) => {
    expect(runInline({ inlineMs, inlineBusy, idleEngines, engines })).toBe(want);
  });
});

describe('onGpu: a replica runs on a GPU when any execution provider is not the CPU', () => {
  it.each([
    [undefined, false],
    [[], false],
    [['cpu'], false],
    [['cuda', 'cpu'], true],
    [['tensorrt'], true],
  ])('%j -> %s', (providers, want) => {
    expect(onGpu(providers as string[] | undefined)).toBe(want);
  });
});
