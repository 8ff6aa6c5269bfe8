// Replica log files: read the tail of each, or stream new lines as they are written.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type http from 'node:http';
import { logTail } from './supervisor.js';
import { replicaLogFile } from './replica-set.js';

export function readLogs(logDir: string, deployment: string, replicas: number, lines: number) {
  const out = [];
  for (let i = 0; i < replicas; i++) {
    const file = replicaLogFile(logDir, deployment, i);
    out.push({ replica: i, file, text: existsSync(file) ? logTail(file, lines) : '' });
  }
  return out;
}

/** Stream `[replica N] line` text: the last `lines` lines, then whatever is appended, until the client leaves. */
export function followLogs(logDir: string, deployment: string, replicas: number, lines: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  const offsets: number[] = [];
  for (let i = 0; i < replicas; i++) {
    const file = replicaLogFile(logDir, deployment, i);
    const tail = existsSync(file) ? logTail(file, lines) : '';
    if (tail) res.write(prefix(i, tail));
    offsets.push(existsSync(file) ? statSync(file).size : 0);
  }
  const timer = setInterval(() => {
    for (let i = 0; i < replicas; i++) {
      const file = replicaLogFile(logDir, deployment, i);
      if (!existsSync(file)) continue;
      const size = statSync(file).size;
      if (size < offsets[i]) offsets[i] = 0;
      if (size === offsets[i]) continue;
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(Math.min(size - offsets[i], 1 << 20));
      readSync(fd, buf, 0, buf.length, offsets[i]);
      closeSync(fd);
      offsets[i] += buf.length;
      res.write(prefix(i, buf.toString('utf8').trimEnd()));
    }
  }, 250);
  req.on('close', () => clearInterval(timer));
}

function prefix(replica: number, text: string): string {
  return text.split('\n').map((l) => `[replica ${replica}] ${l}\n`).join('');
}
