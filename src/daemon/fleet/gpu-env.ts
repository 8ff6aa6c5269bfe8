// What a replica gets for its GPU assignment: its environment (visible devices, MPS limits), its
// CUDA execution provider entry, and the watchdog's check of what it actually uses. Pure.
//
// How a share is enforced, and by whom:
// * Visibility: CUDA_VISIBLE_DEVICES lists the assigned GPUs by UUID (indices are remapped under
//   MPS; UUIDs are not), so inside the replica they are devices 0 .. n-1.
// * Under NVIDIA MPS (opts.mps, when the daemon found nvidia-cuda-mps-control running), the driver
//   enforces a compute share (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE) and a device memory limit
//   (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT) per replica process.
// * ONNX Runtime itself cannot be told the limit from Node: see cudaProviderOptions.
// * Without MPS nothing caps a replica: `overShare` compares nvidia-smi's per-process memory with
//   each replica's share so the daemon can warn about (or restart) a replica over its share.
import type { Allocation, Assignment, GpuShare } from './allocator.js';
import type { ComputeApp, Gpu } from './gpus.js';

/** The executionProviders entry for ONNX Runtime's CUDA EP, as onnxruntime-node accepts it. */
export interface CudaProviderOption {
  readonly name: 'cuda';
  deviceId: number;
}

export interface OverShare {
  replica: string;
  pid: number;
  gpuIndex: number;
  gpuUuid: string;
  usedMiB: number;
  /** floor(fraction * memoryTotalMiB); 0 when the GPU is not in the replica's assignment. */
  shareMiB: number;
  /** shareMiB plus the slack: what the replica was allowed before being reported. */
  limitMiB: number;
  message: string;
}

function gpuOf(share: GpuShare, inventory: Gpu[]): Gpu {
  const g = inventory.find((x) => x.uuid === share.uuid);
  if (!g) throw new Error(`GPU ${share.index} (${share.uuid}) of this assignment is not in the GPU inventory`);
  return g;
}

/** A replica's memory share of one GPU in MiB: floor(fraction * total); 0 when the total is unknown. */
export function shareMiB(share: GpuShare, gpu: Gpu): number {
  return Math.floor((Math.round(share.fraction * 100) * gpu.memoryTotalMiB) / 100);
}

/**
 * The environment of a replica with this assignment. CUDA_VISIBLE_DEVICES = the assigned GPU
 * UUIDs, comma separated. With MPS also CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = round(fraction * 100)
 * (at least 1; the assignment's fraction, 1 for whole GPUs) and CUDA_MPS_PINNED_DEVICE_MEM_LIMIT
 * = `0=<MiB>M[,1=<MiB>M...]` by device ordinal inside the process (omitted for a GPU whose memory
 * total is unknown).
 */
export function replicaGpuEnv(assignment: Assignment, inventory: Gpu[], opts: { mps: boolean }): Record<string, string> {
  if (assignment.gpus.length === 0) throw new Error('a GPU assignment needs at least one GPU');
  const gpus = assignment.gpus.map((s) => ({ share: s, gpu: gpuOf(s, inventory) }));
  const env: Record<string, string> = { CUDA_VISIBLE_DEVICES: gpus.map((x) => x.gpu.uuid).join(',') };
  if (opts.mps) {
    const fraction = Math.min(...assignment.gpus.map((s) => s.fraction));
    env.CUDA_MPS_ACTIVE_THREAD_PERCENTAGE = String(Math.max(1, Math.round(fraction * 100)));
    const limits = gpus
      .map((x, ordinal) => ({ ordinal, mib: shareMiB(x.share, x.gpu) }))
      .filter((l) => l.mib > 0)
      .map((l) => `${l.ordinal}=${l.mib}M`);
    if (limits.length > 0) env.CUDA_MPS_PINNED_DEVICE_MEM_LIMIT = limits.join(',');
  }
  return env;
}

