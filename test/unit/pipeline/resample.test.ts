// resample.ts: Pillow's bilinear resize reimplemented (fixed-point, separable, antialiased) and a
// crop. Small cases checked by hand, invariants, and Pillow itself (the pinned pyfunc env's Pillow
// 13): the same bytes, exactly, for downscales by non-integer factors, upscales and one-axis resizes.
import { beforeAll, describe, expect, it } from 'vitest';
import { crop, resizeBilinear } from '../../../src/pipeline/resample.js';
import { PY_IMAGES, withPython } from './python-ref.js';

/** A deterministic byte pattern (mulberry32). */
function randomBytes(n: number, seed: number): Uint8Array {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

describe('resizeBilinear: by hand', () => {
  it('returns a copy at the same size', () => {
    const src = randomBytes(5 * 4 * 3, 1);
    const out = resizeBilinear(src, 5, 4, 5, 4);
    expect(out).toEqual(src);
    expect(out).not.toBe(src);
    out[0] = out[0]! ^ 0xff;
    expect(src[0]).not.toBe(out[0]);
  });

  it.each([
    // Two pixels to one: their mean, halves rounded up (HALF is added before the shift).
    ['2x1 -> 1x1', [10, 20, 30, 50, 60, 71], 2, 1, [30, 40, 51]],
    ['1x2 -> 1x1', [10, 20, 30, 50, 60, 71], 1, 2, [30, 40, 51]],
    ['2x1 -> 1x1 extremes', [0, 255, 255, 255, 255, 0], 2, 1, [128, 255, 128]],
    ['2x2 -> 1x1', [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255], 2, 2, [139, 139, 139]],
  ])('%s averages', (_name, src, w, h, expected) => {
    expect(Array.from(resizeBilinear(Uint8Array.from(src), w, h, 1, 1))).toEqual(expected);
  });

  it('halves a row with the widened triangle filter (weights 3/7, 3/7, 1/7)', () => {
    // Output 0 is centred on input 1.0 and reads inputs 0..2 with weights 0.75, 0.75, 0.25 (/1.75);
    // output 1 is centred on 3.0 and reads 1..3 with 0.25, 0.75, 0.75.
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 0, 70, 0]), 4, 1, 2, 1, 1))).toEqual([10, 30]);
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 0, 70, 0]), 1, 4, 1, 2, 1))).toEqual([10, 30]);
    expect(Array.from(resizeBilinear(Uint8Array.from([70, 0, 0, 0]), 4, 1, 2, 1, 1))).toEqual([30, 0]);
  });

  it('doubles a row by interpolating between neighbours (edges clamp)', () => {
    // Upscaling x2: output centres at 0.25, 0.75, 1.25, 1.75 of the input; weights 0.75/0.25.
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 100]), 2, 1, 4, 1, 1))).toEqual([0, 25, 75, 100]);
    expect(Array.from(resizeBilinear(Uint8Array.from([0, 100]), 1, 2, 1, 4, 1))).toEqual([0, 25, 75, 100]);
  });

  it('spreads one pixel to any size', () => {
    const out = resizeBilinear(Uint8Array.from([1, 2, 3]), 1, 1, 7, 5);
    expect(out.length).toBe(7 * 5 * 3);
    for (let i = 0; i < out.length; i += 3) expect(Array.from(out.subarray(i, i + 3))).toEqual([1, 2, 3]);
  });

  const SIZES: Array<[number, number, number, number]> = [
    [37, 23, 20, 13],
    [37, 23, 100, 61],
    [37, 23, 37, 10],
    [37, 23, 5, 23],
    [640, 480, 1, 1],
    [10, 10, 3, 7],
    [7, 5, 70, 50],
    [3, 300, 1000, 2],
  ];

  it.each(SIZES)('keeps a constant image constant: %ix%i -> %ix%i', (w, h, ow, oh) => {
    for (const v of [0, 1, 127, 254, 255]) {
      const src = new Uint8Array(w * h * 3).fill(v);
      const out = resizeBilinear(src, w, h, ow, oh);
      expect(out.length).toBe(ow * oh * 3);
      expect(out.every((x) => x === v), `value ${v}`).toBe(true);
    }
  });

  it.each(SIZES)('gives outWidth x outHeight x channels bytes within the input range: %ix%i -> %ix%i', (w, h, ow, oh) => {
    for (const channels of [1, 3, 4]) {
      const src = randomBytes(w * h * channels, w * 1000 + h);
      const out = resizeBilinear(src, w, h, ow, oh, channels);
      expect(out).toBeInstanceOf(Uint8Array);
      expect(out.length).toBe(ow * oh * channels);
      let lo = 255;
      let hi = 0;
      for (const x of src) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      expect(out.every((x) => x >= lo && x <= hi)).toBe(true);
    }
  });

  it('treats channels independently (RGB equals three grey resizes)', () => {
    const [w, h, ow, oh] = [29, 17, 11, 40];
    const rgb = randomBytes(w * h * 3, 7);
    const out = resizeBilinear(rgb, w, h, ow, oh);
    for (let c = 0; c < 3; c++) {
      const grey = Uint8Array.from({ length: w * h }, (_, i) => rgb[i * 3 + c]!);
      const g = resizeBilinear(grey, w, h, ow, oh, 1);
      expect(Array.from({ length: ow * oh }, (_, i) => out[i * 3 + c])).toEqual(Array.from(g));
    }
  });

  it('does not change its input', () => {
    const src = randomBytes(40 * 30 * 3, 3);
    const before = src.slice();
    resizeBilinear(src, 40, 30, 17, 55);
    expect(src).toEqual(before);
  });

  it.each([
    [10, 10, 3, 299],
    [10, 10, 1, 300],
    [0, 0, 3, 1],
  ])('refuses %ix%ix%i with %i bytes', (w, h, channels, bytes) => {
    expect(() => resizeBilinear(new Uint8Array(bytes), w, h, 5, 5, channels)).toThrow(new RegExp(`resizeBilinear: ${bytes} bytes is not ${w}x${h}x${channels}`));
  });
});

