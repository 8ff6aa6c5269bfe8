// A worker thread of the image pool (image-pool.ts): one image at a time to the model's input
// tensor (image-decode.ts), handed back with its typed array transferred.
import { parentPort } from 'node:worker_threads';
import { serveJobs } from '../daemon/dataplane/thread-pool.js';
import type { Tensor } from '../tensor.js';
import { imageToTensor } from './image-decode.js';
import type { ImageStage } from './spec.js';

export interface ImageJob {
  id: number;
  bytes: Uint8Array;
  stage: ImageStage;
  inputName: string;
  batched: boolean;
}

serveJobs<ImageJob, Tensor>(
  parentPort!,
  (job) => imageToTensor(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.stage, job.inputName, job.batched),
  (t) => [(t.data as Float32Array | Uint8Array).buffer as ArrayBuffer],
);
