// The ingress thread's own stalls while big JSON bodies arrive: an ingress in this process, in front
// of a replica that only reads frame headers (no model, no decoding of the tensors it is sent), and
// the event loop's delay measured while another process posts the bodies. It tells the ingress's
// own blocking apart from what a shared machine's scheduler adds to a client's latency.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';
import { DEFAULT_DISPATCH, Dispatcher } from '../daemon/dataplane/dispatcher.js';
import { createIngress } from '../daemon/dataplane/ingress.js';
import { ReplicaLink } from '../daemon/dataplane/replica-link.js';
import { RouteTable } from '../daemon/dataplane/routes.js';
import { ShadowMirror } from '../daemon/dataplane/shadow.js';
import { encodeFrame } from '../runtime/frame.js';
import type { Signature } from '../tensor.js';

/** A replica end that answers each infer frame with one row of output per input row, reading only the frame's header. */
function headerOnlyReplica(): ReplicaLink {
  let skip = 0;
  const pipe: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      if (skip > 0) {
        skip -= chunk.length;
        return cb();
      }
      // A frame's first write is its prefix: u32 length, u32 header length, JSON header.
      const rest = chunk.readUInt32LE(0);
      const headerLen = chunk.readUInt32LE(4);
      const header = JSON.parse(chunk.subarray(8, 8 + headerLen).toString('utf8')) as { t: string; id: number; tensors: Array<{ shape: number[] }> };
      skip = rest - 4 - headerLen - (chunk.length - 8 - headerLen);
      if (header.t === 'infer') {
        const rows = header.tensors[0]?.shape[0] ?? 1;
        setImmediate(() => pipe.push(Buffer.concat(encodeFrame({ t: 'result', id: header.id, computeMs: 1 }, [{ name: 'y', datatype: 'FP32', shape: [rows, 1], data: new Float32Array(rows) }]))));
      }
      cb();
    },
  });
  return new ReplicaLink(pipe, () => {});
}

/** Post the body in `file` `n` times at once from another process; the ingress thread's event-loop delay meanwhile, ms. */
export async function ingressLoopDelay(postBodies: string, file: string, width: number, n: number): Promise<{ p50Ms: number; p99Ms: number; maxMs: number; statuses: number[] }> {
  const link = headerOnlyReplica();
  const options = { ...DEFAULT_DISPATCH, maxOngoingRequests: n, maxConcurrentBatches: n };
  const dispatcher = new Dispatcher({ ready: () => [{ idx: 0, link }], members: [{ idx: 0, link }], alive: () => true }, () => options);
  const spec: Signature = { inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, width] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }] };
  const routes = new RouteTable();
  routes.publish([{
    endpoint: 'wide', canary: null, weight: 0, shadow: 0,
    primary: { name: 'wide-v1', endpoint: 'wide', version: '1', platform: 'onnxruntime_onnx', spec, dispatcher, readyReplicas: () => 1, mayScaleToZero: false, dispatchOptions: () => options },
  }]);
  const server = createIngress({ routes, shadow: new ShadowMirror() }, { maxBodyBytes: 128 << 20, limits: { maxJsonBodyBytes: 128 << 20 } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const delay = monitorEventLoopDelay({ resolution: 5 });
  try {
    delay.enable();
    const out = await execa(process.execPath, [postBodies, `http://127.0.0.1:${port}/v2/models/wide/infer`, file, String(n)]);
    delay.disable();
    const statuses = (JSON.parse(String(out.stdout)) as Array<{ status: number }>).map((x) => x.status);
    return { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6, statuses };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
