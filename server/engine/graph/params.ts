// Where a graph gets its parameters from. Frozen weights become initializers (converted once on the
// host); trainable ones become graph inputs so a training graph can output their gradients.

import { CPU_ACCURACY_LEVEL, bitsOf, QuantizedWeight, quantizeWeight, WeightFormat } from '../quant';
import { floatsToHalf, HostTensor, numel, toFloat32 } from '../tensor';
import { Builder } from './builder';
import { Dim, Value } from './graph';
import { laidOutName, laidOutShape, layOutGraph, layOutHost, ParamLayout, TRANSPOSE } from './layouts';
import { linear } from './nn';

export interface ParamSource {
  /** Checkpoint shape of a parameter (throws with the name if missing). */
  shape(name: string): number[];
  has(name: string): boolean;
  /** The parameter as float32, in its checkpoint shape. */
  param(b: Builder, name: string): Value;
  /** A weight [out, in] (or a 1x1 conv [out, in, 1]) transposed to [in, out], for x @ W^T. */
  paramT(b: Builder, name: string): Value;
  /** The parameter rearranged into `layout` (see layouts.ts). */
  paramAs(b: Builder, name: string, layout: ParamLayout): Value;
  /**
   * x @ W^T (+ bias) for the checkpoint weight `name` [out, in], in the weight format the source's
   * policy gives that weight: plain MatMul (fp32, or fp16 storage) or MatMulNBits (int8/int4).
   */
  linear(b: Builder, x: Value, name: string, bias?: Value): Value;
}

/** How the linear layers' weights are stored and multiplied (trainable weights always stay fp32). */
export interface LinearPolicy {
  format: WeightFormat;
  /** Which weights the format applies to (default: every weight passed to `linear`). */
  applies?: (name: string) => boolean;
  /** MatMulNBits accuracy_level (default 4, the CPU integer kernels). */
  accuracyLevel?: number;
  /** Quantisation block along the input dimension (default QUANT_BLOCK, 128; see quant.ts). */
  blockSize?: number;
  /**
   * fp16/int8/int4 linears multiply float16 activations (GPU providers: f16 shaders, and fp16
   * weights stay fp16 in memory instead of being widened at load). Inputs and outputs stay float32.
   */
  halfActivations?: boolean;
}

/** Host-side float32 transpose of a 2-D tensor. */
export function transpose2d(t: HostTensor, name: string): HostTensor {
  if (t.shape.length !== 2) throw new Error(`${name}: expected a 2-D weight, got [${t.shape}]`);
  return layOutHost(t, TRANSPOSE, name);
}

export function asFloat32(t: HostTensor): HostTensor {
  if (t.dtype === 'float32') return t;
  const f = toFloat32(t);
  return { dtype: 'float32', shape: t.shape.slice(), data: new Uint8Array(f.buffer) };
}

export interface HostParamsOptions {
  /**
   * Inference graphs: a trainable parameter wanted in a layout becomes its own graph input
   * (`laidOutName`), which the runtime fills on the host once per adapter set, instead of
   * Transpose/Concat ops re-run on every token. Training graphs leave this off: the layout must be
   * graph ops there, so gradients reach the parameter.
   */
  feedLaidOut?: boolean;
  /**
   * Linear weights already quantised (by name): used instead of quantising the tensor, whose map
   * entry may then hold its shape only (a conversion that reads the checkpoint one weight at a time).
   */
  prequantized?: ReadonlyMap<string, QuantizedWeight>;
  /**
   * Fed parameters one of whose axes (in the checkpoint shape) takes any size at run time: the
   * graph input gets the named symbolic dimension there, laid out or not.
   */
  freeAxes?: (name: string) => FreeAxis | undefined;
}

/** An axis of a parameter left symbolic in graph inputs. */
export interface FreeAxis {
  axis: number;
  dim: string;
}

/**
 * Parameters from host tensors. Names in `trainable` become graph inputs named after the
 * parameter; everything else is a float32 initializer. One instance per graph being built.
 */
