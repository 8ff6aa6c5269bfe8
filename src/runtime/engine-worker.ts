// The worker thread of an ONNX replica that owns the onnxruntime session (see engine.ts for why):
// it loads the model, runs the warm-up, then runs each batch the replica's main thread posts and
// posts the outputs back, their buffers transferred (no copy).
import { parentPort } from 'node:worker_threads';
import { exampleTensors } from './example.js';
import { loadModel, runModel, type LoadedModel } from './session.js';
import { transferList, type FromEngine, type ToEngine } from './engine-messages.js';

const port = parentPort;
if (!port) throw new Error('engine-worker.js runs as a worker thread of a replica');

let model: LoadedModel | undefined;

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const post = (m: FromEngine, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: ToEngine) => {
  if (m.t === 'load') {
    void (async () => {
      const started = performance.now();
      try {
        model = await loadModel(m.file, { threads: m.threads, providers: m.providers });
      } catch (err) {
        return post({ t: 'load-failed', message: message(err) });
      }
      const loadMs = performance.now() - started;
      let warmupMs: number | undefined;
      let warmupError: string | undefined;
      if (m.warmup) {
        const t0 = performance.now();
        try {
          await runModel(model, exampleTensors(model.inputs));
          warmupMs = performance.now() - t0;
        } catch (err) {
          warmupError = message(err);
        }
      }
      post({ t: 'loaded', inputs: model.inputs, outputs: model.outputs, loadMs, warmupMs, warmupError });
    })();
    return;
  }
  if (m.t === 'run') {
    if (!model) return post({ t: 'failed', id: m.id, message: 'the model is not loaded' });
    const started = performance.now();
    // onnxruntime-node's run() is synchronous under its promise: it holds this thread, not the replica's.
    runModel(model, m.tensors, m.outputs).then(
      (outputs) => post({ t: 'done', id: m.id, outputs, computeMs: performance.now() - started }, transferList(outputs)),
      (err) => post({ t: 'failed', id: m.id, message: message(err) }),
    );
  }
});
