// Throughput and CPU of moving 600 KB tensors over a Unix socket (daemon -> replica) vs through a
// tmpfs file in /dev/shm (write + read back), in Node: what a /dev/shm path without mmap would do.
// Run: node bench/pipe-vs-shm.mjs (a few seconds; numbers in bench/ANALYSIS.md).
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSync, writeSync, readSync, closeSync, rmSync } from 'node:fs';
const SIZE = 602112, N = 2000;
const buf = Buffer.alloc(SIZE, 7);
const path = join(tmpdir(), `mlserve-pipe-${process.pid}.sock`);
const server = net.createServer();
await new Promise((r) => server.listen(path, r));
const got = new Promise((resolve) => server.once('connection', (s) => {
  let n = 0; const t0 = performance.now(); const c0 = process.cpuUsage();
  s.on('data', (d) => { n += d.length; if (n >= SIZE * N) { const c = process.cpuUsage(c0); resolve({ ms: performance.now() - t0, cpu: (c.user + c.system) / 1000 }); s.destroy(); } });
}));
const client = net.connect(path);
await new Promise((r) => client.once('connect', r));
for (let i = 0; i < N; i++) if (!client.write(buf)) await new Promise((r) => client.once('drain', r));
const sock = await got;
client.destroy(); server.close(); rmSync(path, { force: true });
const shm = `/dev/shm/mlserve-pipe-${process.pid}`;
const out = Buffer.alloc(SIZE);
const t0 = performance.now(); const c0 = process.cpuUsage();
const fd = openSync(shm, 'w+');
for (let i = 0; i < N; i++) { writeSync(fd, buf, 0, SIZE, 0); readSync(fd, out, 0, SIZE, 0); }
closeSync(fd); rmSync(shm);
const c = process.cpuUsage(c0); const ms = performance.now() - t0;
const per = (x) => (x / N * 1000).toFixed(0);
console.log(`unix socket: ${per(sock.ms)} us per 600 KB tensor (wall), ${per(sock.cpu)} us CPU (both ends, one process)`);
console.log(`/dev/shm file write+read: ${per(ms)} us per tensor (wall), ${per((c.user + c.system) / 1000)} us CPU`);
