// Seeded, deterministic ONNX models for tests, the quickstart demo and benchmarks: an MLP with a
// plain-JS reference, MobileNetV2- and ResNet-50-shaped conv nets, and tiny dtype/IO models.
// Every model has a dynamic batch dim (except fixedBatch). Weights are He-uniform.
import type { DType, Signature } from '../tensor.js';
import { GraphBuilder } from './graph-builder.js';

export interface ZooModel {
  builder: GraphBuilder;
  signature: Signature;
}

export interface ConvZooModel extends ZooModel {
  /** Multiply-accumulates for one image (convs + final Gemm), for FLOP estimates (FLOPs ~ 2x). */
  macs: number;
  resolution: number;
  classes: number;
}

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale). */
export function uniform(rand: () => number, n: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/** A deterministic input tensor's data: n values uniform in [-1, 1). */
export function seededInput(seed: number, n: number): Float32Array {
  return uniform(mulberry32(seed), n, 1);
}

/** He-uniform bound: keeps activation variance roughly constant through Relu layers. */
function heScale(fanIn: number): number {
  return Math.sqrt(6 / fanIn);
}

// ---------------------------------------------------------------- MLP

export interface MlpWeights {
  sizes: number[];
  /** Per layer, row-major [out, in] (Gemm with transB=1). */
  weights: Float32Array[];
  biases: Float32Array[];
}

export interface MlpOptions {
  seed: number;
  /** Layer widths, input first: [64, 256, 256, 10]. */
  sizes: number[];
}

/** Gemm(transB=1)+Relu layers, the last without Relu. x FP32 [-1, sizes[0]] -> y FP32 [-1, last]. */
export function mlp({ seed, sizes }: MlpOptions): ZooModel & { weights: MlpWeights } {
  if (sizes.length < 2) throw new Error('mlp needs at least an input and an output size');
  const rand = mulberry32(seed);
  const b = new GraphBuilder('mlp');
  const last = sizes[sizes.length - 1];
  b.input('x', 'FP32', [-1, sizes[0]]).output('y', 'FP32', [-1, last]);
  const weights: MlpWeights = { sizes: [...sizes], weights: [], biases: [] };
  let x = 'x';
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
    const isLast = l + 2 === sizes.length;
    const w = uniform(rand, fanOut * fanIn, isLast ? Math.sqrt(3 / fanIn) : heScale(fanIn));
    const bias = uniform(rand, fanOut, 0.1);
    weights.weights.push(w);
    weights.biases.push(bias);
    b.initializer(`W${l}`, w, [fanOut, fanIn]).initializer(`B${l}`, bias, [fanOut]);
    const gemmOut = isLast ? 'y' : `gemm${l}`;
    b.node('Gemm', [x, `W${l}`, `B${l}`], [gemmOut], { transB: 1 });
    if (!isLast) b.node('Relu', [gemmOut], [`relu${l}`]);
    x = `relu${l}`;
  }
  return { builder: b, signature: b.signature(), weights };
}

/** The MLP's output computed in plain JS (float64 accumulation), [batch, last] row-major. */
export function mlpReference(w: MlpWeights, input: Float32Array): Float32Array {
  const batch = input.length / w.sizes[0];
  let act: Float64Array = Float64Array.from(input);
  for (let l = 0; l < w.weights.length; l++) {
    const [fanIn, fanOut] = [w.sizes[l], w.sizes[l + 1]];
    const next = new Float64Array(batch * fanOut);
    for (let r = 0; r < batch; r++) {
      for (let o = 0; o < fanOut; o++) {
        let s = w.biases[l][o];
        for (let i = 0; i < fanIn; i++) s += act[r * fanIn + i] * w.weights[l][o * fanIn + i];
        next[r * fanOut + o] = l + 1 < w.weights.length ? Math.max(0, s) : s;
      }
    }
    act = next;
  }
  return Float32Array.from(act);
}

// ---------------------------------------------------------------- conv net helpers

/** Tracks the builder, the PRNG and the MAC count while a conv net is laid out. */
class ConvCtx {
  macs = 0;
  constructor(readonly b: GraphBuilder, readonly rand: () => number) {}

  /** Conv (+bias, BatchNorm folded away) with optional Relu; `size` is the input's H (=W). */
  conv(x: string, size: number, cin: number, cout: number, k: number, opts: ConvOpts = {}): Act {
    const { stride = 1, group = 1, relu = true, gain = 1 } = opts;
    const fanIn = (cin / group) * k * k;
    const name = this.b.fresh('conv');
    this.b.initializer(`${name}.w`, uniform(this.rand, cout * fanIn, gain * heScale(fanIn)), [cout, cin / group, k, k]);
    this.b.initializer(`${name}.b`, uniform(this.rand, cout, 0.01), [cout]);
    const pad = Math.floor(k / 2);
    const attrs = { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group };
    this.b.node('Conv', [x, `${name}.w`, `${name}.b`], [name], attrs, name);
    const out = Math.floor((size + 2 * pad - k) / stride) + 1;
    this.macs += cout * fanIn * out * out;
    return { name: relu ? this.relu(name) : name, size: out, channels: cout };
  }

