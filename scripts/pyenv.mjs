#!/usr/bin/env node
// Build (if needed) and locate the pinned Python virtualenvs named in scripts/python-envs.json.
//
//   node scripts/pyenv.mjs <name> [--quiet]   builds env <name> if needed, prints its python's absolute path
//   node scripts/pyenv.mjs --all [--quiet]    builds every env, prints one python path per line
//   node scripts/pyenv.mjs <name> --built      builds nothing: prints the python path and exits 0 when the
//                                              env is built for the current pins, else exits 3
//
// An env lives in <root>/<name>-<hash>/ where <root> is $MLSERVE_PYENV_DIR or <repo>/.cache/pyenv and
// <hash> is the first 12 hex digits of sha256(pins + Python version): changing a pin (or the Python)
// gives a new directory, and the old ones of that name are removed. A build runs
// `python3 -m venv <dir>` and `<dir>/bin/python -m pip install <pins>`, imports the env's `check`
// modules, and writes <dir>/.complete last: a directory without it (a killed build) is removed and
// built again. A lock directory <root>/<name>.lock (holding the builder's pid) keeps two callers from
// building the same env at once; a lock whose pid is gone is taken over. Progress goes to stderr.
//
// The Python used to create envs is $MLSERVE_PYTHON or `python3` on PATH; $MLSERVE_PYENV_SPEC names
// another spec file (tests use it). No shell is involved: every process is started with an argument
// array. The lock also records the pid of the build's current child (venv/pip), so a builder killed
// with SIGKILL, whose pip goes on as an orphan, keeps its lock until that pip is gone too.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const SPEC_FILE = resolve(process.env.MLSERVE_PYENV_SPEC || join(HERE, 'python-envs.json'));
const LOCK_POLL_MS = 500;
/** A lock dir with no readable pid this old is a crash between mkdir and writing the pid. */
const LOCK_NO_PID_STALE_MS = 30_000;

const started = Date.now();
let quiet = false;
/** Recent pip output, shown when a --quiet build fails. */
const tail = [];

