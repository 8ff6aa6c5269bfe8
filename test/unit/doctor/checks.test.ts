// mlserve doctor's checks against injected I/O: no GPU, network or daemon needed.
import { describe, expect, it } from 'vitest';
import { checkCuda, checkDaemon, checkHome, checkMlflow, checkNode, checkPort, formatCheck, runChecks, type DoctorIO, type PathStat } from '../../../src/doctor/checks.js';

const HOME = '/srv/mlserve-home';
const dir = (mode = 0o700): PathStat => ({ mode: 0o40000 | mode, uid: 1000, isDirectory: true, isSocket: false });
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
const INSTALL = 'ONNXRUNTIME_NODE_INSTALL=cuda12 node /app/node_modules/onnxruntime-node/script/install.js';

function io(over: Partial<DoctorIO> = {}, files: Record<string, PathStat> = {}): DoctorIO {
  const fs: Record<string, PathStat> = { [HOME]: dir(), '/data/mlruns': dir(0o755), '/data/mlruns/models': dir(0o755), ...files };
  return {
    env: { MLSERVE_HOME: HOME, MLFLOW_TRACKING_URI: 'file:///data/mlruns', HOME: '/nonexistent-home' },
    cwd: '/work',
    nodeVersion: '20.19.0',
    uid: 1000,
    loadOrt: async () => ({ version: '1.30.0', backends: [{ name: 'cpu', bundled: true }, { name: 'cuda', bundled: false }] }),
    cudaProvider: () => ({ installed: false, command: INSTALL }),
    gpuInventory: async () => ({ count: 0, source: 'none (nvidia-smi not found or failed)', simulated: false, names: [] }),
    stat: (p) => fs[p],
    readFile: () => undefined,
    httpGet: async () => ({ status: 200, body: '{"registered_models":[]}' }),
    daemonHealth: async () => undefined,
    pidAlive: () => false,
    portInUse: async () => undefined,
    ...over,
  };
}
const OPTS = { host: '127.0.0.1', port: 8000 };

