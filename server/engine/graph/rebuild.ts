// Frozen values that a training graph's backward pass rebuilds rather than keeps (weights held in
// quantised blocks, widened to float32 only for the product that needs them), and the ordering
// that makes onnxruntime build them late: shared by autodiff.ts and dequantize.ts.

import { Builder } from './builder';
import { Value } from './graph';

/** Frozen values the backward pass rebuilds (after a given value exists) instead of keeping them from the forward pass. */
const REBUILT = new WeakMap<Value, (b: Builder, after: Value) => Value>();

/**
 * Mark `v` (a frozen MatMul operand, e.g. a weight rebuilt from quantised blocks) as cheaper to
 * rebuild than to keep: the MatMul rule multiplies by `rebuild(b, dy)` instead, so the forward
 * pass's value is freed after its own product.
 */
export function recomputedInBackward(v: Value, rebuild: (b: Builder, after: Value) => Value): Value {
  REBUILT.set(v, rebuild);
  return v;
}

/**
 * `x` again, but computed once `dependency` exists: Where(isnan(dependency's first value), x, x).
 * A frozen weight rebuilt from initializers alone would be constant-folded at load (a permanent
 * float copy) or scheduled at the start of the run (all layers' copies alive at once); tied to the
 * value that the product needs anyway, it is built just before that product and freed after.
 */
export function after(b: Builder, x: Value, dependency: Value): Value {
  const first = b.slice(b.reshape(dependency, [-1]), [0], [1], [0]);
  const cond = b.op('IsNaN', [first], [{ dtype: 'bool', shape: [1] }])[0];
  return b.op('Where', [cond, x, x], [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** The value the backward pass multiplies by in place of `v` (built once `dependency` exists). */
export function rebuiltInBackward(b: Builder, v: Value, dependency: Value): Value {
  return REBUILT.get(v)?.(b, dependency) ?? v;
}
