// Bilinear resizing of 8-bit RGB pixels with the same numbers as Pillow's Image.resize(BILINEAR),
// which torchvision's Resize uses on PIL images: a separable triangle filter that widens with the
// reduction (antialiasing), coefficients in 22-bit fixed point, a horizontal pass rounded to bytes,
// then a vertical one (Pillow's libImaging/Resample.c, reimplemented from its description). An
// image pipeline fed the same pixels gives the same tensor as torchvision, bit for bit. PURE.

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

interface Coeffs {
  /** Per output pixel: the first input pixel and how many are read. */
  first: Int32Array;
  count: Int32Array;
  /** ksize fixed-point weights per output pixel. */
  weights: Int32Array;
  ksize: number;
}

/** The filter weights that make `outSize` pixels from `inSize`. */
function coefficients(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale; // the bilinear (triangle) filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax && ww !== 0 ? k[x]! / ww : 0;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, weights, ksize };
}

const clip8 = (v: number) => (v >= ONE * 256 ? 255 : v <= 0 ? 0 : v >> PRECISION_BITS);

/** Horizontal pass: `rows` rows of `src` from `rowOffset`, each `width` -> out width. */
function horizontal(src: Uint8Array, width: number, rowOffset: number, rows: number, h: Coeffs, outWidth: number, channels: number): Uint8Array {
  const out = new Uint8Array(outWidth * rows * channels);
  const { first, count, weights, ksize } = h;
  for (let y = 0; y < rows; y++) {
    const inRow = (y + rowOffset) * width * channels;
    let o = y * outWidth * channels;
    for (let xx = 0; xx < outWidth; xx++) {
      const n = count[xx]!;
      const kb = xx * ksize;
      let p = inRow + first[xx]! * channels;
      if (channels === 3) {
        // The three channels share each weight: one pass over the taps.
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let x = 0; x < n; x++, p += 3) {
          const w = weights[kb + x]!;
          s0 += src[p]! * w;
          s1 += src[p + 1]! * w;
          s2 += src[p + 2]! * w;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      } else {
        for (let c = 0; c < channels; c++) {
          let ss = HALF;
          for (let x = 0; x < n; x++) ss += src[p + x * channels + c]! * weights[kb + x]!;
          out[o++] = clip8(ss);
        }
      }
    }
  }
  return out;
}

/** Vertical pass: rows of `src` (each `width` pixels, the first at input row `rowOffset`) -> out height. */
function vertical(src: Uint8Array, width: number, rowOffset: number, v: Coeffs, outHeight: number, channels: number): Uint8Array {
  const rowBytes = width * channels;
  const out = new Uint8Array(rowBytes * outHeight);
  // Row by row: each tap adds a whole input row to the sums (sequential reads). The sums fit in
  // int32: the weights are >= 0 and add up to about 2^22, so a sum stays under 256 * 2^22 + 2^21.
  const acc = new Int32Array(rowBytes);
  for (let yy = 0; yy < outHeight; yy++) {
    const y0 = v.first[yy]! - rowOffset;
    const n = v.count[yy]!;
    const kb = yy * v.ksize;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const w = v.weights[kb + y]!;
      const base = (y0 + y) * rowBytes;
      for (let i = 0; i < rowBytes; i++) acc[i] = acc[i]! + src[base + i]! * w;
    }
    const o = yy * rowBytes;
    for (let i = 0; i < rowBytes; i++) out[o + i] = clip8(acc[i]!);
  }
  return out;
}

/**
 * Resize interleaved RGB (or any `channels`) bytes from width x height to outWidth x outHeight.
 * As Pillow 13 (the pinned one; Resample.c's ImagingResampleInner): horizontally first, over only
 * the input rows the vertical pass reads, unless the height shrinks by more than twice what the
 * width does: then vertically first, over every column. Each pass rounds to bytes, so the order
 * changes the result by one grey level here and there.
 */
export function resizeBilinear(src: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, channels = 3): Uint8Array {
  if (src.length !== width * height * channels) throw new Error(`resizeBilinear: ${src.length} bytes is not ${width}x${height}x${channels}`);
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  if (!needH && !needV) return src.slice();
  const horizontalFirst = !(height - outHeight > 0 && height - outHeight > (width - outWidth) * 2);
  const v = needV || (needH && horizontalFirst) ? coefficients(height, outHeight) : null;
  const h = needH ? coefficients(width, outWidth) : null;
  if (horizontalFirst) {
    // Rows first..last of the input are all the vertical pass reads.
    const firstRow = v!.first[0]!;
    const lastRow = v!.first[outHeight - 1]! + v!.count[outHeight - 1]!;
    const img = h ? horizontal(src, width, firstRow, lastRow - firstRow, h, outWidth, channels) : src;
    return needV ? vertical(img, outWidth, h ? firstRow : 0, v!, outHeight, channels) : img;
  }
  const img = needV ? vertical(src, width, 0, v!, outHeight, channels) : src;
  return h ? horizontal(img, width, 0, outHeight, h, outWidth, channels) : img;
}

/** A rectangle of interleaved pixels. */
export function crop(src: Uint8Array, width: number, rect: { left: number; top: number; width: number; height: number }, channels = 3): Uint8Array {
  const out = new Uint8Array(rect.width * rect.height * channels);
  const rowBytes = rect.width * channels;
  for (let y = 0; y < rect.height; y++) {
    const from = ((rect.top + y) * width + rect.left) * channels;
    out.set(src.subarray(from, from + rowBytes), y * rowBytes);
  }
  return out;
}
