// Layers built from primitive ops. Every layer here is written with differentiable standard ops so
// training graphs can be derived from the same definition; inference may swap in fused kernels
// later without changing the model definition.

import { Builder } from './builder';
import { Value } from './graph';

/** x @ W^T (+ b) with W stored [out, in]. */
export function linear(b: Builder, x: Value, weightT: Value, bias?: Value): Value {
  const y = b.matmul(x, weightT);
  return bias ? b.add(y, bias) : y;
}

/** LLaMA RMSNorm: x * rsqrt(mean(x^2) + eps) * w, in float32. */
export function rmsNorm(b: Builder, x: Value, weight: Value, eps: number): Value {
  const ms = b.reduceMean(b.mul(x, x), [-1]);
  const inv = b.reciprocal(b.sqrt(b.add(ms, b.scalar(eps))));
  return b.mul(b.mul(x, inv), weight);
}

/** LayerNorm over the last axis (CLIP: eps 1e-5, biased variance). */
export function layerNorm(b: Builder, x: Value, weight: Value, bias: Value, eps: number): Value {
  const mean = b.reduceMean(x, [-1]);
  const centred = b.sub(x, mean);
  const variance = b.reduceMean(b.mul(centred, centred), [-1]);
  const normed = b.div(centred, b.sqrt(b.add(variance, b.scalar(eps))));
  return b.add(b.mul(normed, weight), bias);
}

export function silu(b: Builder, x: Value): Value {
  return b.mul(x, b.sigmoid(x));
}

/** CLIP's QuickGELU: x * sigmoid(1.702 x). */
export function quickGelu(b: Builder, x: Value): Value {
  return b.mul(x, b.sigmoid(b.mul(x, b.scalar(1.702))));
}
