// spec.ts: a pipeline as declared (mlserve.yaml `pipeline:`, deploy --pre/--post flags, the stored
// form) checked into one typed form; every option, default and error path; the stored and file
// forms parse back to the same spec.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, IMAGENET_MEAN, IMAGENET_STD, parsePipeline, stageFromFlag, toFilePipeline, type PipelineSpec } from '../../../src/pipeline/spec.js';
import { caught } from '../../helpers/errors.js';

const DEFAULT_IMAGE = {
  kind: 'image',
  scale: 1 / 255,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  layout: 'NCHW',
  dtype: 'FP32',
  maxPixels: DEFAULT_MAX_PIXELS,
};

/** The checked image stage of `{pre: [{image: options}]}`. */
const image = (options: Record<string, unknown>) => parsePipeline({ pre: [{ image: options }] }).pre[0];
/** The message of the error parsePipeline throws (it must be a BAD_REQUEST). */
function failure(raw: unknown): string {
  const err = caught(() => parsePipeline(raw));
  expect(err.code).toBe('BAD_REQUEST');
  return err.message;
}

describe('parsePipeline: the image stage', () => {
  it('has torchvision ImageNet defaults', () => {
    expect(image({})).toEqual(DEFAULT_IMAGE);
    expect(parsePipeline({ pre: ['image'] })).toEqual({ pre: [DEFAULT_IMAGE], post: [] });
    expect(parsePipeline({ pre: [{ image: null }] }).pre[0]).toEqual(DEFAULT_IMAGE);
    expect(parsePipeline({ pre: [{ kind: 'image' }] }).pre[0]).toEqual(DEFAULT_IMAGE);
    expect(IMAGENET_MEAN).toEqual([0.485, 0.456, 0.406]);
    expect(IMAGENET_STD).toEqual([0.229, 0.224, 0.225]);
    expect(DEFAULT_MAX_PIXELS).toBe(40_000_000);
  });

  it.each([
    ['resize number', { resize: 256 }, { resize: 256 }],
    ['resize string', { resize: '256' }, { resize: 256 }],
    ['resize at its bounds', { resize: 1 }, { resize: 1 }],
    ['resize upper bound', { resize: 16384 }, { resize: 16384 }],
    ['size one number', { size: 224 }, { size: [224, 224] }],
    ['size h/w string', { size: '224/320' }, { size: [224, 320] }],
    ['size list', { size: [300, 200] }, { size: [300, 200] }],
    ['size one-element list', { size: [64] }, { size: [64, 64] }],
    ['crop number', { crop: 224 }, { crop: [224, 224] }],
    ['crop string pair', { crop: '200/100' }, { crop: [200, 100] }],
    ['crop string one', { crop: '224' }, { crop: [224, 224] }],
    ['resize with crop', { resize: 256, crop: 224 }, { resize: 256, crop: [224, 224] }],
    ['size with crop', { size: [256, 300], crop: [224, 224] }, { size: [256, 300], crop: [224, 224] }],
    ['scale number', { scale: 1 }, { scale: 1 }],
    ['scale string', { scale: '0.5' }, { scale: 0.5 }],
    ['mean triple string', { mean: '0.5/0.25/0.125' }, { mean: [0.5, 0.25, 0.125] }],
    ['mean one number', { mean: 0.5 }, { mean: [0.5, 0.5, 0.5] }],
    ['mean one string', { mean: '0' }, { mean: [0, 0, 0] }],
    ['mean negative allowed', { mean: [-1, 0, 1] }, { mean: [-1, 0, 1] }],
    ['mean string list with spaces', { mean: ' 1 / 2 / 3 ' }, { mean: [1, 2, 3] }],
    ['std triple list', { std: [0.5, 0.5, 0.5] }, { std: [0.5, 0.5, 0.5] }],
    ['std one string', { std: '2' }, { std: [2, 2, 2] }],
    ['layout NHWC', { layout: 'NHWC' }, { layout: 'NHWC' }],
    ['layout lower case', { layout: 'nhwc' }, { layout: 'NHWC' }],
    ['layout NCHW', { layout: 'nchw' }, { layout: 'NCHW' }],
    ['dtype UINT8', { dtype: 'UINT8' }, { dtype: 'UINT8' }],
    ['dtype lower case', { dtype: 'uint8' }, { dtype: 'UINT8' }],
    ['dtype float32 alias', { dtype: 'float32' }, { dtype: 'FP32' }],
    ['dtype fp32', { dtype: 'fp32' }, { dtype: 'FP32' }],
    ['max_pixels', { max_pixels: 1000 }, { maxPixels: 1000 }],
    ['max_pixels string', { max_pixels: '1000' }, { maxPixels: 1000 }],
    ['max_pixels 2^31', { max_pixels: 2 ** 31 }, { maxPixels: 2 ** 31 }],
    ['maxPixels (the stored form)', { maxPixels: 77 }, { maxPixels: 77 }],
    ['input', { input: 'pixel_values' }, { input: 'pixel_values' }],
  ])('%s', (_name, options, expected) => {
    expect(image(options)).toEqual({ ...DEFAULT_IMAGE, ...expected });
  });

  it.each([
    ['resize 0', { resize: 0 }, /pre\[0\] \(image\): resize must be a whole number from 1 to 16384 \(got 0\)/],
    ['resize too big', { resize: 16385 }, /resize must be a whole number from 1 to 16384 \(got 16385\)/],
    ['resize fraction', { resize: 256.5 }, /resize must be a whole number .*got 256\.5/],
    ['resize fraction string', { resize: '256.5' }, /resize must be a whole number .*got "256\.5"/],
    ['resize word', { resize: 'big' }, /resize must be a whole number .*got "big"/],
    ['resize empty string', { resize: '' }, /resize must be a whole number .*got ""/],
    ['resize boolean', { resize: true }, /resize must be a whole number .*got true/],
    ['resize list', { resize: [256] }, /resize must be a whole number .*got \[256\]/],
    ['size three numbers', { size: [1, 2, 3] }, /size takes one size or height\/width, such as size=224 or size=224\/320 \(got \[1,2,3\]\)/],
    ['size empty list', { size: [] }, /size takes one size or height\/width/],
    ['size object', { size: { h: 1 } }, /size takes one size or height\/width/],
    ['size zero', { size: '0/10' }, /size must be a whole number from 1 to 16384 \(got "0"\)/],
    ['crop too big', { crop: 20000 }, /crop must be a whole number from 1 to 16384 \(got 20000\)/],
    ['crop three', { crop: '1/2/3' }, /crop takes one size or height\/width.*got "1\/2\/3"/],
    ['crop fraction', { crop: [224, 1.5] }, /crop must be a whole number .*got 1\.5/],
    ['scale 0', { scale: 0 }, /scale must be a positive number \(got 0\)/],
    ['scale negative', { scale: -1 }, /scale must be a positive number \(got -1\)/],
    ['scale word', { scale: 'x' }, /scale must be a positive number \(got "x"\)/],
    ['scale infinite', { scale: Infinity }, /scale must be a positive number \(got null\)/],
    ['mean two numbers', { mean: '0.5/0.5' }, /mean takes 3 numbers, one per RGB channel, such as mean=0\.485\/0\.456\/0\.406 \(got "0\.5\/0\.5"\)/],
    ['mean four numbers', { mean: [1, 2, 3, 4] }, /mean takes 3 numbers/],
    ['mean empty', { mean: [] }, /mean takes 3 numbers/],
    ['mean not a number', { mean: '0.5/x/0.5' }, /mean must be a number \(got "x"\)/],
    ['mean empty element', { mean: '0.5//0.5' }, /mean must be a number \(got ""\)/],
    ['std zero', { std: '0.2/0/0.2' }, /std must be a positive number \(got "0"\)/],
    ['std negative', { std: -1 }, /std must be a positive number \(got -1\)/],
    ['layout CHW', { layout: 'CHW' }, /layout must be NCHW or NHWC \(got "CHW"\)/],
    ['layout number', { layout: 4 }, /layout must be NCHW or NHWC \(got 4\)/],
    ['dtype FP16', { dtype: 'FP16' }, /dtype must be FP32 or UINT8 \(got "FP16"\)/],
    ['max_pixels 0', { max_pixels: 0 }, /max_pixels must be a whole number from 1 to 2147483648 \(got 0\)/],
    ['max_pixels over 2^31', { max_pixels: 2 ** 31 + 1 }, /max_pixels must be a whole number from 1 to 2147483648/],
    ['maxPixels bad (named as max_pixels)', { maxPixels: -5 }, /max_pixels must be a whole number .*got -5/],
    ['input empty', { input: '' }, /pre\[0\] \(image\): input must name a model input/],
    ['input number', { input: 3 }, /input must name a model input/],
    ['unknown option', { rezise: 256 }, /pipeline pre\[0\] \(image\): unknown option 'rezise'; it takes input, resize, size, crop, scale, mean, std, layout, dtype, max_pixels/],
    ['maxPixels and max_pixels both', { maxPixels: 5, max_pixels: 5 }, /unknown option 'maxPixels'/],
    ['resize and size together', { resize: 256, size: 224 }, /pre\[0\] \(image\): give resize \(the shorter side\) or size \(exact height\/width\), not both/],
  ])('refuses %s', (_name, options, message) => {
    expect(failure({ pre: [{ image: options }] })).toMatch(message);
  });
});

