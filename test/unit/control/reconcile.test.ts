import { describe, expect, it } from 'vitest';
import {
  REPLACE_DEADLINE_MS, reconcile, retryDelayMs,
  type Action, type Desired, type DesiredDeployment, type DesiredEndpoint, type Observed,
  type ObservedDeployment, type ObservedRevision, type Phase,
} from '../../../src/daemon/control/reconcile.js';
import { validateAutoscaling, type AutoscalingConfig } from '../../../src/daemon/fleet/autoscaler.js';

// ---- builders

const NOW = 10_000_000;
const auto = (min: number, max: number): AutoscalingConfig => validateAutoscaling({ min_replicas: min, max_replicas: max });
const A14 = auto(1, 4);
const A28 = auto(2, 8);

/** A desired deployment (endpoint 'ep', revision r1, 1 replica, fixed count). */
const dep = (name: string, over: Partial<DesiredDeployment> = {}): DesiredDeployment => ({
  name, endpoint: 'ep', revision: 'r1', replicas: 1, autoscaling: null, ...over,
});
/** An observed revision (ready, 1 replica, fixed, started long ago). */
const rev = (revision: string, over: Partial<ObservedRevision> = {}): ObservedRevision => ({
  revision, phase: 'ready', replicas: 1, autoscaling: null, startedAt: 0, ...over,
});
const obs = (
  name: string, active: ObservedRevision | null, next: ObservedRevision | null = null,
  failures: ObservedDeployment['failures'] = null,
): ObservedDeployment => ({ name, active, next, failures });
const ep = (name: string, primary: string, nextPrimary: string | null = null, canary: string | null = null): DesiredEndpoint => ({
  name, primary, canary, nextPrimary,
});
const desired = (deployments: DesiredDeployment[], endpoints: DesiredEndpoint[] = []): Desired => ({ deployments, endpoints });
const observed = (...deployments: ObservedDeployment[]): Observed => ({ deployments });

// Expected actions (the free-text `why` is matched loosely unless a case pins it).
const why = expect.any(String) as unknown as string;
const start = (deployment: string, role: 'active' | 'next', w: string = why): Action => ({ kind: 'start', deployment, role, why: w });
const cutover = (deployment: string): Action => ({ kind: 'cutover', deployment });
const discard = (deployment: string): Action => ({ kind: 'discard-next', deployment, why });
const restart = (deployment: string, w: string = why): Action => ({ kind: 'restart', deployment, why: w });
const stop = (deployment: string): Action => ({ kind: 'stop', deployment, why });
const scale = (deployment: string, revision: string, replicas: number): Action => ({ kind: 'scale', deployment, revision, replicas });
const autoscaling = (deployment: string, revision: string, config: AutoscalingConfig | null, replicas: number): Action => ({
  kind: 'autoscaling', deployment, revision, config, replicas,
});
const switchPrimary = (endpoint: string, from: string, to: string): Action => ({ kind: 'switch-primary', endpoint, from, to });
const abandon = (endpoint: string, deployment: string): Action => ({ kind: 'abandon-replacement', endpoint, deployment, why });

interface Case {
  name: string;
  desired: Desired;
  observed: Observed;
  now?: number;
  want: Action[];
}

const failedAt = (revision: string, count: number, at: number) => ({ revision, count, at });

