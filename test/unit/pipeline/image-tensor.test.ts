// image-tensor.ts: Python's round, torchvision's Resize(int)/Resize((h, w)) sizes and CenterCrop
// offsets, and RGB bytes to the model's tensor (ToTensor + Normalize in float32 steps, or the raw
// bytes), NCHW or NHWC; then the same numbers from torchvision itself (the pinned pyfunc env).
import { beforeAll, describe, expect, it } from 'vitest';
import { pixelsToTensor, resizePlan, roundHalfEven } from '../../../src/pipeline/image-tensor.js';
import { crop } from '../../../src/pipeline/resample.js';
import { IMAGENET_MEAN, IMAGENET_STD, type ImageStage } from '../../../src/pipeline/spec.js';
import { caught } from '../../helpers/errors.js';
import { PY_IMAGES, withPython } from './python-ref.js';

describe('roundHalfEven: Python round()', () => {
  it.each([
    [0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [4.5, 4], [58.5, 58], [59.5, 60], [16.5, 16],
    [3.4, 3], [3.6, 4], [2.4999, 2], [0, 0], [7, 7], [1e6 + 0.5, 1e6],
    [-0.5, -0], [-1.5, -2], [-2.5, -2], [-3.5, -4], [-3.4, -3], [-0.4, -0],
  ])('round(%d) = %d', (x, expected) => {
    expect(Object.is(roundHalfEven(x), expected)).toBe(true);
  });
});

type Geometry = Pick<ImageStage, 'resize' | 'size' | 'crop'>;

describe('resizePlan: torchvision Resize and CenterCrop', () => {
  it.each<[string, number, number, Geometry, object]>([
    ['nothing to do', 640, 480, {}, { width: 640, height: 480 }],
    ['landscape Resize(256): the height to 256, the width int(256 * 640 / 480)', 640, 480, { resize: 256 }, { resize: { width: 341, height: 256 }, width: 341, height: 256 }],
    ['portrait Resize(256)', 480, 640, { resize: 256 }, { resize: { width: 256, height: 341 }, width: 256, height: 341 }],
    ['Resize truncates 341.33', 500, 375, { resize: 256 }, { resize: { width: 341, height: 256 }, width: 341, height: 256 }],
    ['Resize truncates 383.8', 667, 1000, { resize: 256 }, { resize: { width: 256, height: 383 }, width: 256, height: 383 }],
    ['square', 300, 300, { resize: 224 }, { resize: { width: 224, height: 224 }, width: 224, height: 224 }],
    ['upscale', 10, 20, { resize: 100 }, { resize: { width: 100, height: 200 }, width: 100, height: 200 }],
    ['already the size', 256, 300, { resize: 256 }, { resize: { width: 256, height: 300 }, width: 256, height: 300 }],
    ['a 1-pixel-high strip', 1000, 1, { resize: 10 }, { resize: { width: 10000, height: 10 }, width: 10000, height: 10 }],
    ['size=[h, w] is exact, aspect ignored', 640, 480, { size: [100, 200] }, { resize: { width: 200, height: 100 }, width: 200, height: 100 }],
    ['size square', 37, 1000, { size: [224, 224] }, { resize: { width: 224, height: 224 }, width: 224, height: 224 }],
    ['crop only, even margins', 300, 260, { crop: [224, 224] }, { crop: { left: 38, top: 18, width: 224, height: 224 }, width: 224, height: 224 }],
    ['crop equal to the image', 224, 224, { crop: [224, 224] }, { crop: { left: 0, top: 0, width: 224, height: 224 }, width: 224, height: 224 }],
    ['crop [h, w] not square', 200, 300, { crop: [100, 50] }, { crop: { left: 75, top: 100, width: 50, height: 100 }, width: 50, height: 100 }],
    ['margin 1: round(0.5) = 0', 225, 225, { crop: [224, 224] }, { crop: { left: 0, top: 0, width: 224, height: 224 }, width: 224, height: 224 }],
    ['margin 3: round(1.5) = 2', 227, 227, { crop: [224, 224] }, { crop: { left: 2, top: 2, width: 224, height: 224 }, width: 224, height: 224 }],
    ['margin 5: round(2.5) = 2', 229, 231, { crop: [224, 224] }, { crop: { left: 2, top: 4, width: 224, height: 224 }, width: 224, height: 224 }],
    ['Resize(256) + CenterCrop(224) of 640x480: left round(58.5) = 58', 640, 480, { resize: 256, crop: [224, 224] }, { resize: { width: 341, height: 256 }, crop: { left: 58, top: 16, width: 224, height: 224 }, width: 224, height: 224 }],
    ['Resize(256) + CenterCrop(224) of 480x640', 480, 640, { resize: 256, crop: [224, 224] }, { resize: { width: 256, height: 341 }, crop: { left: 16, top: 58, width: 224, height: 224 }, width: 224, height: 224 }],
    ['Resize(256) + CenterCrop(224) of 500x375', 500, 375, { resize: 256, crop: [224, 224] }, { resize: { width: 341, height: 256 }, crop: { left: 58, top: 16, width: 224, height: 224 }, width: 224, height: 224 }],
    ['size + crop', 64, 64, { size: [30, 41], crop: [10, 20] }, { resize: { width: 41, height: 30 }, crop: { left: 10, top: 10, width: 20, height: 10 }, width: 20, height: 10 }],
    ['size + crop with a half margin', 64, 64, { size: [31, 45], crop: [10, 20] }, { resize: { width: 45, height: 31 }, crop: { left: 12, top: 10, width: 20, height: 10 }, width: 20, height: 10 }],
  ])('%s', (_name, w, h, stage, expected) => {
    expect(resizePlan(w, h, stage)).toEqual(expected);
  });

  it.each<[string, number, number, Geometry, RegExp]>([
    ['an image smaller than the crop, no resize', 100, 50, { crop: [224, 224] }, /^the image is 100x50 pixels, smaller than the 224x224 crop; send a bigger image \(or give the stage a resize\)$/],
    ['too narrow only', 200, 300, { crop: [100, 201] }, /the image is 200x300 pixels, smaller than the 201x100 crop/],
    ['too low only', 300, 99, { crop: [100, 100] }, /the image is 300x99 pixels, smaller than the 100x100 crop/],
    ['after a resize', 400, 200, { resize: 100, crop: [150, 150] }, /the image is 200x100 pixels after resizing, smaller than the 150x150 crop/],
    ['after an exact size', 400, 400, { size: [100, 300], crop: [120, 50] }, /the image is 300x100 pixels after resizing, smaller than the 50x120 crop/],
  ])('refuses %s (BAD_REQUEST)', (_name, w, h, stage, message) => {
    const err = caught(() => resizePlan(w, h, stage));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(message);
  });
});

type Values = Pick<ImageStage, 'scale' | 'mean' | 'std' | 'layout' | 'dtype'>;
const IMAGENET: Values = { scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD, layout: 'NCHW', dtype: 'FP32' };
const f = Math.fround;
/** ToTensor then Normalize, each step rounded to float32 as PyTorch computes it. */
const expectedValue = (v: number, c: number, s: Values) => f(f((s.scale === 1 / 255 ? f(v / 255) : f(v * s.scale)) - f(s.mean[c]!)) / f(s.std[c]!));

describe('pixelsToTensor', () => {
  // 3x2 pixels: pixel p has RGB (10p, 10p + 1, 255 - p).
  const W = 3;
  const H = 2;
  const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => [10 * Math.floor(i / 3), 10 * Math.floor(i / 3) + 1, 255 - Math.floor(i / 3)][i % 3]!);

  it.each<[string, Values, boolean, number[]]>([
    ['NCHW', IMAGENET, false, [3, H, W]],
    ['NCHW batched', IMAGENET, true, [1, 3, H, W]],
    ['NHWC', { ...IMAGENET, layout: 'NHWC' }, false, [H, W, 3]],
    ['NHWC batched', { ...IMAGENET, layout: 'NHWC' }, true, [1, H, W, 3]],
    ['NCHW, scale 1, mean/std 127.5', { scale: 1, mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], layout: 'NCHW', dtype: 'FP32' }, false, [3, H, W]],
    ['NHWC, scale 1/127.5, mean 1, std 1', { scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1], layout: 'NHWC', dtype: 'FP32' }, true, [1, H, W, 3]],
    ['NCHW, no normalization', { scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], layout: 'NCHW', dtype: 'FP32' }, false, [3, H, W]],
  ])('FP32 %s: float32 ((v * scale) - mean) / std', (_name, stage, batched, shape) => {
    const t = pixelsToTensor(rgb, W, H, stage, batched);
    expect(t.shape).toEqual(shape);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(t.data.length).toBe(W * H * 3);
    const n = W * H;
    for (let p = 0; p < n; p++) {
      for (let c = 0; c < 3; c++) {
        const at = stage.layout === 'NCHW' ? c * n + p : p * 3 + c;
        expect(Object.is(t.data[at], expectedValue(rgb[p * 3 + c]!, c, stage)), `pixel ${p} channel ${c}`).toBe(true);
      }
    }
  });

  it('FP32 values are exact for every byte value and channel', () => {
    const all = Uint8Array.from({ length: 256 * 3 }, (_, i) => Math.floor(i / 3));
    for (const stage of [IMAGENET, { ...IMAGENET, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] }]) {
      const t = pixelsToTensor(all, 256, 1, { ...stage, layout: 'NHWC' }, false);
      const wrong = Array.from(t.data).flatMap((x, i) => (Object.is(x, expectedValue(Math.floor(i / 3), i % 3, stage)) ? [] : [i]));
      expect(wrong).toEqual([]);
    }
    // Spot values: (0 - 0.485) / 0.229 and (255/255 - 0.406) / 0.225 in float32.
    const t = pixelsToTensor(Uint8Array.from([0, 255, 255]), 1, 1, IMAGENET, false);
    expect(t.data[0]).toBeCloseTo(-2.1179039, 6);
    expect(t.data[1]).toBeCloseTo(2.4285715, 6);
    expect(t.data[2]).toBeCloseTo(2.64, 6);
  });

  it('UINT8 NHWC: the bytes as they are, in a copy', () => {
    const t = pixelsToTensor(rgb, W, H, { ...IMAGENET, layout: 'NHWC', dtype: 'UINT8' }, false);
    expect(t.data).toBeInstanceOf(Uint8Array);
    expect(t.data).toEqual(rgb);
    expect(t.data).not.toBe(rgb);
    expect(t.shape).toEqual([H, W, 3]);
    expect(pixelsToTensor(rgb, W, H, { ...IMAGENET, layout: 'NHWC', dtype: 'UINT8' }, true).shape).toEqual([1, H, W, 3]);
  });

  it('UINT8 NCHW: the bytes by channel (scale, mean and std unused)', () => {
    const t = pixelsToTensor(rgb, W, H, { scale: 2, mean: [9, 9, 9], std: [3, 3, 3], layout: 'NCHW', dtype: 'UINT8' }, true);
    expect(t.data).toBeInstanceOf(Uint8Array);
    expect(t.shape).toEqual([1, 3, H, W]);
    expect(Array.from(t.data)).toEqual([0, 10, 20, 30, 40, 50, 1, 11, 21, 31, 41, 51, 255, 254, 253, 252, 251, 250]);
  });

  it.each([
    [3, 2, 17],
    [3, 2, 19],
    [1, 1, 0],
    [2, 2, 4],
  ])('refuses %ix%i from %i bytes (INTERNAL)', (w, h, bytes) => {
    const err = caught(() => pixelsToTensor(new Uint8Array(bytes), w, h, IMAGENET, false));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toBe(`expected ${w * h * 3} RGB bytes for ${w}x${h}, got ${bytes}`);
  });
});