  relu(x: string): string {
    const y = this.b.fresh('relu');
    this.b.node('Relu', [x], [y], {}, y);
    return y;
  }

  add(a: string, c: string): string {
    const y = this.b.fresh('add');
    this.b.node('Add', [a, c], [y], {}, y);
    return y;
  }

  /** GlobalAveragePool -> Flatten -> Gemm(transB=1) into the graph output "y". */
  head(x: string, channels: number, classes: number): void {
    const gap = this.b.fresh('gap');
    this.b.node('GlobalAveragePool', [x], [gap], {}, gap);
    const flat = this.b.fresh('flatten');
    this.b.node('Flatten', [gap], [flat], { axis: 1 }, flat);
    this.b.initializer('fc.w', uniform(this.rand, classes * channels, Math.sqrt(3 / channels)), [classes, channels]);
    this.b.initializer('fc.b', uniform(this.rand, classes, 0.01), [classes]);
    this.b.node('Gemm', [flat, 'fc.w', 'fc.b'], ['y'], { transB: 1 }, 'fc');
    this.macs += classes * channels;
  }
}

interface ConvOpts {
  stride?: number;
  group?: number;
  relu?: boolean;
  /** Extra scale on the weights (used to damp residual branches). */
  gain?: number;
}

interface Act {
  name: string;
  size: number;
  channels: number;
}

function imageModel(name: string, resolution: number, classes: number): GraphBuilder {
  return new GraphBuilder(name)
    .input('x', 'FP32', [-1, 3, resolution, resolution])
    .output('y', 'FP32', [-1, classes]);
}

// ---------------------------------------------------------------- MobileNetV2-shaped

/** One MobileNetV2 stage: expansion t, output channels c, repeats n, first stride s. */
export type InvertedResidualSetting = [t: number, c: number, n: number, s: number];

export interface ConvNetOptions {
  seed: number;
  /** 'full' = MobileNetV2 1.0 at 224 (default), 'tiny' = a few small blocks at 32x32. */
  preset?: 'full' | 'tiny';
  resolution?: number;
  classes?: number;
  stemChannels?: number;
  lastChannels?: number;
  settings?: InvertedResidualSetting[];
}

const MOBILENET_FULL = {
  resolution: 224, classes: 1000, stemChannels: 32, lastChannels: 1280,
  settings: [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]],
} satisfies Omit<Required<ConvNetOptions>, 'seed' | 'preset'>;

const MOBILENET_TINY = {
  resolution: 32, classes: 10, stemChannels: 8, lastChannels: 64,
  settings: [[1, 8, 1, 1], [4, 12, 2, 2], [4, 16, 2, 2]],
} satisfies Omit<Required<ConvNetOptions>, 'seed' | 'preset'>;

/**
 * MobileNetV2-shaped: 3x3/2 stem, inverted residual blocks (1x1 expand + Relu, 3x3 depthwise +
 * Relu, 1x1 project, Add when shapes match), 1x1 conv to lastChannels, GAP, Flatten, Gemm.
 */
export function convNet(opts: ConvNetOptions): ConvZooModel {
  const cfg = { ...(opts.preset === 'tiny' ? MOBILENET_TINY : MOBILENET_FULL), ...definedOnly(opts) };
  const b = imageModel('mobilenet_v2', cfg.resolution, cfg.classes);
  const ctx = new ConvCtx(b, mulberry32(opts.seed));
  let a = ctx.conv('x', cfg.resolution, 3, cfg.stemChannels, 3, { stride: 2 });
  for (const [t, c, n, s] of cfg.settings) {
    for (let i = 0; i < n; i++) a = invertedResidual(ctx, a, t, c, i === 0 ? s : 1);
  }
  a = ctx.conv(a.name, a.size, a.channels, cfg.lastChannels, 1);
  ctx.head(a.name, a.channels, cfg.classes);
  return { builder: b, signature: b.signature(), macs: ctx.macs, resolution: cfg.resolution, classes: cfg.classes };
}

function invertedResidual(ctx: ConvCtx, x: Act, t: number, cout: number, stride: number): Act {
  const residual = stride === 1 && x.channels === cout;
  const hidden = x.channels * t;
  let a = t === 1 ? x : ctx.conv(x.name, x.size, x.channels, hidden, 1);
  a = ctx.conv(a.name, a.size, hidden, hidden, 3, { stride, group: hidden });
  a = ctx.conv(a.name, a.size, hidden, cout, 1, { relu: false, gain: residual ? 0.5 : 1 });
  return residual ? { ...a, name: ctx.add(x.name, a.name) } : a;
}

