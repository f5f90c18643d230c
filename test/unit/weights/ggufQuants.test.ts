// ggml tensor types: our dequantisation against a plain transcription of ggml's formulas (bit for bit),
// the re-blocking into MatMulNBits against that dequantisation (bit-exact or within the stated
// rounding), and onnxruntime's MatMulNBits over the re-blocked weight against x @ W^T.
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Builder } from '../../../server/engine/graph/builder';
import { Graph } from '../../../server/engine/graph/graph';
import { HostParams } from '../../../server/engine/graph/params';
import { dequantizeWeight } from '../../../server/engine/quant';
import { createSession, f32 } from '../../../server/engine/session';
import { floatToHalf, halfToFloat, type HostTensor } from '../../../server/engine/tensor';
import { dequantize, GGUF_QUANT_TYPES, reblock, typeLayout, type GgufQuantType, type GgufReadableType } from '../../../server/engine/weights/ggufQuants';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
}

/** Random bytes with finite half scales where the type keeps them (random codes and 6-bit scales are all valid). */
function randomBlocks(type: GgufReadableType, nElements: number, seed: number): Uint8Array {
  const { blockSize, blockBytes } = typeLayout(type);
  const r = rng(seed);
  const out = Uint8Array.from({ length: (nElements / blockSize) * blockBytes }, () => Math.floor(r() * 256));
  const setHalf = (at: number, v: number) => { const h = floatToHalf(v); out[at] = h & 255; out[at + 1] = h >> 8; };
  for (let b = 0; b < nElements / blockSize; b++) {
    const p = b * blockBytes;
    const scale = () => (r() < 0.05 ? 0 : (r() - 0.2) * 0.05); // a few zero scales, some negative
    switch (type) {
      case 'Q8_0': case 'Q4_0': setHalf(p, scale()); break;
      case 'Q4_1': case 'Q5_1': setHalf(p, scale()); setHalf(p + 2, (r() - 0.5) * 0.5); break;
      case 'Q5_0': setHalf(p, scale()); break;
      case 'Q4_K': case 'Q5_K': setHalf(p, Math.abs(scale()) / 8); setHalf(p + 2, Math.abs(scale()) / 8); break;
      case 'Q6_K': setHalf(p + 208, scale() / 64); break;
      case 'F16': case 'BF16': case 'F32': break;
    }
  }
  if (type === 'F32') new Float32Array(out.buffer).forEach((_, i, a) => { a[i] = (r() - 0.5) * 4; });
  if (type === 'F16') for (let i = 0; i < nElements; i++) setHalf(2 * i, (r() - 0.5) * 4);
  if (type === 'BF16') for (let i = 0; i < nElements; i++) { const v = new Float32Array([(r() - 0.5) * 4]); const u = new Uint32Array(v.buffer)[0]; out[2 * i] = (u >>> 16) & 255; out[2 * i + 1] = u >>> 24; }
  return out;
}