const cases: Case[] = [
  // ---- create, restore, remove
  { name: 'nothing desired, nothing running: nothing to do', desired: desired([]), observed: observed(), want: [] },
  { name: 'create: nothing runs -> start active (deploy)', desired: desired([dep('a')]), observed: observed(),
    want: [start('a', 'active', 'deploy')] },
  { name: 'create: an observed entry with nothing running and no failures -> start active (deploy)',
    desired: desired([dep('a')]), observed: observed(obs('a', null)), want: [start('a', 'active', 'deploy')] },
  { name: 'daemon restart: everything desired, nothing running -> one start per deployment, in desired order',
    desired: desired([dep('c'), dep('a', { replicas: 3 }), dep('b', { autoscaling: A14 })], [ep('ep', 'a')]),
    observed: observed(),
    want: [start('c', 'active', 'deploy'), start('a', 'active', 'deploy'), start('b', 'active', 'deploy')] },
  { name: 'a deployment no longer desired -> stop', desired: desired([]), observed: observed(obs('a', rev('r1'))), want: [stop('a')] },
  { name: 'no longer desired, only a replacement runs -> stop', desired: desired([]), observed: observed(obs('a', null, rev('r2'))),
    want: [stop('a')] },
  { name: 'no longer desired and nothing runs (failures only) -> nothing', desired: desired([]),
    observed: observed(obs('a', null, null, failedAt('r1', 1, NOW))), want: [] },
  { name: 'stops come after the starts of other deployments',
    desired: desired([dep('b')]), observed: observed(obs('a', rev('r1'))), want: [start('b', 'active'), stop('a')] },
  { name: 'in sync: nothing to do', desired: desired([dep('a', { replicas: 2 })]), observed: observed(obs('a', rev('r1', { replicas: 2 }))),
    want: [] },

  // ---- fixed replica counts
  { name: 'scale up: fixed count differs -> scale the running revision', desired: desired([dep('a', { replicas: 3 })]),
    observed: observed(obs('a', rev('r1'))), want: [scale('a', 'r1', 3)] },
  { name: 'scale down -> scale the running revision', desired: desired([dep('a', { replicas: 1 })]),
    observed: observed(obs('a', rev('r1', { replicas: 4 }))), want: [scale('a', 'r1', 1)] },
  { name: 'scale to zero -> scale', desired: desired([dep('a', { replicas: 0 })]),
    observed: observed(obs('a', rev('r1', { replicas: 2 }))), want: [scale('a', 'r1', 0)] },
  { name: 'scale while a replacement comes up -> scale the replacement', desired: desired([dep('a', { revision: 'r2', replicas: 3 })]),
    observed: observed(obs('a', rev('r1'), rev('r2', { phase: 'starting' }))), want: [scale('a', 'r2', 3)] },

  // ---- autoscaling in place
  { name: 'autoscaling set -> autoscaling in place, keeping the current count', desired: desired([dep('a', { autoscaling: A14, replicas: 1 })]),
    observed: observed(obs('a', rev('r1', { replicas: 2 }))), want: [autoscaling('a', 'r1', A14, 2)] },
  { name: 'autoscaling changed -> autoscaling in place', desired: desired([dep('a', { autoscaling: A28 })]),
    observed: observed(obs('a', rev('r1', { autoscaling: A14, replicas: 3 }))), want: [autoscaling('a', 'r1', A28, 3)] },
  { name: 'autoscaling removed -> autoscaling off at the desired fixed count', desired: desired([dep('a', { replicas: 2 })]),
    observed: observed(obs('a', rev('r1', { autoscaling: A14, replicas: 4 }))), want: [autoscaling('a', 'r1', null, 2)] },
  { name: 'autoscaling unchanged: the autoscaler\'s count is not overridden by the fixed count',
    desired: desired([dep('a', { autoscaling: A14, replicas: 1 })]),
    observed: observed(obs('a', rev('r1', { autoscaling: A14, replicas: 3 }))), want: [] },
  { name: 'autoscaling unchanged (an equal copy) -> nothing', desired: desired([dep('a', { autoscaling: auto(1, 4) })]),
    observed: observed(obs('a', rev('r1', { autoscaling: auto(1, 4), replicas: 2 }))), want: [] },

  // ---- blue-green revision replacement
  { name: 'settings change: revision differs -> start next', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'))), want: [start('a', 'next')] },
  { name: 'settings change and scale together: only the replacement starts (no scale of the old one)',
    desired: desired([dep('a', { revision: 'r2', replicas: 5 })]), observed: observed(obs('a', rev('r1'))), want: [start('a', 'next')] },
  { name: 'settings change while the old revision still starts -> start next', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1', { phase: 'starting' }))), want: [start('a', 'next')] },
  { name: 'next ready -> cutover', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'), rev('r2'))), want: [cutover('a')] },
  { name: 'next still starting -> nothing', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'), rev('r2', { phase: 'starting' }))), want: [] },
  { name: 'next failed -> discard-next', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'), rev('r2', { phase: 'failed' }))), want: [discard('a')] },
  { name: 'next at an outdated revision -> discard-next', desired: desired([dep('a', { revision: 'r3' })]),
    observed: observed(obs('a', rev('r1'), rev('r2'))), want: [discard('a')] },
  { name: 'desired reverted to the running revision while next runs -> discard-next', desired: desired([dep('a', { revision: 'r1' })]),
    observed: observed(obs('a', rev('r1'), rev('r2', { phase: 'starting' }))), want: [discard('a')] },
  { name: 'reverted and rescaled: discard-next and scale the running revision', desired: desired([dep('a', { revision: 'r1', replicas: 2 })]),
    observed: observed(obs('a', rev('r1'), rev('r2'))), want: [discard('a'), scale('a', 'r1', 2)] },
  { name: 'only a replacement runs (its predecessor is gone) -> cutover', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', null, rev('r2', { phase: 'starting' }))), want: [cutover('a')] },

  // ---- failed starts and their backoff
  { name: 'running revision failed at the desired revision, no failure recorded yet -> restart', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }))), want: [restart('a', 'retry 1 after a failed start')] },
  { name: 'failed at the desired revision, 1 ms before the delay -> nothing', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), null, failedAt('r1', 1, NOW - retryDelayMs(1) + 1))), want: [] },
  { name: 'failed at the desired revision, exactly the delay -> restart', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), null, failedAt('r1', 1, NOW - retryDelayMs(1)))),
    want: [restart('a', 'retry 2 after a failed start')] },
  { name: 'failed 3 times, delay-1 -> nothing', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), null, failedAt('r1', 3, NOW - retryDelayMs(3) + 1))), want: [] },
  { name: 'failed 3 times, exactly the delay (40 s) -> restart', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), null, failedAt('r1', 3, NOW - 40_000))), want: [restart('a', 'retry 4 after a failed start')] },
  { name: 'failed revision replaced by a new desired revision -> restart at once (no backoff)', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), null, failedAt('r1', 4, NOW))), want: [restart('a')] },
  { name: 'failed revision with a replacement coming: desired the failed one -> discard next, no restart yet (backoff)',
    desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'failed' }), rev('r2'), failedAt('r1', 1, NOW))), want: [discard('a')] },
  { name: 'nothing runs, failure backing off -> nothing', desired: desired([dep('a')]),
    observed: observed(obs('a', null, null, failedAt('r1', 2, NOW - retryDelayMs(2) + 1))), want: [] },
  { name: 'nothing runs, backoff over -> start active as a retry', desired: desired([dep('a')]),
    observed: observed(obs('a', null, null, failedAt('r1', 2, NOW - retryDelayMs(2)))), want: [start('a', 'active', 'retry 3')] },
  { name: 'nothing runs, failures of another revision -> start at once', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', null, null, failedAt('r1', 5, NOW))), want: [start('a', 'active')] },
  { name: 'failed next start backs off before starting next again', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'), null, failedAt('r2', 1, NOW - retryDelayMs(1) + 1))), want: [] },
  { name: 'failed next start: after the delay -> start next again', desired: desired([dep('a', { revision: 'r2' })]),
    observed: observed(obs('a', rev('r1'), null, failedAt('r2', 1, NOW - retryDelayMs(1)))), want: [start('a', 'next')] },
  { name: 'failed next start of an older revision does not hold back a newer one', desired: desired([dep('a', { revision: 'r3' })]),
    observed: observed(obs('a', rev('r1'), null, failedAt('r2', 1, NOW))), want: [start('a', 'next')] },

  // ---- phases that wait
  { name: 'GPU pending (phase pending) -> no action', desired: desired([dep('a', { replicas: 2 })]),
    observed: observed(obs('a', rev('r1', { phase: 'pending', replicas: 2 }))), want: [] },
  { name: 'starting at the desired revision -> no action', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'starting' }))), want: [] },
  { name: 'unhealthy at the desired revision -> no action (the replica set restarts replicas)', desired: desired([dep('a')]),
    observed: observed(obs('a', rev('r1', { phase: 'unhealthy' }))), want: [] },

  // ---- endpoint blue-green (deploy --replace, a new version)
  { name: 'nextPrimary ready at the desired revision -> switch-primary',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]), observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { startedAt: NOW }))),
    want: [switchPrimary('ep', 'v1', 'v2')] },
  { name: 'nextPrimary not ready yet -> nothing',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { phase: 'starting', startedAt: NOW - 1000 }))), want: [] },
  { name: 'nextPrimary not started yet -> only its start',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]), observed: observed(obs('v1', rev('r1'))),
    want: [start('v2', 'active')] },
  { name: 'nextPrimary ready but at an older revision (a replacement runs) -> nothing yet',
    desired: desired([dep('v1'), dep('v2', { revision: 'r2' })], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { startedAt: NOW }), rev('r2', { phase: 'starting', startedAt: NOW }))), want: [] },
  { name: 'nextPrimary ready at the desired revision but a replacement still runs beside it -> no switch yet',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { startedAt: NOW }), rev('r2', { phase: 'starting', startedAt: NOW }))),
    want: [discard('v2')] },
  { name: 'nextPrimary failed (nothing runs) -> abandon-replacement',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', null, null, failedAt('r1', 1, NOW))), want: [abandon('ep', 'v2')] },
  { name: 'nextPrimary failed (active failed) -> abandon-replacement, beside its own restart backoff',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { phase: 'failed', startedAt: NOW }), null, failedAt('r1', 1, NOW))),
    want: [abandon('ep', 'v2')] },
  { name: 'nextPrimary missing from desired -> abandon-replacement (and the stray deployment stops)',
    desired: desired([dep('v1')], [ep('ep', 'v1', 'v2')]), observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1'))),
    want: [abandon('ep', 'v2'), stop('v2')] },
  { name: 'nextPrimary past REPLACE_DEADLINE_MS -> abandon-replacement',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { phase: 'starting', startedAt: NOW - REPLACE_DEADLINE_MS - 1 }))),
    want: [abandon('ep', 'v2')] },
  { name: 'nextPrimary exactly at REPLACE_DEADLINE_MS -> still waits',
    desired: desired([dep('v1'), dep('v2')], [ep('ep', 'v1', 'v2')]),
    observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { phase: 'pending', startedAt: NOW - REPLACE_DEADLINE_MS }))), want: [] },
  { name: 'nextPrimary equal to the primary -> nothing',
    desired: desired([dep('v1')], [ep('ep', 'v1', 'v1')]), observed: observed(obs('v1', rev('r1'))), want: [] },

  // ---- canaries are plain deployments
  { name: 'canary added -> start', desired: desired([dep('v1'), dep('v1-canary')], [ep('ep', 'v1', null, 'v1-canary')]),
    observed: observed(obs('v1', rev('r1'))), want: [start('v1-canary', 'active', 'deploy')] },
  { name: 'canary removed -> stop', desired: desired([dep('v1')], [ep('ep', 'v1')]),
    observed: observed(obs('v1', rev('r1')), obs('v1-canary', rev('r1'))), want: [stop('v1-canary')] },
];

