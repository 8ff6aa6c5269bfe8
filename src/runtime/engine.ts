// An ONNX replica's onnxruntime session lives in a worker thread. onnxruntime-node's run() is
// synchronous under its promise: on the replica's main thread it would stop the pipe from being
// read while a batch computes, so the batch the daemon sends ahead would cross the pipe only after
// the current one ends (measured: MobileNetV2 at 64 connections, the replica idle a third of the
// time). Here the main thread keeps reading frames while the worker computes.
import { Worker } from 'node:worker_threads';
import type { Tensor, TensorSpec } from '../tensor.js';
import { exampleTensors } from './example.js';
import { transferList, type FromEngine, type ToEngine } from './engine-messages.js';
import { loadModel, runModel, type LoadedModel } from './session.js';

/** Runs one batch: an engine thread (OrtEngine) or the main thread's session (InlineEngine). */
export interface Engine {
  run(tensors: Tensor[], outputs?: string[]): Promise<{ outputs: Tensor[]; computeMs: number }>;
}

/**
 * A one-thread session on the replica's main thread, for models so fast that the hop to an engine
 * thread would be most of their latency (runInline in engine-messages.ts decides when it runs).
 */
export class InlineEngine implements Engine {
  private constructor(private readonly model: LoadedModel, readonly warmMs: number) {}

  /** Load the model here and time a warm run (the best of three, after one); null when a run fails. */
  static async load(file: string): Promise<InlineEngine | null> {
    const model = await loadModel(file, { threads: 1 });
    try {
      const example = exampleTensors(model.inputs);
      await runModel(model, example);
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await runModel(model, example);
        best = Math.min(best, performance.now() - t0);
      }
      return new InlineEngine(model, best);
    } catch {
      await model.session.release();
      return null;
    }
  }

  async run(tensors: Tensor[], outputs?: string[]): Promise<{ outputs: Tensor[]; computeMs: number }> {
    const started = performance.now();
    const out = await runModel(this.model, tensors, outputs);
    return { outputs: out, computeMs: performance.now() - started };
  }

  release(): Promise<void> {
    return this.model.session.release();
  }
}

export interface EngineLoaded { inputs: TensorSpec[]; outputs: TensorSpec[]; loadMs: number; warmupMs?: number; warmupError?: string }

export class EngineGone extends Error {}

export class OrtEngine implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: { outputs: Tensor[]; computeMs: number }) => void; reject: (e: Error) => void }>();
  private gone: Error | null = null;

  private constructor(private readonly worker: Worker, onExit: (err: Error) => void) {
    const fail = (err: Error) => {
      if (this.gone) return;
      this.gone = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      onExit(err);
    };
    worker.on('message', (m: FromEngine) => {
      if (m.t !== 'done' && m.t !== 'failed') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.t === 'done') p.resolve({ outputs: m.outputs, computeMs: m.computeMs });
      else p.reject(new Error(m.message));
    });
    worker.on('error', (err) => fail(new EngineGone(`the onnxruntime worker failed: ${err.message}`)));
    worker.on('exit', (code) => fail(new EngineGone(`the onnxruntime worker exited (code ${code})`)));
  }

  /**
   * Start the worker and load the model in it (with its warm-up run unless `warmup` is false).
   * `onExit` hears once if the worker dies later; a failed load rejects instead.
   */
  static start(opts: { file: string; threads?: number; providers?: string[]; warmup: boolean }, onExit: (err: Error) => void): Promise<{ engine: OrtEngine; loaded: EngineLoaded }> {
    const worker = new Worker(new URL('./engine-worker.js', import.meta.url));
    return new Promise((resolve, reject) => {
      const early = (err: Error) => {
        done();
        reject(err);
      };
      const onError = (err: Error) => early(new EngineGone(`the onnxruntime worker failed while loading: ${err.message}`));
      const onExitEarly = (code: number) => early(new EngineGone(`the onnxruntime worker exited (code ${code}) while loading`));
      const onMessage = (m: FromEngine) => {
        if (m.t === 'loaded') {
          done();
          const { t: _t, ...loaded } = m;
          resolve({ engine: new OrtEngine(worker, onExit), loaded });
        } else if (m.t === 'load-failed') {
          done();
          void worker.terminate();
          reject(new Error(m.message));
        }
      };
      const done = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExitEarly);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExitEarly);
      const load: ToEngine = { t: 'load', file: opts.file, threads: opts.threads, providers: opts.providers, warmup: opts.warmup };
      worker.postMessage(load);
    });
  }

  /** Run one batch in the worker. Input buffers above 64 KiB move there (the caller must not use them after). */
  run(tensors: Tensor[], outputs?: string[]): Promise<{ outputs: Tensor[]; computeMs: number }> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const msg: ToEngine = { t: 'run', id, tensors, outputs };
      this.worker.postMessage(msg, transferList(tensors));
    });
  }
}
