// Weight formats of the LLaMA linear layers, and the host-side quantiser for onnxruntime's
// com.microsoft MatMulNBits (weight-only int8/int4, blockwise along the input dimension).
//
// The quantisation is symmetric per block of 32, the same rule as llama.cpp's q8_0 / q4_0 so the
// benchmark compares like with like:
//   int8: scale = max|x| / 127,        q = round(x / scale) + 128   (zero point 128, implicit)
//   int4: scale = x_m / -8 (x_m = the element of largest magnitude, with its sign),
//         q = clamp(round(x / scale) + 8, 0, 15)                     (zero point 8, implicit)
// MatMulNBits dequantises as (q - zero_point) * scale, its zero point defaulting to 2^(bits-1)
// when the zero_points input is absent, so no zero points are stored.

import type { LinearPolicy } from './graph/params';
import { VISUAL_PREFIX } from './lavin';
import { HostTensor, toFloat32 } from './tensor';

export type WeightFormat = 'fp32' | 'fp16' | 'int8' | 'int4';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['fp32', 'fp16', 'int8', 'int4'];

export const QUANT_BLOCK = 32;

/**
 * MatMulNBits accuracy level: 4 lets the CPU provider quantise activations to int8 per block and
 * use its integer dot-product kernels (measured 20x faster than level 0 for 8-bit; see engine notes).
 */
export const CPU_ACCURACY_LEVEL = 4;

export interface QuantizedWeight {
  bits: 4 | 8;
  /** Output features (rows of the [N, K] checkpoint weight). */
  n: number;
  /** Input features. */
  k: number;
  blockSize: number;
  /** uint8 [N, ceil(K / blockSize), blockSize * bits / 8]. */
  packed: HostTensor;
  /** float32 [N * ceil(K / blockSize)]. */
  scales: HostTensor;
}

/** The weight format applied to LLaMA's linear layers only (never CLIP's or the adapters'). */
export function llamaLinearPolicy(format: WeightFormat): LinearPolicy {
  return { format, applies: (name) => !name.startsWith(VISUAL_PREFIX) && !name.includes('adapter') };
}

export function bitsOf(format: WeightFormat): 4 | 8 | undefined {
  return format === 'int8' ? 8 : format === 'int4' ? 4 : undefined;
}

/** Quantise a 2-D weight [N, K] (out, in), as stored in Meta checkpoints, for MatMulNBits. */
export function quantizeWeight(t: HostTensor, bits: 4 | 8, name: string, blockSize = QUANT_BLOCK): QuantizedWeight {
  if (t.shape.length !== 2) throw new Error(`${name}: only 2-D weights can be quantised, got [${t.shape}]`);
  const [n, k] = t.shape;
  const src = toFloat32(t);
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const q = new Uint8Array(blockSize);
  for (let r = 0; r < n; r++) {
    for (let bi = 0; bi < blocks; bi++) {
      const start = r * k + bi * blockSize;
      const len = Math.min(blockSize, k - bi * blockSize);
      const scale = bits === 8 ? scale8(src, start, len) : scale4(src, start, len);
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(bits === 8 ? 128 : 8); // padding past K dequantises to 0
      for (let j = 0; j < len; j++) {
        const v = Math.round(src[start + j] * inv);
        q[j] = bits === 8 ? clamp(v + 128, 0, 255) : clamp(v + 8, 0, 15);
      }
      scales[r * blocks + bi] = scale;
      const out = (r * blocks + bi) * blob;
      if (bits === 8) packed.set(q, out);
      else for (let j = 0; j < blob; j++) packed[out + j] = q[2 * j] | (q[2 * j + 1] << 4); // element 2j low nibble
    }
  }
  return {
    bits, n, k, blockSize,
    packed: { dtype: 'uint8', shape: [n, blocks, blob], data: packed },
    scales: { dtype: 'float32', shape: [n * blocks], data: new Uint8Array(scales.buffer) },
  };
}

/** The float weight [N, K] a quantised weight stands for (what MatMulNBits multiplies by). */
export function dequantizeWeight(w: QuantizedWeight): Float32Array {
  const { n, k, blockSize, bits } = w;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const scales = new Float32Array(w.scales.data.buffer, w.scales.data.byteOffset, n * blocks);
  const packed = w.packed.data;
  const out = new Float32Array(n * k);
  const zero = bits === 8 ? 128 : 8;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const bi = Math.floor(c / blockSize);
      const j = c % blockSize;
      const base = (r * blocks + bi) * blob;
      const qv = bits === 8 ? packed[base + j] : (packed[base + (j >> 1)] >> ((j & 1) * 4)) & 15;
      out[r * k + c] = (qv - zero) * scales[r * blocks + bi];
    }
  }
  return out;
}

function scale8(x: Float32Array, start: number, len: number): number {
  let amax = 0;
  for (let j = 0; j < len; j++) amax = Math.max(amax, Math.abs(x[start + j]));
  return Math.fround(amax / 127);
}

function scale4(x: Float32Array, start: number, len: number): number {
  let amax = 0;
  let signed = 0;
  for (let j = 0; j < len; j++) {
    const v = x[start + j];
    if (Math.abs(v) > amax) { amax = Math.abs(v); signed = v; }
  }
  return Math.fround(signed / -8);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
