// Weight formats of the LLaMA linear layers, and the host-side quantiser for onnxruntime's
// com.microsoft MatMulNBits (weight-only int8/int4, blockwise along the input dimension).
//
// The quantisation is asymmetric per block of 128 input features (onnxruntime's own quantiser's
// default: MatMul4BitsQuantizer, block_size 128, is_symmetric False):
//   q = clamp(round(x / scale) + zero_point, 0, 2^bits - 1),   x ~ (q - zero_point) * scale
// with scale and the integer zero point spanning the block's [min, max] (0 included). For int4 the
// range is also tried shrunk by 5-20% and the one with the least squared error is kept (clipping a
// rare outlier buys a finer step for the other 127 values).
//
// Why 128 and not llama.cpp's 32: MatMulNBits's CPU kernel pays per block. Measured with
// `node out/bench/kernels.js` (1B-shaped linears, 2 threads, one process, alternating): int4 block
// 128 decodes 1.22-1.41x faster than block 32 and prefills 1.32x faster; int8 1.36-1.45x. The bytes
// per weight are 4.28 bits (int4: 4 + 32-bit scale and 4-bit zero point per 128) against q4_0's 4.5;
// the weight error is reported beside llama.cpp's by `npm run bench` and test/unit/quant.test.ts.

import { HostTensor, toFloat32 } from './tensor';

export type WeightFormat = 'fp32' | 'fp16' | 'int8' | 'int4';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['fp32', 'fp16', 'int8', 'int4'];

export const QUANT_BLOCK = 128;
/** The blocks MatMulNBits's CPU kernel takes: powers of two from 16 to 256. */
const MIN_BLOCK = 16;
const MAX_BLOCK = 256;
/** Range shrink factors tried for int4 (the first is the full [min, max]). */
const INT4_RANGE_SEARCH = [1, 0.95, 0.9, 0.85, 0.8];

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
  /** uint8 [N * ceil(ceil(K / blockSize) * bits / 8)]: per block, int4 two to a byte (low nibble first). */
  zeroPoints: HostTensor;
  /**
   * float32 [N * ceil(K / blockSize)], optional: a value added to every weight of the block,
   * W = (q - zero_point) * scale + offset (GGUF's Q4_1/Q4_K/Q5_K minimums; see weights/ggufQuants.ts).
   */
  offsets?: HostTensor;
}

/** The block actually used for K inputs: the requested one, but no wider than K needs. */
export function blockSizeFor(k: number, requested = QUANT_BLOCK): number {
  if (!Number.isInteger(Math.log2(requested)) || requested < MIN_BLOCK || requested > MAX_BLOCK) throw new Error(`quantisation block ${requested} is not a power of two from ${MIN_BLOCK} to ${MAX_BLOCK}`);
  let fit = MIN_BLOCK;
  while (fit < k && fit < requested) fit *= 2;
  return fit;
}

/**
 * Bytes one LLaMA linear weight takes in memory on the CPU: fp16 is widened to float32 when
 * onnxruntime folds its Cast at load; int8/int4 hold the codes plus a float32 scale and a zero
 * point per block.
 */
export function cpuBytesPerWeight(format: WeightFormat, block = QUANT_BLOCK): number {
  switch (format) {
    case 'fp32':
    case 'fp16':
      return 4;
    case 'int8':
      return 1 + (4 + 1) / block;
    case 'int4':
      return 0.5 + (4 + 0.5) / block;
  }
}

export function bitsOf(format: WeightFormat): 4 | 8 | undefined {
  return format === 'int8' ? 8 : format === 'int4' ? 4 : undefined;
}

