// preparePythonEnv in a process of its own, for tests that kill a build midway or race two processes:
//
//   node node_modules/vite-node/vite-node.mjs test/helpers/prepare-env-child.ts
//
// with the request (PythonEnvRequest without onProgress) as JSON in $MLSERVE_TEST_ENV_REQUEST.
// Progress lines go to stderr; the last stdout line is {"result": PythonEnv} or {"error": {code, message}}.
import { preparePythonEnv } from '../../src/daemon/fleet/python-env.js';
import type { MlserveError } from '../../src/errors.js';

const req = JSON.parse(process.env.MLSERVE_TEST_ENV_REQUEST ?? '{}');
try {
  const result = await preparePythonEnv({ ...req, onProgress: (l: string) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify({ result })}\n`);
} catch (e) {
  const err = e as MlserveError;
  process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`);
  process.exitCode = 1;
}
