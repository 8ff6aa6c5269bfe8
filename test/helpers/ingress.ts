// An ingress in this process, in front of a real Dispatcher whose one replica is a fake at the
// other end of an in-memory pipe (the project's frame codec): attacks on the ingress run in
// milliseconds, without a daemon or a replica process. Plus raw-socket clients for the requests an
// HTTP client library would not send (slow bodies, partial headers, odd Host headers).
import net from 'node:net';
import { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createIngress, type IngressOptions, type IngressServer } from '../../src/daemon/dataplane/ingress.js';
import { DEFAULT_DISPATCH, Dispatcher, type DispatchOptions } from '../../src/daemon/dataplane/dispatcher.js';
import { ReplicaLink } from '../../src/daemon/dataplane/replica-link.js';
import { RouteTable, type ServingTarget } from '../../src/daemon/dataplane/routes.js';
import { ShadowMirror } from '../../src/daemon/dataplane/shadow.js';
import { Metrics } from '../../src/daemon/metrics.js';
import { FrameDecoder, encodeFrame, type DecodedFrame } from '../../src/runtime/frame.js';
import type { Signature, Tensor } from '../../src/tensor.js';

/** The replica's end of the pipe: answers each infer with `answer(inputs)`, or holds it while `hold` is set. */
export class FakeReplica {
  readonly link: ReplicaLink;
  readonly held: DecodedFrame[] = [];
  hold = false;
  answer: (inputs: Tensor[]) => Tensor[] = (ts) => ts.map((t) => ({ ...t, name: 'y', shape: [t.shape[0]!, 2], data: new Float32Array(t.shape[0]! * 2).fill(1) }));
  private readonly pipe: Duplex;
  private readonly decoder = new FrameDecoder();

  constructor() {
    this.pipe = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, cb) => {
        for (const f of this.decoder.push(chunk)) this.onFrame(f);
        cb();
      },
    });
    this.link = new ReplicaLink(this.pipe, () => {});
  }

  private onFrame(f: DecodedFrame): void {
    if (f.header.t !== 'infer') return;
    if (this.hold) this.held.push(f);
    else queueMicrotask(() => this.reply(f));
  }

  reply(f: DecodedFrame): void {
    this.pipe.push(Buffer.concat(encodeFrame({ t: 'result', id: f.header.id, computeMs: 1 }, this.answer(f.tensors))));
  }

  release(): void {
    this.hold = false;
    for (const f of this.held.splice(0)) this.reply(f);
  }
}

/** The JSON pool's worker as built (vitest runs src/, a worker thread needs JavaScript: npm run build first). */
export const WORKER = new URL('../../dist/daemon/dataplane/json-worker.js', import.meta.url);

export const SIG: Signature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
};

export interface TestIngress {
  url: string;
  port: number;
  server: IngressServer;
  replica: FakeReplica;
  dispatcher: Dispatcher;
  metrics: Metrics;
  routes: RouteTable;
  close(): Promise<void>;
}

export async function startIngress(opts: Partial<IngressOptions> = {}, dispatch: Partial<DispatchOptions> = {}, sig: Signature = SIG): Promise<TestIngress> {
  const replica = new FakeReplica();
  const pool = { ready: () => [{ idx: 0, link: replica.link }], get members() { return [{ idx: 0, link: replica.link }]; }, alive: () => true };
  const options: DispatchOptions = { ...DEFAULT_DISPATCH, maxOngoingRequests: 1, ...dispatch };
  const dispatcher = new Dispatcher(pool, () => options);
  const target: ServingTarget = {
    name: 'm-v1', endpoint: 'm', version: '1', platform: 'onnxruntime_onnx', spec: sig, dispatcher,
    readyReplicas: () => 1, mayScaleToZero: false, dispatchOptions: () => options,
  };
  const routes = new RouteTable();
  routes.publish([{ endpoint: 'm', primary: target, canary: null, weight: 0, shadow: 0 }]);
  const metrics = new Metrics({ runtimes: () => [], restarts: () => new Map(), daemonStarts: () => 0, canaryWeights: () => new Map(), gpus: () => [] });
  const server = createIngress({ routes, shadow: new ShadowMirror() }, { maxBodyBytes: 1 << 20, metrics, serveMetrics: true, jsonPool: { workerUrl: WORKER }, ...opts });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const scheme = opts.security?.tls ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${port}`, port, server, replica, dispatcher, metrics, routes,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** The value of one sample of a counter (0 when absent). */
export async function counter(metrics: Metrics, name: 'requests' | 'errors', code: string): Promise<number> {
  const m = await metrics[name].get();
  return m.values.filter((v) => v.labels.code === code).reduce((a, v) => a + v.value, 0);
}

export const inferBody = (data: unknown = [1, 2, 3, 4], shape = [1, 4], datatype = 'FP32') =>
  JSON.stringify({ inputs: [{ name: 'x', shape, datatype, data }] });

/** A raw TCP client: write what you like, read what comes back, see when the server closes. */
export class RawClient {
  readonly socket: net.Socket;
  data = '';
  closed = false;
  readonly closedAt: Promise<number>;
  private readonly opened = performance.now();

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => (this.data += d));
    this.socket.on('error', () => {});
    this.closedAt = new Promise((r) => this.socket.once('close', () => {
      this.closed = true;
      r(performance.now() - this.opened);
    }));
  }

  ready(): Promise<void> {
    return new Promise((r) => (this.socket.connecting ? this.socket.once('connect', () => r()) : r()));
  }

  write(s: string | Buffer): void {
    this.socket.write(s);
  }

  /** Resolves once the received text matches, or rejects after `ms`. */
  async waitFor(re: RegExp, ms = 3000): Promise<string> {
    const end = performance.now() + ms;
    while (!re.test(this.data)) {
      if (performance.now() > end) throw new Error(`no ${re} within ${ms} ms; got: ${JSON.stringify(this.data.slice(0, 300))}${this.closed ? ' (closed)' : ''}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.data;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A request's head: method, path, headers (Host given unless set). */
export function head(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const h = { host: '127.0.0.1', ...headers };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
