// ggml's tensor types: dequantisation to float32 as ggml-quants.c's dequantize_row_* computes it
// (float32 arithmetic, rounded after each operation, no fused multiply-add), and re-blocking of the
// quantised linears into onnxruntime's MatMulNBits format (QuantizedWeight in quant.ts) without
// requantising:
//
//   type  ggml value (per element)       MatMulNBits                     weight values
//   Q4_0  d*(q-8)                        4-bit, block 32, zp 8, scale d  bit-exact
//   Q8_0  d*q, q int8                    8-bit, block 32, code q+128,    bit-exact
//                                        zp 128, scale d
//   Q6_K  (d*sc)*(q-32), 16 per sc       8-bit, block 16, zp 32,         bit-exact
//                                        scale d*sc
//   Q5_0  d*(q-16), q 5-bit              8-bit, block 32, zp 16, scale d bit-exact
//   Q4_1  d*q + m                        4-bit, block 32, zp 8, scale d, see below
//                                        block offset 8d + m
//   Q5_1  d*q + m, q 5-bit               8-bit, block 32, zp 16, scale d, see below
//                                        block offset 16d + m
//   Q4_K  (d*sc)*q - dmin*m, 32 per sc   4-bit, block 32, zp 8,          see below
//                                        scale d*sc, offset 8*d*sc - dmin*m
//   Q5_K  as Q4_K with 5-bit q           8-bit, block 32, zp 16,         see below
//                                        offset 16*d*sc - dmin*m
//
// Why offsets and not float zero points: MatMulNBits (onnxruntime 1.30, CPU) takes float zero points
// for 4 bits only, and then dequantises the whole weight on every call (measured 92 ms against
// 0.42 ms for a 2048x2048 decode step); for 8 bits it refuses them. So the per-block minimum becomes
// a separate per-block offset o (W = (q - zp)*scale + o), multiplied by the activations' block sums
// (params.ts). With the integer zero point in the middle of the code range the int8 activation
// path sees centred codes, as for llama.cpp's own formats.
//
// Exactness: d*sc and dmin*m are exact in float32 (11-bit half times a 6-bit integer), so (q-zp)*scale
// is exact; the offset is one float32 rounding of an exact difference. The effective weight
// (q-zp)*scale + o therefore differs from ggml's float32 value round(round(d*sc*q) - dmin*m) by at
// most half an ulp of the offset plus half an ulp of ggml's value (test/unit/weights/ggufQuants.test.ts
// measures it; both are the roundings of one subtraction, ~6e-8 relative).

import { halfToFloat, type HostTensor } from '../tensor';
import type { QuantizedWeight } from '../quant';

/** The ggml types this engine reads. */
export const GGUF_FLOAT_TYPES = ['F32', 'F16', 'BF16'] as const;
export const GGUF_QUANT_TYPES = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const;
export type GgufQuantType = (typeof GGUF_QUANT_TYPES)[number];
export type GgufReadableType = (typeof GGUF_FLOAT_TYPES)[number] | GgufQuantType;

export function isReadableType(type: string): type is GgufReadableType {
  return (GGUF_FLOAT_TYPES as readonly string[]).includes(type) || (GGUF_QUANT_TYPES as readonly string[]).includes(type);
}

/** Elements per block and bytes per block. */
const LAYOUT: Record<GgufReadableType, [number, number]> = {
  F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q8_0: [32, 34], Q4_0: [32, 18], Q4_1: [32, 20], Q5_0: [32, 22], Q5_1: [32, 24], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
};

export function typeLayout(type: GgufReadableType): { blockSize: number; blockBytes: number } {
  const [blockSize, blockBytes] = LAYOUT[type];
  return { blockSize, blockBytes };
}

const HALF = new Float32Array(65536);
for (let h = 0; h < 65536; h++) HALF[h] = halfToFloat(h);
const f = Math.fround;
const half = (b: Uint8Array, i: number) => HALF[b[i] | (b[i + 1] << 8)];

/** ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes at `s`. */
function scaleMin(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 0xf) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

