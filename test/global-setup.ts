// Before any test file starts: build the pinned Python envs the tests use (scripts/pyenv.mjs; a no-op
// when they are built for the current pins), two at a time. Built cold inside a test's beforeAll, the
// pyfunc env (PyTorch's wheels alone are 2.7 GB) raced that hook's timeout on a loaded machine.
// The `llm` env (llama-cpp-python compiled from source, 10-30 min) is not built here: its tests run
// only when it is (see test/e2e/llm-openai-engine.test.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
export const TEST_ENVS = ['pyfunc', 'mlflow3_live', 'mlflow2_live', 'drift', 'schemathesis'];

function build(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(REPO, 'scripts', 'pyenv.mjs'), name, '--quiet'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      const s = ((Date.now() - started) / 1000).toFixed(0);
      if (code === 0) {
        if (Date.now() - started > 5000) process.stderr.write(`[global setup] python env '${name}' built in ${s}s\n`);
        resolve();
      } else reject(new Error(`scripts/pyenv.mjs ${name} failed (exit ${code}):\n${err.slice(-4000)}`));
    });
  });
}

export default async function setup(): Promise<void> {
  const queue = [...TEST_ENVS];
  process.stderr.write(`[global setup] python envs for the tests: ${TEST_ENVS.join(', ')} (built once, cached under .cache/pyenv)\n`);
  const worker = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) await build(name);
  };
  await Promise.all([worker(), worker()]);
}