describe('reconcile', () => {
  it.each(cases)('$name', ({ desired: d, observed: o, now, want }) => {
    expect(reconcile(d, o, now ?? NOW)).toEqual(want);
  });

  it('is pure: the inputs are not modified', () => {
    const d = desired([dep('a', { revision: 'r2', autoscaling: A14 }), dep('b')], [ep('ep', 'a', 'b')]);
    const o = observed(obs('a', rev('r1'), rev('r2')), obs('c', rev('r1')));
    const before = JSON.stringify([d, o]);
    reconcile(d, o, NOW);
    expect(JSON.stringify([d, o])).toBe(before);
  });
});

describe('retryDelayMs', () => {
  it.each([
    [0, 10_000], [1, 10_000], [2, 20_000], [3, 40_000], [4, 80_000], [5, 160_000], [6, 300_000], [7, 300_000], [50, 300_000],
  ])('after %i failures: %i ms', (count, ms) => expect(retryDelayMs(count)).toBe(ms));

  it('doubles until it caps at 300000, and never decreases', () => {
    for (let c = 1; c < 40; c++) {
      const a = retryDelayMs(c);
      const b = retryDelayMs(c + 1);
      expect(b).toBe(Math.min(300_000, a * 2));
    }
  });
});

// ---- convergence: reconcile + a simulator of the fleet reach a fixed point

