// Float32 values -> ggml block bytes, for writing test and benchmark GGUF files. Q8_0 and Q4_0 are
// llama.cpp's reference quantisers (quantize_row_*_ref); Q4_1, Q4_K, Q5_K and Q6_K are plain
// min/max quantisers that produce valid blocks close to the values (not ggml's error-minimising
// search: the files need valid blocks of realistic scale, not the best ones). Decoding is the
// engine's own dequantisation (server/engine/weights/ggufQuants.ts), checked against ggml's formulas
// by its tests.

import { floatToHalf, halfToFloat } from '../server/engine/tensor';

export type GgufType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1' | 'q4_k' | 'q5_k' | 'q6_k';
export const GGUF_TYPES: readonly GgufType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k'];

/** ggml type id, elements per block, bytes per block, and the ggml name. */
export const TYPE_INFO: Record<GgufType, { id: number; block: number; bytes: number; ggml: 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1' | 'Q4_K' | 'Q5_K' | 'Q6_K' }> = {
  f32: { id: 0, block: 1, bytes: 4, ggml: 'F32' }, f16: { id: 1, block: 1, bytes: 2, ggml: 'F16' }, bf16: { id: 30, block: 1, bytes: 2, ggml: 'BF16' },
  q8_0: { id: 8, block: 32, bytes: 34, ggml: 'Q8_0' }, q4_0: { id: 2, block: 32, bytes: 18, ggml: 'Q4_0' }, q4_1: { id: 3, block: 32, bytes: 20, ggml: 'Q4_1' },
  q5_0: { id: 6, block: 32, bytes: 22, ggml: 'Q5_0' }, q5_1: { id: 7, block: 32, bytes: 24, ggml: 'Q5_1' },
  q4_k: { id: 12, block: 256, bytes: 144, ggml: 'Q4_K' }, q5_k: { id: 13, block: 256, bytes: 176, ggml: 'Q5_K' }, q6_k: { id: 14, block: 256, bytes: 210, ggml: 'Q6_K' },
};

export function ggufBytes(type: GgufType, n: number): number {
  const { block, bytes } = TYPE_INFO[type];
  if (n % block) throw new Error(`${n} elements are not whole ${type} blocks of ${block}`);
  return (n / block) * bytes;
}

const clamp = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);
const h = (v: number) => halfToFloat(floatToHalf(v));

export function encodeTensor(type: GgufType, x: Float32Array): Buffer {
  const out = Buffer.alloc(ggufBytes(type, x.length));
  const nb = x.length / TYPE_INFO[type].block;
  const bb = TYPE_INFO[type].bytes;
  switch (type) {
    case 'f32': Buffer.from(x.buffer, x.byteOffset, x.byteLength).copy(out); break;
    case 'f16': for (let i = 0; i < x.length; i++) out.writeUInt16LE(floatToHalf(x[i]), 2 * i); break;
    case 'bf16': {
      const u = new Uint32Array(Float32Array.from(x).buffer);
      for (let i = 0; i < x.length; i++) out.writeUInt16LE(((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) & 0xffff, 2 * i); // round to nearest even
      break;
    }
    case 'q8_0': for (let b = 0; b < nb; b++) q8_0(x, b * 32, out, b * bb); break;
    case 'q4_0': for (let b = 0; b < nb; b++) q4_0(x, b * 32, out, b * bb); break;
    case 'q4_1': for (let b = 0; b < nb; b++) q4_1(x, b * 32, out, b * bb); break;
    case 'q5_0': case 'q5_1': for (let b = 0; b < nb; b++) q5(x, b * 32, out, b * bb, type === 'q5_1'); break;
    case 'q4_k': case 'q5_k': for (let b = 0; b < nb; b++) qK(x, b * 256, out, b * bb, type === 'q5_k'); break;
    case 'q6_k': for (let b = 0; b < nb; b++) q6_k(x, b * 256, out, b * bb); break;
  }
  return out;
}

/** quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d). */
function q8_0(x: Float32Array, at: number, out: Buffer, o: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]));
  const d = amax / 127;
  const id = d ? 1 / d : 0;
  out.writeUInt16LE(floatToHalf(d), o);
  for (let j = 0; j < 32; j++) out.writeInt8(Math.round(x[at + j] * id), o + 2 + j);
}

/** quantize_row_q4_0_ref: d = x_m / -8 (x_m the value of largest magnitude); low nibbles hold 0..15, high 16..31. */
function q4_0(x: Float32Array, at: number, out: Buffer, o: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[at + j];
    if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
  }
  const d = max / -8;
  const id = d ? 1 / d : 0;
  out.writeUInt16LE(floatToHalf(d), o);
  for (let j = 0; j < 16; j++) {
    const q0 = Math.min(15, Math.trunc(x[at + j] * id + 8.5));
    const q1 = Math.min(15, Math.trunc(x[at + 16 + j] * id + 8.5));
    out[o + 2 + j] = q0 | (q1 << 4);
  }
}

