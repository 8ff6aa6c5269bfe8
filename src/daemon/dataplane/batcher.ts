// The dynamic batcher's decision: which queued requests leave together for a free replica, or how
// long to wait for more. Modelled on Triton's dynamic batcher (batches form when an instance is
// free; never exceed max_batch_size; requests with different input shapes never share a batch;
// max_queue_delay 0 = never wait) and Ray Serve's @serve.batch (flush early when full, else when
// the oldest member has waited batch_wait_timeout_s).
// PURE: no I/O, no timers; time comes in as an argument.

import type { TensorSpec } from '../../tensor.js';

/** One queued request as the batcher sees it. */
export interface Pending {
  /** The request's size along dim 0 (1 for models that are not batched). */
  rows: number;
  /** Groups compatible requests (see batchKey): requests with different keys never share a batch. */
  key: string;
  /** When it was queued (ms, same clock as `now`). */
  enqueuedAt: number;
  /** When it expires (ms, same clock as `now`): `deadline <= now` is expired. Infinity = never. */
  deadline: number;
}

export interface BatchPolicy {
  /** Most rows in one batch (values below 1 count as 1). */
  maxBatchSize: number;
  /** How long a partial batch may wait for more requests, from its oldest member's enqueuedAt (0 = never wait). */
  batchWaitMs: number;
}

/** Send these queue indices now as one batch (ascending = FIFO order). */
export interface TakeDecision { take: number[]; expired: number[] }
/** A partial batch is waiting: decide again after at most `waitMs` (or on a new arrival). */
export interface WaitDecision { waitMs: number; expired: number[] }
export type BatchDecision = TakeDecision | WaitDecision;

/**
 * Decide what leaves now, when a replica has a free slot.
 *
 * Contract (all indices refer to `queue` exactly as passed, which is in FIFO order):
 * - `expired` (in every non-null result) lists, ascending, every entry with `deadline <= now`,
 *   wherever it is in the queue. Expired entries are never taken: fail them (504) and remove them.
 * - null: the queue is empty.
 * - `{ take: [], expired }`: every entry has expired; nothing to send (take is empty only then).
 * - The head is the first non-expired entry; its key defines the batch. Walking the queue in FIFO
 *   order, entries with that key join while the summed rows stay <= maxBatchSize; the walk stops
 *   at the first same-key entry that would overflow (no overtaking within a key). Entries with other
 *   keys are skipped and keep their places. A head larger than maxBatchSize goes alone.
 * - The batch is *full* when its rows reach maxBatchSize, or when the next same-key entry does not
 *   fit (waiting could not grow it), or when the head alone exceeds maxBatchSize.
 * - `{ take, expired }` when batchWaitMs <= 0 (work-conserving: no waiting), or the batch is full,
 *   or its oldest member has waited >= batchWaitMs (now - min(enqueuedAt) >= batchWaitMs).
 * - Otherwise `{ waitMs, expired }`, waitMs > 0 = how long until the batch must leave
 *   (oldest enqueuedAt + batchWaitMs - now). Call again then, or earlier when a request arrives.
 *   waitMs does not account for members' deadlines: a member whose deadline passes meanwhile is
 *   reported expired on the next call (the caller runs its own deadline timers).
 * Remove `take` and `expired` from the queue together (e.g. in descending index order).
 * A partial batch waiting for its key holds back other keys behind it (head-of-line, as in Triton).
 */
export function nextBatch(queue: readonly Pending[], policy: BatchPolicy, now: number): BatchDecision | null {
  if (queue.length === 0) return null;
  const max = Math.max(1, policy.maxBatchSize);
  const expired: number[] = [];
  const take: number[] = [];
  let key: string | undefined;
  let rows = 0;
  let oldest = Infinity;
  let collecting = true;
  let full = false;
  for (let i = 0; i < queue.length; i++) {
    const p = queue[i]!;
    if (p.deadline <= now) {
      expired.push(i);
      continue;
    }
    if (!collecting) continue;
    if (key === undefined) {
      key = p.key;
    } else if (p.key !== key) {
      continue;
    } else if (rows + p.rows > max) {
      full = true; // the next one of this key does not fit: waiting cannot grow the batch
      collecting = false;
      continue;
    }
    take.push(i);
    rows += p.rows;
    if (p.enqueuedAt < oldest) oldest = p.enqueuedAt;
    if (rows >= max) {
      full = true;
      collecting = false;
    }
  }
  if (take.length === 0) return { take, expired };
  const wait = policy.batchWaitMs;
  if (wait <= 0 || full || now - oldest >= wait) return { take, expired };
  return { waitMs: oldest + wait - now, expired };
}

type InputLike = Pick<TensorSpec, 'name' | 'datatype' | 'shape'>;

/**
 * The grouping key of a request: each input's name, datatype and non-batch dims (shape without
 * dim 0), in the order given (pass the decoded inputs, which are in the signature's order), plus
 * the requested output names as a set (sorted; undefined = all outputs, distinct from naming
 * them all). Names are length-prefixed so no name can forge another key.
 */
export function batchKey(inputs: readonly InputLike[], outputs?: readonly string[]): string {
  let key = '';
  for (const t of inputs) key += `${t.name.length}:${t.name} ${t.datatype} ${t.shape.slice(1).join(',')};`;
  if (outputs === undefined) return `${key}>*`;
  key += '>';
  const names = outputs.length > 1 ? outputs.slice().sort() : outputs;
  for (const n of names) key += `${n.length}:${n};`;
  return key;
}

/**
 * A request's rows: the shared dim 0 of its inputs. undefined when it has no inputs, an input is
 * a scalar, or the inputs disagree on dim 0: such a request cannot share a batch (run it alone).
 */
export function requestRows(inputs: readonly Pick<TensorSpec, 'shape'>[]): number | undefined {
  if (inputs.length === 0) return undefined;
  const rows = inputs[0]!.shape[0];
  if (rows === undefined) return undefined;
  for (let i = 1; i < inputs.length; i++) if (inputs[i]!.shape[0] !== rows) return undefined;
  return rows;
}
