// Which capture files to remove: those older than the age limit, then the oldest until the rest fit
// the size limit (the newest file is always kept, even when it alone is over the limit). PURE.

export interface CaptureFile {
  name: string;
  bytes: number;
  /** ms since the epoch (the time in its name, or its mtime). */
  ts: number;
}

export function filesToRemove(files: readonly CaptureFile[], limits: { maxBytes: number; maxAgeS: number }, now: number): string[] {
  const byAge = [...files].sort((a, b) => a.ts - b.ts || a.name.localeCompare(b.name));
  const remove: string[] = [];
  let total = byAge.reduce((s, f) => s + f.bytes, 0);
  for (let i = 0; i < byAge.length - 1; i++) {
    const f = byAge[i]!;
    if (now - f.ts > limits.maxAgeS * 1000 || total > limits.maxBytes) {
      remove.push(f.name);
      total -= f.bytes;
    }
  }
  const newest = byAge[byAge.length - 1];
  if (newest && now - newest.ts > limits.maxAgeS * 1000) remove.push(newest.name);
  return remove;
}
