// An MLflow model directory's `MLmodel` file: flavors, which replica kind serves it (onnx for the
// `onnx` flavor, python for any other model with `python_function`), the ONNX file, the signature
// and the onnxruntime session options that mlflow.onnx.log_model recorded.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { MlserveError } from '../errors.js';
import { dtypeFromNumpy, type DType, type Signature, type TensorSpec } from '../tensor.js';

export interface MlflowSignature extends Signature {
  /** A ColSpec (DataFrame column) signature: each column became a 1-D tensor of shape [-1]. */
  columnBased: boolean;
  /**
   * Some inputs/outputs had no name in the MLmodel and got placeholders `input_0`, `output_0`, ...
   * by position; a later step should replace them with the ONNX graph's names.
   */
  unnamedInputs: boolean;
  unnamedOutputs: boolean;
}

/** onnxruntime-node's spelling of `flavors.onnx.onnx_session_options`. */
export interface OnnxSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  executionMode?: 'sequential' | 'parallel';
  extraSessionConfig?: Record<string, string>;
}

/** The replica kinds an MLmodel can be served by (llamacpp and openai: language models, see control/llm-source.ts). */
export type ModelRuntime = 'onnx' | 'python' | 'llamacpp' | 'openai';

export interface MlflowModel {
  /** Absolute model directory (the folder holding MLmodel). */
  dir: string;
  flavors: string[];
  /** The replica kind that serves it: the onnx fast path when it has the onnx flavor, else python. */
  runtime: ModelRuntime;
  /** Absolute path of `flavors.onnx.data` (external-data files sit beside it); onnx runtime only. */
  onnxFile?: string;
  /** `flavors.python_function`: its loader and the Python it was saved with. */
  pyfunc?: { loaderModule?: string; pythonVersion?: string };
  signature?: MlflowSignature;
  sessionOptions?: OnnxSessionOptions;
  providers?: string[];
  runId?: string;
  modelUuid?: string;
  modelId?: string;
  mlflowVersion?: string;
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function bad(file: string, why: string): MlserveError {
  return new MlserveError('MODEL_SOURCE', `cannot read ${file}: ${why}`);
}

const CONVERT_HINTS: Array<[string[], string]> = [
  [['sklearn'], 'convert it with skl2onnx (skl2onnx.to_onnx(model, X[:1]))'],
  [['pytorch'], 'export it with torch.onnx.export(model, example_input, "model.onnx")'],
  [['tensorflow', 'keras'], 'convert it with tf2onnx (python -m tf2onnx.convert --saved-model <dir> --output model.onnx)'],
  [['xgboost', 'lightgbm', 'catboost'], 'convert it with onnxmltools (convert_xgboost / convert_lightgbm) or the library\'s own ONNX export'],
];

/** The UNSUPPORTED_MODEL error for a model --runtime onnx cannot serve (no onnx flavor), with a conversion hint. */
export function noOnnxFlavorError(flavors: string[], where: string): MlserveError {
  const hint = CONVERT_HINTS.find(([names]) => flavors.some((f) => names.includes(f)))?.[1]
    ?? 'export it to ONNX';
  const has = flavors.length ? `has flavors ${flavors.join(', ')} but no onnx flavor` : 'has no flavors';
  const python = flavors.includes('python_function') ? '; or serve it as it is with --runtime python' : '';
  return new MlserveError(
    'UNSUPPORTED_MODEL',
    `model at ${where} ${has}; the onnx runtime needs it in ONNX: ${hint} and log it with mlflow.onnx.log_model(...)${python}`,
  );
}

/** The UNSUPPORTED_MODEL error for a model neither runtime can serve (no onnx, no python_function). */
export function noServableFlavorError(flavors: string[], where: string): MlserveError {
  const has = flavors.length ? `has flavors ${flavors.join(', ')}` : 'has no flavors';
  return new MlserveError(
    'UNSUPPORTED_MODEL',
    `model at ${where} ${has} but neither onnx nor python_function: mlserve serves ONNX models (the onnx flavor) and anything mlflow.pyfunc.load_model can load (the python_function flavor); log it with mlflow.<flavor>.log_model, which adds python_function`,
  );
}

/** Which runtime serves a model with these flavors (`want` from --runtime), or the error that says why none. PURE. */
export function chooseRuntime(flavors: string[], where: string, want?: ModelRuntime): ModelRuntime {
  if (want === 'llamacpp' || want === 'openai') return want; // the model's files decide (llm-source.ts)
  const onnx = flavors.includes('onnx');
  const pyfunc = flavors.includes('python_function');
  if (want === 'onnx') {
    if (!onnx) throw noOnnxFlavorError(flavors, where);
    return 'onnx';
  }
  if (want === 'python') {
    if (!pyfunc) throw new MlserveError('UNSUPPORTED_MODEL', `model at ${where} has no python_function flavor (flavors: ${flavors.join(', ') || 'none'}), so --runtime python cannot load it${onnx ? '; deploy it with the onnx runtime' : ''}`);
    return 'python';
  }
  if (onnx) return 'onnx';
  if (pyfunc) return 'python';
  throw noServableFlavorError(flavors, where);
}

/** `flavors.onnx.data` resolved inside `dir`; absolute paths and `..` escapes are refused. */
export function resolveOnnxData(dir: string, data: unknown, file: string): string {
  if (typeof data !== 'string' || data.trim() === '') throw bad(file, 'flavors.onnx.data is missing');
  if (path.isAbsolute(data) || /^[a-zA-Z]:[\\/]/.test(data) || data.startsWith('\\')) {
    throw bad(file, `flavors.onnx.data '${data}' must be a path relative to the model directory`);
  }
  const abs = path.resolve(dir, data);
  const rel = path.relative(dir, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw bad(file, `flavors.onnx.data '${data}' points outside the model directory`);
  }
  return abs;
}

const COLUMN_TYPES: Record<string, DType> = {
  double: 'FP64', float: 'FP32', long: 'INT64', integer: 'INT32', boolean: 'BOOL', string: 'BYTES', binary: 'BYTES',
};

function parseSpecList(raw: unknown, side: 'inputs' | 'outputs', file: string): { specs: TensorSpec[]; columns: boolean; unnamed: boolean } | undefined {
  if (raw === null || raw === undefined) return undefined;
  let list: unknown = raw;
  if (typeof raw === 'string') {
    try {
      list = JSON.parse(raw);
    } catch (err) {
      throw bad(file, `signature.${side} is not valid JSON (${(err as Error).message})`);
    }
  }
  if (!Array.isArray(list)) throw bad(file, `signature.${side} must be a JSON list`);
  const prefix = side === 'inputs' ? 'input' : 'output';
  let unnamed = false;
  let tensors = 0;
  const specs = list.map((item, i): TensorSpec => {
    if (!isDict(item)) throw bad(file, `signature.${side}[${i}] is not an object`);
    const given = optString(item.name);
    if (!given) unnamed = true;
    const name = given ?? `${prefix}_${i}`;
    if (item.type === 'tensor') {
      tensors++;
      const ts = item['tensor-spec'];
      if (!isDict(ts)) throw bad(file, `signature.${side}[${i}] has no tensor-spec`);
      const datatype = typeof ts.dtype === 'string' ? dtypeFromNumpy(ts.dtype) : undefined;
      if (!datatype) {
        throw new MlserveError('UNSUPPORTED_MODEL', `${side.slice(0, -1)} '${name}' has numpy dtype ${String(ts.dtype)}, which mlserve does not support (${file})`);
      }
      const shape = ts.shape ?? [];
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d))) {
        throw bad(file, `signature.${side}[${i}] has a malformed shape ${JSON.stringify(ts.shape)}`);
      }
      return { name, datatype, shape: shape as number[] };
    }
    const datatype = typeof item.type === 'string' ? COLUMN_TYPES[item.type] : undefined;
    if (!datatype) {
      throw new MlserveError('UNSUPPORTED_MODEL', `column '${name}' has type ${JSON.stringify(item.type)}, which mlserve cannot feed to an ONNX model (${file})`);
    }
    return { name, datatype, shape: [-1] };
  });
  if (tensors !== 0 && tensors !== specs.length) throw bad(file, `signature.${side} mixes tensor and column specs`);
  return { specs, columns: specs.length > 0 && tensors === 0, unnamed };
}

