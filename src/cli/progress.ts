// A download progress line: bytes, total, rate and a bar on a TTY (redrawn in place); on a pipe,
// one line per finished file.
import { formatBytes } from './format.js';

export interface Progress {
  file: string;
  bytes: number;
  totalBytes: number;
  files: number;
  totalFiles: number;
}

/** PURE: the text of one progress line, at most `width` columns. */
export function progressLine(p: Progress, elapsedMs: number, width = 80): string {
  const rate = elapsedMs > 0 ? (p.bytes / elapsedMs) * 1000 : 0;
  const total = p.totalBytes > 0 ? p.totalBytes : p.bytes;
  const frac = total > 0 ? Math.min(1, p.bytes / total) : 0;
  const stats = ` ${formatBytes(p.bytes)}/${formatBytes(total)} ${formatBytes(Math.round(rate))}/s ${p.files}/${p.totalFiles} files`;
  const barWidth = Math.max(10, Math.min(30, width - stats.length - 12));
  const filled = Math.round(frac * barWidth);
  const line = `fetching [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${stats}`;
  return line.length > width ? line.slice(0, width) : line;
}

export class ProgressBar {
  private readonly started = Date.now();
  private shown = false;
  private lastFiles = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly quiet: boolean,
  ) {}

  update(p: Progress): void {
    if (this.quiet) return;
    if (this.out.isTTY) {
      this.out.write(`\r${progressLine(p, Date.now() - this.started, this.out.columns || 80)}\x1b[K`);
      this.shown = true;
    } else if (p.files > this.lastFiles) {
      this.lastFiles = p.files;
      this.out.write(`fetched ${p.file} (${p.files}/${p.totalFiles} files, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)})\n`);
    }
  }

  done(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }
}