/** x ~ d*q + m over the block's [min, max]. */
function q4_1(x: Float32Array, at: number, out: Buffer, o: number): void {
  let lo = Infinity, hi = -Infinity;
  for (let j = 0; j < 32; j++) { lo = Math.min(lo, x[at + j]); hi = Math.max(hi, x[at + j]); }
  const d = h((hi - lo) / 15);
  const m = h(lo);
  out.writeUInt16LE(floatToHalf(d), o);
  out.writeUInt16LE(floatToHalf(m), o + 2);
  const q = (v: number) => (d ? clamp(Math.round((v - m) / d), 0, 15) : 0);
  for (let j = 0; j < 16; j++) out[o + 4 + j] = q(x[at + j]) | (q(x[at + 16 + j]) << 4);
}

/** Q5_0: x ~ d*(q - 16) symmetric over max|x|; Q5_1: x ~ d*q + m over [min, max]. Bit e of qh is element e's fifth bit. */
function q5(x: Float32Array, at: number, out: Buffer, o: number, one: boolean): void {
  let lo = Infinity, hi = -Infinity, amax = 0;
  for (let j = 0; j < 32; j++) { lo = Math.min(lo, x[at + j]); hi = Math.max(hi, x[at + j]); amax = Math.max(amax, Math.abs(x[at + j])); }
  const d = h(one ? (hi - lo) / 31 : amax / 15);
  const m = h(lo);
  out.writeUInt16LE(floatToHalf(d), o);
  if (one) out.writeUInt16LE(floatToHalf(m), o + 2);
  const q = (v: number) => (d ? clamp(Math.round(one ? (v - m) / d : v / d + 16), 0, 31) : one ? 0 : 16);
  let qh = 0;
  const qs = o + (one ? 8 : 6);
  for (let j = 0; j < 16; j++) {
    const a = q(x[at + j]), b = q(x[at + 16 + j]);
    out[qs + j] = (a & 15) | ((b & 15) << 4);
    qh |= ((a >> 4) << j) | ((b >> 4) << (j + 16));
  }
  out.writeUInt32LE(qh >>> 0, o + (one ? 4 : 2));
}

/** Q4_K / Q5_K: 8 sub-blocks of 32, x ~ d*sc*q - dmin*m with 6-bit sc, m (sub-block minimum clipped to <= 0). */
function qK(x: Float32Array, at: number, out: Buffer, o: number, five: boolean): void {
  const levels = five ? 31 : 15;
  const scale = new Float64Array(8), minv = new Float64Array(8);
  for (let s = 0; s < 8; s++) {
    let lo = 0, hi = -Infinity;
    for (let l = 0; l < 32; l++) { lo = Math.min(lo, x[at + 32 * s + l]); hi = Math.max(hi, x[at + 32 * s + l]); }
    scale[s] = Math.max(0, (hi - lo) / levels);
    minv[s] = -lo;
  }
  const d = h(Math.max(...scale) / 63);
  const dmin = h(Math.max(...minv) / 63);
  const sc = Array.from(scale, (v) => (d ? clamp(Math.round(v / d), 0, 63) : 0));
  const mm = Array.from(minv, (v) => (dmin ? clamp(Math.ceil(v / dmin), 0, 63) : 0)); // ceil: the block minimum stays representable
  out.writeUInt16LE(floatToHalf(d), o);
  out.writeUInt16LE(floatToHalf(dmin), o + 2);
  const s0 = o + 4;
  for (let j = 0; j < 4; j++) { out[s0 + j] = sc[j]; out[s0 + j + 4] = mm[j]; }
  for (let j = 4; j < 8; j++) {
    out[s0 + j + 4] = (sc[j] & 0xf) | ((mm[j] & 0xf) << 4);
    out[s0 + j - 4] |= (sc[j] >> 4) << 6;
    out[s0 + j] |= (mm[j] >> 4) << 6;
  }
  const qh = o + 16, ql = o + (five ? 48 : 16);
  for (let s = 0; s < 8; s++) {
    const d1 = Math.fround(d * sc[s]), m1 = Math.fround(dmin * mm[s]);
    for (let l = 0; l < 32; l++) {
      const q = d1 ? clamp(Math.round((x[at + 32 * s + l] + m1) / d1), 0, levels) : 0;
      out[ql + 32 * (s >> 1) + l] |= (q & 15) << (s & 1 ? 4 : 0);
      if (five && q > 15) out[qh + l] |= 1 << s;
    }
  }
}

/** Q6_K: 16 sub-blocks of 16, x ~ d*sc*(q - 32) with int8 sc and 6-bit q. */
function q6_k(x: Float32Array, at: number, out: Buffer, o: number): void {
  const scale = new Float64Array(16);
  for (let s = 0; s < 16; s++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[at + 16 * s + l]));
    scale[s] = amax / 31;
  }
  const d = h(Math.max(...scale) / 127);
  out.writeUInt16LE(floatToHalf(d), o + 208);
  for (let s = 0; s < 16; s++) {
    const sc = d ? clamp(Math.round(scale[s] / d), -128, 127) : 0;
    out.writeInt8(sc, o + 192 + s);
    const ds = Math.fround(d * sc);
    for (let l = 0; l < 16; l++) {
      const e = 16 * s + l;
      const q = (ds ? clamp(Math.round(x[at + e] / ds), -32, 31) : 0) + 32;
      const half = e >> 7, t = (e & 127) >> 5, i = e & 31;
      out[o + 64 * half + i + (t & 1 ? 32 : 0)] |= (q & 15) << (t < 2 ? 0 : 4);
      out[o + 128 + 32 * half + i] |= (q >> 4) << (2 * t);
    }
  }
}