describe('doctor checks', () => {
  it('a good setup passes every check', async () => {
    const checks = await runChecks(io(), OPTS);
    expect(checks.map((c) => c.id)).toEqual(['node', 'onnxruntime', 'gpus', 'cuda', 'mlflow', 'home', 'daemon', 'port']);
    expect(checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(formatCheck(checks[0])).toBe('✓ Node.js: v20.19.0');
    expect(checks[1].detail).toBe('1.30.0 loads; providers: cpu');
    expect(checks[3].detail).toContain(INSTALL); // the install command shows even when not needed
  });

  it('a tracking server that refuses connections fails with the URI tried and the fix', async () => {
    const c = await checkMlflow(io({ env: { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9', HOME: '/nonexistent-home' }, httpGet: async () => { throw refused(); } }));
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('http://127.0.0.1:9');
    expect(c.detail).toContain('ECONNREFUSED');
    expect(c.fix).toMatch(/MLFLOW_TRACKING_URI/);
    expect(formatCheck(c)).toMatch(/^✗ MLflow registry: cannot reach http:\/\/127\.0\.0\.1:9 .*; fix: /);
  });

  it('a tracking server that answers /health and the registry search passes; 401 and 403 name the variables', async () => {
    const urls: string[] = [];
    const env = { MLFLOW_TRACKING_URI: 'https://mlflow.example/base', MLFLOW_TRACKING_TOKEN: 't0k', HOME: '/nonexistent-home' };
    const good = await checkMlflow(io({ env, httpGet: async (url, o) => { urls.push(url); expect(o.headers.authorization).toBe('Bearer t0k'); return { status: 200, body: '{}' }; } }));
    expect(good.status).toBe('ok');
    expect(urls).toEqual(['https://mlflow.example/base/health', 'https://mlflow.example/base/api/2.0/mlflow/registered-models/search?max_results=1']);

    const unauth = await checkMlflow(io({ env: { MLFLOW_TRACKING_URI: 'http://m:5000', HOME: '/x' }, httpGet: async (u) => ({ status: u.endsWith('/health') ? 200 : 401, body: '' }) }));
    expect(unauth.status).toBe('fail');
    expect(unauth.detail).toContain('no credentials were sent');
    expect(unauth.fix).toBe('set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN');

    const forbidden = await checkMlflow(io({ env, httpGet: async (u) => ({ status: u.endsWith('/health') ? 200 : 403, body: '' }) }));
    expect(forbidden.detail).toContain('403 Forbidden');
    expect(forbidden.detail).toContain('MLFLOW_TRACKING_TOKEN');

    const html = await checkMlflow(io({ env, httpGet: async () => ({ status: 200, body: '<html>login</html>' }) }));
    expect(html.status).toBe('fail');
  });

  it('file stores: missing fails, no models/ warns, unset with no ./mlruns warns', async () => {
    const missing = await checkMlflow(io({ env: { MLFLOW_TRACKING_URI: '/nope/mlruns' } }));
    expect(missing).toMatchObject({ status: 'fail' });
    expect(missing.detail).toContain('/nope/mlruns does not exist');
    const empty = await checkMlflow(io({ env: { MLFLOW_TRACKING_URI: '/data/empty' } }, { '/data/empty': dir() }));
    expect(empty.status).toBe('warn');
    const unset = await checkMlflow(io({ env: {} }));
    expect(unset.status).toBe('warn');
    const bad = await checkMlflow(io({ env: { MLFLOW_TRACKING_URI: 'sqlite:///mlflow.db' } }));
    expect(bad.status).toBe('fail');
    expect(bad.detail).toContain('mlflow server --backend-store-uri');
  });

  it('a home with mode 0755 fails with chmod 700', () => {
    const c = checkHome(io({}, { [HOME]: dir(0o755) }));
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('mode 0755, expected 0700');
    expect(c.fix).toBe(`chmod 700 ${HOME}`);
    expect(formatCheck(c)).toBe(`✗ MLSERVE_HOME: ${HOME} has mode 0755, expected 0700: other users can reach the socket, state and model cache; fix: chmod 700 ${HOME}`);
    expect(checkHome(io({}, { [HOME]: { ...dir(), uid: 0 } })).fix).toContain('chown');
    expect(checkHome(io({ stat: () => undefined })).status).toBe('ok');
  });

  it('node older than 20.18 fails', () => {
    expect(checkNode({ nodeVersion: '20.17.0' }).status).toBe('fail');
    expect(checkNode({ nodeVersion: 'v22.1.0' }).status).toBe('ok');
    expect(checkNode({ nodeVersion: '20.18.0' }).status).toBe('ok');
  });

  it('CUDA binaries missing on a machine with GPUs warns with the install command', () => {
    const c = checkCuda(io(), 2);
    expect(c).toMatchObject({ status: 'warn', fix: INSTALL });
    expect(checkCuda(io({ cudaProvider: () => ({ installed: true }) }), 2).status).toBe('ok');
  });

  it('socket states: running, stale socket, none', async () => {
    const sock = { [`${HOME}/mlserve.sock`]: { mode: 0o140600, uid: 1000, isDirectory: false, isSocket: true } };
    const info = { pid: 42, ingress: { host: '127.0.0.1', port: 8123, url: 'http://127.0.0.1:8123' } };
    const running = await checkDaemon(io({ daemonHealth: async () => info }, sock));
    expect(running.check.detail).toContain('running (pid 42)');
    const stale = await checkDaemon(io({}, sock));
    expect(stale.check).toMatchObject({ status: 'warn' });
    expect(stale.check.detail).toContain('stale socket');
    expect((await checkDaemon(io())).check.detail).toContain('not running');

    // The port check follows the running daemon's port.
    const port = await checkPort(io(), OPTS, info);
    expect(port).toMatchObject({ status: 'ok' });
    expect(port.detail).toContain('8123');
  });

  it('a port in use without a daemon fails; the whole run then fails but warnings do not', async () => {
    const checks = await runChecks(io({ portInUse: async () => 'EADDRINUSE', gpuInventory: async () => ({ count: 1, source: 'nvidia-smi', simulated: false, names: ['L4'] }) }), OPTS);
    expect(checks.find((c) => c.id === 'port')).toMatchObject({ status: 'fail', fix: expect.stringContaining('--port 8001') });
    expect(checks.find((c) => c.id === 'cuda')?.status).toBe('warn');
  });

  it('a check that throws becomes a failing line instead of crashing doctor', async () => {
    const checks = await runChecks(io({ gpuInventory: async () => { throw new Error('MLSERVE_GPUS: cannot parse "x"'); } }), OPTS);
    expect(checks.find((c) => c.id === 'gpus')).toMatchObject({ status: 'fail' });
    expect(checks.find((c) => c.id === 'onnxruntime')?.status).toBe('ok');
  });
});
