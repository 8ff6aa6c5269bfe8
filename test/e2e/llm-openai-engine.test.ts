// The `openai` replica kind against real OpenAI-compatible servers started and supervised by
// mlserve: llama-cpp-python's server (python -m llama_cpp.server, pinned env 'llm') on the tiny
// GGUF, and a stand-in engine that misbehaves (malformed SSE, dying mid-stream, never healthy).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { stream, streamedText, tinyGguf } from '../helpers/llm.js';
import { pythonEnv, REPO } from '../helpers/python.js';
import { until } from '../helpers/wait.js';

/**
 * llama-cpp-python has no wheels on PyPI: pip compiles llama.cpp into the 'llm' env, 10 to 30 minutes
 * on 2 cores, more than a cold CI run can give. Its tests run when that env is built
 * (`node scripts/pyenv.mjs llm`, cached in .cache/pyenv) or MLSERVE_TEST_LLM_ENGINE=1 asks to build it.
 */
function llmEngineReady(): boolean {
  if (process.env.MLSERVE_TEST_LLM_ENGINE === '1') return true;
  try {
    execFileSync(process.execPath, [join(REPO, 'scripts', 'pyenv.mjs'), 'llm', '--built'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const ENGINE = llmEngineReady();
if (!ENGINE) console.warn("llm-openai-engine: llama-cpp-python's tests skipped: the pinned 'llm' env is not built (node scripts/pyenv.mjs llm builds it; it compiles llama.cpp)");

const FAKE = fileURLToPath(new URL('../fixtures/llm/fake-openai-engine.mjs', import.meta.url));
let d: TestDaemon;
let python: string;

/** Processes whose process group is `pgid` (the engine and anything it started). */
function inGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The engine processes: children of the replica (the keeper) whose command line matches. */
function enginePids(match: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(match) && !readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('engine-keeper')) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

beforeAll(async () => {
  if (ENGINE) python = await pythonEnv('llm');
  d = await new TestDaemon().start();
}, 1_800_000);

afterAll(async () => {
  await d?.cleanup();
});

describe.skipIf(!ENGINE)('openai engine kind: llama-cpp-python started by mlserve with --engine-cmd', () => {
  const cmd = () => `${python} -m llama_cpp.server --model {model} --host {host} --port {port} --n_ctx {ctx_size} --n_threads {threads} --verbose false`;

  it('deploys, health-checks and serves chat, streaming included, through the openai client', async () => {
    const r = await d.deploy(tinyGguf(), ['--endpoint', 'ext', '--engine-cmd', cmd(), '--ctx-size', '512', '--threads', '1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json.settings).toMatchObject({ runtime: 'openai', llm: { ctxSize: 512 } });
    const client = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const c = await client.chat.completions.create({ model: 'ext', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, temperature: 0 });
    expect(c.choices[0].message.content).toHaveLength(6);
    expect(c.usage).toMatchObject({ completion_tokens: 6 });
    expect(c.usage!.prompt_tokens).toBeGreaterThan(5); // the engine's own count (asked whole)
    const s = await stream(d.url, '/v1/chat/completions', { model: 'ext', messages: [{ role: 'user', content: 'hi' }], max_tokens: 400, temperature: 0, stream: true });
    expect(s.events.at(-1)!.done).toBe(true);
    const content = s.events.filter((e) => e.data?.choices?.[0]?.delta?.content);
    expect(content.length).toBeGreaterThan(100);
    // Streamed through as the engine sends it, not buffered into one answer: text arrives in many reads.
    expect(new Set(content.map((e) => e.t)).size).toBeGreaterThan(5);
    expect(streamedText(s.events).startsWith(c.choices[0].message.content!)).toBe(true);
    const comp = await client.completions.create({ model: 'ext', prompt: 'Once', max_tokens: 5, temperature: 0 });
    expect(comp.choices[0].text).toHaveLength(5);
  });

  it('passes the engine\'s own 400 through (a prompt longer than its context)', async () => {
    for (const streamed of [false, true]) {
      const r = await d.http('POST', '/v1/completions', { model: 'ext', prompt: 'x '.repeat(700), stream: streamed });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded' });
    }
  });

  it('restarts an engine that dies, and the client of a dying stream gets an error event', async () => {
    const [pid] = enginePids('llama_cpp.server');
    expect(pid).toBeGreaterThan(0);
    const pending = stream(d.url, '/v1/chat/completions', { model: 'ext', messages: [{ role: 'user', content: 'long' }], max_tokens: 400, stream: true });
    await new Promise((r) => setTimeout(r, 400));
    process.kill(pid, 'SIGKILL');
    const s = await pending;
    // Text had reached the client: its stream ends with an error event. None had: the request was
    // retried once, on the restarted engine, and completed. Either way it ended, with [DONE].
    const err = s.events.find((e) => e.data?.error);
    const finished = s.events.some((e) => e.data?.choices?.[0]?.finish_reason);
    expect(Boolean(err) !== finished).toBe(true);
    if (err) expect(err.data.error.type).toBe('server_error');
    expect(s.events.at(-1)!.done).toBe(true);
    await until(async () => enginePids('llama_cpp.server'), (p) => p.length === 1 && p[0] !== pid, 60_000, 250);
    await until(async () => (await d.cli(['status', '--json'])).json.deployments.find((x: { name: string }) => x.name === 'ext-v1').state, (st) => st === 'ready', 60_000);
    const ok = await d.http('POST', '/v1/chat/completions', { model: 'ext', messages: [{ role: 'user', content: 'back' }], max_tokens: 3 });
    expect(ok.status).toBe(200);
    const events = (await d.cli(['events', 'ext-v1', '--json'])).json as Array<{ kind: string }>;
    expect(events.some((e) => e.kind === 'replica-crashed')).toBe(true);
  });

  it('undeploy stops the engine\'s whole process group', async () => {
    const [pid] = enginePids('llama_cpp.server');
    const pgid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[2]);
    expect(pgid).toBe(pid); // a group of its own
    expect((await d.cli(['undeploy', 'ext'])).exitCode).toBe(0);
    await until(async () => inGroup(pgid), (p) => p.length === 0, 20_000, 100);
    expect(inGroup(pgid)).toEqual([]);
  });
});

describe('openai engine kind: engines that misbehave', () => {
  const fake = (mode: string) => `${process.execPath} ${FAKE} --port {port} --mode ${mode}`;

  it('a malformed event stream from the engine ends the client\'s stream with an error event', async () => {
    expect((await d.deploy(tinyGguf(), ['--endpoint', 'garbage', '--engine-cmd', fake('garbage')])).exitCode).toBe(0);
    const s = await stream(d.url, '/v1/chat/completions', { model: 'garbage', messages: [{ role: 'user', content: 'x' }], stream: true });
    expect(streamedText(s.events)).toBe('a');
    expect(s.events.find((e) => e.data?.error)?.data.error.message).toMatch(/malformed stream/);
    expect(s.events.at(-1)!.done).toBe(true);
    // A whole answer from the same engine is fine (its engine-side model name was taken from /v1/models).
    const whole = await d.http('POST', '/v1/chat/completions', { model: 'garbage', messages: [{ role: 'user', content: 'x' }] });
    expect(whole.json).toMatchObject({ choices: [{ message: { content: 'abc' } }], usage: { prompt_tokens: 4, completion_tokens: 3 } });
    await d.cli(['undeploy', 'garbage']);
  });

  it('an engine that exits mid-stream: the client gets an error event, not a hang', async () => {
    expect((await d.deploy(tinyGguf(), ['--endpoint', 'dies', '--engine-cmd', fake('die')])).exitCode).toBe(0);
    const started = performance.now();
    const s = await stream(d.url, '/v1/chat/completions', { model: 'dies', messages: [{ role: 'user', content: 'x' }], stream: true });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(streamedText(s.events)).toBe('a');
    expect(s.events.find((e) => e.data?.error)?.data.error).toMatchObject({ type: 'server_error' });
    expect(s.events.at(-1)!.done).toBe(true);
    await d.cli(['undeploy', 'dies']);
  });

  it('an engine that never gets healthy fails the deployment with the reason', async () => {
    const r = await d.deploy(tinyGguf(), ['--endpoint', 'hangs', '--engine-cmd', fake('hang'), '--engine-ready-timeout', '3', '--timeout', '30']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/did not answer GET \/v1\/models within 3 s|did not answer GET \/health within 3 s/);
    await d.cli(['undeploy', 'hangs']);
  });

  it('a command that cannot start is a load failure that says so', async () => {
    const r = await d.deploy(tinyGguf(), ['--endpoint', 'nosuch', '--engine-cmd', '/no/such/engine --port {port}', '--timeout', '30']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/cannot start \/no\/such\/engine/);
    await d.cli(['undeploy', 'nosuch']);
  });

  it('refuses a command with shell syntax or without {port} at deploy time', async () => {
    const a = await d.deploy(tinyGguf(), ['--endpoint', 'bad', '--engine-cmd', 'srv --port {port} | tee log']);
    expect(a.exitCode).toBe(2);
    expect(a.stdout + a.stderr).toMatch(/shell syntax/);
    const b = await d.deploy(tinyGguf(), ['--endpoint', 'bad', '--engine-cmd', 'srv --model {model}']);
    expect(b.stdout + b.stderr).toMatch(/must pass \{port\}/);
  });
});

describe('a daemon killed with SIGKILL leaves no engine behind', () => {
  it('the keeper sees its pipe close and takes the engine group down', async () => {
    const other = await new TestDaemon().start();
    try {
      expect((await other.deploy(tinyGguf(), ['--endpoint', 'orphan', '--engine-cmd', `${process.execPath} ${FAKE} --port {port} --mode ok --tag orphan-check`])).exitCode).toBe(0);
      const [pid] = enginePids('orphan-check');
      expect(pid).toBeGreaterThan(0);
      process.kill(other.pid, 'SIGKILL');
      await until(async () => enginePids('orphan-check'), (p) => p.length === 0, 20_000, 100);
      expect(enginePids('orphan-check')).toEqual([]);
    } finally {
      await other.cleanup();
    }
  });
});