describe('parsePipeline: post stages', () => {
  it.each([
    ['softmax by name', ['softmax'], [{ kind: 'softmax' }]],
    ['softmax with null', [{ softmax: null }], [{ kind: 'softmax' }]],
    ['softmax with {}', [{ softmax: {} }], [{ kind: 'softmax' }]],
    ['argmax', ['argmax'], [{ kind: 'argmax' }]],
    ['topk default k', ['topk'], [{ kind: 'topk', k: 5 }]],
    ['topk k', [{ topk: { k: 3 } }], [{ kind: 'topk', k: 3 }]],
    ['topk k string', [{ topk: { k: '3' } }], [{ kind: 'topk', k: 3 }]],
    ['topk k null is the default', [{ topk: { k: null } }], [{ kind: 'topk', k: 5 }]],
    ['topk kind form', [{ kind: 'topk', k: 100000 }], [{ kind: 'topk', k: 100_000 }]],
    ['threshold', [{ threshold: { value: 0.5 } }], [{ kind: 'threshold', value: 0.5 }]],
    ['threshold string, negative', [{ threshold: { value: '-2.5' } }], [{ kind: 'threshold', value: -2.5 }]],
    ['threshold zero', [{ kind: 'threshold', value: 0 }], [{ kind: 'threshold', value: 0 }]],
    ['labels file', [{ labels: { file: 'labels.txt' } }], [{ kind: 'labels', file: 'labels.txt' }]],
    ['labels list', [{ labels: { list: ['cat', 'dog'] } }], [{ kind: 'labels', list: ['cat', 'dog'] }]],
    ['labels list string', [{ labels: { list: 'cat/ dog /bird' } }], [{ kind: 'labels', list: ['cat', 'dog', 'bird'] }]],
    ['labels list of numbers', [{ labels: { list: [0, 1.5] } }], [{ kind: 'labels', list: ['0', '1.5'] }]],
    ['labels list one number', [{ labels: { list: 7 } }], [{ kind: 'labels', list: ['7'] }]],
    ['softmax, topk, labels', ['softmax', { topk: { k: 2 } }, { labels: { list: ['a', 'b'] } }], [{ kind: 'softmax' }, { kind: 'topk', k: 2 }, { kind: 'labels', list: ['a', 'b'] }]],
    ['labels first, softmax, argmax', [{ labels: { file: 'l.json' } }, 'softmax', 'argmax'], [{ kind: 'labels', file: 'l.json' }, { kind: 'softmax' }, { kind: 'argmax' }]],
    ['softmax alone', ['softmax'], [{ kind: 'softmax' }]],
    ['softmax then threshold', ['softmax', { threshold: { value: 0.1 } }], [{ kind: 'softmax' }, { kind: 'threshold', value: 0.1 }]],
  ])('%s', (_name, post, expected) => {
    expect(parsePipeline({ post })).toEqual({ pre: [], post: expected });
  });

  it('takes an output name next to the stages', () => {
    expect(parsePipeline({ post: ['argmax'], output: 'logits' })).toEqual({ pre: [], post: [{ kind: 'argmax' }], output: 'logits' });
    expect(parsePipeline({ pre: ['image'], post: ['softmax'] })).toEqual({ pre: [DEFAULT_IMAGE], post: [{ kind: 'softmax' }] });
  });

  it.each([
    ['unknown post stage', { post: ['sigmoid'] }, /pipeline post\[0\]: unknown post-processing stage 'sigmoid'; post stages: softmax, topk, argmax, threshold, labels\b/],
    ['unknown pre stage', { pre: ['audio'] }, /pipeline pre\[0\]: unknown pre-processing stage 'audio'; pre stages: image\b/],
    ['post stage in pre', { pre: ['softmax'] }, /unknown pre-processing stage 'softmax'/],
    ['image in post', { post: ['image'] }, /post\[0\]: unknown post-processing stage 'image'/],
    ['softmax with an option', { post: [{ softmax: { dim: 1 } }] }, /pipeline post\[0\] \(softmax\): unknown option 'dim'; it takes no options/],
    ['argmax with an option', { post: [{ kind: 'argmax', k: 1 }] }, /post\[0\] \(argmax\): unknown option 'k'; it takes no options/],
    ['topk unknown option', { post: [{ topk: { n: 3 } }] }, /post\[0\] \(topk\): unknown option 'n'; it takes k$/],
    ['topk k 0', { post: [{ topk: { k: 0 } }] }, /post\[0\] \(topk\): k must be a whole number from 1 to 100000 \(got 0\)/],
    ['topk k too big', { post: [{ topk: { k: 100_001 } }] }, /k must be a whole number from 1 to 100000 \(got 100001\)/],
    ['topk k fraction', { post: [{ topk: { k: '2.5' } }] }, /k must be a whole number .*got "2\.5"/],
    ['threshold without value', { post: ['threshold'] }, /post\[0\] \(threshold\): threshold needs value, such as threshold:value=0\.5/],
    ['threshold bad value', { post: [{ threshold: { value: 'high' } }] }, /value must be a number \(got "high"\)/],
    ['threshold NaN', { post: [{ threshold: { value: NaN } }] }, /value must be a number \(got null\)/],
    ['threshold unknown option', { post: [{ threshold: { v: 1 } }] }, /unknown option 'v'; it takes value/],
    ['labels with neither', { post: [{ labels: {} }] }, /post\[0\] \(labels\): labels takes file \(a file in the model's artifacts\) or list \(the names\), one of them/],
    ['labels with both', { post: [{ labels: { file: 'a.txt', list: ['a'] } }] }, /labels takes file .* or list .*, one of them/],
    ['labels empty file', { post: [{ labels: { file: '' } }] }, /labels file must be a path inside the model directory/],
    ['labels file number', { post: [{ labels: { file: 3 } }] }, /labels file must be a path inside the model directory/],
    ['labels empty list', { post: [{ labels: { list: [] } }] }, /labels list must be a list of names/],
    ['labels list of objects', { post: [{ labels: { list: ['a', { b: 1 }] } }] }, /labels list must be a list of names/],
    ['labels list boolean', { post: [{ labels: { list: true } }] }, /labels list must be a list of names/],
    ['labels unknown option', { post: [{ labels: { names: ['a'] } }] }, /unknown option 'names'; it takes file, list/],
    ['topk and argmax', { post: [{ topk: { k: 2 } }, 'argmax'] }, /pipeline post: picks classes once: give one of topk, argmax and threshold \(got topk, argmax\)/],
    ['argmax and threshold', { post: ['argmax', { threshold: { value: 0.5 } }] }, /picks classes once.*\(got argmax, threshold\)/],
    ['topk twice', { post: ['topk', 'topk'] }, /picks classes once.*\(got topk, topk\)/],
    ['softmax after topk', { post: ['topk', 'softmax'] }, /pipeline post: softmax comes before the stage that picks classes/],
    ['softmax after argmax, labels between', { post: ['argmax', { labels: { list: ['a'] } }, 'softmax'] }, /softmax comes before the stage that picks classes/],
    ['softmax after threshold', { post: [{ threshold: { value: 0.2 } }, 'softmax'] }, /softmax comes before/],
    ['softmax twice', { post: ['softmax', 'softmax'] }, /pipeline post: has softmax twice/],
    ['labels twice', { post: [{ labels: { file: 'a' } }, { labels: { list: ['x'] } }] }, /pipeline post: has labels twice/],
    ['two image stages', { pre: ['image', 'image'] }, /pipeline pre: takes one stage\b/],
    ['an error in the second stage names it', { post: ['softmax', { topk: { k: -1 } }] }, /post\[1\] \(topk\): k must be/],
  ])('refuses %s', (_name, raw, message) => {
    expect(failure(raw)).toMatch(message);
  });
});

describe('parsePipeline: the pipeline object and its stage forms', () => {
  it.each([
    ['null', null, /must be an object with pre and\/or post stage lists/],
    ['a list', ['softmax'], /must be an object with pre and\/or post stage lists/],
    ['a string', 'softmax', /must be an object/],
    ['undefined', undefined, /must be an object/],
    ['empty object', {}, /has no stages; give pre and\/or post stages/],
    ['empty lists', { pre: [], post: [] }, /has no stages/],
    ['only an output', { output: 'logits' }, /has no stages/],
    ['unknown top-level key', { pre: ['image'], stages: [] }, /unknown option 'stages'; it takes pre, post, output/],
    ['pre not a list', { pre: 'image' }, /pipeline pre: must be a list of stages/],
    ['post not a list', { post: { softmax: {} } }, /pipeline post: must be a list of stages/],
    ['output empty', { post: ['softmax'], output: '' }, /pipeline output: must name a model output/],
    ['output not a string', { post: ['softmax'], output: 0 }, /pipeline output: must name a model output/],
    ['a stage with two names', { post: [{ softmax: null, argmax: null }] }, /post\[0\]: a stage is a name \("softmax"\) or one name with its options \(\{"topk": \{"k": 5\}\}\); got \{"softmax":null,"argmax":null\}/],
    ['a stage with a number for options', { post: [{ topk: 3 }] }, /post\[0\]: a stage is a name .*got \{"topk":3\}/],
    ['a stage with a list for options', { post: [{ topk: [3] }] }, /a stage is a name/],
    ['a stage as a number', { post: [5] }, /post\[0\]: a stage is a name .*got 5/],
    ['a stage as null', { post: [null] }, /a stage is a name .*got null/],
    ['a stage as a list', { pre: [['image']] }, /pre\[0\]: a stage is a name/],
    ['an empty stage object', { post: [{}] }, /a stage is a name .*got \{\}/],
  ])('refuses %s', (_name, raw, message) => {
    expect(failure(raw)).toMatch(message);
  });

  it('errors are BAD_REQUEST with HTTP status 400', () => {
    const err = caught(() => parsePipeline({ post: ['nope'] }));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.status).toBe(400);
  });

  it('takes the three forms of a stage alike', () => {
    const forms = [{ post: [{ topk: { k: 2 } }] }, { post: [{ kind: 'topk', k: 2 }] }, { post: [{ kind: 'topk', k: '2' }] }];
    for (const f of forms) expect(parsePipeline(f)).toEqual({ pre: [], post: [{ kind: 'topk', k: 2 }] });
  });
});

const SPECS: Array<[string, unknown]> = [
  ['defaults', { pre: ['image'] }],
  ['a full classifier', { pre: [{ image: { resize: 256, crop: 224, input: 'x' } }], post: ['softmax', { topk: { k: 3 } }, { labels: { file: 'labels.txt' } }], output: 'logits' }],
  ['size, NHWC, UINT8', { pre: [{ image: { size: [300, 200], layout: 'nhwc', dtype: 'uint8', max_pixels: 1234 } }] }],
  ['crop only, custom normalization', { pre: [{ image: { crop: '100/50', scale: 1, mean: '127.5', std: '127.5' } }] }],
  ['post only: threshold and list', { post: ['softmax', { threshold: { value: 0.25 } }, { labels: { list: 'cat/dog' } }] }],
  ['post only: argmax', { post: ['argmax'] }],
  ['post only: labels, no pick', { post: [{ labels: { list: ['a', 'b', 'c'] } }] }],
];

describe('parsePipeline reads its own output (the stored form) and the file form back to the same spec', () => {
  it.each(SPECS)('%s: idempotent', (_name, raw) => {
    const spec = parsePipeline(raw);
    expect(parsePipeline(spec)).toEqual(spec);
    // As it is stored: JSON in the daemon's state.
    expect(parsePipeline(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
    // The stored form names the pixel limit maxPixels, the file form max_pixels.
    if (spec.pre[0]) expect(Object.keys(spec.pre[0])).toContain('maxPixels');
  });

  it.each(SPECS)('%s: toFilePipeline round trip', (_name, raw) => {
    const spec = parsePipeline(raw);
    const file = toFilePipeline(spec);
    expect(parsePipeline(file)).toEqual(spec);
    expect(parsePipeline(JSON.parse(JSON.stringify(file)))).toEqual(spec);
  });

  it('writes the file form with names for option-less stages and max_pixels', () => {
    const spec = parsePipeline(SPECS[1]![1]);
    expect(toFilePipeline(spec)).toEqual({
      pre: [{ image: { input: 'x', resize: 256, crop: [224, 224], scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD, layout: 'NCHW', dtype: 'FP32', max_pixels: DEFAULT_MAX_PIXELS } }],
      post: ['softmax', { topk: { k: 3 } }, { labels: { file: 'labels.txt' } }],
      output: 'logits',
    });
    const argmaxOnly: PipelineSpec = { pre: [], post: [{ kind: 'argmax' }] };
    expect(toFilePipeline(argmaxOnly)).toEqual({ post: ['argmax'] });
    const pre = toFilePipeline(parsePipeline({ pre: [{ image: { size: 10 } }] }));
    expect(pre).toEqual({ pre: [{ image: expect.objectContaining({ size: [10, 10] }) }] });
    expect(Object.keys(pre)).toEqual(['pre']);
  });
});

describe('stageFromFlag: the CLI form', () => {
  it.each([
    ['softmax', { softmax: {} }],
    [' argmax ', { argmax: {} }],
    ['topk:k=3', { topk: { k: '3' } }],
    ['topk:', { topk: {} }],
    ['image:resize=256,crop=224,mean=0.485/0.456/0.406', { image: { resize: '256', crop: '224', mean: '0.485/0.456/0.406' } }],
    ['image: resize = 256 , crop=224/200', { image: { resize: '256', crop: '224/200' } }],
    ['image:max-pixels=1000', { image: { max_pixels: '1000' } }],
    ['image:resize=256,,crop=224,', { image: { resize: '256', crop: '224' } }],
    ['labels:list=cat/dog', { labels: { list: 'cat/dog' } }],
    ['labels:file=imagenet_classes.txt', { labels: { file: 'imagenet_classes.txt' } }],
    ['threshold:value=0.5', { threshold: { value: '0.5' } }],
    ['threshold:value=', { threshold: { value: '' } }],
    ['labels:file=a=b.txt', { labels: { file: 'a=b.txt' } }],
    ['nosuchstage:x=1', { nosuchstage: { x: '1' } }],
  ])('%s', (flag, expected) => {
    expect(stageFromFlag(flag)).toEqual(expected);
  });

  it.each([
    ['', /^pipeline flag: '' does not start with a stage name such as image, .*softmax or topk$/],
    [':k=3', /does not start with a stage name/],
    ['Softmax', /'Softmax' does not start with a stage name/],
    ['top-k:k=3', /does not start with a stage name/],
    ['topk5', /does not start with a stage name/],
    ['topk:k', /pipeline flag: 'k' in 'topk:k' is not key=value/],
    ['topk:=3', /'=3' in 'topk:=3' is not key=value/],
    ['image:resize=256,crop', /'crop' in 'image:resize=256,crop' is not key=value/],
  ])('refuses %j', (flag, message) => {
    const err = caught(() => stageFromFlag(flag));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(message);
  });

  it('gives parsePipeline what deploy --pre/--post mean', () => {
    const spec = parsePipeline({
      pre: [stageFromFlag('image:resize=256,crop=224,mean=0.485/0.456/0.406,std=0.229/0.224/0.225,layout=nhwc,max-pixels=5000000')],
      post: ['softmax', 'topk:k=3', 'labels:list=cat/dog/bird'].map(stageFromFlag),
    });
    expect(spec).toEqual({
      pre: [{ ...DEFAULT_IMAGE, resize: 256, crop: [224, 224], layout: 'NHWC', maxPixels: 5_000_000 }],
      post: [{ kind: 'softmax' }, { kind: 'topk', k: 3 }, { kind: 'labels', list: ['cat', 'dog', 'bird'] }],
    });
    expect(parsePipeline(toFilePipeline(spec))).toEqual(spec);
  });

  it.each([
    ['image:resize=abc', /pre\[0\] \(image\): resize must be a whole number .*got "abc"/],
    ['image:resize=256,size=224', /not both/],
    ['image:mean=0.5/0.5', /mean takes 3 numbers/],
    ['image:colour=rgb', /unknown option 'colour'/],
    ['threshold:value=', /value must be a number \(got ""\)/],
    ['labels:file=', /labels file must be a path inside the model directory/],
  ])('bad flag values are refused by parsePipeline: %s', (flag, message) => {
    const kind = Object.keys(stageFromFlag(flag))[0];
    expect(failure(kind === 'image' ? { pre: [stageFromFlag(flag)] } : { post: [stageFromFlag(flag)] })).toMatch(message);
  });
});