/**
 * The CUDA execution provider entry for a replica's ONNX Runtime session: device 0, i.e. the first
 * (for a fraction, the only) GPU in its CUDA_VISIBLE_DEVICES. A session runs on one device, so a
 * replica with several whole GPUs uses the first for ONNX Runtime.
 *
 * No memory limit is passed, because onnxruntime-node cannot take one: its binding
 * (js/node/src/session_options_helper.cc, ParseExecutionProviders, 1.30) reads only `name` and
 * `deviceId` from an executionProviders entry; for 'cuda' it creates OrtCUDAProviderOptionsV2 and
 * sets `device_id` and nothing else. The typings agree (CudaExecutionProviderOption is
 * `{ name: 'cuda'; deviceId?: number }`), and the installed binding has no 'gpu_mem_limit',
 * 'arena_extend_strategy' or similar string in it. Session `extra` entries are session config
 * keys, not CUDA provider options. So ONNX Runtime's BFC arena on the GPU is unbounded.
 * mlserve therefore enforces shares itself: MPS limits when MPS runs (replicaGpuEnv), and
 * otherwise the watchdog (overShare), which compares nvidia-smi's per-process used memory with
 * fraction * total and reports the replicas over their share.
 */
export function cudaProviderOptions(assignment: Assignment, inventory: Gpu[]): CudaProviderOption {
  if (assignment.gpus.length === 0) throw new Error('a GPU assignment needs at least one GPU');
  for (const s of assignment.gpus) gpuOf(s, inventory); // the GPUs must exist
  return { name: 'cuda', deviceId: 0 };
}

export type AllocationsByPid = ReadonlyMap<number, Allocation> | Readonly<Record<number, Allocation>>;

const lookup = (m: AllocationsByPid, pid: number): Allocation | undefined =>
  m instanceof Map ? m.get(pid) : (m as Readonly<Record<number, Allocation>>)[pid];

/**
 * The watchdog's check: replicas whose used GPU memory (nvidia-smi compute apps, summed per process
 * and GPU) exceeds floor(fraction * total) plus `slackPct` percent, or that use a GPU they were not
 * assigned. Processes that are not replicas are ignored, and so are GPUs whose total is unknown.
 */
export function overShare(apps: ComputeApp[], allocationsByPid: AllocationsByPid, inventory: Gpu[], slackPct = 5): OverShare[] {
  const used = new Map<string, { pid: number; gpuUuid: string; usedMiB: number }>();
  for (const a of apps) {
    const key = `${a.pid}/${a.gpuUuid}`;
    const u = used.get(key);
    if (u) u.usedMiB += a.usedMiB;
    else used.set(key, { ...a });
  }
  const out: OverShare[] = [];
  for (const u of used.values()) {
    const alloc = lookup(allocationsByPid, u.pid);
    if (!alloc) continue;
    const gpu = inventory.find((g) => g.uuid === u.gpuUuid);
    if (!gpu || gpu.memoryTotalMiB <= 0) continue;
    const share = alloc.assignment.gpus.find((s) => s.uuid === u.gpuUuid);
    const who = `replica ${alloc.replica} (pid ${u.pid})`;
    if (!share) {
      if (u.usedMiB <= 0) continue;
      out.push({
        replica: alloc.replica, pid: u.pid, gpuIndex: gpu.index, gpuUuid: gpu.uuid, usedMiB: u.usedMiB, shareMiB: 0, limitMiB: 0,
        message: `${who} uses ${u.usedMiB} MiB of GPU ${gpu.index}, which is not assigned to it`,
      });
      continue;
    }
    const mib = shareMiB(share, gpu);
    const limit = Math.floor(mib * (1 + slackPct / 100));
    if (u.usedMiB > limit) {
      out.push({
        replica: alloc.replica, pid: u.pid, gpuIndex: gpu.index, gpuUuid: gpu.uuid, usedMiB: u.usedMiB, shareMiB: mib, limitMiB: limit,
        message: `${who} uses ${u.usedMiB} MiB of GPU ${gpu.index}, over its ${share.fraction} share (${mib} MiB)`,
      });
    }
  }
  return out.sort((a, b) => a.replica.localeCompare(b.replica) || a.gpuIndex - b.gpuIndex);
}
