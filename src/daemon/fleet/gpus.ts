// The GPU inventory: what `nvidia-smi` reports (real GPUs) or what MLSERVE_GPUS describes (simulated
// GPUs, for machines without any). Pure parsing: running nvidia-smi is the caller's job.
import { MlserveError } from '../../errors.js';

export interface Gpu {
  index: number;
  uuid: string;
  name: string;
  /** 0 when nvidia-smi reports it as unknown ([N/A]). */
  memoryTotalMiB: number;
  memoryUsedMiB: number;
  utilizationPct: number;
  simulated: boolean;
}

export interface ComputeApp {
  pid: number;
  gpuUuid: string;
  usedMiB: number;
}

/** The query whose output `parseNvidiaSmi` reads. */
export const NVIDIA_SMI_GPU_ARGS = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu',
  '--format=csv,noheader,nounits',
];
/** The query whose output `parseComputeApps` reads. */
export const NVIDIA_SMI_APPS_ARGS = ['--query-compute-apps=pid,gpu_uuid,used_memory', '--format=csv,noheader,nounits'];

/** Memory of each GPU given by a bare count in MLSERVE_GPUS (`4` = four 16 GiB GPUs). */
export const DEFAULT_SIMULATED_GIB = 16;

const NA = /^\[?N\/A\]?$/i;

/** A numeric field: `81920`, `81920 MiB`, `37 %`; `[N/A]` reads as `na` (or null when not allowed). */
function num(field: string, na: number | null): number | null {
  const f = field.trim();
  if (NA.test(f) || /^\[(not supported|unknown error|insufficient permissions)\]$/i.test(f)) return na;
  const m = /^(\d+(?:\.\d+)?)\s*(?:MiB|%)?$/i.exec(f);
  return m ? Number(m[1]) : null;
}

function lines(text: string): { n: number; line: string }[] {
  return text
    .split(/\r?\n/)
    .map((line, i) => ({ n: i + 1, line: line.trim() }))
    .filter((l) => l.line !== '');
}

/**
 * Parses `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu
 * --format=csv,noheader,nounits`. Unknown ([N/A]) memory and utilization read as 0; a line that is
 * not six fields with a numeric index and a uuid throws an Error naming the line.
 */
export function parseNvidiaSmi(csv: string): Gpu[] {
  const gpus: Gpu[] = [];
  for (const { n, line } of lines(csv)) {
    if (/^no devices were found/i.test(line)) continue;
    const bad = (why: string) =>
      new Error(
        `cannot read line ${n} of nvidia-smi's GPU list (${why}): "${line}"; expected "index, uuid, name, memory.total, memory.used, utilization.gpu"`,
      );
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 6) throw bad(`${fields.length} fields instead of 6`);
    // A name with a comma in it: everything between the uuid and the last three fields.
    const [indexF, uuid] = fields;
    const name = fields.slice(2, fields.length - 3).join(', ');
    const [totalF, usedF, utilF] = fields.slice(fields.length - 3);
    if (!/^\d+$/.test(indexF)) throw bad(`index '${indexF}' is not a number`);
    if (uuid === '' || NA.test(uuid)) throw bad('no uuid');
    const total = num(totalF, 0);
    const used = num(usedF, 0);
    const util = num(utilF, 0);
    if (total === null) throw bad(`memory.total '${totalF}' is not a number`);
    if (used === null) throw bad(`memory.used '${usedF}' is not a number`);
    if (util === null) throw bad(`utilization.gpu '${utilF}' is not a number`);
    gpus.push({
      index: Number(indexF),
      uuid,
      name,
      memoryTotalMiB: total,
      memoryUsedMiB: used,
      utilizationPct: util,
      simulated: false,
    });
  }
  return gpus.sort((a, b) => a.index - b.index);
}

const SPEC_HELP =
  "use a count ('4' = four 16 GiB GPUs), a count and size ('2x80GB'), named GPUs ('A100-80GB,L4-24GB') " +
  "or combinations ('2xA100-80GB,L4-24GB'); '0' means no GPUs";

/**
 * Parses MLSERVE_GPUS, the simulated inventory: comma-separated items, each `N` (N GPUs of 16 GiB),
 * `[Nx]SIZE` or `[Nx]NAME-SIZE` with SIZE like `80GB` (GB, GiB and G all mean GiB). An empty spec
 * or `0` is no GPUs. GPUs are numbered in order, with uuids `GPU-sim-<index>`.
 */
export function parseSimulatedGpus(spec: string): Gpu[] {
  const s = spec.trim();
  if (s === '' || s === '0') return [];
  const gpus: Gpu[] = [];
  const bad = (item: string, why: string) =>
    new MlserveError('BAD_REQUEST', `MLSERVE_GPUS='${spec}': cannot read '${item}' (${why}); ${SPEC_HELP}`);
  for (const raw of s.split(',')) {
    const item = raw.trim();
    if (item === '') throw bad(item, 'empty item');
    let count: number;
    let name: string;
    let gib: number;
    if (/^\d+$/.test(item)) {
      count = Number(item);
      gib = DEFAULT_SIMULATED_GIB;
      name = `simulated-${gib}GB`;
    } else {
      const m = /^(?:(\d+)\s*[xX]\s*)?(?:(.+)-)?(\d+(?:\.\d+)?)\s*(?:GB|GiB|G)$/i.exec(item);
      if (!m) throw bad(item, 'not a count, a size or NAME-SIZE');
      count = m[1] === undefined ? 1 : Number(m[1]);
      gib = Number(m[3]);
      const label = m[2] === undefined ? `${m[3]}GB` : `${m[2].trim()}-${m[3]}GB`;
      name = m[2] === undefined ? `simulated-${label}` : label;
      if (m[2] !== undefined && m[2].trim() === '') throw bad(item, 'empty name');
    }
    if (count < 1 || count > 1024) throw bad(item, `count ${count} is not between 1 and 1024`);
    if (!(gib > 0)) throw bad(item, 'size must be above 0');
    for (let i = 0; i < count; i++) {
      const index = gpus.length;
      gpus.push({
        index,
        uuid: `GPU-sim-${index}`,
        name,
        memoryTotalMiB: Math.floor(gib * 1024),
        memoryUsedMiB: 0,
        utilizationPct: 0,
        simulated: true,
      });
    }
  }
  return gpus;
}

/**
 * Parses `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits`:
 * one row per process per GPU. Unknown ([N/A]) memory reads as 0; bad lines throw naming the line.
 */
export function parseComputeApps(csv: string): ComputeApp[] {
  const apps: ComputeApp[] = [];
  for (const { n, line } of lines(csv)) {
    if (/^no running (compute )?processes found/i.test(line)) continue;
    const bad = (why: string) =>
      new Error(
        `cannot read line ${n} of nvidia-smi's compute apps (${why}): "${line}"; expected "pid, gpu_uuid, used_memory"`,
      );
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 3) throw bad(`${fields.length} fields instead of 3`);
    const [pidF, gpuUuid, memF] = fields;
    if (!/^\d+$/.test(pidF)) throw bad(`pid '${pidF}' is not a number`);
    if (gpuUuid === '' || NA.test(gpuUuid)) throw bad('no gpu uuid');
    const used = num(memF, 0);
    if (used === null) throw bad(`used_memory '${memF}' is not a number`);
    apps.push({ pid: Number(pidF), gpuUuid, usedMiB: used });
  }
  return apps;
}