function elapsed() {
  const s = (Date.now() - started) / 1000;
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

function log(msg) {
  if (!quiet) process.stderr.write(`[pyenv ${elapsed()}] ${msg}\n`);
}

function fail(msg) {
  if (quiet && tail.length > 0) process.stderr.write(tail.join('\n') + '\n');
  process.stderr.write(`pyenv: ${msg}\n`);
  process.exit(1);
}

function readSpec() {
  let spec;
  try {
    spec = JSON.parse(readFileSync(SPEC_FILE, 'utf8'));
  } catch (err) {
    fail(`cannot read ${SPEC_FILE}: ${err.message}`);
  }
  if (!spec || typeof spec.envs !== 'object') fail(`${SPEC_FILE} has no "envs" object`);
  for (const [name, env] of Object.entries(spec.envs)) {
    if (!/^[A-Za-z0-9_.]+$/.test(name)) fail(`env name '${name}' must be letters, digits, '_' or '.'`);
    if (!Array.isArray(env.requirements) || env.requirements.length === 0
      || !env.requirements.every((r) => typeof r === 'string' && /^[A-Za-z0-9_.[\],-]+==[A-Za-z0-9_.+!-]+$/.test(r))) {
      fail(`env '${name}': requirements must be a non-empty list of exact pins (package==version)`);
    }
    if (env.buildGiB !== undefined && !(typeof env.buildGiB === 'number' && env.buildGiB > 0)) {
      fail(`env '${name}': buildGiB must be a positive number (GiB of disk the build needs at its peak)`);
    }
  }
  return spec.envs;
}

function basePython() {
  return process.env.MLSERVE_PYTHON || 'python3';
}

function pythonVersion(python) {
  try {
    return execFileSync(python, ['-c', 'import platform, sys; print(sys.implementation.name + "-" + platform.python_version() + "-" + platform.machine())'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (err) {
    fail(`cannot run ${python} (set MLSERVE_PYTHON to a Python 3 interpreter): ${err.message}`);
  }
}

function envKey(env, pyVersion) {
  const pins = JSON.stringify({ requirements: env.requirements, check: env.check ?? [] });
  return createHash('sha256').update(pins).update('\0').update(pyVersion).digest('hex').slice(0, 12);
}

function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

const held = new Set();
function releaseLocks() {
  for (const dir of held) rmSync(dir, { recursive: true, force: true });
  held.clear();
}

/** Take <root>/<name>.lock (mkdir is atomic), waiting for a live holder and taking over a dead one's. */
async function acquireLock(lockDir) {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      held.add(lockDir);
      writeFileSync(join(lockDir, 'pid'), `${process.pid}\n`);
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    let childPid = NaN;
    try {
      pid = Number.parseInt(readFileSync(join(lockDir, 'pid'), 'utf8'), 10);
      childPid = Number.parseInt(readFileSync(join(lockDir, 'child'), 'utf8'), 10);
    } catch {}
    let stale;
    if (Number.isNaN(pid)) {
      let age = 0;
      try {
        age = Date.now() - statSync(lockDir).mtimeMs;
      } catch {
        continue; // removed meanwhile: try again
      }
      stale = age > LOCK_NO_PID_STALE_MS;
    } else {
      stale = !pidAlive(pid) && !pidAlive(childPid);
    }
    if (stale) {
      log(`removing stale lock ${lockDir}${Number.isNaN(pid) ? '' : ` (pid ${pid} is gone)`}`);
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!announced) {
      log(`waiting for pid ${Number.isNaN(pid) ? '?' : pid}, which is building this env (${lockDir})`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
}

/**
 * Refuse to start a build that cannot fit: an env's `buildGiB` (peak disk while pip downloads and
 * installs) against the free space where the env goes. pip's own "No space left on device" comes
 * minutes later, in the middle of an install, and does not say how much is needed.
 */
function checkDiskSpace(name, env, root) {
  if (typeof env.buildGiB !== 'number') return;
  let freeGiB;
  try {
    const st = statfsSync(root);
    freeGiB = (Number(st.bavail) * Number(st.bsize)) / 2 ** 30;
  } catch {
    return;
  }
  log(`disk: ${freeGiB.toFixed(1)} GiB free in ${root}; env '${name}' needs about ${env.buildGiB} GiB while it builds`);
  if (freeGiB < env.buildGiB) {
    fail(`not enough disk to build env '${name}': it needs about ${env.buildGiB} GiB while it builds and ${root} has ${freeGiB.toFixed(1)} GiB free. Free some space, or set MLSERVE_PYENV_DIR to a directory on a larger disk.`);
  }
}

let child = null;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (child) child.kill('SIGTERM');
    releaseLocks();
    process.stderr.write(`pyenv: interrupted (${sig}); the partial env is removed by the next run\n`);
    process.exit(130);
  });
}
process.on('exit', releaseLocks);

/** Run a command (argument array, no shell), streaming its output lines to stderr with a prefix. */
function run(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    log(`$ ${[cmd, ...args].join(' ')}`);
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    for (const lockDir of held) {
      try {
        writeFileSync(join(lockDir, 'child'), `${child.pid ?? ''}\n`);
      } catch {}
    }
    const onData = (prefix) => {
      let partial = '';
      return (chunk) => {
        const lines = (partial + chunk.toString('utf8')).split(/\r?\n|\r/);
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          tail.push(line);
          if (tail.length > 60) tail.shift();
          log(`${prefix}${line}`);
        }
      };
    };
    child.stdout.on('data', onData('  '));
    child.stderr.on('data', onData('  '));
    child.on('error', (err) => {
      child = null;
      reject(new Error(`cannot start ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      child = null;
      if (code === 0) resolvePromise();
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} ... failed (${signal ? `signal ${signal}` : `exit code ${code}`})`));
    });
  });
}