/** The MLmodel `signature` block (JSON strings inside YAML) as mlserve tensor specs. */
export function parseSignature(raw: unknown, file = 'MLmodel'): MlflowSignature | undefined {
  if (!isDict(raw)) return undefined;
  const inputs = parseSpecList(raw.inputs, 'inputs', file);
  const outputs = parseSpecList(raw.outputs, 'outputs', file);
  if (!inputs && !outputs) return undefined;
  return {
    inputs: inputs?.specs ?? [],
    outputs: outputs?.specs ?? [],
    columnBased: Boolean(inputs?.columns || outputs?.columns),
    unnamedInputs: inputs?.unnamed ?? false,
    unnamedOutputs: outputs?.unnamed ?? false,
  };
}

const OPT_LEVELS: Record<string, OnnxSessionOptions['graphOptimizationLevel']> = {
  '0': 'disabled', '1': 'basic', '2': 'extended', '99': 'all',
  ort_disable_all: 'disabled', ort_enable_basic: 'basic', ort_enable_extended: 'extended', ort_enable_all: 'all',
  disabled: 'disabled', basic: 'basic', extended: 'extended', all: 'all',
};

function threadCount(v: unknown, key: string, file: string): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Number.isInteger(v) || (v as number) < 0) throw bad(file, `onnx_session_options.${key} must be a whole number`);
  return v as number;
}