// --- ggml's dequantize_row_* written out element by element (the reference) ---------------------
const fr = Math.fround;
const h16 = (b: Uint8Array, i: number) => halfToFloat(b[i] + 256 * b[i + 1]);
const i8 = (v: number) => (v > 127 ? v - 256 : v);
function kScaleMin(sc: Uint8Array, j: number): [number, number] {
  return j < 4 ? [sc[j] & 63, sc[j + 4] & 63] : [(sc[j + 4] & 0xf) | ((sc[j - 4] >> 6) << 4), (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4)];
}
/** Element e (0-based within its block) of one block `x` (its bytes). */
function ggmlElement(type: GgufReadableType, x: Uint8Array, e: number): number {
  switch (type) {
    case 'F32': return new DataView(x.buffer, x.byteOffset).getFloat32(0, true);
    case 'F16': return h16(x, 0);
    case 'BF16': return new Float32Array(new Uint32Array([(x[0] + 256 * x[1]) * 65536]).buffer)[0];
    case 'Q8_0': return fr(i8(x[2 + e]) * h16(x, 0));
    case 'Q4_0': return fr(((e < 16 ? x[2 + e] & 0x0f : x[2 + e - 16] >> 4) - 8) * h16(x, 0));
    case 'Q4_1': return fr(fr((e < 16 ? x[4 + e] & 0x0f : x[4 + e - 16] >> 4) * h16(x, 0)) + h16(x, 2));
    case 'Q5_0': case 'Q5_1': {
      const one = type === 'Q5_1', qh = x[one ? 4 : 2] + 256 * x[one ? 5 : 3] + 65536 * x[one ? 6 : 4] + 16777216 * x[one ? 7 : 5];
      const qs = one ? 8 : 6;
      const q = (e < 16 ? x[qs + e] & 0x0f : x[qs + e - 16] >> 4) + 16 * (Math.floor(qh / 2 ** e) % 2);
      return one ? fr(fr(q * h16(x, 0)) + h16(x, 2)) : fr((q - 16) * h16(x, 0));
    }
    case 'Q4_K': case 'Q5_K': {
      const chunk = Math.floor(e / 64), high = (e % 64) >= 32, l = e % 32, sub = 2 * chunk + (high ? 1 : 0);
      const [sc, m] = kScaleMin(x.subarray(4, 16), sub);
      const ql = type === 'Q5_K' ? x.subarray(48) : x.subarray(16);
      let q = high ? ql[32 * chunk + l] >> 4 : ql[32 * chunk + l] & 0xf;
      if (type === 'Q5_K' && (x[16 + l] & (1 << sub))) q += 16;
      return fr(fr(fr(h16(x, 0) * sc) * q) - fr(h16(x, 2) * m));
    }
    case 'Q6_K': {
      const n = Math.floor(e / 128), r = e % 128, quarter = Math.floor(r / 32), l = r % 32;
      const ql = x.subarray(64 * n), qh = x.subarray(128 + 32 * n), sc = x.subarray(192 + 8 * n);
      const low = quarter % 2 === 0 ? ql[l] : ql[l + 32];
      const q = ((quarter < 2 ? low & 0xf : low >> 4) | (((qh[l] >> (2 * quarter)) & 3) << 4)) - 32;
      return fr(fr(h16(x, 208) * i8(sc[Math.floor(l / 16) + 2 * quarter])) * q);
    }
  }
}
function ggmlReference(type: GgufReadableType, bytes: Uint8Array, n: number): Float32Array {
  const { blockSize, blockBytes } = typeLayout(type);
  return Float32Array.from({ length: n }, (_, i) => ggmlElement(type, bytes.subarray(Math.floor(i / blockSize) * blockBytes), i % blockSize));
}

// -------------------------------------------------------------------------------------------------

const ALL: GgufReadableType[] = ['F32', 'F16', 'BF16', ...GGUF_QUANT_TYPES];
/** Types whose re-blocked weight reproduces ggml's float32 values bit for bit. */
const BIT_EXACT: GgufQuantType[] = ['Q4_0', 'Q8_0', 'Q5_0', 'Q6_K'];

describe('dequantisation equals ggml dequantize_row_* bit for bit', () => {
  for (const type of ALL) {
    test(type, () => {
      const n = 4 * 256;
      const bytes = randomBlocks(type, n, type.length * 7 + type.charCodeAt(1));
      const ours = dequantize(type, bytes, n);
      const ref = ggmlReference(type, bytes, n);
      for (let i = 0; i < n; i++) assert.ok(Object.is(ours[i], ref[i]), `${type} element ${i}: ${ours[i]} vs ggml ${ref[i]}`);
      assert.ok(ref.some((v) => v !== 0), 'not all zero');
    });
  }
});

/** Effective weights of a re-blocked weight, in double: (q - zp) * scale + offset without rounding the sum. */
function effectiveWeights(q: ReturnType<typeof reblock>): Float64Array {
  const f32 = (t: HostTensor) => new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
  const blocks = q.k / q.blockSize;
  const scales = f32(q.scales);
  const offsets = q.offsets ? f32(q.offsets) : undefined;
  const zeroOnly = { ...q, offsets: undefined, scales: { ...q.scales, data: new Uint8Array(new Float32Array(scales.length).fill(1).buffer) } };
  const codes = dequantizeWeight(zeroOnly); // q - zp, exact small integers
  return Float64Array.from(codes, (c, i) => {
    const b = Math.floor(i / q.k) * blocks + Math.floor((i % q.k) / q.blockSize);
    return c * scales[b] + (offsets ? offsets[b] : 0);
  });
}
const ulp = (v: number) => { const a = Math.abs(Math.fround(v)); if (a === 0) return 2 ** -149; const e = Math.floor(Math.log2(a)); return 2 ** (Math.max(e, -126) - 23); };