interface World {
  desired: Desired;
  observed: Observed;
}

/** Carry out the actions the obvious way: every start succeeds at once. Throws on an action that makes no sense. */
function simulate(w: World, actions: Action[], now: number): World {
  const next: World = structuredClone(w);
  const want = (name: string) => {
    const d = next.desired.deployments.find((x) => x.name === name);
    if (!d) throw new Error(`${name} is not desired`);
    return d;
  };
  const have = (name: string) => {
    let o = next.observed.deployments.find((x) => x.name === name);
    if (!o) {
      o = obs(name, null);
      next.observed.deployments.push(o);
    }
    return o;
  };
  const fresh = (d: DesiredDeployment): ObservedRevision => ({
    revision: d.revision, phase: 'ready', replicas: d.replicas, autoscaling: d.autoscaling, startedAt: now,
  });
  const revisionOf = (name: string, revision: string) => {
    const o = have(name);
    const r = [o.active, o.next].find((x) => x?.revision === revision);
    if (!r) throw new Error(`${name} runs no revision ${revision}`);
    return r;
  };
  for (const a of actions) {
    switch (a.kind) {
      case 'start': {
        const o = have(a.deployment);
        if (a.role === 'next' && !o.active) throw new Error(`start next of ${a.deployment} without an active revision`);
        if (o[a.role]) throw new Error(`start ${a.role} of ${a.deployment} over a running revision`);
        o[a.role] = fresh(want(a.deployment));
        o.failures = null;
        break;
      }
      case 'cutover': {
        const o = have(a.deployment);
        if (!o.next) throw new Error(`cutover of ${a.deployment} without next`);
        o.active = o.next;
        o.next = null;
        break;
      }
      case 'discard-next': {
        const o = have(a.deployment);
        if (!o.next) throw new Error(`discard-next of ${a.deployment} without next`);
        o.next = null;
        break;
      }
      case 'restart': {
        const o = have(a.deployment);
        o.next = null;
        o.active = fresh(want(a.deployment));
        o.failures = null;
        break;
      }
      case 'stop':
        next.observed.deployments = next.observed.deployments.filter((o) => o.name !== a.deployment);
        break;
      case 'scale':
        revisionOf(a.deployment, a.revision).replicas = a.replicas;
        break;
      case 'autoscaling': {
        const r = revisionOf(a.deployment, a.revision);
        r.autoscaling = a.config;
        r.replicas = a.replicas;
        break;
      }
      case 'switch-primary': {
        const e = next.desired.endpoints.find((x) => x.name === a.endpoint)!;
        if (e.primary !== a.from || e.nextPrimary !== a.to) throw new Error(`bad switch ${JSON.stringify(a)}`);
        e.primary = a.to;
        e.nextPrimary = null;
        if (e.canary === a.to) e.canary = null;
        next.desired.deployments = next.desired.deployments.filter((d) => d.name !== a.from);
        break;
      }
      case 'abandon-replacement': {
        const e = next.desired.endpoints.find((x) => x.name === a.endpoint)!;
        if (e.nextPrimary !== a.deployment) throw new Error(`bad abandon ${JSON.stringify(a)}`);
        e.nextPrimary = null;
        next.desired.deployments = next.desired.deployments.filter((d) => d.name !== a.deployment);
        break;
      }
    }
  }
  return next;
}

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  return { int, pick, chance };
}