/** Quantise a 2-D weight [N, K] (out, in), as stored in Meta checkpoints, for MatMulNBits. */
export function quantizeWeight(t: HostTensor, bits: 4 | 8, name: string, requestedBlock = QUANT_BLOCK): QuantizedWeight {
  if (t.shape.length !== 2) throw new Error(`${name}: only 2-D weights can be quantised, got [${t.shape}]`);
  const [n, k] = t.shape;
  const blockSize = blockSizeFor(k, requestedBlock);
  const src = toFloat32(t);
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = new Uint8Array(n * zpRow);
  const maxQ = (1 << bits) - 1;
  const shrinks = bits === 4 ? INT4_RANGE_SEARCH : [1];
  const q = new Uint8Array(blockSize);
  for (let r = 0; r < n; r++) {
    for (let bi = 0; bi < blocks; bi++) {
      const start = r * k + bi * blockSize;
      const len = Math.min(blockSize, k - bi * blockSize);
      const { scale, zero } = chooseRange(src, start, len, maxQ, shrinks);
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(zero); // padding past K dequantises to 0
      for (let j = 0; j < len; j++) q[j] = clamp(Math.round(src[start + j] * inv) + zero, 0, maxQ);
      scales[r * blocks + bi] = scale;
      const out = (r * blocks + bi) * blob;
      if (bits === 8) {
        packed.set(q, out);
        zeroPoints[r * zpRow + bi] = zero;
      } else {
        for (let j = 0; j < blob; j++) packed[out + j] = q[2 * j] | (q[2 * j + 1] << 4); // element 2j low nibble
        zeroPoints[r * zpRow + (bi >> 1)] |= zero << ((bi & 1) * 4);
      }
    }
  }
  return {
    bits, n, k, blockSize,
    packed: { dtype: 'uint8', shape: [n, blocks, blob], data: packed },
    scales: { dtype: 'float32', shape: [n * blocks], data: new Uint8Array(scales.buffer) },
    zeroPoints: { dtype: 'uint8', shape: [n * zpRow], data: zeroPoints },
  };
}

/** The block's float32 scale and integer zero point with the least squared error among the shrinks. */
function chooseRange(x: Float32Array, start: number, len: number, maxQ: number, shrinks: readonly number[]): { scale: number; zero: number } {
  let lo = 0;
  let hi = 0;
  for (let j = 0; j < len; j++) {
    const v = x[start + j];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi === lo) return { scale: 0, zero: Math.round(maxQ / 2) };
  let best = { scale: 0, zero: 0 };
  let bestErr = Infinity;
  for (const f of shrinks) {
    const scale = Math.fround(((hi - lo) * f) / maxQ);
    const zero = clamp(Math.round((-lo * f) / scale), 0, maxQ);
    if (shrinks.length === 1) return { scale, zero };
    const inv = 1 / scale;
    let err = 0;
    for (let j = 0; j < len; j++) {
      const v = x[start + j];
      const d = (clamp(Math.round(v * inv) + zero, 0, maxQ) - zero) * scale - v;
      err += d * d;
    }
    if (err < bestErr) {
      bestErr = err;
      best = { scale, zero };
    }
  }
  return best;
}

/** The float weight [N, K] a quantised weight stands for (what MatMulNBits multiplies by). */
export function dequantizeWeight(w: QuantizedWeight): Float32Array {
  const { n, k, blockSize, bits } = w;
  const blocks = Math.ceil(k / blockSize);
  const blob = (blockSize * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const scales = new Float32Array(w.scales.data.buffer, w.scales.data.byteOffset, n * blocks);
  const packed = w.packed.data;
  const zps = w.zeroPoints.data;
  const offsets = w.offsets ? new Float32Array(w.offsets.data.buffer, w.offsets.data.byteOffset, n * blocks) : undefined;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const bi = Math.floor(c / blockSize);
      const j = c % blockSize;
      const base = (r * blocks + bi) * blob;
      const qv = bits === 8 ? packed[base + j] : (packed[base + (j >> 1)] >> ((j & 1) * 4)) & 15;
      const zero = bits === 8 ? zps[r * zpRow + bi] : (zps[r * zpRow + (bi >> 1)] >> ((bi & 1) * 4)) & 15;
      out[r * k + c] = (qv - zero) * scales[r * blocks + bi] + (offsets ? offsets[r * blocks + bi] : 0);
    }
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
