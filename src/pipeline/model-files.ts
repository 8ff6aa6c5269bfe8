// The files a pipeline reads from the model's artifacts (a labels file, a tokenizer), by a path
// that must stay inside the model directory, with a size cap and errors that say what to do.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { MlserveError } from '../errors.js';
import { safeJoin } from '../mlflow/cache.js';
import type { TokenizerFiles } from './text.js';

/** The most a labels or tokenizer file may hold (ImageNet-21k's names are ~1 MB; big tokenizers ~20 MB). */
const MAX_FILE_BYTES = 64 << 20;

function modelPath(modelDir: string, rel: string, what: string): string {
  try {
    return safeJoin(modelDir, rel);
  } catch {
    throw new MlserveError('BAD_REQUEST', `${what} '${rel}' must be a relative path inside the model directory (no '..', not absolute)`);
  }
}

/** A file of the model's artifacts as text; `remedy` says how to get it there. */
export function readModelFile(modelDir: string, rel: string, what: string, remedy: string): string {
  const path = modelPath(modelDir, rel, what);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new MlserveError('BAD_REQUEST', `${what} '${rel}' is not in the model's artifacts (${modelDir}); ${remedy}`);
  }
  if (size > MAX_FILE_BYTES) throw new MlserveError('BAD_REQUEST', `${what} '${rel}' is ${size} bytes, over the ${MAX_FILE_BYTES >> 20} MiB it may have`);
  return readFileSync(path, 'utf8');
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** tokenizer.json (required), and beside it tokenizer_config.json and sentence_bert_config.json when there. */
export function readTokenizerFiles(modelDir: string, rel: string): TokenizerFiles {
  const remedy = 'save the tokenizer with the model (tokenizer.save_pretrained(<model dir>)) or name its file with text:tokenizer=<file>';
  const tokenizer = parseJson(readModelFile(modelDir, rel, 'tokenizer file', remedy), rel);
  const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
  const optional = (name: string) => {
    const path = modelPath(modelDir, `${dir}${name}`, name);
    return existsSync(path) ? (parseJson(readModelFile(modelDir, `${dir}${name}`, name, ''), name) as Record<string, unknown>) : undefined;
  };
  return { tokenizer, config: optional('tokenizer_config.json'), sentenceBert: optional('sentence_bert_config.json') };
}
