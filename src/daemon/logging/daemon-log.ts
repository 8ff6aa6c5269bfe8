// The daemon's own log. Everything it prints (console.*, process.stdout/stderr writes: its parts,
// Node's warnings, the CLI's error on a failed start) goes through one rate limiter
// (rate-limit.ts), then either to the terminal (`--foreground`: systemd and journald keep it) or,
// for a detached daemon, to $MLSERVE_HOME/logs/daemon.log, which the daemon writes itself: with a
// timestamp per message, rotated by size, and reopened on SIGHUP after an external rotation.
import { DEFAULT_RATE_LIMITS, LineLimiter, type RateLimits } from './rate-limit.js';
import { DEFAULT_ROTATION, RotatingFile, type RotationPolicy } from './log-file.js';

type Write = (chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void) => boolean;
interface Writable {
  write: Write;
}

export interface DaemonLogOptions {
  /** Write to this file (rotated by size) instead of stdout/stderr. */
  file?: string;
  rotation?: RotationPolicy;
  limits?: RateLimits;
  now?: () => number;
  /** The streams to take over (tests pass fakes). */
  stdout?: Writable;
  stderr?: Writable;
  /** How often summaries of floods that stopped are written. */
  flushEveryMs?: number;
}

export interface DaemonLog {
  /** The file written, when not the terminal. */
  readonly file: string | undefined;
  /** Reopen the file (after logrotate moved it); false when writing to the terminal. */
  reopen(): boolean;
  /** Write pending summaries, give the streams back, close the file. */
  close(): void;
  /** Messages dropped by the rate limits so far. */
  readonly dropped: number;
}

export function installDaemonLog(opts: DaemonLogOptions = {}): DaemonLog {
  const stdout = opts.stdout ?? (process.stdout as unknown as Writable);
  const stderr = opts.stderr ?? (process.stderr as unknown as Writable);
  const now = opts.now ?? Date.now;
  const limiter = new LineLimiter(opts.limits ?? DEFAULT_RATE_LIMITS);
  const file = opts.file ? new RotatingFile(opts.file, opts.rotation ?? DEFAULT_ROTATION) : null;
  const original = { out: stdout.write, err: stderr.write };
  let dropped = 0;

  const emit = (text: string, toErr: boolean) => {
    if (file) file.write(`${new Date(now()).toISOString()} ${text.endsWith('\n') ? text : `${text}\n`}`);
    else (toErr ? original.err : original.out).call(toErr ? stderr : stdout, text);
  };
  const summaries = (lines: string[]) => {
    for (const l of lines) emit(`mlserve daemon: ${l}\n`, true);
  };
  const wrap = (toErr: boolean): Write => (chunk, encoding, cb) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const { write, before } = limiter.offer(text, now());
    summaries(before);
    if (write) emit(text, toErr);
    else dropped++;
    const done = typeof encoding === 'function' ? encoding : cb;
    if (done) process.nextTick(done);
    return true;
  };
  stdout.write = wrap(false);
  stderr.write = wrap(true);
  // A terminal that went away (SIGHUP) fails writes with EIO: the daemon stops cleanly regardless.
  const ignore = () => {};
  if (!opts.stdout) process.stdout.on('error', ignore);
  if (!opts.stderr) process.stderr.on('error', ignore);
  const timer = setInterval(() => summaries(limiter.due(now())), opts.flushEveryMs ?? 5000);
  timer.unref();

  return {
    file: opts.file,
    get dropped() {
      return dropped;
    },
    reopen: () => {
      if (!file) return false;
      file.reopen();
      return true;
    },
    close: () => {
      clearInterval(timer);
      summaries(limiter.flush());
      stdout.write = original.out;
      stderr.write = original.err;
      file?.close();
    },
  };
}
