// The layout's rules, checked on the source: no import cycles in src/ (type imports count too), no
// file over 400 lines, the data plane never imports the store, and decisions (the pure modules)
// never import I/O.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.tsx?$/.test(p)) out.push(p);
  }
  return out;
}

const files = walk(SRC);
const rel = (f: string) => relative(SRC, f);

/** Every specifier a file imports or re-exports (static, dynamic and type-only). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

/** The project files a file imports (relative specifiers resolved to .ts/.tsx). */
function localImports(file: string): string[] {
  const out: string[] = [];
  for (const s of specifiers(readFileSync(file, 'utf8'))) {
    if (!s.startsWith('.')) continue;
    const base = resolve(dirname(file), s).replace(/\.js$/, '');
    const hit = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((c) => files.includes(c));
    if (hit) out.push(hit);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, localImports(f)]));

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (g.get(v) ?? []).includes(v)) out.push(comp.map(rel).sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('architecture', () => {
  it('finds imports of every form (so the checks below see them all)', () => {
    expect(specifiers(`import a from './a.js';\nimport type { B } from "../b.js";\nexport { c } from './c.js';\nexport type * from './d.js';\nconst e = await import('./e.js');\nimport './f.js';`))
      .toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js']);
    expect(cycles(new Map([['/x/a.ts', ['/x/b.ts']], ['/x/b.ts', ['/x/a.ts']], ['/x/c.ts', []]]))).toHaveLength(1);
  });

  it('has no import cycles in src/ (type imports included)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(cycles(graph)).toEqual([]);
  });

  it('has no source file over 400 lines', () => {
    const long = files.map((f) => [rel(f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });

  it('keeps the data plane away from the store and the control plane', () => {
    const dataplane = files.filter((f) => rel(f).startsWith('daemon/dataplane/'));
    const bad = dataplane.flatMap((f) => localImports(f).filter((t) => rel(t).startsWith('daemon/control/') || rel(t).startsWith('daemon/fleet/')).map((t) => `${rel(f)} -> ${rel(t)}`));
    expect(bad).toEqual([]);
  });

  // The decisions: pure functions of their arguments (time and randomness passed in).
  const PURE = [
    'daemon/control/reconcile.ts', 'daemon/control/settings.ts', 'daemon/dataplane/batcher.ts', 'daemon/dataplane/dispatch-rules.ts',
    'daemon/dataplane/router.ts', 'daemon/fleet/allocator.ts', 'daemon/fleet/autoscaler.ts', 'daemon/rollout/canary.ts',
    'daemon/rollout/canary-analysis.ts', 'daemon/rollout/canary-policy.ts', 'daemon/fleet/kinds/kind.ts', 'config/plan.ts', 'config/desired.ts',
    'daemon/fleet/python-env-spec.ts', 'daemon/fleet/python-env-check.ts', 'daemon/fleet/latency-slo.ts', 'daemon/fleet/outlier.ts', 'daemon/logging/rate-limit.ts',
    'daemon/dataplane/openai/validate.ts', 'daemon/dataplane/openai/sse.ts', 'daemon/dataplane/openai/chunks.ts', 'daemon/dataplane/openai/errors.ts',
    'daemon/dataplane/openai/llm-router.ts', 'daemon/fleet/kinds/command-line.ts', 'runtime/llm/text-stream.ts', 'models/gguf.ts', 'cli/tui/llm-view.ts',
    'daemon/capture/settings.ts', 'daemon/capture/rows.ts', 'daemon/capture/retention.ts', 'daemon/capture/parquet.ts', 'daemon/capture/cloudevents.ts',
    'monitor/capture-schema.ts', 'pipeline/spec.ts', 'pipeline/image-tensor.ts', 'pipeline/resample.ts', 'pipeline/post.ts', 'pipeline/predict-body.ts', 'pipeline/compose.ts', 'openapi/document.ts',
    'daemon/dataplane/codecs/shm-params.ts', 'daemon/dataplane/codecs/blob-data.ts', 'bench/peers-report.ts',
    'runtime/engine-messages.ts', 'daemon/process-tuning.ts', 'daemon/dataplane/codecs/batch-tensors.ts',
  ];
  const IO = /^(node:(fs|net|http|https|child_process|dgram|worker_threads)|better-sqlite3|execa|undici|onnxruntime-node|sharp)$/;

  it.each(PURE)('%s imports no I/O, directly or through what it imports', (file) => {
    const seen = new Set<string>();
    const io: string[] = [];
    const visit = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      for (const s of specifiers(readFileSync(f, 'utf8'))) {
        const typeOnly = new RegExp(`import\\s+type\\s[^;]*['"]${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}['"]`).test(readFileSync(f, 'utf8'));
        if (!s.startsWith('.') && IO.test(s) && !typeOnly) io.push(`${rel(f)} imports ${s}`);
      }
      for (const t of localImports(f)) visit(t);
    };
    visit(join(SRC, file));
    expect(io).toEqual([]);
  });
});
