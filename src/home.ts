// Where an mlserve instance keeps its files. MLSERVE_HOME selects the instance (default ~/.mlserve).
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface HomePaths {
  home: string;
  socket: string;
  db: string;
  pidFile: string;
  daemonLog: string;
  logs: string;
  cache: string;
}

export function homePaths(env: NodeJS.ProcessEnv = process.env): HomePaths {
  const home = resolve(env.MLSERVE_HOME || join(homedir(), '.mlserve'));
  return {
    home,
    socket: join(home, 'mlserve.sock'),
    db: join(home, 'state.db'),
    pidFile: join(home, 'daemon.pid'),
    daemonLog: join(home, 'logs', 'daemon.log'),
    logs: join(home, 'logs'),
    cache: join(home, 'cache'),
  };
}

/** Create the home (0700) and its folders; tighten a home that exists with wider permissions. */
export function ensureHome(p: HomePaths): void {
  mkdirSync(p.home, { recursive: true, mode: 0o700 });
  if ((statSync(p.home).mode & 0o077) !== 0) chmodSync(p.home, 0o700);
  for (const dir of [p.logs, p.cache]) mkdirSync(dir, { recursive: true, mode: 0o700 });
}
