// Products with a frozen weight held in MatMulNBits's blocks, where MatMulNBits itself cannot serve:
// the input gradient of a training graph (dx = dy @ W contracts over the output dimension, across
// the blocks), and a forward pass whose weight is a graph input (MatMulNBits' kernel is fast only
// on initializers it packed at load). W is rebuilt from its blocks inside the graph (opset 21
// DequantizeLinear with block_size) a chunk of rows at a time, each chunk just before the product
// that uses it and freed after, so a quantised weight is never held whole in float32.

import { after, recomputedInBackward } from './rebuild';
import { Builder } from './builder';
import { Value } from './graph';

export interface BlockShape {
  /** Output features (rows of W). */
  n: number;
  /** Input features. */
  k: number;
  bits: 4 | 8;
  blockSize: number;
}

/** MatMulNBits's weight inputs: codes uint8 [N, blocks, blob], scales float32 [N * blocks], zero points uint8 [N * ceil(blocks * bits / 8)]. */
export interface BlockedWeight {
  packed: Value;
  scales: Value;
  zeroPoints: Value;
  shape: BlockShape;
}

/** Floats per rebuilt chunk (16 MB): small enough that the allocator reuses the same memory chunk after chunk. */
export const DEQUANTIZE_CHUNK = 1 << 22;

/** Row ranges [r0, r1) of W, each at most `chunk` floats. */
export function rowChunks(s: BlockShape, chunk = DEQUANTIZE_CHUNK): [number, number][] {
  const rows = Math.max(1, Math.floor(chunk / s.k));
  const out: [number, number][] = [];
  for (let r = 0; r < s.n; r += rows) out.push([r, Math.min(s.n, r + rows)]);
  return out;
}

/**
 * Rows [r0, r1) of W as float32 [r1 - r0, K], built once `dependency` exists:
 * W = (q - zero point) * scale, as MatMulNBits and quant.ts's dequantizeWeight define it (columns
 * past K, padding, cut). Slicing at a start computed from `dependency` keeps onnxruntime from
 * constant-folding the rebuild at load (a permanent float copy) or running it early.
 */
export function dequantizedRows(b: Builder, w: BlockedWeight, r0: number, r1: number, dependency: Value): Value {
  const { n, k, bits, blockSize } = w.shape;
  const rows = r1 - r0;
  const blocks = Math.ceil(k / blockSize);
  const padded = blocks * blockSize;
  const zpRow = Math.ceil((blocks * bits) / 8);
  const start = (per: number) => after(b, b.constInt64([r0 * per]), dependency);
  const cut = (v: Value, per: number, shape: number[]) => b.op('Slice', [v, start(per), b.constInt64([r1 * per]), b.constInt64([0])], [{ dtype: v.dtype, shape }])[0];
  const packed = cut(w.packed, 1, [rows, ...(w.packed.shape as number[]).slice(1)]);
  const scales = b.reshape(cut(w.scales, blocks, [rows * blocks]), [rows, blocks]);
  let zps = b.reshape(cut(w.zeroPoints, zpRow, [rows * zpRow]), [rows, zpRow]);
  const codes = bits === 8 ? b.reshape(packed, [rows, padded]) : b.reshape(unpackNibbles(b, packed, [rows, blocks, blockSize / 2]), [rows, padded]);
  if (bits === 4) {
    zps = b.reshape(unpackNibbles(b, zps, [rows, zpRow]), [rows, 2 * zpRow]);
    if (2 * zpRow !== blocks) zps = b.slice(zps, [0], [blocks], [1]);
  }
  if (n < r1) throw new Error(`dequantizedRows: rows ${r0}..${r1} of ${n}`);
  const m = b.op('DequantizeLinear', [codes, scales, zps], [{ dtype: 'float32', shape: [rows, padded] }], { axis: { i: 1 }, block_size: { i: blockSize } })[0];
  return padded === k ? m : b.slice(m, [0], [k], [1]);
}

/** dy @ W: [..., N] -> [..., K], summed chunk by chunk of W's rows. */
export function timesWeight(b: Builder, dy: Value, w: BlockedWeight, chunk = DEQUANTIZE_CHUNK): Value {
  const chunks = rowChunks(w.shape, chunk);
  let sum: Value | undefined;
  for (const [r0, r1] of chunks) {
    const part = b.matmul(chunks.length === 1 ? dy : b.slice(dy, [r0], [r1], [-1]), dequantizedRows(b, w, r0, r1, dy));
    sum = sum ? b.add(sum, part) : part;
  }
  return sum!;
}

/**
 * x @ W^T: [..., K] -> [..., N], chunk by chunk of W's rows. Differentiable in x: each chunk's
 * weight is rebuilt again in the backward pass (recomputedInBackward) rather than kept from the
 * forward pass.
 */
export function timesWeightT(b: Builder, x: Value, w: BlockedWeight, chunk = DEQUANTIZE_CHUNK): Value {
  const parts = rowChunks(w.shape, chunk).map(([r0, r1]) => {
    const wT = (bb: Builder, dep: Value) => bb.transpose(dequantizedRows(bb, w, r0, r1, dep), [1, 0]);
    return b.matmul(x, recomputedInBackward(wT(b, x), wT));
  });
  return parts.length === 1 ? parts[0] : b.concat(parts, x.rank - 1);
}

/** uint8 [..., m] holding two 4-bit codes per byte (low nibble first) -> uint8 [..., m, 2]. */
function unpackNibbles(b: Builder, x: Value, shape: number[]): Value {
  const u8 = (v: number) => b.initializer(b.graph.fresh('nibble_const'), { dtype: 'uint8', shape: [], data: Uint8Array.of(v) });
  const low = b.op('BitwiseAnd', [x, u8(15)], [{ dtype: 'uint8', shape }])[0];
  const high = b.op('BitShift', [x, u8(4)], [{ dtype: 'uint8', shape }], { direction: { s: 'RIGHT' } })[0];
  const r = shape.length;
  return b.concat([b.reshape(low, [...shape, 1]), b.reshape(high, [...shape, 1])], r);
}