async function ensureEnv(name, env, root, pyVersion) {
  const dir = join(root, `${name}-${envKey(env, pyVersion)}`);
  const python = join(dir, 'bin', 'python');
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return python;

  mkdirSync(root, { recursive: true });
  const lockDir = join(root, `${name}.lock`);
  await acquireLock(lockDir);
  try {
    if (existsSync(marker)) return python; // built by the caller we waited for
    const ownDir = new RegExp(`^${name.replace(/\./g, '\\.')}-[0-9a-f]{12}$`);
    for (const entry of readdirSync(root)) {
      if (!ownDir.test(entry)) continue;
      const other = join(root, entry);
      if (other === dir) log(`removing the incomplete build ${other}`);
      else log(`removing ${other} (built from other pins)`);
      rmSync(other, { recursive: true, force: true });
    }
    checkDiskSpace(name, env, root);
    log(`building env '${name}' in ${dir}`);
    log(`pins: ${env.requirements.join(' ')}`);
    await run(basePython(), ['-m', 'venv', dir]);
    const pipEnv = { PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONUNBUFFERED: '1' };
    // --no-cache-dir: pip's cache would keep a second copy of every wheel (PyTorch's CUDA wheels alone
    // are 2.7 GB) beside the env; the env itself is the cache here. A CI run once ran out of disk with it.
    await run(python, ['-m', 'pip', 'install', '--no-cache-dir', '--progress-bar', 'off', '--no-input', ...env.requirements], { env: pipEnv });
    const check = env.check ?? [];
    if (check.length > 0) {
      await run(python, ['-c', 'import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint("imports ok: " + " ".join(sys.argv[1:]))', ...check]);
    }
    const freeze = execFileSync(python, ['-m', 'pip', 'freeze', '--all'], { encoding: 'utf8', env: { ...process.env, ...pipEnv } });
    writeFileSync(join(dir, 'pip-freeze.txt'), freeze);
    const info = { name, requirements: env.requirements, python: pyVersion, builtAt: new Date().toISOString(), buildSeconds: (Date.now() - started) / 1000 };
    writeFileSync(join(dir, '.complete.tmp'), JSON.stringify(info, null, 2) + '\n');
    renameSync(join(dir, '.complete.tmp'), marker);
    log(`env '${name}' ready in ${elapsed()}: ${python}`);
    return python;
  } catch (err) {
    fail(`building env '${name}' failed: ${err.message}`);
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
    held.delete(lockDir);
  }
}

async function main() {
  const args = process.argv.slice(2);
  quiet = args.includes('--quiet');
  const all = args.includes('--all');
  const names = args.filter((a) => !a.startsWith('--'));
  const builtOnly = args.includes('--built');
  const unknownFlags = args.filter((a) => a.startsWith('--') && a !== '--quiet' && a !== '--all' && a !== '--built');
  if (unknownFlags.length > 0 || (all ? names.length > 0 || builtOnly : names.length !== 1)) {
    process.stderr.write('usage: node scripts/pyenv.mjs <name> [--quiet]\n       node scripts/pyenv.mjs --all [--quiet]\n       node scripts/pyenv.mjs <name> --built\n');
    process.exit(2);
  }
  const envs = readSpec();
  const wanted = all ? Object.keys(envs) : names;
  for (const n of wanted) {
    if (!envs[n]) fail(`no env named '${n}' in ${SPEC_FILE} (have: ${Object.keys(envs).join(', ')})`);
  }
  const root = resolve(process.env.MLSERVE_PYENV_DIR || join(REPO, '.cache', 'pyenv'));
  const pyVersion = pythonVersion(basePython());
  if (builtOnly) {
    const dir = join(root, `${names[0]}-${envKey(envs[names[0]], pyVersion)}`);
    if (!existsSync(join(dir, '.complete'))) process.exit(3);
    process.stdout.write(`${join(dir, 'bin', 'python')}\n`);
    return;
  }
  for (const n of wanted) {
    const python = await ensureEnv(n, envs[n], root, pyVersion);
    process.stdout.write(`${python}\n`);
  }
}

main().catch((err) => fail(err.stack ?? String(err)));
