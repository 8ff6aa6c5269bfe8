// Which files serve a language model: a GGUF file (the llamacpp kind, or an external engine that
// reads GGUF such as llama.cpp's server), or a folder of Hugging Face weights (config.json beside
// the weights; external engines such as vLLM). Model sources may be a bare .gguf file, such a
// folder, or an MLflow model directory holding either (a GGUF among its artifacts, or the
// `transformers` flavor's model/ folder).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MlserveError } from '../../errors.js';
import { readMlflowModel, type ModelRuntime } from '../../mlflow/mlmodel.js';

export interface LlmModel {
  /** The GGUF file, or the weights folder. */
  modelFile: string;
  runtime: 'llamacpp' | 'openai';
  flavors: string[];
}

const SHARD = /-(\d{5})-of-\d{5}\.gguf$/;

/** GGUF files under `dir` (a few levels deep), split models reduced to their first shard. */
export function ggufFiles(dir: string, depth = 4): string[] {
  const out: string[] = [];
  const walk = (d: string, level: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && level < depth) walk(p, level + 1);
      else if (e.isFile() && e.name.endsWith('.gguf')) out.push(p);
    }
  };
  walk(dir, 0);
  return out.filter((f) => !SHARD.test(f) || SHARD.exec(f)![1] === '00001').sort();
}

/** A folder of Hugging Face weights (for external engines): `dir` itself or the transformers flavor's model/. */
export function weightsFolder(dir: string): string | undefined {
  for (const d of [dir, join(dir, 'model')]) if (existsSync(join(d, 'config.json'))) return d;
  return undefined;
}

/** Could `dir` be a language model source (a GGUF file or Hugging Face weights)? */
export function looksLikeLlmFolder(dir: string): boolean {
  return weightsFolder(dir) !== undefined || ggufFiles(dir, 2).length > 0;
}

/**
 * What serves the model in `dir` (a cached model directory) as a language model, or null when it
 * is not one and none was asked for (--runtime llamacpp|openai).
 */
export function describeLlmModel(dir: string, runtime?: ModelRuntime): LlmModel | null {
  if (runtime === 'onnx' || runtime === 'python') return null;
  const flavors = existsSync(join(dir, 'MLmodel')) ? readMlflowModel(dir, 'llamacpp').flavors : [];
  if (!runtime && flavors.includes('onnx')) return null;
  const ggufs = statSync(dir).isDirectory() ? ggufFiles(dir) : [];
  const pick = (): string => {
    if (ggufs.length === 1) return ggufs[0];
    const names = ggufs.map((f) => relative(dir, f)).join(', ');
    throw new MlserveError('MODEL_SOURCE', `${dir} holds ${ggufs.length} GGUF files (${names}); deploy the one to serve: mlserve deploy <file.gguf>`);
  };
  if (runtime === 'llamacpp') {
    if (ggufs.length === 0) throw new MlserveError('UNSUPPORTED_MODEL', `no .gguf file in ${dir}: the llamacpp runtime serves GGUF models (convert Hugging Face weights with llama.cpp's convert_hf_to_gguf.py, or serve them with --runtime openai --engine vllm)`);
    return { modelFile: pick(), runtime, flavors };
  }
  if (runtime === 'openai') {
    if (ggufs.length > 0) return { modelFile: pick(), runtime, flavors };
    const weights = weightsFolder(dir);
    if (!weights) throw new MlserveError('UNSUPPORTED_MODEL', `${dir} holds neither a .gguf file nor Hugging Face weights (config.json): nothing an external engine could load`);
    return { modelFile: weights, runtime, flavors };
  }
  // Not asked for: a model whose only servable file is a GGUF goes to llama.cpp.
  if (ggufs.length > 0) return { modelFile: pick(), runtime: 'llamacpp', flavors };
  return null;
}
