// `node dist/bench/post-bodies.js <url> <file> <n>`: POSTs the JSON body in <file> n times at once
// and prints each answer's status and time as JSON. The hardening bench sends its big bodies from
// this separate process, so that sending them does not delay its own latency probes.
import { readFileSync } from 'node:fs';
import { request } from 'undici';

const [url, file, n] = process.argv.slice(2);
const body = readFileSync(file!);
const results = await Promise.all(Array.from({ length: Number(n) }, async () => {
  const t = performance.now();
  const res = await request(url!, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: 600_000, bodyTimeout: 600_000 });
  await res.body.dump();
  return { status: res.statusCode, ms: performance.now() - t };
}));
process.stdout.write(`${JSON.stringify(results)}\n`);
