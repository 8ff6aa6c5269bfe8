// Writes MLflow model directories the way MLflow 2.x's Python client does (mirrors the recorded
// 2.11 fixtures in ../shared/mlflow-fixtures): `mlflow.onnx.log_model` for ONNX models and
// `mlflow.sklearn.log_model` for a non-ONNX model that mlserve must refuse.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { DType, Signature, TensorSpec } from '../tensor.js';
import type { BuiltModel } from './graph-builder.js';

export const MLFLOW_VERSION = '2.11.4.dev0';
export const ONNX_VERSION = '1.12.0';
export const PYTHON_VERSION = '3.11.2';
export const SKLEARN_VERSION = '1.2.1';
export const DEFAULT_PROVIDERS = ['CUDAExecutionProvider', 'CPUExecutionProvider'];

/** numpy dtype names as MLflow writes them in tensor specs. */
export const DTYPE_TO_NUMPY: Record<DType, string> = {
  BOOL: 'bool', UINT8: 'uint8', UINT16: 'uint16', UINT32: 'uint32', UINT64: 'uint64', INT8: 'int8',
  INT16: 'int16', INT32: 'int32', INT64: 'int64', FP16: 'float16', FP32: 'float32', FP64: 'float64',
  BYTES: 'str',
};

export interface OnnxModelFiles {
  /** model.onnx bytes. */
  model: Uint8Array;
  /** The external-data side file, named as model.onnx references it. */
  externalData?: { file: string; bytes: Uint8Array };
}

export interface WriteMlflowOptions extends OnnxModelFiles {
  signature: Signature;
  /** Set for a model logged to a run (log_model); omit for a plain save_model directory. */
  runId?: string;
  /** Run-relative artifact path, 'model' by default when runId is set. */
  artifactPath?: string;
  /** More flavors to add next to onnx and python_function, e.g. { custom: { k: 'v' } }. */
  extraFlavors?: Record<string, Record<string, unknown>>;
  onnxSessionOptions?: Record<string, unknown> | null;
  providers?: string[];
  modelUuid?: string;
  created?: Date;
  /** log_model's `metadata/` copy; defaults to true when runId is set. */
  metadataDir?: boolean;
}

export interface MlflowModelInfo {
  /** The MLmodel content in MLflow's insertion order (Model.to_dict()), as JSON-able values. */
  mlmodel: Record<string, unknown>;
  modelUuid: string;
  modelSizeBytes: number;
  utcTimeCreated: string;
}

/** The files a BuiltModel becomes in an MLflow model directory. */
export function onnxFiles(built: BuiltModel): OnnxModelFiles {
  const { model, externalData, externalDataFile } = built;
  return externalData && externalDataFile ? { model, externalData: { file: externalDataFile, bytes: externalData } } : { model };
}

/** Write `dir` like mlflow.onnx.log_model (MLflow 2.x) and return what was written. */
export function writeMlflowModel(dir: string, opts: WriteMlflowOptions): MlflowModelInfo {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), opts.model);
  const dataFiles = ['model.onnx'];
  let size = opts.model.byteLength;
  if (opts.externalData) {
    writeFileSync(join(dir, opts.externalData.file), opts.externalData.bytes);
    dataFiles.push(opts.externalData.file);
    size += opts.externalData.bytes.byteLength;
  }
  const flavors: Record<string, Record<string, unknown>> = {
    python_function: {
      loader_module: 'mlflow.onnx', python_version: PYTHON_VERSION, data: 'model.onnx',
      env: { conda: 'conda.yaml', virtualenv: 'python_env.yaml' },
    },
    onnx: {
      onnx_version: ONNX_VERSION, data: 'model.onnx', providers: opts.providers ?? DEFAULT_PROVIDERS,
      onnx_session_options: opts.onnxSessionOptions ?? null, code: null,
    },
    ...opts.extraFlavors,
  };
  const info = modelInfo(opts, flavors, size);
  const metadataDir = opts.metadataDir ?? opts.runId !== undefined;
  writeModelMetaFiles(dir, info.mlmodel, ONNX_ENV, metadataDir);
  // The recorded log_model output also carries the external-data file in metadata/.
  if (opts.externalData && metadataDir) {
    writeFileSync(join(dir, 'metadata', opts.externalData.file), opts.externalData.bytes);
  }
  return info;
}

