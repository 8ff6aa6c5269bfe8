// An image pipeline end to end: torchvision's ResNet-50 (exported to ONNX in the set-up, random
// weights) behind image + softmax + topk + labels, deployed with --pre/--post and with
// mlserve.yaml. mlserve's top-5 equals what torchvision's own Resize/CenterCrop/ToTensor/Normalize
// and PyTorch give for the same JPEG, PNG and WebP files; bad images get precise 4xx answers and
// the daemon keeps serving.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDaemon } from '../helpers/daemon.js';
import { makeVisionModels, REPO, type VisionFixtures } from '../helpers/python.js';
import { imageToTensor } from '../../src/pipeline/image-decode.js';
import { parsePipeline, type ImageStage } from '../../src/pipeline/spec.js';

let fx: VisionFixtures;
let d: TestDaemon;
const PRE = 'image:resize=256,crop=224';
const POST = ['--post', 'softmax', '--post', 'topk:k=5', '--post', 'labels:file=labels.txt'];
const TYPES: Record<string, string> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

type Answer = { label: string; index: number; score: number; top: Array<{ index: number; label: string; score: number }> };

function expectSameAsTorchvision(name: string, got: Answer): void {
  const want = fx.images[name]!;
  expect(got.top.map((t) => t.index), name).toEqual(want.top5);
  expect(got.top.map((t) => t.label), name).toEqual(want.labels);
  for (const [i, t] of got.top.entries()) expect(Math.abs(t.score - want.scores[i]!), `${name} score ${i}`).toBeLessThan(1e-4);
  expect(got.label).toBe(want.labels[0]);
}

const predict = (endpoint: string, body: Buffer | string, type: string) => d.http('POST', `/v2/models/${endpoint}/predict`, body, { 'content-type': type });

