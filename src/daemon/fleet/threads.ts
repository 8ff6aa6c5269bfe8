// How many CPU threads each replica gets when the operator did not say (--threads): the cores
// available to the daemon divided among the CPU replicas desired, at least 1 (Ray Serve gives each
// replica num_cpus; onnxruntime and OMP/MKL/torch default to every core, so without this several
// replicas fight over the same cores, and one replica alone uses one core of many). GPU replicas
// get one CPU thread: it only feeds the GPU. PURE.

export interface ThreadInput {
  name: string;
  /** --threads, when the operator set it. */
  threads?: number;
  /** Whole replicas desired: the fixed count, or an autoscaled deployment's floor (at least 1). */
  replicas: number;
  onGpu: boolean;
}

export interface ThreadPlan {
  threads: number;
  /** Why this many, for status. */
  reason: string;
}

/** Threads per replica for every deployment, given the cores the daemon may use. */
export function planThreads(deployments: readonly ThreadInput[], cores: number): Map<string, ThreadPlan> {
  const out = new Map<string, ThreadPlan>();
  const auto = deployments.filter((d) => d.threads === undefined && !d.onGpu);
  // Cores left after the replicas whose threads were set by hand.
  const pinned = deployments.filter((d) => d.threads !== undefined && !d.onGpu).reduce((a, d) => a + d.threads! * d.replicas, 0);
  const left = Math.max(1, cores - pinned);
  const replicas = auto.reduce((a, d) => a + Math.max(1, d.replicas), 0);
  const share = replicas > 0 ? Math.max(1, Math.floor(left / replicas)) : 1;
  for (const d of deployments) {
    if (d.threads !== undefined) out.set(d.name, { threads: d.threads, reason: 'set by --threads' });
    else if (d.onGpu) out.set(d.name, { threads: 1, reason: 'a GPU replica: one CPU thread feeds the GPU' });
    else {
      const pinnedText = pinned > 0 ? ` (${cores} cores, ${pinned} taken by replicas with --threads)` : '';
      out.set(d.name, { threads: share, reason: `${left} core${left === 1 ? '' : 's'}${pinnedText} shared by ${replicas} CPU replica${replicas === 1 ? '' : 's'}` });
    }
  }
  return out;
}

/** The cores a cgroup quota allows (`/sys/fs/cgroup/cpu.max`: "<quota> <period>" or "max <period>"), or undefined. */
export function cgroupCores(cpuMax: string | undefined): number | undefined {
  const m = /^\s*(\d+|max)\s+(\d+)/.exec(cpuMax ?? '');
  if (!m || m[1] === 'max') return undefined;
  const period = Number(m[2]);
  return period > 0 ? Math.max(1, Math.ceil(Number(m[1]) / period)) : undefined;
}

/** The cores the daemon may use: its CPU affinity, capped by a cgroup quota. */
export function usableCores(available: number, cpuMax?: string): number {
  const quota = cgroupCores(cpuMax);
  return Math.max(1, quota === undefined ? available : Math.min(available, quota));
}