export interface WriteSklearnOptions {
  runId?: string;
  artifactPath?: string;
  /** Defaults to the fixture's: unnamed float64 [-1, 4] -> unnamed int64 [-1]. */
  signature?: Signature;
  modelUuid?: string;
  created?: Date;
  metadataDir?: boolean;
}

/** Write `dir` like mlflow.sklearn.log_model: a pickled model and no ONNX flavor. */
export function writeSklearnModel(dir: string, opts: WriteSklearnOptions = {}): MlflowModelInfo {
  mkdirSync(dir, { recursive: true });
  const pickle = placeholderPickle();
  writeFileSync(join(dir, 'model.pkl'), pickle);
  const flavors = {
    python_function: {
      model_path: 'model.pkl', predict_fn: 'predict', loader_module: 'mlflow.sklearn',
      python_version: PYTHON_VERSION, env: { conda: 'conda.yaml', virtualenv: 'python_env.yaml' },
    },
    sklearn: { pickled_model: 'model.pkl', sklearn_version: SKLEARN_VERSION, serialization_format: 'cloudpickle', code: null },
  };
  const signature = opts.signature ?? {
    inputs: [{ name: '', datatype: 'FP64', shape: [-1, 4] }],
    outputs: [{ name: '', datatype: 'INT64', shape: [-1] }],
  };
  const info = modelInfo({ ...opts, signature }, flavors, pickle.byteLength);
  writeModelMetaFiles(dir, info.mlmodel, SKLEARN_ENV, opts.metadataDir ?? opts.runId !== undefined);
  return info;
}

interface ModelInfoInput {
  signature: Signature;
  runId?: string;
  artifactPath?: string;
  modelUuid?: string;
  created?: Date;
}

/** Model.to_dict() key order: run_id, artifact_path, utc_time_created, flavors, model_uuid, ... */
function modelInfo(o: ModelInfoInput, flavors: Record<string, unknown>, size: number): MlflowModelInfo {
  const modelUuid = o.modelUuid ?? randomUUID().replace(/-/g, '');
  const utcTimeCreated = pythonUtcTime(o.created ?? new Date());
  const mlmodel: Record<string, unknown> = {};
  if (o.runId !== undefined) {
    mlmodel.run_id = o.runId;
    mlmodel.artifact_path = o.artifactPath ?? 'model';
  }
  Object.assign(mlmodel, {
    utc_time_created: utcTimeCreated, flavors, model_uuid: modelUuid, mlflow_version: MLFLOW_VERSION,
    signature: signatureToMlflow(o.signature), model_size_bytes: size,
  });
  return { mlmodel, modelUuid, modelSizeBytes: size, utcTimeCreated };
}

interface EnvFiles {
  conda: string;
  pythonEnv: string;
  requirements: string;
}

function writeModelMetaFiles(dir: string, mlmodel: Record<string, unknown>, env: EnvFiles, metadataDir: boolean): void {
  const targets = metadataDir ? [dir, join(dir, 'metadata')] : [dir];
  for (const d of targets) {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'MLmodel'), pyYamlDump(mlmodel));
    writeFileSync(join(d, 'conda.yaml'), env.conda);
    writeFileSync(join(d, 'python_env.yaml'), env.pythonEnv);
    writeFileSync(join(d, 'requirements.txt'), env.requirements);
  }
}

/** MLflow's signature block: inputs/outputs as JSON strings (Python json.dumps style), params null. */
export function signatureToMlflow(sig: Signature): { inputs: string; outputs: string; params: null } {
  return { inputs: pyJson(sig.inputs.map(specToMlflow)), outputs: pyJson(sig.outputs.map(specToMlflow)), params: null };
}

function specToMlflow(s: TensorSpec): Record<string, unknown> {
  const spec = { type: 'tensor', 'tensor-spec': { dtype: DTYPE_TO_NUMPY[s.datatype], shape: s.shape } };
  return s.name ? { name: s.name, ...spec } : spec;
}

/** json.dumps(value) as Python writes it: ", " and ": " separators, ASCII-only strings. */
export function pyJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyJson(k)}: ${pyJson(x)}`).join(', ')}}`;
}

/** Python's str(datetime.utcnow()): '2026-11-23 18:01:57.980439' (microseconds padded from ms). */
export function pythonUtcTime(d: Date): string {
  return `${d.toISOString().replace('T', ' ').replace('Z', '')}000`;
}

/**
 * yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) as PyYAML writes it: YAML 1.1
 * quoting, indentless lists, and long scalars folded at the first space past column 80.
 */
