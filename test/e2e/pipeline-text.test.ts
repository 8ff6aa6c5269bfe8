// A text pipeline end to end: all-MiniLM-L6-v2 (the sentence-transformers model packaged on PyPI,
// its BERT encoder exported to ONNX in the set-up) behind text + mean_pool + normalize. mlserve's
// token ids equal the Rust tokenizers library's, and its embeddings equal
// SentenceTransformer.encode's within 1e-4; texts over the limit are refused with the count.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { makeTextModels, type TextFixtures } from '../helpers/python.js';
import { loadTokenizer, tokenize } from '../../src/pipeline/text.js';
import { parsePipeline, type TextStage } from '../../src/pipeline/spec.js';
import { softmax, topk } from '../../src/pipeline/post.js';
import { mlp, mlpReference } from '../../src/models/zoo.js';
import { writeOnnx } from '../helpers/models.js';

let fx: TextFixtures;
let d: TestDaemon;
const EMBED = ['--post', 'mean_pool', '--post', 'normalize'];

const maxDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const embed = (endpoint: string, body: unknown, type = 'application/json') => d.http('POST', `/v2/models/${endpoint}/predict`, typeof body === 'string' && type !== 'application/json' ? body : JSON.stringify(body), { 'content-type': type });

beforeAll(async () => {
  fx = await makeTextModels();
  d = new TestDaemon();
  await d.start();
  const r = await d.deploy(fx.model_dir, ['--endpoint', 'minilm', '--pre', 'text', ...EMBED]);
  expect(r.exitCode, r.stderr).toBe(0);
  const t = await d.deploy(fx.model_dir, ['--endpoint', 'minilm-cut', '--pre', 'text:truncate=true', ...EMBED]);
  expect(t.exitCode, t.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await d?.cleanup();
});

describe('a text pipeline (MiniLM sentence embeddings)', () => {
  it('tokenizes as the Rust tokenizers library does (special tokens, accents, CJK, emoji, truncation)', () => {
    const read = (f: string) => JSON.parse(readFileSync(join(fx.model_dir, f), 'utf8'));
    const stage = parsePipeline({ pre: [{ text: { truncate: true } }] }).pre[0] as TextStage;
    const tok = loadTokenizer({ tokenizer: read('tokenizer.json'), config: read('tokenizer_config.json'), sentenceBert: read('sentence_bert_config.json') }, stage, 'tokenizer.json');
    expect(tok.maxLength).toBe(fx.max_seq_length);
    expect(tok.limitFrom).toMatch(/sentence_bert_config/);
    for (const s of fx.sentences) {
      const got = tokenize(tok, [s.text], stage);
      expect(got.ids[0], JSON.stringify(s.text)).toEqual(s.ids);
    }
    expect(fx.sentences.some((s) => s.tokens > fx.max_seq_length)).toBe(true);
  });

  it('answers the embeddings sentence-transformers gives, one text or several per request', async () => {
    const fits = fx.sentences.filter((s) => s.tokens <= fx.max_seq_length);
    for (const s of fits) {
      const r = await embed('minilm', { text: s.text });
      expect(r.status, `${JSON.stringify(s.text)}: ${r.text}`).toBe(200);
      expect(r.json.embedding).toHaveLength(384);
      expect(maxDiff(r.json.embedding, s.embedding), JSON.stringify(s.text)).toBeLessThan(1e-4);
    }
    // Several texts in one request are padded to the longest; padding does not change an embedding.
    const many = await embed('minilm', { text: fits.map((s) => s.text) });
    expect(many.status, many.text).toBe(200);
    expect(many.json.predictions).toHaveLength(fits.length);
    for (const [i, s] of fits.entries()) expect(maxDiff(many.json.predictions[i].embedding, s.embedding)).toBeLessThan(1e-4);
    // text/plain is one text.
    const plain = await embed('minilm', fits[0]!.text, 'text/plain');
    expect(maxDiff(plain.json.embedding, fits[0]!.embedding)).toBeLessThan(1e-4);
  });

  it('refuses a text over the limit with its token count, or cuts it as sentence-transformers does when told to', async () => {
    const long = fx.sentences.find((s) => s.tokens > fx.max_seq_length)!;
    const refused = await embed('minilm', { text: long.text });
    expect(refused.status).toBe(413);
    expect(refused.json.error).toMatch(new RegExp(`the text is ${long.tokens} tokens, over the limit of ${fx.max_seq_length} \\(max_seq_length in sentence_bert_config.json\\); send shorter text, or deploy with text:truncate=true`));
    const cut = await embed('minilm-cut', { text: long.text });
    expect(cut.status, cut.text).toBe(200);
    expect(maxDiff(cut.json.embedding, long.embedding)).toBeLessThan(1e-4);
  });

  it('says what is wrong with a bad body, and keeps serving', async () => {
    const cases: Array<[unknown, string, number, RegExp]> = [
      [{ texts: ['a'] }, 'application/json', 400, /\{"text": "\.\.\."\} or \{"text": \["\.\.\.", \.\.\.\]\}/],
      [{ text: [1, 2] }, 'application/json', 400, /strings/],
      [{ text: [] }, 'application/json', 400, /strings/],
      ['{"text": ', 'application/json', 400, /not valid JSON/],
      ['<xml/>', 'application/xml', 415, /text pipeline takes JSON/],
      [{ text: Array.from({ length: 100 }, () => 'x') }, 'application/json', 413, /100 texts in one request, over 32 \(the deployment's max_batch_size\)/],
    ];
    for (const [body, type, status, message] of cases) {
      const r = await d.http('POST', '/v2/models/minilm/predict', typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': type });
      expect(r.status, `${JSON.stringify(body)}: ${r.text}`).toBe(status);
      expect(r.json.error).toMatch(message);
    }
    const ok = await embed('minilm', { text: fx.sentences[0]!.text });
    expect(maxDiff(ok.json.embedding, fx.sentences[0]!.embedding)).toBeLessThan(1e-4);
  });

  it('refuses at deploy a tokenizer that is not in the model, and stages that do not fit it', async () => {
    const missing = await d.cli(['deploy', fx.model_dir, '--endpoint', 'x1', '--pre', 'text:tokenizer=spm.json', ...EMBED]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/tokenizer file 'spm.json' is not in the model's artifacts .*save the tokenizer with the model/);
    const pool = await d.cli(['deploy', fx.model_dir, '--endpoint', 'x2', '--post', 'mean_pool']);
    expect(pool.exitCode).toBe(2);
    expect(pool.stderr).toMatch(/mean_pool pools over the tokens of a text stage's attention mask; give pre: \[text\]/);
    const status = await d.cli(['status', '--json']);
    expect(status.json.endpoints.map((e: { name: string }) => e.name).sort()).toEqual(['minilm', 'minilm-cut']);
  });

  it('chains: embed -> a second model -> labels, and an ensemble of two by mean, end to end over HTTP', async () => {
    const a = mlp({ seed: 21, sizes: [384, 32, 4] });
    const b = mlp({ seed: 22, sizes: [384, 32, 4] });
    for (const [name, m] of [['topic-a', a], ['topic-b', b]] as const) {
      const r = await d.deploy(writeOnnx(m, name), ['--endpoint', name]);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const LABELS = 'sports/food/music/family';
    const chain = await d.deploy(fx.model_dir, ['--endpoint', 'topic', '--pre', 'text', ...EMBED, '--post', 'model:endpoint=topic-a', '--post', 'softmax', '--post', 'topk:k=2', '--post', `labels:list=${LABELS}`]);
    expect(chain.exitCode, chain.stderr).toBe(0);
    const ens = await d.deploy(fx.model_dir, ['--endpoint', 'topic2', '--pre', 'text', ...EMBED, '--post', 'ensemble:endpoints=topic-a/topic-b,merge=mean', '--post', 'argmax', '--post', `labels:list=${LABELS}`]);
    expect(ens.exitCode, ens.stderr).toBe(0);
    const names = LABELS.split('/');
    for (const s of fx.sentences.filter((x) => x.tokens <= fx.max_seq_length).slice(0, 5)) {
      const emb = Float32Array.from(s.embedding);
      const logitsA = Array.from(mlpReference(a.weights, emb));
      const logitsB = Array.from(mlpReference(b.weights, emb));
      const probs = Array.from(softmax(logitsA));
      const want = topk(probs, 2);
      const r = await embed('topic', { text: s.text });
      expect(r.status, r.text).toBe(200);
      expect(r.json.top.map((t: { label: string }) => t.label)).toEqual(want.map((i) => names[i]));
      for (const [k, i] of want.entries()) expect(Math.abs(r.json.top[k].score - probs[i]!)).toBeLessThan(1e-4);
      const mean = logitsA.map((x, i) => (x + logitsB[i]!) / 2);
      const e = await embed('topic2', { text: s.text });
      expect(e.status, e.text).toBe(200);
      expect(e.json.label).toBe(names[topk(mean, 1)[0]!]);
      expect(Math.abs(e.json.score - Math.max(...mean))).toBeLessThan(1e-4);
    }
    // A called endpoint that goes away: 503 that names it, not a crash.
    expect((await d.cli(['undeploy', 'topic-b'])).exitCode).toBe(0);
    const gone = await embed('topic2', { text: 'still there?' });
    expect(gone.status).toBe(503);
    expect(gone.json.error).toMatch(/endpoint topic2's pipeline calls endpoint topic-b, which is not deployed/);
    for (const e of ['topic', 'topic2', 'topic-a']) expect((await d.cli(['undeploy', e])).exitCode).toBe(0);
  });
});
