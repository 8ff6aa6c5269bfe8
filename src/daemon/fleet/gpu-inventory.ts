// The GPUs this daemon may place replicas on: MLSERVE_GPUS declares a simulated inventory
// (replicas run on CPU, placement and accounting are real); otherwise nvidia-smi, when present.
// Also: whether onnxruntime-node's CUDA provider binaries are installed, and how to install them.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { MlserveError } from '../../errors.js';
import { NVIDIA_SMI_APPS_ARGS, NVIDIA_SMI_GPU_ARGS, parseComputeApps, parseNvidiaSmi, parseSimulatedGpus, type ComputeApp, type Gpu } from './gpus.js';

export interface Inventory {
  gpus: Gpu[];
  simulated: boolean;
  /** Where the list came from, for status and doctor. */
  source: string;
  /** An NVIDIA MPS control daemon is running: fractions get thread and memory limits. */
  mps: boolean;
}

export async function detectInventory(env: NodeJS.ProcessEnv = process.env): Promise<Inventory> {
  if (env.MLSERVE_GPUS !== undefined && env.MLSERVE_GPUS !== '') {
    return { gpus: parseSimulatedGpus(env.MLSERVE_GPUS), simulated: true, source: `MLSERVE_GPUS=${env.MLSERVE_GPUS} (simulated: replicas run on CPU)`, mps: false };
  }
  const r = await execa('nvidia-smi', NVIDIA_SMI_GPU_ARGS, { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) return { gpus: [], simulated: false, source: 'none (nvidia-smi not found or failed)', mps: false };
  const mps = (await execa('pgrep', ['-x', 'nvidia-cuda-mps-control'], { reject: false })).exitCode === 0;
  return { gpus: parseNvidiaSmi(String(r.stdout)), simulated: false, source: 'nvidia-smi', mps };
}

/** Per-process GPU memory (for the watchdog); [] when nvidia-smi is absent. */
export async function computeApps(): Promise<ComputeApp[]> {
  const r = await execa('nvidia-smi', NVIDIA_SMI_APPS_ARGS, { reject: false, timeout: 10_000 });
  return r.exitCode === 0 ? parseComputeApps(String(r.stdout)) : [];
}

/** The folder holding onnxruntime-node's native binding. */
function ortBinDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    const bin = join(dirname(pkg), 'bin');
    for (const napi of readdirSync(bin)) {
      const dir = join(bin, napi, process.platform, process.arch);
      if (existsSync(dir)) return dir;
    }
  } catch {
    /* not installed */
  }
  return undefined;
}

/** Throw, with the exact install command, unless the CUDA execution provider can load. */
export function requireCudaProvider(): void {
  const dir = ortBinDir();
  if (dir && existsSync(join(dir, 'libonnxruntime_providers_cuda.so'))) return;
  let script = 'node_modules/onnxruntime-node/script/install.js';
  try {
    script = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'script', 'install.js');
  } catch { /* keep the relative path */ }
  throw new MlserveError(
    'NO_GPU',
    `onnxruntime-node's CUDA provider binaries are not installed (no libonnxruntime_providers_cuda.so in ${dir ?? 'onnxruntime-node/bin'}); install them with: ONNXRUNTIME_NODE_INSTALL=cuda12 node ${script}`,
  );
}
