// onnxruntime-node cannot cap a session's GPU memory, so the daemon checks each replica's use
// (nvidia-smi --query-compute-apps) against its share every 10 s: over it, the replica is
// reported, then restarted (its exit restarts it).
import type { Allocation, Assignment } from './allocator.js';
import type { Fleet } from './fleet.js';
import { overShare } from './gpu-env.js';
import { computeApps } from './gpu-inventory.js';
import type { GpuBook } from './placement.js';

export function watchGpuMemory(fleet: Fleet, gpus: GpuBook, event: (kind: string, subject: string, message: string, data?: unknown) => void): () => void {
  if (gpus.inventory.simulated || gpus.inventory.gpus.length === 0) return () => {};
  const check = async () => {
    const byPid = new Map<number, Allocation>();
    const kill = new Map<number, () => void>();
    for (const rt of fleet.runtimes()) {
      for (const r of rt.set.members) {
        if (r.pid && r.gpu && r.proc) {
          byPid.set(r.pid, { replica: `${rt.name}/${r.idx}`, assignment: r.gpu as Assignment });
          const proc = r.proc;
          kill.set(r.pid, () => proc.kill());
        }
      }
    }
    if (byPid.size === 0) return;
    for (const o of overShare(await computeApps(), byPid, gpus.inventory.gpus)) {
      event('gpu-over-share', o.replica, `${o.message}; restarting it`, o);
      kill.get(o.pid)?.();
    }
  };
  const timer = setInterval(() => void check().catch(() => {}), 10_000);
  timer.unref();
  return () => clearInterval(timer);
}
