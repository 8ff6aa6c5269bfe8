// The worker thread of payload capture: a CaptureWriter answering the main thread's requests
// ({id, op, args} -> {id, result} or {id, error}) one message at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { CaptureWriter, type Batch } from './writer.js';

const writer = new CaptureWriter((workerData as { dir: string }).dir);
const port = parentPort!;

port.on('message', (m: { id: number; op: 'process' | 'take' | 'files' | 'drift' | 'settled'; args: unknown[] }) => {
  const run = async (): Promise<unknown> => {
    switch (m.op) {
      case 'process': return writer.process(m.args[0] as Batch);
      case 'take': return writer.take();
      case 'files': return writer.files(m.args[0] as string);
      case 'drift': return writer.drift(m.args[0] as string, m.args[1] as string, m.args[2] as number);
      case 'settled': return writer.settled();
    }
  };
  run().then((result) => port.postMessage({ id: m.id, result }), (err: Error) => port.postMessage({ id: m.id, error: err.message }));
});