/** `flavors.onnx.onnx_session_options` (the keys mlflow.onnx reads at load time). */
export function parseSessionOptions(raw: unknown, file = 'MLmodel'): OnnxSessionOptions | undefined {
  if (!isDict(raw)) return undefined;
  const out: OnnxSessionOptions = {};
  const intra = threadCount(raw.intra_op_num_threads, 'intra_op_num_threads', file);
  if (intra !== undefined) out.intraOpNumThreads = intra;
  const inter = threadCount(raw.inter_op_num_threads, 'inter_op_num_threads', file);
  if (inter !== undefined) out.interOpNumThreads = inter;
  if (raw.graph_optimization_level !== null && raw.graph_optimization_level !== undefined) {
    const level = OPT_LEVELS[String(raw.graph_optimization_level).toLowerCase()];
    if (!level) throw bad(file, `onnx_session_options.graph_optimization_level ${String(raw.graph_optimization_level)} is not 0, 1, 2 or 99`);
    out.graphOptimizationLevel = level;
  }
  if (raw.execution_mode !== null && raw.execution_mode !== undefined) {
    const mode = String(raw.execution_mode).toLowerCase();
    if (mode !== 'sequential' && mode !== 'parallel') {
      throw bad(file, `onnx_session_options.execution_mode must be SEQUENTIAL or PARALLEL, not ${String(raw.execution_mode)}`);
    }
    out.executionMode = mode;
  }
  if (isDict(raw.extra_session_config)) {
    out.extraSessionConfig = Object.fromEntries(Object.entries(raw.extra_session_config).map(([k, v]) => [k, String(v)]));
  }
  return Object.keys(out).length ? out : undefined;
}

/** Parse MLmodel text for the model directory `dir` (no file-system access); `runtime` forces a kind. */
export function parseMlmodel(text: string, dir: string, runtime?: ModelRuntime): MlflowModel {
  const absDir = path.resolve(dir);
  const file = path.join(absDir, 'MLmodel');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw bad(file, `not valid YAML (${(err as Error).message})`);
  }
  if (!isDict(doc)) throw bad(file, 'expected a YAML mapping');
  const flavorMap = isDict(doc.flavors) ? doc.flavors : {};
  const flavors = Object.keys(flavorMap);
  const chosen = chooseRuntime(flavors, absDir, runtime);
  const model: MlflowModel = { dir: absDir, flavors, runtime: chosen };
  if (chosen === 'onnx') {
    const onnx = flavorMap.onnx as Dict;
    model.onnxFile = resolveOnnxData(absDir, onnx.data, file);
    const sessionOptions = parseSessionOptions(onnx.onnx_session_options, file);
    if (sessionOptions) model.sessionOptions = sessionOptions;
    if (Array.isArray(onnx.providers)) model.providers = onnx.providers.map(String);
    const signature = parseSignature(doc.signature, file);
    if (signature) model.signature = signature;
  } else {
    const pf = isDict(flavorMap.python_function) ? flavorMap.python_function : {};
    model.pyfunc = { loaderModule: optString(pf.loader_module), pythonVersion: optString(pf.python_version) };
    // Python replicas report their own inputs and outputs (MLflow's types they can take are wider).
    try {
      const signature = parseSignature(doc.signature, file);
      if (signature) model.signature = signature;
    } catch {
      /* the replica describes the model once loaded */
    }
  }
  const extras: Array<[keyof MlflowModel, unknown]> = [
    ['runId', doc.run_id], ['modelUuid', doc.model_uuid], ['modelId', doc.model_id], ['mlflowVersion', doc.mlflow_version],
  ];
  for (const [key, v] of extras) {
    const s = optString(v);
    if (s) (model as unknown as Record<string, unknown>)[key] = s;
  }
  return model;
}

/** Read `<dir>/MLmodel` (also accepts the MLmodel file's own path) and check the ONNX file exists (onnx runtime). */
export function readMlflowModel(dir: string, runtime?: ModelRuntime): MlflowModel {
  let absDir = path.resolve(dir);
  if (path.basename(absDir) === 'MLmodel' && fs.statSync(absDir, { throwIfNoEntry: false })?.isFile()) {
    absDir = path.dirname(absDir);
  }
  const file = path.join(absDir, 'MLmodel');
  const stat = fs.statSync(absDir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) {
    throw new MlserveError('MODEL_SOURCE', `model directory ${absDir} does not exist (expected ${file})`);
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT'
      ? `expected ${file}: ${absDir} is not an MLflow model directory (the folder mlflow.onnx.log_model writes)`
      : `cannot read ${file}: ${(err as Error).message}`;
    throw new MlserveError('MODEL_SOURCE', why, { cause: err });
  }
  const model = parseMlmodel(text, absDir, runtime);
  if (model.onnxFile && !fs.statSync(model.onnxFile, { throwIfNoEntry: false })?.isFile()) {
    throw new MlserveError(
      'MODEL_SOURCE',
      `${file} names ${path.relative(absDir, model.onnxFile)} as the ONNX model, but ${model.onnxFile} does not exist`,
    );
  }
  return model;
}
