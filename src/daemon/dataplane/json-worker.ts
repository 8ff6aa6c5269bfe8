// A worker thread of the JSON pool (json-pool.ts): parses and decodes one body at a time and hands
// the tensors back with their typed arrays transferred (no copy, no structured clone of numbers).
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import type { Signature } from '../../tensor.js';
import { decodeJsonBody, type JsonRoute } from './codecs/json-body.js';
import { serveJobs } from './thread-pool.js';

export interface JsonJob {
  id: number;
  route: JsonRoute;
  body: Uint8Array;
  spec: Signature;
}

// Parsing is background work: on a busy machine the event loop (and the replicas) should get the
// CPU first. On Linux a nice value is per thread, so this lowers this thread only.
try {
  setPriority(10);
} catch {
  /* not allowed here: parse at normal priority */
}

serveJobs(parentPort!, (job: JsonJob) => decodeJsonBody(job.route, job.body, job.spec), (decoded) => {
  const buffers = new Set<ArrayBuffer>();
  for (const t of decoded.inputs) if (ArrayBuffer.isView(t.data)) buffers.add(t.data.buffer as ArrayBuffer);
  return [...buffers];
});