describe('crop', () => {
  // A 4x3 image whose pixel (x, y) is [x, y, 10 * y + x].
  const W = 4;
  const H = 3;
  const img = Uint8Array.from({ length: W * H * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    const [x, y] = [p % W, Math.floor(p / W)];
    return [x, y, 10 * y + x][i % 3]!;
  });
  const px = (out: Uint8Array) => Array.from({ length: out.length / 3 }, (_, i) => out[i * 3 + 2]);

  it.each([
    ['the whole image', { left: 0, top: 0, width: 4, height: 3 }, [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]],
    ['the centre', { left: 1, top: 1, width: 2, height: 1 }, [11, 12]],
    ['the bottom right pixel', { left: 3, top: 2, width: 1, height: 1 }, [23]],
    ['a column', { left: 2, top: 0, width: 1, height: 3 }, [2, 12, 22]],
    ['the top row', { left: 0, top: 0, width: 4, height: 1 }, [0, 1, 2, 3]],
    ['a 2x2 block', { left: 2, top: 1, width: 2, height: 2 }, [12, 13, 22, 23]],
  ])('%s', (_name, rect, expected) => {
    const out = crop(img, W, rect);
    expect(out.length).toBe(rect.width * rect.height * 3);
    expect(px(out)).toEqual(expected);
    expect(out.buffer).not.toBe(img.buffer);
  });

  it('keeps all channels of each pixel, for any channel count', () => {
    expect(Array.from(crop(img, W, { left: 1, top: 2, width: 2, height: 1 }))).toEqual([1, 2, 21, 2, 2, 22]);
    const grey = Uint8Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(crop(grey, 4, { left: 1, top: 1, width: 3, height: 2 }, 1))).toEqual([5, 6, 7, 9, 10, 11]);
    const rgba = Uint8Array.from({ length: 2 * 2 * 4 }, (_, i) => i);
    expect(Array.from(crop(rgba, 2, { left: 1, top: 0, width: 1, height: 2 }, 4))).toEqual([4, 5, 6, 7, 12, 13, 14, 15]);
  });
});

interface Case {
  id: string;
  w: number;
  h: number;
  seed: number;
  mode?: 'RGB' | 'L';
  pattern?: 'extremes';
  targets: Array<[number, number]>;
}

