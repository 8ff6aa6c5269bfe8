// The only process code in mlserve: spawn a replica child as its kind planned it (execa, no shell), wire its framed pipe
// on fd 3 and its stdout/stderr to a log file, and report ready / exit.
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { execa } from 'execa';
import type { Duplex } from 'node:stream';
import type { FromReplica } from '../../runtime/protocol.js';
import type { TensorSpec } from '../../tensor.js';
import type { SpawnPlan } from './kinds/kind.js';
import { ReplicaLink } from '../dataplane/replica-link.js';
import { envRotation, rotateIfFull } from '../logging/log-file.js';

export interface ReadyInfo {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  loadMs: number;
  /** What else the replica said about itself (its kind's fields, e.g. python's versions and signature form). */
  about?: Record<string, unknown>;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** The replica's own error message when it failed to load. */
  fatal?: string;
}

export interface SpawnedReplica {
  pid: number;
  link: ReplicaLink;
  ready: Promise<ReadyInfo>;
  exited: Promise<ExitInfo>;
  /** Close the pipe (the replica exits by itself), then SIGKILL after graceMs. */
  stop(graceMs: number): Promise<ExitInfo>;
  kill(): void;
}

/** Start one replica as its kind planned it (`what` names it in errors). */
export function spawnReplica(plan: SpawnPlan, logFile: string, what: string): SpawnedReplica {
  rotateIfFull(logFile, envRotation()); // a restarted replica starts a new file when the old one is full
  const fd = openSync(logFile, 'a', 0o600);
  const child = execa(plan.command, plan.args, {
    // execa's types only list fds 3-9; any open fd works (it is handed to spawn as is).
    stdio: ['ignore', fd as 3, fd as 3, 'pipe'],
    buffer: false,
    reject: false,
    env: Object.fromEntries(Object.entries({ ...process.env, ...plan.env }).filter(([k]) => !plan.removeEnv?.includes(k))),
    ...(plan.cwd ? { cwd: plan.cwd } : {}),
    extendEnv: false,
    cleanup: true,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start a replica process for ${what} (${plan.command})`);

  let fatal: string | undefined;
  let onReady: (r: ReadyInfo) => void = () => {};
  let onNotReady: (e: Error) => void = () => {};
  const ready = new Promise<ReadyInfo>((res, rej) => {
    onReady = res;
    onNotReady = rej;
  });
  ready.catch(() => {});

  const link = new ReplicaLink(child.stdio[3] as Duplex, (msg: FromReplica) => {
    if (msg.t === 'ready') {
      const { t: _t, inputs, outputs, loadMs, ...about } = msg as typeof msg & Record<string, unknown>;
      onReady({ inputs, outputs, loadMs, about });
    }
    else if (msg.t === 'fatal') fatal = msg.message;
  });

  const exited = child.then((r) => {
    const info: ExitInfo = { code: r.exitCode ?? null, signal: r.signal ?? null, fatal };
    link.close(`replica exited (${describeExit(info)})`);
    const tail = logTail(logFile, 8);
    onNotReady(new Error(fatal ?? `replica exited before it was ready (${describeExit(info)})${tail ? `; last output:\n${tail}` : ''}`));
    return info;
  });

  const kill = () => {
    child.kill('SIGKILL');
  };
  const stop = async (graceMs: number) => {
    link.close('replica stopping');
    const timer = setTimeout(kill, graceMs);
    const info = await exited;
    clearTimeout(timer);
    return info;
  };
  return { pid: child.pid, link, ready, exited, stop, kill };
}

export function describeExit(e: ExitInfo): string {
  return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
}

/** The last `lines` lines of a log file (reads at most 8 KiB). */
export function logTail(file: string, lines: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 8192);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}