/** Dequantise `n` elements (whole blocks) starting at byte `at` of `src` into `out` from `o`. */
export function dequantizeInto(type: GgufReadableType, src: Uint8Array, at: number, n: number, out: Float32Array, o: number): void {
  const [bs, bb] = LAYOUT[type];
  if (n % bs !== 0) throw new Error(`${type}: ${n} elements are not whole blocks of ${bs}`);
  const nb = n / bs;
  switch (type) {
    case 'F32': {
      const dv = new DataView(src.buffer, src.byteOffset + at, n * 4);
      for (let i = 0; i < n; i++) out[o + i] = dv.getFloat32(4 * i, true);
      return;
    }
    case 'F16':
      for (let i = 0; i < n; i++) out[o + i] = half(src, at + 2 * i);
      return;
    case 'BF16': {
      const u = new Uint32Array(1);
      const fl = new Float32Array(u.buffer);
      for (let i = 0; i < n; i++) { u[0] = (src[at + 2 * i] | (src[at + 2 * i + 1] << 8)) << 16; out[o + i] = fl[0]; }
      return;
    }
    case 'Q8_0':
      for (let i = 0; i < nb; i++) {
        const p = at + i * bb;
        const d = half(src, p);
        for (let j = 0; j < 32; j++) out[o + i * 32 + j] = f(((src[p + 2 + j] << 24) >> 24) * d);
      }
      return;
    case 'Q4_0':
    case 'Q4_1':
      for (let i = 0; i < nb; i++) {
        const p = at + i * bb;
        const d = half(src, p);
        const m = type === 'Q4_1' ? half(src, p + 2) : 0;
        const qs = p + (type === 'Q4_1' ? 4 : 2);
        const y = o + i * 32;
        for (let j = 0; j < 16; j++) {
          if (type === 'Q4_0') {
            out[y + j] = f(((src[qs + j] & 15) - 8) * d);
            out[y + j + 16] = f(((src[qs + j] >> 4) - 8) * d);
          } else {
            out[y + j] = f(f((src[qs + j] & 15) * d) + m);
            out[y + j + 16] = f(f((src[qs + j] >> 4) * d) + m);
          }
        }
      }
      return;
    case 'Q5_0':
    case 'Q5_1':
      for (let i = 0; i < nb; i++) {
        const p = at + i * bb;
        const d = half(src, p);
        const one = type === 'Q5_1';
        const m = one ? half(src, p + 2) : 0;
        const h = p + (one ? 4 : 2);
        const qh = (src[h] | (src[h + 1] << 8) | (src[h + 2] << 16) | (src[h + 3] << 24)) >>> 0;
        const qs = h + 4;
        const y = o + i * 32;
        for (let j = 0; j < 16; j++) {
          const x0 = (src[qs + j] & 15) | (((qh >>> j) & 1) << 4);
          const x1 = (src[qs + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
          if (one) {
            out[y + j] = f(f(x0 * d) + m);
            out[y + j + 16] = f(f(x1 * d) + m);
          } else {
            out[y + j] = f((x0 - 16) * d);
            out[y + j + 16] = f((x1 - 16) * d);
          }
        }
      }
      return;
    case 'Q4_K':
    case 'Q5_K':
      for (let i = 0; i < nb; i++) {
        const p = at + i * bb;
        const d = half(src, p);
        const dmin = half(src, p + 2);
        const five = type === 'Q5_K';
        const qh = p + 16;
        let ql = p + (five ? 48 : 16);
        let y = o + i * 256;
        for (let j = 0; j < 4; j++) {
          const [sc1, m1i] = scaleMin(src, p + 4, 2 * j);
          const [sc2, m2i] = scaleMin(src, p + 4, 2 * j + 1);
          const d1 = f(d * sc1), m1 = f(dmin * m1i), d2 = f(d * sc2), m2 = f(dmin * m2i);
          const u1 = 1 << (2 * j), u2 = 2 << (2 * j);
          for (let l = 0; l < 32; l++) out[y + l] = f(f(d1 * ((src[ql + l] & 15) + (five && src[qh + l] & u1 ? 16 : 0))) - m1);
          for (let l = 0; l < 32; l++) out[y + 32 + l] = f(f(d2 * ((src[ql + l] >> 4) + (five && src[qh + l] & u2 ? 16 : 0))) - m2);
          ql += 32;
          y += 64;
        }
      }
      return;
    case 'Q6_K':
      for (let i = 0; i < nb; i++) {
        const p = at + i * bb;
        const d = half(src, p + 208);
        for (let h = 0; h < 2; h++) {
          const ql = p + 64 * h, qh = p + 128 + 32 * h, sc = p + 192 + 8 * h, y = o + i * 256 + 128 * h;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const hb = src[qh + l];
            const s = (k: number) => f(d * ((src[sc + is + k] << 24) >> 24));
            out[y + l] = f(s(0) * (((src[ql + l] & 15) | ((hb & 3) << 4)) - 32));
            out[y + l + 32] = f(s(2) * (((src[ql + l + 32] & 15) | (((hb >> 2) & 3) << 4)) - 32));
            out[y + l + 64] = f(s(4) * (((src[ql + l] >> 4) | (((hb >> 4) & 3) << 4)) - 32));
            out[y + l + 96] = f(s(6) * (((src[ql + l + 32] >> 4) | (((hb >> 6) & 3) << 4)) - 32));
          }
        }
      }
      return;
  }
}

/** A whole tensor's raw GGUF bytes as float32 values. */
export function dequantize(type: GgufReadableType, src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  dequantizeInto(type, src, 0, n, out, 0);
  return out;
}

/** MatMulNBits geometry per source type: bits, block, integer zero point, and whether blocks carry an offset. */
export const TARGET: Record<GgufQuantType, { bits: 4 | 8; block: number; zp: number; offsets: boolean }> = {
  Q4_0: { bits: 4, block: 32, zp: 8, offsets: false },
  Q8_0: { bits: 8, block: 32, zp: 128, offsets: false },
  Q6_K: { bits: 8, block: 16, zp: 32, offsets: false },
  Q4_1: { bits: 4, block: 32, zp: 8, offsets: true },
  Q5_0: { bits: 8, block: 32, zp: 16, offsets: false },
  Q5_1: { bits: 8, block: 32, zp: 16, offsets: true },
  Q4_K: { bits: 4, block: 32, zp: 8, offsets: true },
  Q5_K: { bits: 8, block: 32, zp: 16, offsets: true },
};

/**
 * The quantised linear weight [n, k] (GGUF ne = [k, n]) in MatMulNBits's format, codes and scales
 * carried over (see the table at the top). `src` is its raw bytes, or reads them `rowsPerRead` rows
 * at a time (so a caller can stream a large tensor through a small buffer).
 */
export function reblock(type: GgufQuantType, src: Uint8Array | ((firstRow: number, rows: number) => Uint8Array), n: number, k: number, name: string, rowsPerRead = n): QuantizedWeight {
  const [bs, bb] = LAYOUT[type];
  if (k % bs !== 0) throw new Error(`${name}: ${type} rows of ${k} are not whole blocks of ${bs}`);
  const { bits, block, zp, offsets: hasOffsets } = TARGET[type];
  const blocks = k / block;
  const blob = (block * bits) / 8;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const offsets = hasOffsets ? new Float32Array(n * blocks) : undefined;
  const zeroPoints = new Uint8Array(n * zpRow).fill(bits === 8 ? zp : zp | (zp << 4));
  const read = typeof src === 'function' ? src : () => src;
  const step = typeof src === 'function' ? Math.max(1, rowsPerRead) : n;
  for (let r = 0; r < n; r += step) {
    const rows = Math.min(step, n - r);
    const bytes = read(r, rows);
    if (bytes.length !== (rows * k * bb) / bs) throw new Error(`${name}: ${bytes.length} bytes for ${type} [${rows}, ${k}], expected ${(rows * k * bb) / bs}`);
    // Every loop below indexes its outputs from the first block it is given: rows r.. start there.
    const b0 = r * blocks;
    const out = { src: bytes, packed: packed.subarray(b0 * blob), scales: scales.subarray(b0), offsets: offsets?.subarray(b0) };
    const nSrc = (rows * k) / bs;
    switch (type) {
      case 'Q4_0': case 'Q4_1': reblockQ4(out, nSrc, type === 'Q4_1'); break;
      case 'Q8_0': reblockQ8_0(out, nSrc); break;
      case 'Q5_0': case 'Q5_1': reblockQ5(out, nSrc, type === 'Q5_1'); break;
      case 'Q4_K': reblockQ4K(out, nSrc); break;
      case 'Q5_K': reblockQ5K(out, nSrc); break;
      case 'Q6_K': reblockQ6K(out, nSrc); break;
    }
  }
  const u8 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return {
    bits, n, k, blockSize: block,
    packed: { dtype: 'uint8', shape: [n, blocks, blob], data: packed },
    scales: { dtype: 'float32', shape: [n * blocks], data: u8(scales) },
    zeroPoints: { dtype: 'uint8', shape: [n * zpRow], data: zeroPoints },
    ...(offsets ? { offsets: { dtype: 'float32', shape: [n * blocks], data: u8(offsets) } as HostTensor } : {}),
  };
}

// One loop per source type, writing codes straight into MatMulNBits's blocks (a 7B file has ~7e9
// weights: these loops are what opening a GGUF file costs).
interface Reblocking { src: Uint8Array; packed: Uint8Array; scales: Float32Array; offsets?: Float32Array }

/** Q4_0/Q4_1: ggml byte j holds elements j (low) and j + 16 (high); MatMulNBits byte t holds 2t and 2t + 1. */
function reblockQ4({ src, packed, scales, offsets }: Reblocking, nSrc: number, q41: boolean): void {
  const bb = q41 ? 20 : 18;
  for (let i = 0; i < nSrc; i++) {
    const p = i * bb, qs = p + (q41 ? 4 : 2), o = i * 16;
    for (let t = 0; t < 8; t++) {
      packed[o + t] = (src[qs + 2 * t] & 15) | ((src[qs + 2 * t + 1] & 15) << 4);
      packed[o + 8 + t] = (src[qs + 2 * t] >> 4) | (src[qs + 2 * t + 1] & 0xf0);
    }
    const d = half(src, p);
    scales[i] = d;
    if (q41) offsets![i] = f(8 * d + half(src, p + 2));
  }
}

function reblockQ8_0({ src, packed, scales }: Reblocking, nSrc: number): void {
  for (let i = 0; i < nSrc; i++) {
    const p = i * 34;
    packed.set(src.subarray(p + 2, p + 34), i * 32);
    scales[i] = half(src, p);
  }
  const words = new Uint32Array(packed.buffer, packed.byteOffset, nSrc * 8); // these blocks only (packed runs on to later rows)
  for (let w = 0; w < words.length; w++) words[w] ^= 0x80808080; // int8 q -> uint8 q + 128
}

/** Q5_0/Q5_1: as Q4_0/Q4_1 plus bit e of the u32 qh as element e's fifth bit; 8-bit codes 0..31, zero point 16. */
function reblockQ5({ src, packed, scales, offsets }: Reblocking, nSrc: number, q51: boolean): void {
  const bb = q51 ? 24 : 22;
  for (let i = 0; i < nSrc; i++) {
    const p = i * bb, h = p + (q51 ? 4 : 2), qs = h + 4, o = i * 32;
    const qh = (src[h] | (src[h + 1] << 8) | (src[h + 2] << 16) | (src[h + 3] << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      packed[o + j] = (src[qs + j] & 15) | (((qh >>> j) & 1) << 4);
      packed[o + j + 16] = (src[qs + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
    }
    const d = half(src, p);
    scales[i] = d;
    if (q51) offsets![i] = f(16 * d + half(src, p + 2));
  }
}

/** Q4_K: sub-block s of 32 takes the low (even s) or high (odd s) nibbles of bytes 32*(s>>1) .. +31. */
function reblockQ4K({ src, packed, scales, offsets }: Reblocking, nSrc: number): void {
  for (let i = 0; i < nSrc; i++) {
    const p = i * 144, d = half(src, p), dmin = half(src, p + 2);
    for (let s = 0; s < 8; s++) {
      const b = i * 8 + s, q = p + 16 + 32 * (s >> 1), o = b * 16;
      if (s & 1) for (let t = 0; t < 16; t++) packed[o + t] = (src[q + 2 * t] >> 4) | (src[q + 2 * t + 1] & 0xf0);
      else for (let t = 0; t < 16; t++) packed[o + t] = (src[q + 2 * t] & 15) | ((src[q + 2 * t + 1] & 15) << 4);
      const [sc, m] = scaleMin(src, p + 4, s);
      const scale = f(d * sc);
      scales[b] = scale;
      offsets![b] = f(8 * scale - f(dmin * m));
    }
  }
}

/** Q5_K: as Q4_K plus bit s of qh[l] as the fifth bit; 8-bit codes 0..31, zero point 16. */
function reblockQ5K({ src, packed, scales, offsets }: Reblocking, nSrc: number): void {
  for (let i = 0; i < nSrc; i++) {
    const p = i * 176, d = half(src, p), dmin = half(src, p + 2);
    for (let s = 0; s < 8; s++) {
      const b = i * 8 + s, q = p + 48 + 32 * (s >> 1), qh = p + 16, o = b * 32, shift = s & 1 ? 4 : 0;
      for (let l = 0; l < 32; l++) packed[o + l] = ((src[q + l] >> shift) & 15) | (((src[qh + l] >> s) & 1) << 4);
      const [sc, m] = scaleMin(src, p + 4, s);
      const scale = f(d * sc);
      scales[b] = scale;
      offsets![b] = f(16 * scale - f(dmin * m));
    }
  }
}

/** Q6_K: 16-element sub-block s = 8h + 2t + (l >> 4): half h, quarter t (which nibble, which qh bits). */
function reblockQ6K({ src, packed, scales }: Reblocking, nSrc: number): void {
  for (let i = 0; i < nSrc; i++) {
    const p = i * 210, d = half(src, p + 208);
    for (let s = 0; s < 16; s++) {
      const h = s >> 3, t = (s >> 1) & 3, l0 = (s & 1) * 16, b = i * 16 + s, o = b * 16;
      const ql = p + 64 * h + (t & 1 ? 32 : 0) + l0, qh = p + 128 + 32 * h + l0, shift = t < 2 ? 0 : 4;
      for (let l = 0; l < 16; l++) packed[o + l] = ((src[ql + l] >> shift) & 15) | (((src[qh + l] >> (2 * t)) & 3) << 4); // q + 32, zp 32
      scales[b] = f(d * ((src[p + 192 + s] << 24) >> 24));
    }
  }
}
