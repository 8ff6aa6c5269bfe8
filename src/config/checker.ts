// The config file's checker: walks YAML nodes, and reports every problem with its line and column
// and what is accepted. PURE.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';

export interface ConfigIssue {
  line: number;
  col: number;
  message: string;
}

/** What the daemon accepts as an endpoint or deployment name (they become URL paths and KServe resource names). */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const NAME_TEXT = "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters";

export type Range = { min: number; max: number };

/** Ray Serve keys with no meaning here, and what to do instead. */
export const RAY_HINTS: Record<string, string> = {
  import_path: 'mlserve serves models, not Python code: give the model source as model: in the deployment',
  route_prefix: 'every endpoint is served at /v2/models/<name>/infer and /<name>/invocations',
  runtime_env: 'onnx replicas need no Python environment',
  num_cpus: 'set threads, the onnxruntime intra-op threads per replica',
  http_options: 'the daemon\'s host and port are flags of mlserve daemon start',
  proxy_location: 'one daemon serves every endpoint',
  user_config: 'replicas take no user config',
};


export const got = (node: unknown): string => {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const v = isScalar(node) ? node.value : node;
  if (v === null || v === undefined) return 'nothing';
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
};
export const num = (n: number) => String(n);


export class Checker {
  readonly issues: ConfigIssue[] = [];
  constructor(
    private readonly lc: LineCounter,
    private readonly doc: Document,
  ) {}

  at(node: unknown, message: string): void {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const p = range ? this.lc.linePos(range[0]) : { line: 1, col: 1 };
    this.issues.push({ line: p.line, col: p.col, message });
  }

  deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /** A mapping's pairs as [key, keyNode, valueNode]; reports non-mappings and unknown keys. */
  entries(node: unknown, where: string, accepted: string[], what: string): Array<[string, Node, unknown]> | undefined {
    node = this.deref(node);
    if (!isMap(node)) {
      this.at(node, `${where} must be a mapping with ${accepted.join(', ')} (got ${got(node)})`);
      return undefined;
    }
    const out: Array<[string, Node, unknown]> = [];
    for (const pair of node.items as Pair<unknown, unknown>[]) {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      if (!accepted.includes(key)) {
        const hint = RAY_HINTS[key] ? ` (${RAY_HINTS[key]})` : '';
        this.at(keyNode, `unknown key ${JSON.stringify(key || got(keyNode))} in ${what}${hint}; accepted: ${accepted.join(', ')}`);
        continue;
      }
      out.push([key, keyNode, this.deref(pair.value)]);
    }
    return out;
  }

  scalar(node: unknown): unknown {
    return isScalar(node) ? node.value : node === null || node === undefined ? null : undefined;
  }

  name(keyNode: Node, node: unknown, what: string): string | undefined {
    const v = this.scalar(node);
    if (typeof v !== 'string' || !NAME_RE.test(v)) {
      this.at(keyNode, `${what} must be ${NAME_TEXT} (got ${got(node)})`);
      return undefined;
    }
    return v;
  }

  number(keyNode: Node, node: unknown, key: string, r: Range, whole: boolean, text: string): number | undefined {
    const v = this.scalar(node);
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= r.min && v <= r.max && (!whole || Number.isInteger(v));
    if (!ok) {
      this.at(keyNode, `${key} must be ${text} (got ${got(node)})`);
      return undefined;
    }
    return v as number;
  }
}

