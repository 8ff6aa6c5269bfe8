#!/usr/bin/env node
// Write the project's tiny random-weight llama model as a GGUF file, to try the LLM path without a
// download: `node scripts/tiny-gguf.mjs ./tiny.gguf` then `mlserve deploy ./tiny.gguf --endpoint chat`.
// Its answers are readable ASCII noise (random weights); it runs to max_tokens. Needs the build
// (dist/, made by npm ci). Pass --small for the 8-layer, 512-wide variant the benchmark uses.
import { resolve } from 'node:path';
import { SMALL, saveTinyLlama } from '../dist/models/tiny-llama.js';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
if (!file || args.some((a) => a.startsWith('--') && a !== '--small')) {
  process.stderr.write('usage: node scripts/tiny-gguf.mjs <out.gguf> [--small]\n');
  process.exit(2);
}
const params = saveTinyLlama(resolve(file), args.includes('--small') ? SMALL : {});
process.stdout.write(`${resolve(file)}: tiny llama, ${params.toLocaleString('en-US')} parameters\n`);
