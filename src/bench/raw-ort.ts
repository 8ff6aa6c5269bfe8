// The limit mlserve is measured against: onnxruntime-node in-process, back-to-back runs at a
// given batch size. Usage: node dist/bench/raw-ort.js <model.onnx> <threads> <batch> <seconds>
// prints {"batch","runs","samplesPerSec","p50Ms","p99Ms"}.
import * as ort from 'onnxruntime-node';

const [file, threads, batchArg, secondsArg] = process.argv.slice(2);
const batch = Number(batchArg);
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: Number(threads), interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const meta = session.inputMetadata[0] as { name: string; shape: readonly (number | string)[] };
const shape = meta.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batch : 1));
const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i));
const feeds = { [meta.name]: new ort.Tensor('float32', data, shape) };
for (let i = 0; i < 3; i++) await session.run(feeds);
const times: number[] = [];
const end = performance.now() + Number(secondsArg) * 1000;
while (performance.now() < end) {
  const t = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const total = times.reduce((a, b) => a + b, 0);
console.log(JSON.stringify({
  batch, runs: times.length, samplesPerSec: (times.length * batch) / (total / 1000),
  p50Ms: times[Math.floor(times.length * 0.5)], p99Ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
}));