export class HostParams implements ParamSource {
  private readonly made = new Map<string, Value>();
  private readonly quantShapes = new Map<string, number[]>();

  constructor(
    private readonly tensors: ReadonlyMap<string, HostTensor>,
    private readonly trainable: ReadonlySet<string> = new Set(),
    private readonly policy: LinearPolicy = { format: 'fp32' },
    private readonly options: HostParamsOptions = {},
  ) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shape(name: string): number[] {
    return this.get(name).shape;
  }

  private get(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`missing parameter ${name}`);
    if (t.data.byteLength === 0 && numel(t.shape) !== 0) throw new Error(`parameter ${name} has no data`);
    return t;
  }

  param(b: Builder, name: string): Value {
    const key = `p:${name}`;
    let v = this.made.get(key);
    if (!v) {
      const t = this.get(name);
      v = this.trainable.has(name) ? b.input(name, 'float32', this.inputDims(name, t.shape)) : b.initializer(name, asFloat32(t));
      this.made.set(key, v);
    }
    return v;
  }

  /** A fed parameter's input dimensions: its (laid-out) shape, with its free axis symbolic. */
  private inputDims(name: string, shape: number[], layout?: ParamLayout): Dim[] {
    const dims: Dim[] = layout ? laidOutShape(shape, layout, name) : shape.slice();
    const free = this.options.freeAxes?.(name);
    if (!free) return dims;
    if (layout && layout.kind !== 'transpose') throw new Error(`${name}: a free axis is only kept through a transpose`);
    // A transpose swaps a matrix's two axes (a 1x1 conv [out, in, 1] is the matrix [out, in]).
    dims[layout ? 1 - free.axis : free.axis] = free.dim;
    return dims;
  }

  paramT(b: Builder, name: string): Value {
    return this.paramAs(b, name, TRANSPOSE);
  }

  paramAs(b: Builder, name: string, layout: ParamLayout): Value {
    const key = laidOutName(name, layout);
    let v = this.made.get(key);
    if (!v) {
      if (!this.trainable.has(name)) v = b.initializer(key, layOutHost(this.get(name), layout, name));
      else if (this.options.feedLaidOut) v = b.input(key, 'float32', this.inputDims(name, this.shape(name), layout));
      else v = layOutGraph(b, this.param(b, name), this.shape(name), layout, name);
      this.made.set(key, v);
    }
    return v;
  }

  linear(b: Builder, x: Value, name: string, bias?: Value): Value {
    // A weight that arrived quantised (a GGUF file's blocks) is multiplied in its own bits, whatever the policy.
    const ready = this.trainable.has(name) ? undefined : this.options.prequantized?.get(name);
    if (ready && !this.tensors.has(name)) {
      // (block offsets are float32 initializers: their weights keep float32 activations)
      if (this.policy.halfActivations && !ready.offsets) return this.inHalf(b, x, bias, (xh) => this.matMulNBits(b, xh, name, ready.bits));
      return this.matMulNBits(b, x, name, ready.bits, bias);
    }
    const format = this.trainable.has(name) || (this.policy.applies && !this.policy.applies(name)) ? 'fp32' : this.policy.format;
    if (format === 'fp32') return linear(b, x, this.paramT(b, name), bias);
    if (format === 'fp16' && this.policy.halfActivations) return this.inHalf(b, x, bias, (xh) => b.matmul(xh, this.half(b, name)));
    if (format === 'fp16') return linear(b, x, b.cast(this.half(b, name), 'float32'), bias);
    if (this.policy.halfActivations) return this.inHalf(b, x, bias, (xh) => this.matMulNBits(b, xh, name, bitsOf(format)!));
    return this.matMulNBits(b, x, name, bitsOf(format)!, bias);
  }

  /** float32 x -> float16 -> f(x) -> float32 (+ bias in float32). */
  private inHalf(b: Builder, x: Value, bias: Value | undefined, f: (xh: Value) => Value): Value {
    const y = b.cast(f(b.cast(x, 'float16')), 'float32');
    return bias ? b.add(y, bias) : y;
  }

  /** W^T stored as float16 (half the bytes; cast to float32 in the graph). */
  private half(b: Builder, name: string): Value {
    const key = `h:${name}`;
    let v = this.made.get(key);
    if (!v) {
      const t = transpose2d(this.get(name), name); // [in, out] float32
      const h = floatsToHalf(toFloat32(t));
      v = b.initializer(`${name}.T.fp16`, { dtype: 'float16', shape: t.shape, data: new Uint8Array(h.buffer) });
      this.made.set(key, v);
    }
    return v;
  }

  private matMulNBits(b: Builder, x: Value, name: string, bits: 4 | 8, bias?: Value): Value {
    const key = `q${bits}:${name}`;
    let packed = this.made.get(key);
    let scales = this.made.get(`${key}.scales`);
    let zeroPoints = this.made.get(`${key}.zero_points`);
    if (!packed || !scales || !zeroPoints) {
      const ready = this.options.prequantized?.get(name);
      if (ready && ready.bits !== bits) throw new Error(`${name}: prequantised to ${ready.bits} bits, the policy wants ${bits}`);
      const q = ready ?? quantizeWeight(this.get(name), bits, name, this.policy.blockSize); // read once: a lazy source may generate it on every get
      packed = b.initializer(`${name}.q${bits}`, q.packed);
      // MatMulNBits takes its scales in the activations' type.
      const half = this.policy.halfActivations;
      scales = b.initializer(`${name}.q${bits}.scales${half ? '.fp16' : ''}`, half ? { dtype: 'float16', shape: q.scales.shape, data: new Uint8Array(floatsToHalf(toFloat32(q.scales)).buffer) } : q.scales);
      this.made.set(key, packed);
      zeroPoints = b.initializer(`${name}.q${bits}.zero_points`, q.zeroPoints);
      this.made.set(`${key}.scales`, scales);
      this.made.set(`${key}.zero_points`, zeroPoints);
      if (q.offsets) this.made.set(`${key}.offsets`, b.initializer(`${name}.q${bits}.offsets`, blockOffsetsT(q)));
      this.quantShapes.set(name, [q.n, q.k]);
    }
    const [n, k] = this.quantShapes.get(name)!;
    const shape = x.shape ? [...x.shape.slice(0, -1), n] : undefined;
    const attrs = {
      K: { i: k }, N: { i: n }, bits: { i: bits }, block_size: { i: packed.dim(2) * 8 / bits },
      accuracy_level: { i: this.policy.accuracyLevel ?? CPU_ACCURACY_LEVEL },
    };
    let y = b.op('MatMulNBits', [x, packed, scales, zeroPoints], [{ dtype: x.dtype, shape }], attrs, 'com.microsoft')[0];
    const offsets = this.made.get(`${key}.offsets`);
    if (offsets) {
      // the offsets term in float32 (the offsets are float32 initializers), back in x's type
      const sums = blockSums(b, x.dtype === 'float32' ? x : b.cast(x, 'float32'), k, attrs.block_size.i);
      const term = b.matmul(sums, offsets);
      y = b.add(y, x.dtype === 'float32' ? term : b.cast(term, x.dtype));
    }
    return bias ? b.add(y, bias) : y;
  }
}

/** Per-block sums of x [..., K] -> [..., K / block]: what a weight's per-block offsets multiply. */
function blockSums(b: Builder, x: Value, k: number, block: number): Value {
  if (!x.shape) throw new Error('MatMulNBits with block offsets needs an input of known rank');
  const lead = x.shape.slice(0, -1).map(() => 0);
  return b.reduceSum(b.reshape(x, [...lead, k / block, block]), [-1], false);
}

/** A weight's block offsets [N * blocks] as [blocks, N], for blockSums(x) @ offsets. */
function blockOffsetsT(q: QuantizedWeight): HostTensor {
  const blocks = Math.ceil(q.k / q.blockSize);
  return transpose2d({ dtype: 'float32', shape: [q.n, blocks], data: q.offsets!.data }, 'offsets');
}
