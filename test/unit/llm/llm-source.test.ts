// Which file serves a language model: GGUF files (bare, in an MLflow model's artifacts, split
// into shards), Hugging Face weights for external engines (a folder, the transformers flavor's
// model/), and the refusals that say what to do. Real folders in a temp dir.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { describeLlmModel, ggufFiles, looksLikeLlmFolder } from '../../../src/daemon/control/llm-source.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A folder with these files (empty, or with the given text). */
function folder(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'llm-src-'));
  dirs.push(d);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(d, f)), { recursive: true });
    writeFileSync(join(d, f), text);
  }
  return d;
}

const mlmodel = (flavors: string[]) => `artifact_path: model\nflavors:\n${flavors.map((f) => `  ${f}:\n    x: 1\n`).join('')}`;

describe('describeLlmModel', () => {
  it.each([
    ['an MLflow model with a GGUF among its artifacts', { MLmodel: mlmodel(['python_function']), 'artifacts/tiny.gguf': '' }, undefined, 'llamacpp', 'artifacts/tiny.gguf'],
    ['a folder with one GGUF, asked for llamacpp', { 'm.gguf': '' }, 'llamacpp', 'llamacpp', 'm.gguf'],
    ['a GGUF to an external engine', { 'm.gguf': '' }, 'openai', 'openai', 'm.gguf'],
    ['the transformers flavor: its model/ folder to an external engine', { MLmodel: mlmodel(['transformers', 'python_function']), 'model/config.json': '{}', 'model/model.safetensors': '' }, 'openai', 'openai', 'model'],
    ['a bare Hugging Face folder to an external engine', { 'config.json': '{}', 'model.safetensors': '' }, 'openai', 'openai', '.'],
    ['a split GGUF: its first shard', { 'm-00001-of-00002.gguf': '', 'm-00002-of-00002.gguf': '' }, undefined, 'llamacpp', 'm-00001-of-00002.gguf'],
  ] as const)('%s', (_what, files, runtime, kind, file) => {
    const d = folder(files);
    const m = describeLlmModel(d, runtime);
    expect(m).toMatchObject({ runtime: kind, modelFile: file === '.' ? d : join(d, file) });
  });

  it.each([
    ['an ONNX model is not a language model', { MLmodel: mlmodel(['onnx', 'python_function']), 'model.onnx': '' }, undefined],
    ['a pyfunc model without a GGUF', { MLmodel: mlmodel(['sklearn', 'python_function']), 'model.pkl': '' }, undefined],
    ['--runtime python wins over a GGUF', { 'm.gguf': '' }, 'python'],
    ['transformers weights are not served by llama.cpp unasked', { MLmodel: mlmodel(['transformers']), 'model/config.json': '{}' }, undefined],
  ] as const)('%s: null', (_what, files, runtime) => {
    expect(describeLlmModel(folder(files), runtime)).toBeNull();
  });

  it.each([
    ['llamacpp without a GGUF says how to convert or which runtime serves the weights', { 'config.json': '{}' }, 'llamacpp', /no \.gguf file.*convert_hf_to_gguf\.py.*--runtime openai --engine vllm/],
    ['openai with neither GGUF nor weights', { 'notes.txt': 'x' }, 'openai', /neither a \.gguf file nor Hugging Face weights/],
    ['two GGUF files: deploy the one to serve', { 'a.gguf': '', 'b/c.gguf': '' }, undefined, /holds 2 GGUF files \(a\.gguf, b\/c\.gguf\); deploy the one to serve/],
  ] as const)('%s', (_what, files, runtime, message) => {
    expect(() => describeLlmModel(folder(files), runtime)).toThrow(message);
  });
});

describe('ggufFiles and looksLikeLlmFolder', () => {
  it('finds GGUF files a few levels deep, not deeper', () => {
    const d = folder({ 'a/b/c/d/deep.gguf': '', 'a/b/c/d/e/too-deep.gguf': '', 'top.gguf': '' });
    expect(ggufFiles(d).map((f) => f.slice(d.length + 1))).toEqual(['a/b/c/d/deep.gguf', 'top.gguf']);
  });

  it('tells a language model folder from another', () => {
    expect(looksLikeLlmFolder(folder({ 'x.gguf': '' }))).toBe(true);
    expect(looksLikeLlmFolder(folder({ 'model/config.json': '{}' }))).toBe(true);
    expect(looksLikeLlmFolder(folder({ 'model.onnx': '' }))).toBe(false);
  });
});
