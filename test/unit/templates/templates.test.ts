// The files `mlserve init` writes: they parse, and they use only the metric names mlserve exposes.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { TEMPLATE_FILES } from '../../../src/commands/init.js';
import { parseConfig } from '../../../src/config/schema.js';

const read = (p: string) => readFileSync(new URL(`../../../templates/${p}`, import.meta.url), 'utf8');

const COUNTERS = ['mlserve_requests_total', 'mlserve_request_errors_total', 'mlserve_replica_restarts_total', 'mlserve_daemon_starts_total'];
const HISTOGRAMS = ['mlserve_request_duration_seconds', 'mlserve_queue_duration_seconds', 'mlserve_compute_duration_seconds', 'mlserve_batch_size', 'mlserve_model_load_seconds'];
const GAUGES = [
  'mlserve_ongoing_requests', 'mlserve_queued_requests', 'mlserve_replicas', 'mlserve_canary_weight', 'mlserve_gpu_memory_used_bytes',
  'mlserve_gpu_memory_total_bytes', 'mlserve_gpu_share_allocated_ratio', 'mlserve_gpu_utilization_ratio',
];
const ALLOWED = new Set([...COUNTERS, ...GAUGES, ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`])]);

type Panel = { type: string; title: string; targets?: { expr: string }[]; panels?: Panel[]; datasource?: { uid: string } };

describe('templates', () => {
  it('has every file init writes', () => {
    for (const group of Object.values(TEMPLATE_FILES)) for (const [template] of group) expect(read(template).length).toBeGreaterThan(0);
  });

  it('grafana: a schemaVersion 39 dashboard whose panels query only mlserve metrics', () => {
    const dash = JSON.parse(read('grafana/mlserve-dashboard.json'));
    expect(dash.schemaVersion).toBe(39);
    expect(dash.title).toBeTruthy();
    const dsVar = dash.templating.list.find((v: { type: string }) => v.type === 'datasource');
    expect(dsVar).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const panels: Panel[] = dash.panels.flatMap((p: Panel) => [p, ...(p.panels ?? [])]).filter((p: Panel) => p.type !== 'row');
    expect(panels.length).toBeGreaterThanOrEqual(10);
    const ids = dash.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);

    const used = new Set<string>();
    for (const p of panels) {
      expect(p.datasource?.uid, p.title).toBe('${datasource}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        const names = t.expr.match(/mlserve_[a-z_]+/g) ?? [];
        expect(names.length, t.expr).toBeGreaterThan(0);
        for (const n of names) {
          expect(ALLOWED.has(n), `${p.title}: ${n}`).toBe(true);
          used.add(n);
        }
      }
    }
    for (const v of dash.templating.list) {
      for (const n of String(v.definition ?? '').match(/mlserve_[a-z_]+/g) ?? []) expect(ALLOWED.has(n), n).toBe(true);
    }
    // The panels the dashboard promises.
    const exprs = panels.flatMap((p) => p.targets ?? []).map((t) => t.expr).join('\n');
    expect(exprs).toMatch(/histogram_quantile\(0\.99, .*mlserve_request_duration_seconds_bucket/);
    expect(exprs).toMatch(/histogram_quantile\(0\.5, .*mlserve_request_duration_seconds_bucket/);
    for (const n of ['mlserve_requests_total', 'mlserve_request_errors_total', 'mlserve_batch_size_sum', 'mlserve_queue_duration_seconds_sum',
      'mlserve_compute_duration_seconds_sum', 'mlserve_replicas', 'mlserve_gpu_memory_used_bytes', 'mlserve_gpu_share_allocated_ratio']) {
      expect(used.has(n), n).toBe(true);
    }
  });

  it('github workflow: parses and gates on mlserve bench --assert', () => {
    const wf = parse(read('github/mlserve-bench.yml'));
    expect(wf.on).toBeTruthy();
    const steps: { uses?: string; run?: string; with?: Record<string, unknown>; if?: string }[] = wf.jobs.bench.steps;
    expect(steps.some((s) => s.uses?.startsWith('actions/checkout@'))).toBe(true);
    expect(steps.find((s) => s.uses?.startsWith('actions/setup-node@'))?.with?.['node-version']).toBe(20);
    const runs = steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('npm ci');
    expect(runs).toContain('npx mlserve daemon start');
    expect(runs).toMatch(/npx mlserve (apply -f mlserve\.yaml|deploy )/);
    const bench = steps.find((s) => s.run?.includes('mlserve bench'));
    expect(bench?.run).toMatch(/npx mlserve bench \S+ --duration 30s --assert "p99<50ms,errors<0\.1%"/);
    expect(bench?.if).toBeUndefined(); // the gate: a failed assert fails the job
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toBe('always()');
    expect(bench?.run).toContain(String(upload?.with?.path));
  });

  it('systemd unit: runs the daemon in the foreground with MLSERVE_HOME and restarts on failure', () => {
    const unit = read('systemd/mlserve.service');
    const lines = unit.split('\n').filter((l) => l && !l.startsWith('#'));
    const value = (k: string) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    expect(value('ExecStart')).toHaveLength(1);
    expect(value('ExecStart')[0]).toMatch(/^\/\S*mlserve daemon start --foreground/);
    expect(value('Environment').some((e) => e.startsWith('MLSERVE_HOME=/'))).toBe(true);
    expect(value('Restart')).toEqual(['on-failure']);
    for (const section of ['[Unit]', '[Service]', '[Install]']) expect(lines).toContain(section);
    // Options that would break node (JIT) or GPUs stay off.
    expect(value('MemoryDenyWriteExecute')).toEqual([]);
    expect(value('PrivateDevices')).toEqual([]);
  });

  it('prometheus config: parses and scrapes 127.0.0.1:8000/metrics', () => {
    const cfg = parse(read('prometheus/prometheus.yml'));
    const job = cfg.scrape_configs.find((j: { job_name: string }) => j.job_name === 'mlserve');
    expect(job.metrics_path).toBe('/metrics');
    expect(job.static_configs[0].targets).toContain('127.0.0.1:8000');
  });

  it('mlserve.yaml: parses into applications with deployments', () => {
    const cfg = parse(read('mlserve.yaml'));
    expect(cfg.applications[0].name).toBe('resnet50');
    const d = cfg.applications[0].deployments[0];
    expect(d).toMatchObject({ model: 'models:/ResNet50/Production', num_replicas: 2, ray_actor_options: { num_gpus: 0.33 } });
    expect(d.autoscaling_config).toBeUndefined(); // num_replicas and autoscaling_config exclude each other
  });

  it('mlserve.yaml and the CI workflow agree on batching: work-conserving (no wait), with a comment on when to set one', () => {
    const text = read('mlserve.yaml');
    const d = parseConfig(text).desired[0].primary.request;
    const maxBatch = d.maxBatchSize ?? 32;
    // The workflow's bench keeps this many requests in flight (bench's default concurrency unless -c says otherwise).
    const bench = (parse(read('github/mlserve-bench.yml')).jobs.bench.steps as { run?: string }[]).find((s) => s.run?.includes('mlserve bench'))!.run!;
    const inFlight = Number(/(?:-c|--concurrency)[ =](\d+)/.exec(bench)?.[1] ?? 16);
    // A batch wait only helps when more requests are in flight than a batch holds; below that every batch waits it out.
    if (inFlight < maxBatch * 2) expect(d.batchWaitMs ?? 0).toBe(0);
    expect(text).toMatch(/work-conserving/);
    expect(text).toMatch(/batch_wait_timeout_s makes a partial batch wait[^]*keep 0 unless/);
  });

  it('mlserve.yaml: mlserve apply accepts it, and its commented alternatives', () => {
    const text = read('mlserve.yaml');
    const asIs = parseConfig(text);
    expect(asIs.issues).toEqual([]);
    expect(asIs.desired).toHaveLength(1);
    expect(asIs.desired[0]).toMatchObject({ endpoint: 'resnet50', primary: { source: 'models:/ResNet50/Production' } });

    const autoscaled = text.replace(/^ +num_replicas: 2\n/m, '').replace(/^ {8}# (autoscaling_config:.*|  [a-z_]+: .*)$/gm, '        $1');
    const a = parseConfig(autoscaled);
    expect(a.issues).toEqual([]);
    expect(a.desired[0].primary.request.autoscaling).toMatchObject({ min_replicas: 1, max_replicas: 4, target_ongoing_requests: 2 });

    const two = parseConfig(text.replace(/^ {2}# (.*)$/gm, '  $1'));
    expect(two.issues).toEqual([]);
    expect(two.desired.map((x) => x.endpoint)).toEqual(['resnet50', 'fraud']);
  });
});
