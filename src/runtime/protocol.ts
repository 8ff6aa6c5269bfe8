// Messages between the daemon and a replica. Each travels as one binary frame (see frame.ts):
// a small JSON header plus raw tensor bytes. Tensor data never goes through JSON.
import type { TensorSpec } from '../tensor.js';
import type { LlmFromReplica, LlmToReplica } from './llm/protocol.js';

/** How the daemon starts a replica (passed as one JSON argument, never through a shell). */
export interface ReplicaConfig {
  deployment: string;
  replica: number;
  modelFile: string;
  threads?: number;
  /** Batches run at once (max_concurrent_batches); more that arrive wait their turn here. */
  concurrency?: number;
  /**
   * onnxruntime sessions (engines), each in its own worker thread, sharing `threads` (at least one
   * each); default 1. A batch runs on a free engine; with fewer engines than `concurrency`, batches
   * wait for one.
   */
  engines?: number;
  /** onnxruntime execution providers in order of preference, e.g. ['cuda', 'cpu']. */
  providers?: string[];
  /** false: report ready without the warm-up run (one request built from the model's inputs). */
  warmup?: boolean;
}

export type ToReplica =
  | { t: 'infer'; id: number; outputs?: string[] }
  | { t: 'ping'; id: number }
  | LlmToReplica;

export type FromReplica =
  | { t: 'ready'; inputs: TensorSpec[]; outputs: TensorSpec[]; loadMs: number; pid: number; warmupMs?: number }
  | { t: 'fatal'; message: string }
  | { t: 'result'; id: number; computeMs: number }
  | { t: 'error'; id: number; message: string; code?: string; status?: number; param?: string }
  | { t: 'pong'; id: number }
  | LlmFromReplica;
