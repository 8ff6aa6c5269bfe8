// Log files that do not grow without bound: rotation by size (file -> file.1 -> ... -> file.<keep>,
// the oldest dropped), reopening after an external rotation (logrotate's move + SIGHUP), and
// copy-truncate for a file another process holds open (a replica's stdout/stderr).
import { closeSync, copyFileSync, existsSync, fstatSync, openSync, renameSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { parseSize } from '../../cli/format.js';

export interface RotationPolicy {
  /** Rotate once the file reaches this size. */
  maxBytes: number;
  /** Rotated files kept (file.1 newest ... file.<keep> oldest). */
  keep: number;
}

export const DEFAULT_ROTATION: RotationPolicy = { maxBytes: 10 * 1024 * 1024, keep: 3 };

/** The rotation policy from MLSERVE_LOG_MAX_SIZE (e.g. 10M, 512kb) and MLSERVE_LOG_KEEP (0-100). */
export function rotationFromEnv(env: NodeJS.ProcessEnv = process.env): RotationPolicy {
  const p = { ...DEFAULT_ROTATION };
  if (env.MLSERVE_LOG_MAX_SIZE) {
    const n = parseSize(env.MLSERVE_LOG_MAX_SIZE);
    if (n < 1024) throw new Error(`MLSERVE_LOG_MAX_SIZE=${env.MLSERVE_LOG_MAX_SIZE} is below 1 KiB`);
    p.maxBytes = n;
  }
  if (env.MLSERVE_LOG_KEEP) {
    const k = Number(env.MLSERVE_LOG_KEEP);
    if (!Number.isInteger(k) || k < 0 || k > 100) throw new Error(`MLSERVE_LOG_KEEP=${env.MLSERVE_LOG_KEEP} is not a whole number from 0 to 100`);
    p.keep = k;
  }
  return p;
}

/** The policy from the environment, or the default when it is not valid (the daemon checked it at start). */
export function envRotation(): RotationPolicy {
  try {
    return rotationFromEnv();
  } catch {
    return { ...DEFAULT_ROTATION };
  }
}

/** Shift file.1 .. file.<keep-1> up by one (the oldest is dropped), leaving file.1 free. */
function shift(file: string, keep: number): void {
  rmSync(`${file}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
}

/** Is `file` at least maxBytes? (A missing file is not.) */
function isFull(file: string, p: RotationPolicy): boolean {
  try {
    return statSync(file).size >= p.maxBytes;
  } catch {
    return false;
  }
}

/** Rotate `file` by renaming when it is at least maxBytes (nobody may hold it open). True when it did. */
export function rotateIfFull(file: string, p: RotationPolicy): boolean {
  if (!isFull(file, p)) return false;
  if (p.keep === 0) rmSync(file, { force: true });
  else {
    shift(file, p.keep);
    renameSync(file, `${file}.1`);
  }
  return true;
}

/**
 * Rotate a file another process writes with O_APPEND (a replica's output) when it is at least
 * maxBytes: copy it to file.1, then truncate it in place, so the writer goes on at its new end.
 * Lines written between the copy and the truncation are lost (as with logrotate's copytruncate).
 */
export function copyTruncateIfFull(file: string, p: RotationPolicy): boolean {
  if (!isFull(file, p)) return false;
  if (p.keep > 0) {
    shift(file, p.keep);
    copyFileSync(file, `${file}.1`);
  }
  truncateSync(file, 0);
  return true;
}

/** A log file this process writes: synchronous appends (nothing lost at exit), rotated by size. */
export class RotatingFile {
  private fd: number | null = null;
  private size = 0;
  /** Writes that failed (disk full, file system gone read-only): counted, never thrown. */
  failed = 0;

  constructor(readonly path: string, private readonly policy: RotationPolicy = DEFAULT_ROTATION) {
    this.open();
  }

  private open(): void {
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(text: string): void {
    const buf = Buffer.from(text);
    try {
      if (this.fd === null) this.open();
      if (this.size > 0 && this.size + buf.length > this.policy.maxBytes) this.rotate();
      writeSync(this.fd!, buf);
      this.size += buf.length;
    } catch {
      this.failed++;
    }
  }

  /** Move the current file to .1 (older ones up) and start a new one. */
  rotate(): void {
    this.closeFd();
    if (this.policy.keep === 0) rmSync(this.path, { force: true });
    else {
      shift(this.path, this.policy.keep);
      if (existsSync(this.path)) renameSync(this.path, `${this.path}.1`);
    }
    this.open();
  }

  /** Close and open the path again: after logrotate moved the file away (SIGHUP). */
  reopen(): void {
    this.closeFd();
    this.open();
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already gone */
    }
    this.fd = null;
  }

  close(): void {
    this.closeFd();
  }
}