interface TvCase {
  id: string;
  w: number;
  h: number;
  seed: number;
  resize?: number | [number, number];
  crop?: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
}

const TV_CASES: TvCase[] = [
  { id: 'landscape', w: 640, h: 480, seed: 1, resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'portrait', w: 375, h: 500, seed: 2, resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'odd-margin', w: 500, h: 375, seed: 3, resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'tall', w: 300, h: 700, seed: 4, resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'short-side-already', w: 257, h: 256, seed: 5, resize: 256, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'crop-only', w: 229, h: 300, seed: 6, crop: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD },
  { id: 'size-and-crop', w: 120, h: 90, seed: 7, resize: [61, 83], crop: [40, 31], mean: [0.5, 0.25, 0.75], std: [0.5, 0.125, 2] },
  { id: 'small', w: 33, h: 77, seed: 8, resize: 10, crop: [5, 3], mean: [0, 0, 0], std: [1, 1, 1] },
];

const PY_TV = `${PY_IMAGES}
import torch
from torchvision import transforms as T
for c in cases:
    im = make(c)
    if 'resize' in c:
        im = T.Resize(c['resize'])(im)
    with open(os.path.join(out, c['id'] + '.resized'), 'wb') as f:
        f.write(im.tobytes())
    if 'crop' in c:
        im = T.CenterCrop(c['crop'])(im)
    with open(os.path.join(out, c['id'] + '.cropped'), 'wb') as f:
        f.write(im.tobytes())
    t = T.Normalize(c['mean'], c['std'])(T.ToTensor()(im))
    assert t.dtype == torch.float32
    with open(os.path.join(out, c['id'] + '.f32'), 'wb') as f:
        f.write(t.numpy().astype('<f4').tobytes())
    with open(os.path.join(out, c['id'] + '.u8'), 'wb') as f:
        f.write(T.PILToTensor()(im).numpy().tobytes())
`;

