// The float weight a MatMulNBits node multiplies by, rebuilt from its blocks inside a graph (opset 21
// DequantizeLinear with block_size). A training graph's backward pass needs it for the input
// gradient (dx = dy @ W: MatMulNBits contracts over the blocked input dimension only), so a frozen
// quantised weight stays in its blocks in memory and is widened to float32 just for that product.

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

/**
 * W [N, K] float32 from MatMulNBits's inputs: codes uint8 [N, blocks, blob], scales float32
 * [N * blocks], zero points uint8 [N * ceil(blocks * bits / 8)]. W = (q - zero point) * scale,
 * exactly as MatMulNBits (and quant.ts's dequantizeWeight) define it; columns past K (padding) cut.
 */
export function dequantizedWeight(b: Builder, packed: Value, scales: Value, zeroPoints: Value, s: BlockShape): Value {
  const { n, k, bits, blockSize } = s;
  const blocks = Math.ceil(k / blockSize);
  const padded = blocks * blockSize;
  const codes = bits === 8 ? b.reshape(packed, [n, padded]) : b.reshape(unpackNibbles(b, packed, [n, blocks, blockSize / 2]), [n, padded]);
  const zpRow = Math.ceil((blocks * bits) / 8);
  let zps = b.reshape(zeroPoints, [n, zpRow]);
  if (bits === 4) {
    zps = b.reshape(unpackNibbles(b, zps, [n, zpRow]), [n, 2 * zpRow]);
    if (2 * zpRow !== blocks) zps = b.slice(zps, [0], [blocks], [1]);
  }
  const w = b.op('DequantizeLinear', [codes, b.reshape(scales, [n, blocks]), zps], [{ dtype: 'float32', shape: [n, padded] }], { axis: { i: 1 }, block_size: { i: blockSize } })[0];
  return padded === k ? w : b.slice(w, [0], [k], [1]);
}

/** uint8 [..., m] holding two 4-bit codes per byte (low nibble first) -> uint8 [..., m, 2]. */
function unpackNibbles(b: Builder, x: Value, shape: number[]): Value {
  const u8 = (v: number) => b.initializer(b.graph.fresh('nibble_const'), { dtype: 'uint8', shape: [], data: Uint8Array.of(v) });
  const low = b.op('BitwiseAnd', [x, u8(15)], [{ dtype: 'uint8', shape }])[0];
  const high = b.op('BitShift', [x, u8(4)], [{ dtype: 'uint8', shape }], { direction: { s: 'RIGHT' } })[0];
  const r = shape.length;
  return b.concat([b.reshape(low, [...shape, 1]), b.reshape(high, [...shape, 1])], r);
}
