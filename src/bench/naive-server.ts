// The baseline mlserve is measured against: a naive single-process server (node:http, one
// onnxruntime session, one ORT run per request, no batching), speaking the same OIP v2 JSON.
// Usage: node dist/bench/naive-server.js <model.onnx> <threads>; prints {"port"} when listening.
import http from 'node:http';
import * as ort from 'onnxruntime-node';

const [file, threads = '1'] = process.argv.slice(2);
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: Number(threads), interOpNumThreads: 1, graphOptimizationLevel: 'all' });

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { inputs: { name: string; shape: number[]; data: number[] }[] };
      const feeds: Record<string, ort.Tensor> = {};
      for (const i of body.inputs) feeds[i.name] = new ort.Tensor('float32', Float32Array.from(i.data), i.shape);
      const out = await session.run(feeds);
      const outputs = Object.entries(out).map(([name, t]) => ({ name, datatype: 'FP32', shape: t.dims, data: Array.from(t.data as Float32Array) }));
      const text = JSON.stringify({ model_name: 'naive', outputs });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