describe('re-blocking into MatMulNBits keeps the weight values', () => {
  for (const type of GGUF_QUANT_TYPES) {
    test(type, (t) => {
      const [n, k] = [6, 512];
      const bytes = randomBlocks(type, n * k, 99 + type.charCodeAt(1));
      const ref = dequantize(type, bytes, n * k);
      const q = reblock(type, bytes, n, k, 'w');
      const eff = effectiveWeights(q);
      const offsets = q.offsets ? new Float32Array(q.offsets.data.buffer) : undefined;
      let worstUlps = 0;
      let worstRel = 0;
      let exact = 0;
      const blocks = k / q.blockSize;
      for (let i = 0; i < n * k; i++) {
        const diff = Math.abs(eff[i] - ref[i]);
        if (diff === 0) { exact++; continue; }
        const b = Math.floor(i / k) * blocks + Math.floor((i % k) / q.blockSize);
        const bound = 0.5 * ulp(ref[i]) + (offsets ? 0.5 * ulp(offsets[b]) : 0);
        assert.ok(diff <= bound, `${type} element ${i}: ${eff[i]} vs ggml ${ref[i]} (bound ${bound})`);
        worstUlps = Math.max(worstUlps, diff / ulp(ref[i]));
        worstRel = Math.max(worstRel, diff / Math.max(...[Math.abs(ref[i]), Math.abs(offsets?.[b] ?? 0)]));
      }
      t.diagnostic(`${type}: ${exact}/${n * k} weights bit-exact, worst ${worstUlps.toFixed(2)} ulp of ggml's value, worst ${worstRel.toExponential(2)} relative to max(|w|, |offset|)`);
      if (BIT_EXACT.includes(type)) assert.equal(exact, n * k, `${type} is bit-exact`);
    });
  }
});

describe('re-blocking a few rows at a time gives the same bytes as the whole tensor at once', () => {
  for (const type of GGUF_QUANT_TYPES) {
    test(type, () => {
      const [n, k] = [7, 512];
      const bytes = randomBlocks(type, n * k, 11 + type.charCodeAt(1));
      const whole = reblock(type, bytes, n, k, 'w');
      const rowBytes = bytes.length / n;
      const reads: number[] = [];
      const scratch = new Uint8Array(3 * rowBytes).fill(0xa5); // reused: stale bytes must not leak into later rows
      const stepped = reblock(type, (first, rows) => {
        reads.push(rows);
        const buf = scratch.subarray(0, rows * rowBytes);
        buf.set(bytes.subarray(first * rowBytes, (first + rows) * rowBytes));
        return buf;
      }, n, k, 'w', 3);
      assert.deepEqual(reads, [3, 3, 1]);
      for (const part of ['packed', 'scales', 'zeroPoints', 'offsets'] as const) {
        assert.deepEqual(stepped[part]?.data, whole[part]?.data, `${type} ${part}`);
      }
    });
  }
});

describe('MatMulNBits over the re-blocked weight equals x @ W^T', () => {
  for (const type of GGUF_QUANT_TYPES) {
    for (const level of [0, 4]) {
      test(`${type}, accuracy_level ${level}`, async (t) => {
        const [m, k, n] = [3, 512, 24];
        const bytes = randomBlocks(type, n * k, 7 + type.charCodeAt(1));
        const q = reblock(type, bytes, n, k, 'w');
        const w = dequantize(type, bytes, n * k);
        const r = rng(3);
        const x = Float32Array.from({ length: m * k }, () => r() * 2 - 1);
        const g = new Graph(`gguf_${type}_${level}`);
        const b = new Builder(g);
        const xin = b.input('x', 'float32', [m, k]);
        const shapeOnly: HostTensor = { dtype: 'float32', shape: [n, k], data: new Uint8Array(0) };
        const p = new HostParams(new Map([['w', shapeOnly]]), new Set(), { format: q.bits === 8 ? 'int8' : 'int4', accuracyLevel: level }, { prequantized: new Map([['w', q]]) });
        b.output(p.linear(b, xin, 'w'), 'y');
        const session = await createSession(g, { threads: 1 });
        const y = (await session.run({ x: f32(x, [m, k]) })).y.data as Float32Array;
        await session.release();
        let maxErr = 0;
        let scale = 0;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let ref = 0;
            let mag = 0;
            for (let c = 0; c < k; c++) { ref += x[i * k + c] * w[j * k + c]; mag += Math.abs(x[i * k + c] * w[j * k + c]); }
            maxErr = Math.max(maxErr, Math.abs(ref - y[i * n + j]));
            scale = Math.max(scale, mag);
          }
        }
        // Level 0: float arithmetic on the weight (rounding only). Level 4 quantises the activations
        // to int8 per block (relative step 1/127 of the block's largest |x|), as llama.cpp does.
        const bound = (level === 0 ? 2e-6 : 1e-2) * scale;
        t.diagnostic(`max |err| ${maxErr.toExponential(2)}, sum |x w| up to ${scale.toFixed(3)} (bound ${bound.toExponential(2)})`);
        assert.ok(maxErr <= bound, `max |err| ${maxErr} > ${bound}`);
      });
    }
  }
});
