// The real MLflow fixtures in ../shared (a file store written by MLflow's own client), copied
// into a temp dir so tests can write to them.
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

/**
 * The team's shared fixtures: $MLSERVE_FIXTURES, else shared/ beside the repo (how CI lays it out),
 * else /work/shared.
 */
export const SHARED_FIXTURES: string =
  [process.env.MLSERVE_FIXTURES, fileURLToPath(new URL('../../../shared/mlflow-fixtures', import.meta.url)), '/work/shared/mlflow-fixtures']
    .filter((p): p is string => !!p)
    .find((p) => existsSync(join(p, 'mlruns'))) ?? fileURLToPath(new URL('../../../shared/mlflow-fixtures', import.meta.url));

/** The file store's run ids for ResNet50 versions 1 and 2 (see mlruns/models/ResNet50/version-N/meta.yaml). */
export const FILE_STORE_RUNS = { v1: '4b9bbc01307a45d780939b81dae105bf', v2: '7d0df641739c4817887a89f85ae40a19' };

function makeWritable(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(join(p, e));
}

/** A writable copy of the fixture's mlruns, left as recorded (its paths name /srv/mlflow/mlruns). */
export function copyFixtureStore(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlruns-'));
  const root = join(dir, 'mlruns');
  cpSync(join(SHARED_FIXTURES, 'mlruns'), root, { recursive: true });
  makeWritable(root);
  return root;
}

export function fixtureModelDir(root: string, version: 1 | 2): string {
  return join(root, '0', version === 1 ? FILE_STORE_RUNS.v1 : FILE_STORE_RUNS.v2, 'artifacts', 'model');
}

/** Run a model in this process with onnxruntime-node: the reference every served answer must match. */
export async function runInProcess(modelFile: string, feeds: Record<string, { type: string; data: any; dims: number[] }>) {
  const session = await ort.InferenceSession.create(modelFile);
  const tensors: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor(v.type as any, v.data, v.dims);
  const out = await session.run(tensors);
  await session.release();
  return out;
}
