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

type Cli = (args: string[]) => Promise<{ json: any }>;

/** Requests a deployment has served so far (mlserve status). */
export async function served(cli: Cli, deployment: string): Promise<number> {
  return ((await cli(['status', '--json'])).json?.deployments ?? []).find((x: any) => x.name === deployment)?.stats?.requests ?? 0;
}

/** Poll `mlserve status --json` until a deployment has served at least `n` requests in all (load is flowing). */
export async function untilServed(cli: Cli, deployment: string, n = 20, ms = 20_000): Promise<void> {
  const got = await until(() => served(cli, deployment), (v) => v >= n, ms, 100);
  if (got < n) throw new Error(`${deployment} served ${got} requests within ${ms} ms, expected ${n}`);
}
