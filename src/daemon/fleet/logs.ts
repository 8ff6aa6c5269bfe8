// Replica log files as timestamped lines: the tail of each, or every line as it is written, for a
// deployment or all of an endpoint's deployments. Which files: the replicas the store knows and the
// log files on disk (a new revision numbers its replicas after the old ones, so indices are not
// 0..n-1), listed again while following so replicas added meanwhile are followed too.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import type http from 'node:http';
import { LOG_STAMP_RE } from '../../runtime/log-stamp.js';
import { logTail } from './supervisor.js';
import { replicaLogFile } from './replica-set.js';

/** One log line: when it was written, by which replica. */
export interface LogLine {
  ts: string;
  deployment: string;
  replica: number;
  line: string;
}

/** A deployment whose logs are read: its name, when it was created, the replica indices the store knows. */
export interface LogSource {
  deployment: string;
  createdAt: number;
  replicas: number[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The replica indices with a log: the store's, and the files on disk written since the deployment was created. */
export function replicaIndices(logDir: string, src: LogSource): number[] {
  const out = new Set(src.replicas);
  const re = new RegExp(`^${escapeRe(src.deployment)}\\.(\\d+)\\.log$`);
  let names: string[] = [];
  try {
    names = readdirSync(logDir);
  } catch {
    /* no log folder yet */
  }
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    // A file left by an earlier deployment of the same name is not this one's.
    if (statSync(`${logDir}/${name}`).mtimeMs >= src.createdAt - 1000) out.add(Number(m[1]));
  }
  return [...out].sort((a, b) => a - b);
}

/** PURE: lines of one replica's log as LogLines; a line without a stamp takes the one before it (else `fallback`). */
export function parseLines(text: string, deployment: string, replica: number, fallback: string): LogLine[] {
  let ts = fallback;
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const m = LOG_STAMP_RE.exec(raw);
    if (m) ts = m[1];
    out.push({ ts, deployment, replica, line: m ? raw.slice(m[0].length) : raw });
  }
  return out;
}

/** PURE: lines of several replicas in the order they were written (stable within a replica). */
export function byTime(lines: LogLine[]): LogLine[] {
  return lines.map((l, i) => ({ l, i })).sort((a, b) => (a.l.ts < b.l.ts ? -1 : a.l.ts > b.l.ts ? 1 : a.i - b.i)).map((x) => x.l);
}

/** The last `lines` lines of each replica of each deployment, in time order. */
export function readLogs(logDir: string, sources: LogSource[], lines: number): LogLine[] {
  const all: LogLine[] = [];
  for (const src of sources) {
    for (const idx of replicaIndices(logDir, src)) {
      const file = replicaLogFile(logDir, src.deployment, idx);
      if (!existsSync(file)) continue;
      all.push(...parseLines(logTail(file, lines), src.deployment, idx, new Date(statSync(file).mtimeMs).toISOString()));
    }
  }
  return byTime(all);
}

/**
 * Stream LogLines as NDJSON: the last `lines` of each replica, then every line as it is written,
 * until the client leaves. `sources` is asked again on every poll: replicas (and, for an endpoint,
 * deployments) that appear meanwhile are followed from their first line.
 */
export function followLogs(logDir: string, sources: () => LogSource[], lines: number, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const send = (ls: LogLine[]) => {
    if (ls.length && !res.writableEnded) res.write(ls.map((l) => `${JSON.stringify(l)}\n`).join(''));
  };
  type Followed = { offset: number; rest: string };
  const files = new Map<string, Followed>();
  const start = sources();
  send(readLogs(logDir, start, lines));
  for (const src of start) {
    for (const idx of replicaIndices(logDir, src)) {
      const file = replicaLogFile(logDir, src.deployment, idx);
      files.set(file, { offset: existsSync(file) ? statSync(file).size : 0, rest: '' });
    }
  }
  const poll = () => {
    const out: LogLine[] = [];
    for (const src of sources()) {
      for (const idx of replicaIndices(logDir, src)) {
        const file = replicaLogFile(logDir, src.deployment, idx);
        if (!existsSync(file)) continue;
        let f = files.get(file);
        if (!f) files.set(file, (f = { offset: 0, rest: '' })); // a replica that started meanwhile
        const size = statSync(file).size;
        if (size < f.offset) Object.assign(f, { offset: 0, rest: '' }); // truncated
        if (size === f.offset) continue;
        const fd = openSync(file, 'r');
        const buf = Buffer.alloc(Math.min(size - f.offset, 1 << 20));
        try {
          readSync(fd, buf, 0, buf.length, f.offset);
        } finally {
          closeSync(fd);
        }
        f.offset += buf.length;
        const text = f.rest + buf.toString('utf8');
        const end = text.lastIndexOf('\n');
        f.rest = text.slice(end + 1); // a line still being written waits for its end
        // Unstamped lines (native libraries' output) were written about now.
        out.push(...parseLines(text.slice(0, end + 1), src.deployment, idx, new Date().toISOString()));
      }
    }
    send(byTime(out));
  };
  const timer = setInterval(poll, 250);
  req.on('close', () => clearInterval(timer));
}
