// Replica log lines carry the time they were written: each line a replica process writes starts with
// an ISO 8601 UTC timestamp and a space (`2025-01-31T12:00:00.123Z loading ...`). The replica
// stamps what it writes (the Python replica does the same in mlserve_replica.py); `mlserve logs`
// reads the stamp back, and gives lines written without one (a native library's output) the time
// of the line before them.

/** A stamp at the start of a log line. */
export const LOG_STAMP_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /;

/** PURE: `text` with a stamp before every line that starts in it; `atStart` says whether the previous write ended a line. */
export function stampText(text: string, atStart: boolean, now: Date): { text: string; atStart: boolean } {
  if (text === '') return { text, atStart };
  const stamp = `${now.toISOString()} `;
  const parts = text.split(/(?<=\n)/);
  const out = parts.map((p, i) => ((i === 0 ? atStart : true) ? stamp + p : p)).join('');
  return { text: out, atStart: text.endsWith('\n') };
}

/** Stamp every line this process writes to `stream` (console.log / console.error go through it). */
export function stampStream(stream: NodeJS.WriteStream): void {
  const write = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  let atStart = true;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const r = stampText(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'), atStart, new Date());
    atStart = r.atStart;
    return write(r.text, ...rest);
  }) as typeof stream.write;
}