const REVISIONS = ['r1', 'r2', 'r3'];
const PHASES: Phase[] = ['starting', 'pending', 'ready', 'failed', 'unhealthy'];
const CONFIGS = [null, null, A14, A28];

function randomWorld(seed: number): World {
  const r = prng(seed);
  const names = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6'];
  const deployments: DesiredDeployment[] = [];
  for (const name of names.slice(0, 5)) {
    if (r.chance(0.7)) deployments.push(dep(name, { revision: r.pick(REVISIONS), replicas: r.int(4), autoscaling: r.pick(CONFIGS) }));
  }
  const revision = (): ObservedRevision => rev(r.pick(REVISIONS), {
    phase: r.pick(PHASES), replicas: r.int(4), autoscaling: r.pick(CONFIGS), startedAt: NOW - r.int(2 * REPLACE_DEADLINE_MS),
  });
  const deps: ObservedDeployment[] = [];
  for (const name of names) {
    if (!r.chance(0.7)) continue;
    deps.push(obs(
      name,
      r.chance(0.75) ? revision() : null,
      r.chance(0.35) ? revision() : null,
      r.chance(0.35) ? failedAt(r.pick(REVISIONS), 1 + r.int(4), NOW - r.int(400_000)) : null,
    ));
  }
  // Endpoints over disjoint deployments: a primary, maybe a nextPrimary (desired, gone, or the primary itself).
  const endpoints: DesiredEndpoint[] = [];
  const free = deployments.map((d) => d.name);
  for (let i = 0; i < 2 && free.length > 0; i++) {
    const primary = free.splice(r.int(free.length), 1)[0]!;
    let nextPrimary: string | null = null;
    const roll = r.int(4);
    if (roll === 1 && free.length > 0) nextPrimary = free.splice(r.int(free.length), 1)[0]!;
    else if (roll === 2) nextPrimary = 'd6';
    else if (roll === 3) nextPrimary = primary;
    endpoints.push(ep(`ep${i}`, primary, nextPrimary));
  }
  return { desired: desired(deployments, endpoints), observed: { deployments: deps } };
}

