// PURE: the messages between an ONNX replica's main thread and its engine worker (engine.ts,
// engine-worker.ts), and which buffers a message moves instead of copying.
import type { Tensor, TensorSpec } from '../tensor.js';

export type ToEngine =
  | { t: 'load'; file: string; threads?: number; providers?: string[]; warmup: boolean }
  | { t: 'run'; id: number; tensors: Tensor[]; outputs?: string[] };

export type FromEngine =
  | { t: 'loaded'; inputs: TensorSpec[]; outputs: TensorSpec[]; loadMs: number; warmupMs?: number; warmupError?: string }
  | { t: 'load-failed'; message: string }
  | { t: 'done'; id: number; outputs: Tensor[]; computeMs: number }
  | { t: 'failed'; id: number; message: string };

/**
 * Buffers larger than this move (postMessage transfer list); smaller ones are copied. A replica's
 * frame decoder gives every frame above its 64 KiB read buffer its own ArrayBuffer, while smaller
 * frames may share one chunk's copy with other frames: moving that would empty their views.
 */
export const TRANSFER_MIN_BYTES = 64 * 1024;

/** The distinct ArrayBuffers behind `tensors` that are worth moving (> minBytes; never shared memory). */
export function transferList(tensors: readonly Tensor[], minBytes = TRANSFER_MIN_BYTES): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of tensors) {
    if (Array.isArray(t.data)) continue;
    const buf = (t.data as ArrayBufferView).buffer;
    if (buf instanceof ArrayBuffer && buf.byteLength > minBytes) out.add(buf);
  }
  return [...out];
}

/** Does a replica with these onnxruntime execution providers run on a GPU (anything but 'cpu')? */
export function onGpu(providers: readonly string[] | undefined): boolean {
  return (providers ?? []).some((p) => p !== 'cpu');
}

/** A main-thread run this short does not hold up the pipe (a frame's read waits at most this long). */
export const INLINE_MAX_MS = 1;

/**
 * Run the next batch on the replica's main-thread session instead of an engine thread? Only for a
 * model whose warm run took under INLINE_MAX_MS (`inlineMs`; undefined: no such session), and only
 * while every engine is idle and the main-thread session is free. Waking an idle worker thread and
 * hearing back costs 130-170 µs here (a postMessage round trip to a sleeping thread), most of a tiny
 * model's latency at one request in flight; under load the engine threads run batches side by side.
 */
export function runInline(o: { inlineMs: number | undefined; inlineBusy: boolean; idleEngines: number; engines: number }): boolean {
  return o.inlineMs !== undefined && o.inlineMs < INLINE_MAX_MS && !o.inlineBusy && o.idleEngines === o.engines;
}
