// How mlserve's long-running Node processes (the daemon, ONNX replicas) are started: V8 and malloc
// settings for a process that moves large request bodies and batches. PURE.
//
// Measured (MobileNetV2, binary tensors, 64 connections, `node --cpu-prof --trace-gc` on the
// daemon): with Node's defaults the daemon ran 80-129 full mark-compacts in 20 s while its heap
// stayed at 23 MB, because V8's first old-generation limit (~47 MB) is close enough that every
// young-generation cycle under a high allocation rate starts incremental marking; garbage
// collection took 11-13 % of the daemon's thread plus four helper threads. A higher initial limit
// cut that to 23-26 collections (GC 4.5-5 %). Each 600 KB body and each batch frame is a fresh
// malloc; glibc gave the freed memory back to the kernel and the next allocation faulted it in
// again (the body copy ran at ~1.5 GB/s); fixed thresholds keep it in the process.

/** V8 flags: the old generation's first limit, in MB (the heap grows past it as usual). */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];

/** glibc malloc settings (environment variables), unless the operator set them. */
const MALLOC_ENV: Readonly<Record<string, string>> = {
  // Allocations below 64 MiB come from the heap, not a fresh mmap each time...
  MALLOC_MMAP_THRESHOLD_: String(64 * 1024 * 1024),
  // ...and up to 256 MiB of free heap stays mapped instead of being returned and faulted in again.
  MALLOC_TRIM_THRESHOLD_: String(256 * 1024 * 1024),
};

/** The malloc variables to add to `env` (those it does not set already). */
export function mallocEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(MALLOC_ENV)) if (env[k] === undefined) out[k] = v;
  return out;
}