describe('reconcile converges', () => {
  const seeds = Array.from({ length: 400 }, (_, i) => i + 1);

  it('reaches a state with no action within 5 passes, for 400 random desired/observed pairs', () => {
    const passesUsed = new Map<number, number>();
    for (const seed of seeds) {
      let w = randomWorld(seed);
      let now = NOW;
      let passes = 0;
      let actions = reconcile(w.desired, w.observed, now);
      while (actions.length > 0) {
        passes++;
        if (passes > 5) throw new Error(`seed ${seed}: no fixed point after 5 passes; still ${JSON.stringify(actions)}`);
        try {
          w = simulate(w, actions, now);
        } catch (err) {
          throw new Error(`seed ${seed}, pass ${passes}: ${(err as Error).message}`);
        }
        now += 1;
        actions = reconcile(w.desired, w.observed, now);
      }
      passesUsed.set(passes, (passesUsed.get(passes) ?? 0) + 1);

      // The fixed point is the desired state, except what is waiting out a backoff or still starting.
      const have = new Map(w.observed.deployments.map((o) => [o.name, o]));
      for (const d of w.desired.deployments) {
        const o = have.get(d.name);
        if (o?.failures?.revision === d.revision) continue; // backing off
        const settled = o?.active?.revision === d.revision && !o.next;
        const coming = o?.next?.revision === d.revision && o.next.phase !== 'ready' && o.next.phase !== 'failed';
        expect(settled || coming, `seed ${seed}: ${d.name} ${JSON.stringify(o)}`).toBe(true);
        const r = settled ? o!.active! : o!.next!;
        expect(r.autoscaling).toEqual(d.autoscaling);
        if (!d.autoscaling) expect(r.replicas).toBe(d.replicas);
      }
      const wanted = new Set(w.desired.deployments.map((d) => d.name));
      for (const o of w.observed.deployments) {
        if (!wanted.has(o.name)) expect(o.active === null && o.next === null, `seed ${seed}: ${o.name} still runs`).toBe(true);
      }
      for (const e of w.desired.endpoints) {
        if (e.nextPrimary && e.nextPrimary !== e.primary) expect(wanted.has(e.nextPrimary), `seed ${seed}: ${e.name}`).toBe(true);
      }
    }
    // The generator exercises long chains, not only trivial worlds.
    expect(passesUsed.get(0) ?? 0).toBeLessThan(seeds.length / 4);
    expect(Math.max(...passesUsed.keys())).toBeGreaterThanOrEqual(3);
  });

  it('the simulator itself is checked: a worst case needs exactly 5 passes (discard, start next, cutover, switch, stop)', () => {
    let w: World = {
      desired: desired([dep('v1'), dep('v2', { revision: 'r3' })], [ep('ep', 'v1', 'v2')]),
      observed: observed(obs('v1', rev('r1')), obs('v2', rev('r1', { startedAt: NOW }), rev('r2', { phase: 'starting', startedAt: NOW }))),
    };
    const kinds: string[][] = [];
    for (let i = 0; i < 6; i++) {
      const actions = reconcile(w.desired, w.observed, NOW + i);
      if (actions.length === 0) break;
      kinds.push(actions.map((a) => a.kind));
      w = simulate(w, actions, NOW + i);
    }
    expect(kinds).toEqual([['discard-next'], ['start'], ['cutover'], ['switch-primary'], ['stop']]);
    expect(w.desired.endpoints[0]).toMatchObject({ primary: 'v2', nextPrimary: null });
    expect(w.observed.deployments.map((o) => o.name)).toEqual(['v2']);
  });
});