/** A PNG header that claims width x height (valid chunks and CRCs), with a tiny body: refused before decoding. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), chunk('IEND', Buffer.alloc(0))]);
}

beforeAll(async () => {
  fx = await makeVisionModels();
  d = new TestDaemon();
  await d.start();
  const r = await d.deploy(fx.model_dir, ['--endpoint', 'resnet', '--pre', PRE, ...POST]);
  expect(r.exitCode, r.stderr).toBe(0);
}, 300_000);
afterAll(async () => {
  await d?.cleanup();
});

describe('an image pipeline (ResNet-50, torchvision pre-processing)', () => {
  it('makes the tensor torchvision makes, bit for bit (every image, a 3:1 one included)', async () => {
    const stage = parsePipeline({ pre: [{ image: { resize: fx.resize, crop: fx.crop } }] }).pre[0] as ImageStage;
    for (const [name, img] of Object.entries(fx.images)) {
      const t = await imageToTensor(readFileSync(img.path), stage, 'input', true);
      const want = new Float32Array(readFileSync(img.tensor).buffer.slice(0));
      expect(t.shape).toEqual([1, 3, fx.crop, fx.crop]);
      const data = t.data as Float32Array;
      let differing = 0;
      for (let i = 0; i < want.length; i++) if (data[i] !== want[i]) differing++;
      expect(differing, name).toBe(0);
    }
  });

  it('answers the top-5 torchvision + PyTorch give, for JPEG, PNG (RGBA, palette) and WebP bodies', async () => {
    expect(Object.keys(fx.images).length).toBeGreaterThanOrEqual(8);
    for (const [name, img] of Object.entries(fx.images)) {
      const res = await predict('resnet', readFileSync(img.path), TYPES[name.split('.').pop()!]!);
      expect(res.status, `${name}: ${res.text}`).toBe(200);
      expect(res.headers['x-mlserve-deployment']).toBe('resnet-v1');
      expectSameAsTorchvision(name, res.json);
    }
  });

  it('takes a multipart upload (as curl -F file=@cat.jpg sends it) and base64 JSON', async () => {
    const img = fx.images['landscape.jpg']!;
    const bytes = readFileSync(img.path);
    const form = new FormData();
    form.append('note', 'not the file');
    form.append('file', new Blob([bytes], { type: 'image/jpeg' }), 'landscape.jpg');
    const res = await fetch(`${d.url}/v2/models/resnet/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    expectSameAsTorchvision('landscape.jpg', (await res.json()) as Answer);

    const b64 = bytes.toString('base64');
    for (const image of [b64, `data:image/jpeg;base64,${b64}`, { b64 }]) {
      const r = await d.http('POST', '/v2/models/resnet/predict', { image });
      expect(r.status, r.text).toBe(200);
      expectSameAsTorchvision('landscape.jpg', r.json);
    }
  });

  it('batches pre-processed requests together in the model stage', async () => {
    const before = (await d.cli(['status', '--json'])).json.deployments[0].stats;
    const names = Object.keys(fx.images);
    const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => names[i % names.length]!).map(async (name) => {
      const r = await predict('resnet', readFileSync(fx.images[name]!.path), TYPES[name.split('.').pop()!]!);
      return { name, r };
    }));
    for (const { name, r } of answers) {
      expect(r.status).toBe(200);
      expectSameAsTorchvision(name, r.json);
    }
    const after = (await d.cli(['status', '--json'])).json.deployments[0].stats;
    const batches = after.batches - before.batches;
    expect(after.batchedRequests - before.batchedRequests).toBe(24);
    expect(batches).toBeLessThan(24); // some requests shared a batch
  });

  it('refuses bad images with what was wrong, and keeps serving', async () => {
    const jpeg = readFileSync(fx.images['landscape.jpg']!.path);
    const cases: Array<[string, Buffer | string, string, number, RegExp]> = [
      ['text', 'hello', 'text/plain', 415, /\/predict takes an image.*got content-type 'text\/plain'/],
      ['not an image', 'hello, not pixels', 'image/png', 415, /not a JPEG, PNG or WebP image/],
      ['a GIF', Buffer.from('GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;', 'latin1'), 'image/gif', 415, /it is gif/],
      ['a cut JPEG', jpeg.subarray(0, Math.floor(jpeg.length / 3)), 'image/jpeg', 400, /JPEG image does not decode/],
      ['20,000 x 20,000 pixels', pngClaiming(20_000, 20_000), 'image/png', 413, /20000x20000 \(400,000,000 pixels\), over this pipeline's limit of 40,000,000/],
      ['an empty body', Buffer.alloc(0), 'image/jpeg', 400, /no body/],
      ['bad base64', JSON.stringify({ image: '%%%' }), 'application/json', 400, /not valid base64/],
      ['JSON without image', JSON.stringify({ inputs: [] }), 'application/json', 400, /\{"image": "<base64>"\}/],
    ];
    for (const [what, body, type, status, message] of cases) {
      const t0 = Date.now();
      const r = await predict('resnet', body, type);
      expect(r.status, `${what}: ${r.text}`).toBe(status);
      expect(r.json.error, what).toMatch(message);
      expect(Date.now() - t0, what).toBeLessThan(5000);
    }
    const form = new FormData();
    form.append('picture', 'x');
    const res = await fetch(`${d.url}/v2/models/resnet/predict`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/no 'file' field \(fields: picture\)/);
    expect((await d.http('GET', '/v2/models/resnet/predict')).status).toBe(405);
    // Still serving, same answers.
    const ok = await predict('resnet', jpeg, 'image/jpeg');
    expectSameAsTorchvision('landscape.jpg', ok.json);
  });

  it('says an endpoint without a pipeline has no /predict; /infer still takes tensors on a pipeline endpoint', async () => {
    const r = await d.deploy(fx.model_dir, ['--endpoint', 'plain']);
    expect(r.exitCode, r.stderr).toBe(0);
    const res = await predict('plain', readFileSync(fx.images['exact.png']!.path), 'image/png');
    expect(res.status).toBe(404);
    expect(res.json.error).toMatch(/endpoint plain has no pipeline, so no \/predict; deploy it with --pre\/--post/);
    const tensor = new Float32Array(readFileSync(fx.images['exact.png']!.tensor).buffer.slice(0));
    const infer = await d.http('POST', '/v2/models/resnet/infer', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(tensor) }] });
    expect(infer.status, infer.text).toBe(200);
    const logits = infer.json.outputs[0].data as number[];
    const best = logits.indexOf(Math.max(...logits));
    expect(best).toBe(fx.images['exact.png']!.top5[0]);
    expect((await d.cli(['undeploy', 'plain'])).exitCode).toBe(0);
  });

  it('refuses a deploy whose labels file is not in the model, or whose stages do not fit it', async () => {
    // The source may follow --pre/--post (one value per flag).
    const missing = await d.cli(['deploy', '--pre', PRE, '--post', 'labels:file=imagenet.txt', fx.model_dir, '--endpoint', 'x1']);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toMatch(/labels file 'imagenet.txt' is not in the model's artifacts/);
    const escape = await d.cli(['deploy', fx.model_dir, '--endpoint', 'x2', '--post', 'labels:file=../../etc/passwd']);
    expect(escape.stderr).toMatch(/must be a relative path inside the model directory/);
    // A bare model.onnx has no signature until a replica loads it: the stages are checked then, and the deployment fails.
    const layout = await d.cli(['deploy', fx.model_dir, '--endpoint', 'x3', '--pre', `${PRE},layout=NHWC`]);
    expect(layout.exitCode).toBe(1);
    expect(layout.stderr).toMatch(/the pipeline does not fit the model: .*224 channels where NHWC puts 3; set image:layout=NCHW/);
    expect((await d.cli(['undeploy', 'x3'])).exitCode).toBe(0);
    const option = await d.cli(['deploy', fx.model_dir, '--endpoint', 'x4', '--pre', 'image:resise=256']);
    expect(option.exitCode).toBe(2);
    expect(option.stderr).toMatch(/unknown option 'resise'; it takes input, resize, size, crop/);
    const status = await d.cli(['status', '--json']);
    expect(status.json.endpoints.map((e: { name: string }) => e.name)).toEqual(['resnet']);
  });

  it('is declared in mlserve.yaml too (examples/resnet-pipeline.yaml); mlserve config writes it back and a second apply changes nothing', async () => {
    // The example as shipped, with its registry model swapped for the test's model directory.
    const example = readFileSync(join(REPO, 'examples', 'resnet-pipeline.yaml'), 'utf8');
    expect(example).toMatch(/model: models:\/ResNet50\/Production/);
    const file = join(d.home, 'pipeline.yaml');
    writeFileSync(file, example.replace('models:/ResNet50/Production', fx.model_dir).replace('name: resnet', 'name: vision'));
    const applied = await d.cli(['apply', '-f', file, '--json']);
    expect(applied.exitCode, applied.stderr).toBe(0);
    const res = await predict('vision', readFileSync(fx.images['portrait.jpg']!.path), 'image/jpeg');
    expect(res.status, res.text).toBe(200);
    expectSameAsTorchvision('portrait.jpg', res.json);
    const config = await d.cli(['config']);
    expect(config.stdout).toMatch(/pipeline:/);
    const again = join(d.home, 'again.yaml');
    writeFileSync(again, config.stdout);
    const plan = await d.cli(['apply', '-f', again, '--dry-run', '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.json.plan).toEqual([]); // nothing to change: the pipeline written back is the one that runs
    // Changing a stage is a change of revision, named in the plan.
    writeFileSync(again, config.stdout.replace('k: 5', 'k: 2'));
    const changed = await d.cli(['apply', '-f', again, '--dry-run', '--json']);
    expect(JSON.stringify(changed.json.plan)).toMatch(/pipeline changed/);
  });
});
