// Poll until a condition holds (or the time runs out): end-to-end tests wait on real processes.
export async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000, everyMs = 150): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await fn();
  }
  return v;
}
