// Images are decoded, resized and normalized on worker threads, never on the ingress event loop:
// a 12-megapixel photo takes tens of milliseconds of CPU. One worker per core but one (at least
// one, at most 4); a full queue answers 503 with Retry-After.
import { availableParallelism } from 'node:os';
import { MlserveError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { ThreadPool } from '../daemon/dataplane/thread-pool.js';
import type { ClientGone } from '../daemon/dataplane/dispatcher.js';
import type { ImageJob } from './image-worker.js';
import type { ImageStage } from './spec.js';

export class ImagePool {
  private readonly pool: ThreadPool<Tensor>;

  constructor(opts: { size?: number; maxQueued?: number; idleMs?: number } = {}) {
    this.pool = new ThreadPool<Tensor>({
      size: opts.size ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
      maxQueued: opts.maxQueued ?? 256,
      idleMs: opts.idleMs ?? 30_000,
      workerUrl: new URL('./image-worker.js', import.meta.url),
      overloaded: (queued) => new MlserveError('OVERLOADED', `${queued} images wait to be decoded; retry later`, { headers: { 'Retry-After': '1' } }),
      workerFailed: (err) => {
        if (!err) return new MlserveError('INTERNAL', 'the image decoding thread exited');
        return err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new MlserveError('PAYLOAD_TOO_LARGE', 'the image needs more memory to decode than the decoding thread has; send a smaller image or lower the image stage\'s max_pixels')
          : new MlserveError('INTERNAL', `the image decoding thread failed: ${err.message}`, { cause: err });
      },
      clientGone: 'the client left before its image was decoded',
    });
  }

  /** The model input for one image; `bytes` moves to the worker (do not use it after). */
  toTensor(bytes: Buffer, stage: ImageStage, inputName: string, batched: boolean, gone?: ClientGone): Promise<Tensor> {
    // Only a buffer that is the whole of its ArrayBuffer moves; a slice (of Node's shared pool) is copied first.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
    const job: Omit<ImageJob, 'id'> = { bytes: own, stage, inputName, batched };
    return this.pool.run(job, [own.buffer as ArrayBuffer], gone);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