const PILLOW_CASES: Case[] = [
  { id: 'odd', w: 37, h: 23, seed: 1, targets: [[20, 13], [100, 61], [37, 10], [5, 23], [1, 1], [36, 22], [256, 159], [38, 24]] },
  // torchvision's Resize(256) of a 640x480 photo is 341x256; then other models' sizes.
  { id: 'photo', w: 640, h: 480, seed: 2, targets: [[341, 256], [224, 224], [299, 299], [640, 100], [100, 480], [17, 11], [1000, 750], [639, 479]] },
  // Portrait: [75, 225] and [33, 100] reduce the height by more than twice what they take off the width.
  { id: 'tall', w: 100, h: 300, seed: 3, targets: [[256, 768], [75, 225], [33, 100], [100, 1], [1, 300], [224, 672], [99, 301], [75, 250], [75, 249]] },
  { id: 'tiny', w: 7, h: 5, seed: 4, targets: [[70, 50], [3, 2], [8, 6], [1000, 3], [2, 700], [7, 1]] },
  { id: 'pixel', w: 1, h: 1, seed: 5, targets: [[5, 4], [1, 9]] },
  { id: 'pair', w: 2, h: 1, seed: 6, targets: [[1, 1], [3, 1], [2, 2]] },
  // Only 0 and 255: fixed-point weights summing over 1.0 must clip to 255, not wrap.
  { id: 'extremes', w: 64, h: 64, seed: 7, pattern: 'extremes', targets: [[31, 17], [200, 90], [63, 65], [3, 3]] },
  // Grey (one channel): the same 8-bit path in Pillow.
  { id: 'grey', w: 53, h: 41, seed: 8, mode: 'L', targets: [[20, 30], [100, 100], [53, 7], [1, 41]] },
  // A phone video frame to a model's square input (Resize((224, 224))), and a phone screenshot's Resize(256).
  { id: 'frame', w: 720, h: 1280, seed: 9, targets: [[224, 224], [256, 455]] },
  { id: 'screenshot', w: 1080, h: 2400, seed: 10, targets: [[256, 568]] },
];

const PY_RESIZE = `${PY_IMAGES}
for c in cases:
    im = make(c)
    for (w, h) in c['targets']:
        r = im.resize((w, h), Image.BILINEAR)
        assert r.size == (w, h) and r.mode == im.mode
        with open(os.path.join(out, '%s-%dx%d.raw' % (c['id'], w, h)), 'wb') as f:
            f.write(r.tobytes())
import PIL
print(PIL.__version__)
`;

describe("resizeBilinear equals Pillow's Image.resize(BILINEAR)", () => {
  const ref = new Map<string, Uint8Array>();
  let version = '';
  beforeAll(async () => {
    await withPython(PY_RESIZE, [JSON.stringify(PILLOW_CASES)], (file, stdout) => {
      version = stdout.trim();
      for (const c of PILLOW_CASES) {
        ref.set(c.id, new Uint8Array(file(`${c.id}.raw`)));
        for (const [w, h] of c.targets) ref.set(`${c.id}-${w}x${h}`, new Uint8Array(file(`${c.id}-${w}x${h}.raw`)));
      }
    });
  }, 60_000);

  it('is compared with the pinned Pillow 13', () => {
    expect(version).toMatch(/^13\./);
  });

  const rows = PILLOW_CASES.flatMap((c) => c.targets.map(([w, h]) => [`${c.id} ${c.w}x${c.h}${c.mode === 'L' ? ' grey' : ''} -> ${w}x${h}`, c, w, h] as const));
  it.each(rows)('%s: byte for byte', (_name, c, w, h) => {
    const channels = c.mode === 'L' ? 1 : 3;
    const src = ref.get(c.id)!;
    const pillow = ref.get(`${c.id}-${w}x${h}`)!;
    expect(src.length).toBe(c.w * c.h * channels);
    const ours = resizeBilinear(src, c.w, c.h, w, h, channels);
    expect(ours.length).toBe(pillow.length);
    let diff = 0;
    let first = -1;
    for (let i = 0; i < ours.length; i++) {
      if (ours[i] !== pillow[i]) {
        diff++;
        if (first < 0) first = i;
      }
    }
    const summary = diff ? `${diff} of ${ours.length} bytes differ (first at byte ${first}: ours ${ours[first]}, Pillow ${pillow[first]})` : 'equal';
    expect(summary).toBe('equal');
  }, 60_000);
});
