// Processes in end-to-end tests: is one alive, which replica processes run for a daemon's home.
import { execFileSync } from 'node:child_process';

/** Does a process with this pid exist (signal 0)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The command lines of the onnx replica processes of the daemon in this home. */
export function replicaProcesses(home: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args']).toString().split('\n').filter((l) => l.includes('runtime/replica.js') && l.includes(home));
}
