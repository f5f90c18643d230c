// Where a graph gets its parameters from. Frozen weights become initializers (converted once on the
// host); trainable ones become graph inputs so a training graph can output their gradients.

import { HostTensor, numel, toFloat32 } from '../tensor';
import { Builder } from './builder';
import { Value } from './graph';

export interface ParamSource {
  /** Checkpoint shape of a parameter (throws with the name if missing). */
  shape(name: string): number[];
  has(name: string): boolean;
  /** The parameter as float32, in its checkpoint shape. */
  param(b: Builder, name: string): Value;
  /** A 2-D weight [out, in] transposed to [in, out], for x @ W^T. */
  paramT(b: Builder, name: string): Value;
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

  constructor(
    private readonly tensors: ReadonlyMap<string, HostTensor>,
    private readonly trainable: ReadonlySet<string> = new Set(),
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
}
