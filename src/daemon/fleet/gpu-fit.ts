// PURE: can a GPU request ever fit this machine, and who holds the room when it does not fit now.
// A request that exceeds the inventory (more whole GPUs than exist, more replicas than the empty
// machine holds) is refused at once; one that fits the inventory but not the free room waits
// (pending), and its reason names the deployments holding the room.
import { normalizeFraction, roomFor, type Allocation } from './allocator.js';
import type { Gpu } from './gpus.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Why `replicas` replicas of `gpus` GPUs each can never run on this inventory (even with nothing
 * else placed), or null when they fit an empty machine. Throws BAD_REQUEST for a request
 * normalizeFraction refuses (a share above 1 that is not whole).
 */
export function inventoryProblem(gpus: number, replicas: number, inventory: Gpu[], source: string): string | null {
  const want = normalizeFraction(gpus);
  const n = inventory.length;
  if (n === 0) return `asks for ${want} GPU per replica, but this machine has no GPU (${source})`;
  if (want > n) {
    return `asks for ${plural(want, 'whole GPU')} per replica, but this machine has ${n} (${source}); it could never start: ask for at most ${n}`;
  }
  const fit = roomFor(want, inventory, [], Math.max(replicas, 1));
  if (fit < replicas) {
    const per = want < 1 ? `${want} of a GPU` : plural(want, 'whole GPU');
    return `${plural(replicas, 'replica')} of ${per} each do not fit this machine's ${plural(n, 'GPU')} (${source}): at most ${fit} fit with nothing else placed; lower the replicas (or min_replicas) or the GPUs per replica`;
  }
  return null;
}

/** "held by a-v1 (2 replicas: 1.00 of GPU 0, 0.50 of GPU 1), b-v2 (...)": who holds the GPUs' room, per deployment. */
export function roomHolders(existing: Allocation[], inventory: Gpu[]): string {
  const byDeployment = new Map<string, { replicas: Set<string>; perGpu: Map<number, number> }>();
  for (const a of existing) {
    const slash = a.replica.lastIndexOf('/');
    const dep = slash > 0 ? a.replica.slice(0, slash) : a.replica;
    let h = byDeployment.get(dep);
    if (!h) byDeployment.set(dep, (h = { replicas: new Set(), perGpu: new Map() }));
    for (const s of a.assignment.gpus) {
      if (!inventory.some((g) => g.uuid === s.uuid)) continue;
      h.replicas.add(a.replica);
      h.perGpu.set(s.index, Math.round(((h.perGpu.get(s.index) ?? 0) + s.fraction) * 100) / 100);
    }
  }
  const parts = [...byDeployment.entries()]
    .filter(([, h]) => h.replicas.size > 0)
    .map(([dep, h]) => {
      const gpus = [...h.perGpu.entries()].sort((a, b) => a[0] - b[0]).map(([i, f]) => `${f.toFixed(2)} of GPU ${i}`).join(', ');
      return `${dep} (${plural(h.replicas.size, 'replica')}: ${gpus})`;
    });
  return parts.length ? `held by ${parts.join(', ')}` : 'nothing holds it';
}
