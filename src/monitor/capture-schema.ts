// The columns of a capture file ($MLSERVE_HOME/capture/<endpoint>/capture-*.parquet), written by the
// daemon's capture and read by drift reports: meta columns, then `input.<feature>` and `output.<name>`. PURE.

/** Meta columns, in file order. */
export const META_COLUMNS = ['timestamp', 'request_id', 'row', 'endpoint', 'deployment', 'model_version', 'latency_ms'] as const;

export const INPUT_PREFIX = 'input.';
export const OUTPUT_PREFIX = 'output.';

export const inputColumn = (feature: string): string => `${INPUT_PREFIX}${feature}`;
export const outputColumn = (name: string): string => `${OUTPUT_PREFIX}${name}`;

/** capture-<UTC yyyymmddThhmmssSSS>-<seq>.parquet: sorts by time. */
export const CAPTURE_FILE = /^capture-(\d{8}T\d{9})-(\d+)\.parquet$/;

export function captureFileName(ts: number, seq: number): string {
  const iso = new Date(ts).toISOString(); // 2026-12-01T10:04:05.123Z
  return `capture-${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}${iso.slice(20, 23)}-${String(seq).padStart(6, '0')}.parquet`;
}