describe("the same numbers as torchvision's transforms", () => {
  const files = new Map<string, Buffer>();
  beforeAll(async () => {
    await withPython(PY_TV, [JSON.stringify(TV_CASES)], (file) => {
      for (const c of TV_CASES) for (const ext of ['raw', 'resized', 'cropped', 'f32', 'u8']) files.set(`${c.id}.${ext}`, file(`${c.id}.${ext}`));
    });
  }, 60_000);

  it.each(TV_CASES.map((c) => [c.id, c] as const))('%s: sizes, crop offsets, tensors', (_id, c) => {
    const stage = {
      ...(typeof c.resize === 'number' ? { resize: c.resize } : {}),
      ...(Array.isArray(c.resize) ? { size: c.resize } : {}),
      ...(c.crop ? { crop: c.crop } : {}),
    };
    const plan = resizePlan(c.w, c.h, stage);
    const resized = new Uint8Array(files.get(`${c.id}.resized`)!);
    const cropped = new Uint8Array(files.get(`${c.id}.cropped`)!);
    const rw = plan.resize?.width ?? c.w;
    const rh = plan.resize?.height ?? c.h;
    // torchvision's Resize gave this many pixels: the plan's size.
    expect(resized.length).toBe(rw * rh * 3);
    expect(cropped.length).toBe(plan.width * plan.height * 3);
    // Its CenterCrop took the plan's rectangle (of the same resized pixels).
    expect(plan.crop ? Buffer.from(crop(resized, rw, plan.crop)).equals(Buffer.from(cropped)) : Buffer.from(resized).equals(Buffer.from(cropped))).toBe(true);
    // ToTensor + Normalize: bit for bit.
    const values = { scale: 1 / 255, mean: c.mean, std: c.std, dtype: 'FP32' } as const;
    const nchw = pixelsToTensor(cropped, plan.width, plan.height, { ...values, layout: 'NCHW' }, true);
    expect(nchw.shape).toEqual([1, 3, plan.height, plan.width]);
    const tv = new Float32Array(new Uint8Array(files.get(`${c.id}.f32`)!).buffer);
    const ours = nchw.data as Float32Array;
    const diff = Array.from(ours).filter((x, i) => !Object.is(x, tv[i])).length;
    expect(`${diff} of ${ours.length} values differ`).toBe(`0 of ${tv.length} values differ`);
    // NHWC is the same values, channels last.
    const nhwc = pixelsToTensor(cropped, plan.width, plan.height, { ...values, layout: 'NHWC' }, false).data;
    const n = plan.width * plan.height;
    expect(Array.from({ length: n * 3 }, (_, i) => tv[(i % 3) * n + Math.floor(i / 3)])).toEqual(Array.from(nhwc));
    // PILToTensor: the UINT8 NCHW bytes.
    const u8 = pixelsToTensor(cropped, plan.width, plan.height, { ...values, dtype: 'UINT8', layout: 'NCHW' }, false).data;
    expect(Buffer.from(u8).equals(files.get(`${c.id}.u8`)!)).toBe(true);
  });
});
