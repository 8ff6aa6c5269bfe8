// The arithmetic of an image stage: which size to resize to and where to crop (the same numbers as
// torchvision's Resize and CenterCrop), and RGB pixels to the model's tensor (ToTensor +
// Normalize, in NCHW or NHWC). PURE; decoding and resampling are image-decode.ts's.
import { MlserveError } from '../errors.js';
import type { ImageStage } from './spec.js';

export interface ResizePlan {
  /** Resize the whole image to this width and height first (absent: keep its size). */
  resize?: { width: number; height: number };
  /** Then take this rectangle (absent: all of it). */
  crop?: { left: number; top: number; width: number; height: number };
  /** The final size. */
  width: number;
  height: number;
}

/** Python's round(): halves go to the even neighbour (torchvision's CenterCrop uses it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Resize then center-crop, as torchvision computes them: Resize(n) takes the shorter side to n and
 * the longer to int(n * long / short); CenterCrop's offsets are round((size - crop) / 2).
 * An image smaller than the crop (possible without a resize) is refused: torchvision would pad it.
 */
export function resizePlan(width: number, height: number, stage: Pick<ImageStage, 'resize' | 'size' | 'crop'>): ResizePlan {
  const plan: ResizePlan = { width, height };
  if (stage.resize !== undefined) {
    const n = stage.resize;
    const [w, h] = width <= height ? [n, Math.trunc((n * height) / width)] : [Math.trunc((n * width) / height), n];
    plan.resize = { width: w, height: h };
  } else if (stage.size) {
    plan.resize = { width: stage.size[1], height: stage.size[0] };
  }
  if (plan.resize) {
    plan.width = plan.resize.width;
    plan.height = plan.resize.height;
  }
  if (stage.crop) {
    const [ch, cw] = stage.crop;
    if (ch > plan.height || cw > plan.width) {
      throw new MlserveError('BAD_REQUEST', `the image is ${plan.width}x${plan.height} pixels${plan.resize ? ' after resizing' : ''}, smaller than the ${cw}x${ch} crop; send a bigger image (or give the stage a resize)`);
    }
    plan.crop = { left: roundHalfEven((plan.width - cw) / 2), top: roundHalfEven((plan.height - ch) / 2), width: cw, height: ch };
    plan.width = cw;
    plan.height = ch;
  }
  return plan;
}

/**
 * Interleaved RGB bytes (height x width x 3) to the model's input: FP32 values
 * (pixel * scale - mean[c]) / std[c], computed in float32 as torchvision does, or the bytes as
 * UINT8; NCHW or NHWC, with a batch dimension of 1 when `batched`.
 */
export function pixelsToTensor(rgb: Uint8Array, width: number, height: number, stage: Pick<ImageStage, 'scale' | 'mean' | 'std' | 'layout' | 'dtype'>, batched: boolean): { data: Float32Array | Uint8Array; shape: number[] } {
  const n = width * height;
  if (rgb.length !== n * 3) throw new MlserveError('INTERNAL', `expected ${n * 3} RGB bytes for ${width}x${height}, got ${rgb.length}`);
  const shape = stage.layout === 'NCHW' ? [3, height, width] : [height, width, 3];
  if (batched) shape.unshift(1);
  if (stage.dtype === 'UINT8') {
    if (stage.layout === 'NHWC') return { data: rgb.slice(), shape };
    const out = new Uint8Array(n * 3);
    for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) out[c * n + i] = rgb[i * 3 + c]!;
    return { data: out, shape };
  }
  // One table per channel: 256 float32 values, each computed as ToTensor then Normalize would.
  const f = Math.fround;
  const tables = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    const mean = f(stage.mean[c]!);
    const std = f(stage.std[c]!);
    // ToTensor divides by 255; another scale multiplies.
    const scaled = (v: number) => (stage.scale === 1 / 255 ? f(v / 255) : f(v * stage.scale));
    for (let v = 0; v < 256; v++) t[v] = f(f(scaled(v) - mean) / std);
    return t;
  });
  const out = new Float32Array(n * 3);
  if (stage.layout === 'NCHW') {
    for (let c = 0; c < 3; c++) {
      const t = tables[c]!;
      const base = c * n;
      for (let i = 0; i < n; i++) out[base + i] = t[rgb[i * 3 + c]!]!;
    }
  } else {
    for (let i = 0; i < n * 3; i++) out[i] = tables[i % 3]![rgb[i]!]!;
  }
  return { data: out, shape };
}
