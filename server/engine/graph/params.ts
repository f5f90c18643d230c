// Where a graph gets its parameters from. Frozen weights become initializers (converted once on the
// host); trainable ones become graph inputs so a training graph can output their gradients.

import { CPU_ACCURACY_LEVEL, bitsOf, quantizeWeight, WeightFormat } from '../quant';
import { floatToHalf, HostTensor, numel, toFloat32 } from '../tensor';
import { Builder } from './builder';
import { Value } from './graph';
import { linear } from './nn';

export interface ParamSource {
  /** Checkpoint shape of a parameter (throws with the name if missing). */
  shape(name: string): number[];
  has(name: string): boolean;
  /** The parameter as float32, in its checkpoint shape. */
  param(b: Builder, name: string): Value;
  /** A 2-D weight [out, in] transposed to [in, out], for x @ W^T. */
  paramT(b: Builder, name: string): Value;
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
  /** Quantisation block along the input dimension (default 32, as llama.cpp's q8_0/q4_0). */
  blockSize?: number;
}

/** Host-side float32 transpose of a 2-D tensor. */
export function transpose2d(t: HostTensor, name: string): HostTensor {
  if (t.shape.length !== 2) throw new Error(`${name}: expected a 2-D weight, got [${t.shape}]`);
  const [r, c] = t.shape;
  const src = toFloat32(t);
  const dst = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
  return { dtype: 'float32', shape: [c, r], data: new Uint8Array(dst.buffer) };
}

export function asFloat32(t: HostTensor): HostTensor {
  if (t.dtype === 'float32') return t;
  const f = toFloat32(t);
  return { dtype: 'float32', shape: t.shape.slice(), data: new Uint8Array(f.buffer) };
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
      v = this.trainable.has(name) ? b.input(name, 'float32', t.shape.slice()) : b.initializer(name, asFloat32(t));
      this.made.set(key, v);
    }
    return v;
  }

  paramT(b: Builder, name: string): Value {
    const key = `t:${name}`;
    let v = this.made.get(key);
    if (!v) {
      v = this.trainable.has(name) ? b.transpose(this.param(b, name), [1, 0]) : b.initializer(`${name}.T`, transpose2d(this.get(name), name));
      this.made.set(key, v);
    }
    return v;
  }

  linear(b: Builder, x: Value, name: string, bias?: Value): Value {
    const format = this.trainable.has(name) || (this.policy.applies && !this.policy.applies(name)) ? 'fp32' : this.policy.format;
    if (format === 'fp32') return linear(b, x, this.paramT(b, name), bias);
    if (format === 'fp16') return linear(b, x, b.cast(this.half(b, name), 'float32'), bias);
    return this.matMulNBits(b, x, name, bitsOf(format)!, bias);
  }

  /** W^T stored as float16 (half the bytes; cast to float32 in the graph). */
  private half(b: Builder, name: string): Value {
    const key = `h:${name}`;
    let v = this.made.get(key);
    if (!v) {
      const t = transpose2d(this.get(name), name); // [in, out] float32
      const f = toFloat32(t);
      const h = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) h[i] = floatToHalf(f[i]);
      v = b.initializer(`${name}.T.fp16`, { dtype: 'float16', shape: t.shape, data: new Uint8Array(h.buffer) });
      this.made.set(key, v);
    }
    return v;
  }

  private matMulNBits(b: Builder, x: Value, name: string, bits: 4 | 8, bias?: Value): Value {
    const key = `q${bits}:${name}`;
    let packed = this.made.get(key);
    let scales = this.made.get(`${key}.scales`);
    if (!packed || !scales) {
      const t = this.get(name); // read once: a lazy source may generate it on every get
      const q = quantizeWeight(t, bits, name, this.policy.blockSize);
      packed = b.initializer(`${name}.q${bits}`, q.packed);
      scales = b.initializer(`${name}.q${bits}.scales`, q.scales);
      this.made.set(key, packed);
      this.made.set(`${key}.scales`, scales);
      this.quantShapes.set(name, t.shape.slice());
    }
    const [n, k] = this.quantShapes.get(name)!;
    const shape = x.shape ? [...x.shape.slice(0, -1), n] : undefined;
    const attrs = {
      K: { i: k }, N: { i: n }, bits: { i: bits }, block_size: { i: packed.dim(2) * 8 / bits },
      accuracy_level: { i: this.policy.accuracyLevel ?? CPU_ACCURACY_LEVEL },
    };
    const y = b.op('MatMulNBits', [x, packed, scales], [{ dtype: 'float32', shape }], attrs, 'com.microsoft')[0];
    return bias ? b.add(y, bias) : y;
  }
}