// ---------------------------------------------------------------- ResNet-50-shaped

export interface ResNetOptions {
  seed: number;
  /** 'full' = ResNet-50 at 224 (default), 'tiny' = one narrow block per stage at 32x32. */
  preset?: 'full' | 'tiny';
  resolution?: number;
  classes?: number;
  /** Bottleneck blocks per stage, [3, 4, 6, 3] for ResNet-50. */
  blocks?: number[];
  /** Bottleneck width of the first stage (64); doubles per stage, outputs are 4x. */
  width?: number;
}

const RESNET_FULL = { resolution: 224, classes: 1000, blocks: [3, 4, 6, 3], width: 64 };
const RESNET_TINY = { resolution: 32, classes: 10, blocks: [1, 1, 1, 1], width: 8 };

/**
 * ResNet-50-shaped (v1.5: stride on the 3x3): 7x7/2 stem + Relu + 3x3/2 MaxPool, bottleneck
 * blocks (1x1, 3x3, 1x1 convs + Add, 1x1 projection shortcut when the shape changes), GAP, Gemm.
 */
export function resnetNet(opts: ResNetOptions): ConvZooModel {
  const cfg = { ...(opts.preset === 'tiny' ? RESNET_TINY : RESNET_FULL), ...definedOnly(opts) };
  const b = imageModel('resnet', cfg.resolution, cfg.classes);
  const ctx = new ConvCtx(b, mulberry32(opts.seed));
  let a = ctx.conv('x', cfg.resolution, 3, cfg.width, 7, { stride: 2 });
  a = maxPool(ctx, a);
  cfg.blocks.forEach((n, stage) => {
    const width = cfg.width * 2 ** stage;
    for (let i = 0; i < n; i++) a = bottleneck(ctx, a, width, i === 0 && stage > 0 ? 2 : 1);
  });
  ctx.head(a.name, a.channels, cfg.classes);
  return { builder: b, signature: b.signature(), macs: ctx.macs, resolution: cfg.resolution, classes: cfg.classes };
}

function maxPool(ctx: ConvCtx, x: Act): Act {
  const y = ctx.b.fresh('maxpool');
  ctx.b.node('MaxPool', [x.name], [y], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, y);
  return { ...x, name: y, size: Math.floor((x.size + 2 - 3) / 2) + 1 };
}

function bottleneck(ctx: ConvCtx, x: Act, width: number, stride: number): Act {
  const cout = width * 4;
  let a = ctx.conv(x.name, x.size, x.channels, width, 1);
  a = ctx.conv(a.name, a.size, width, width, 3, { stride });
  a = ctx.conv(a.name, a.size, width, cout, 1, { relu: false, gain: 0.5 });
  const shortcut = stride === 1 && x.channels === cout
    ? x.name
    : ctx.conv(x.name, x.size, x.channels, cout, 1, { stride, relu: false }).name;
  return { name: ctx.relu(ctx.add(shortcut, a.name)), size: a.size, channels: cout };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'seed' && k !== 'preset')) as Partial<T>;
}

// ---------------------------------------------------------------- tiny IO / dtype models

export interface ElementwiseOptions {
  dtype: DType;
  /** 'identity' works for every dtype; 'add' (y = x + x) only where onnxruntime's Add kernel has the type. */
  op?: 'identity' | 'add';
}

/** x [-1, 4] of `dtype` -> y [-1, 4] of `dtype`. */
export function elementwise({ dtype, op = 'identity' }: ElementwiseOptions): ZooModel {
  const b = new GraphBuilder(`elementwise_${dtype.toLowerCase()}`);
  b.input('x', dtype, [-1, 4]).output('y', dtype, [-1, 4]);
  if (op === 'add') b.node('Add', ['x', 'x'], ['y']);
  else b.node('Identity', ['x'], ['y']);
  return { builder: b, signature: b.signature() };
}

/** a, b FP32 [-1, 3] -> sum = a + b, diff = a - b. */
export function addTwo(): ZooModel {
  const b = new GraphBuilder('add_two');
  b.input('a', 'FP32', [-1, 3]).input('b', 'FP32', [-1, 3]);
  b.output('sum', 'FP32', [-1, 3]).output('diff', 'FP32', [-1, 3]);
  b.node('Add', ['a', 'b'], ['sum']).node('Sub', ['a', 'b'], ['diff']);
  return { builder: b, signature: b.signature() };
}

/** x FP32 [2, 4] (static batch) -> y = Identity(x). */
export function fixedBatch(): ZooModel {
  const b = new GraphBuilder('fixed_batch');
  b.input('x', 'FP32', [2, 4]).output('y', 'FP32', [2, 4]);
  b.node('Identity', ['x'], ['y']);
  return { builder: b, signature: b.signature() };
}
