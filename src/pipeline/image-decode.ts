// An image stage's work on one image: sharp (libvips) reads the header, refuses what is too big or
// not an image, decodes and converts to RGB; resample.ts resizes and crops as Pillow does, and
// image-tensor.ts makes the tensor. It runs on the image pool's worker threads (image-pool.ts), so
// the ingress event loop never decodes or resizes.
import sharp from 'sharp';
import { MlserveError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { pixelsToTensor, resizePlan } from './image-tensor.js';
import { crop, resizeBilinear } from './resample.js';
import type { ImageStage } from './spec.js';

const FORMATS = ['jpeg', 'png', 'webp'];

// One image at a time per libvips operation; no cache of decoded images between requests.
sharp.cache(false);

function notAnImage(detail: string): MlserveError {
  return new MlserveError('UNSUPPORTED_MEDIA_TYPE', `the body is not a JPEG, PNG or WebP image (${detail}); send one of those`);
}

/** Decode `bytes` as the stage says and return the model input tensor (with a batch dimension when `batched`). */
export async function imageToTensor(bytes: Buffer, stage: ImageStage, inputName: string, batched: boolean): Promise<Tensor> {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    // The header only: the pixel limit applies before anything is decoded.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw notAnImage((err as Error).message.replace(/\s+/g, ' ').slice(0, 120));
  }
  if (!meta.format || !FORMATS.includes(meta.format)) throw notAnImage(`it is ${meta.format ?? 'of an unknown format'}`);
  const { width, height } = meta;
  if (!width || !height) throw notAnImage('it has no size');
  if (width * height > stage.maxPixels) {
    throw new MlserveError('PAYLOAD_TOO_LARGE', `the image is ${width}x${height} (${(width * height).toLocaleString('en-US')} pixels), over this pipeline's limit of ${stage.maxPixels.toLocaleString('en-US')}; send a smaller image or raise the image stage's max_pixels`);
  }
  const plan = resizePlan(width, height, stage);
  let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    // PIL's convert('RGB') as torchvision pipelines do: alpha dropped (not blended), grey and
    // palette expanded; EXIF orientation ignored, as PIL's Image.open does.
    raw = await sharp(bytes, { limitInputPixels: stage.maxPixels, failOn: 'error' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new MlserveError('BAD_REQUEST', `the ${meta.format.toUpperCase()} image does not decode: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 160)}`);
  }
  const { info, data } = raw;
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new MlserveError('INTERNAL', `decoding gave ${info.width}x${info.height}x${info.channels}, not ${width}x${height}x3`);
  }
  // Resize and crop with Pillow's arithmetic (resample.ts), not libvips': the tensor equals torchvision's.
  let px = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (plan.resize) px = resizeBilinear(px, width, height, plan.resize.width, plan.resize.height);
  if (plan.crop) px = crop(px, plan.resize?.width ?? width, plan.crop);
  const t = pixelsToTensor(px, plan.width, plan.height, stage, batched);
  return { name: inputName, datatype: stage.dtype, shape: t.shape, data: t.data };
}
