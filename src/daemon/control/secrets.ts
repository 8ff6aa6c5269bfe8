// Registry credentials that registry tracking needs after a daemon restart: one JSON file per
// endpoint under $MLSERVE_HOME/credentials/ (folder 0700, files 0600, written then renamed), never
// in SQLite, never shown. Only the daemon's user can read them.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_RE } from './commands.js';

export class SecretFiles {
  constructor(private readonly dir: string) {}

  private file(endpoint: string): string {
    if (!NAME_RE.test(endpoint)) throw new Error(`not an endpoint name: ${endpoint}`);
    return join(this.dir, `${endpoint}.json`);
  }

  /** Keep these secrets for an endpoint (none: forget them). */
  save(endpoint: string, secret: Record<string, string>): void {
    const file = this.file(endpoint);
    if (Object.keys(secret).length === 0) {
      rmSync(file, { force: true });
      return;
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(secret), { mode: 0o600 });
    renameSync(tmp, file);
  }

  load(endpoint: string): Record<string, string> {
    const file = this.file(endpoint);
    if (!existsSync(file)) return {};
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      return typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string> : {};
    } catch {
      return {};
    }
  }
}