export function pyYamlDump(obj: unknown): string {
  const text = YAML.stringify(obj, { version: '1.1', singleQuote: true, lineWidth: 0, sortMapEntries: true, indentSeq: false });
  let blockIndent = -1; // inside a block scalar (|, >) deeper than this indent: leave lines alone
  return text.split('\n').map((line) => {
    const indent = line.length - line.trimStart().length;
    if (blockIndent >= 0 && (indent > blockIndent || line.trim() === '')) return line;
    blockIndent = /: [|>][-+]?$/.test(line) ? indent : -1;
    return foldLikePyYaml(line);
  }).join('\n');
}

const BEST_WIDTH = 80;

/** Fold a `key: scalar` line like PyYAML: at a lone space, break if the column is already past 80. */
function foldLikePyYaml(line: string): string {
  const m = /^( *)([^ '"-][^:]*: )(.*)$/.exec(line);
  if (!m || line.length <= BEST_WIDTH) return line;
  const [, indent, key, value] = m;
  const contIndent = `${indent}  `;
  const words = value.split(' ');
  let out = indent + key + words[0];
  let column = out.length;
  for (let i = 1; i < words.length; i++) {
    const loneSpace = words[i - 1] !== '' && words[i] !== '';
    if (loneSpace && column > BEST_WIDTH) {
      out += `\n${contIndent}${words[i]}`;
      column = contIndent.length + words[i].length;
    } else {
      out += ` ${words[i]}`;
      column += 1 + words[i].length;
    }
  }
  return out;
}

/** onnx names its side file str(uuid.uuid1()): a time-based UUID, e.g. f9888290-e767-11f1-8557-02fc00000001. */
export function uuid1(date: Date = new Date()): string {
  const ticks = BigInt(date.getTime()) * 10000n + 0x01b21dd213814000n + BigInt(randomBytes(2).readUInt16BE() % 10000);
  const hex = (n: bigint, w: number) => n.toString(16).padStart(w, '0');
  const low = hex(ticks & 0xffffffffn, 8);
  const mid = hex((ticks >> 32n) & 0xffffn, 4);
  const hi = hex(((ticks >> 48n) & 0x0fffn) | 0x1000n, 4);
  const seq = hex(BigInt((randomBytes(2).readUInt16BE() & 0x3fff) | 0x8000), 4);
  const node = randomBytes(6);
  node[0] |= 0x01; // multicast bit: a random node id, as uuid1() does without a MAC
  return `${low}-${mid}-${hi}-${seq}-${node.toString('hex')}`;
}

/** A valid pickle (protocol 2) of a short string, standing in for a cloudpickled estimator. */
function placeholderPickle(): Uint8Array {
  const text = Buffer.from('mlserve placeholder: not a real scikit-learn model', 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(text.length);
  return Buffer.concat([Buffer.from([0x80, 0x02, 0x58]), len, text, Buffer.from('.')]);
}

const ONNX_REQUIREMENTS = ['mlflow==2.11.3', 'onnx==1.12.0', 'onnxruntime==1.17.1', 'numpy==1.24.2'];
const SKLEARN_REQUIREMENTS = [
  'mlflow==2.11.3', 'cloudpickle==2.2.0', 'joblib==1.2.0', 'lz4==4.0.2', 'packaging==23.0', 'psutil==5.9.4',
  'pyyaml==6.0', 'scikit-learn==1.2.1', 'scipy==1.10.1', 'threadpoolctl==3.1.0', 'typing-extensions==4.4.0',
];

function envFiles(requirements: string[], setuptools: string): EnvFiles {
  return {
    conda: [
      'channels:', '- conda-forge', 'dependencies:', `- python=${PYTHON_VERSION}`, '- pip<=23.0.1', '- pip:',
      ...requirements.map((r) => `  - ${r}`), 'name: mlflow-env', '',
    ].join('\n'),
    pythonEnv: [
      `python: ${PYTHON_VERSION}`, 'build_dependencies:', '- pip==23.0.1', `- ${setuptools}`, '- wheel==0.38.4',
      'dependencies:', '- -r requirements.txt', '',
    ].join('\n'),
    requirements: requirements.join('\n'),
  };
}

const ONNX_ENV = envFiles(ONNX_REQUIREMENTS, 'setuptools');
const SKLEARN_ENV = envFiles(SKLEARN_REQUIREMENTS, 'setuptools==66.1.1');
