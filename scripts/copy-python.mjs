#!/usr/bin/env node
// Build step: copy the Python replica program (src/runtime/python/*.py) next to the compiled
// JavaScript, into dist/runtime/python/, so the published package ships it (tsc copies only .ts).
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(repo, 'src', 'runtime', 'python');
const to = join(repo, 'dist', 'runtime', 'python');
mkdirSync(to, { recursive: true });
const files = readdirSync(from).filter((f) => f.endsWith('.py'));
if (files.length === 0) {
  console.error(`copy-python: no .py files in ${from}`);
  process.exit(1);
}
for (const f of files) copyFileSync(join(from, f), join(to, f));
console.log(`copy-python: ${files.join(', ')} -> dist/runtime/python/`);
