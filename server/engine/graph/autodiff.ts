// Reverse-mode differentiation over our graph IR. Given a scalar loss and the graph inputs to
// differentiate (trainable parameters), it appends gradient nodes made of standard ONNX ops and
// returns the gradient Value of each input. Only nodes on a path from a differentiated input to the
// loss get gradients. Shapes on that path must be static (the Builder tracks them); broadcasting
// ops "unbroadcast" with ReduceSum + Reshape.

import { DType, HostTensor } from '../tensor';
import { Builder } from './builder';
import { Graph, Node, Value } from './graph';
import { timesWeight } from './dequantize';
import { rebuiltInBackward } from './rebuild';

/** Gradient rule: given the node, its inputs/outputs and the output gradient, the input gradients. */
type Rule = (ctx: RuleContext) => (Value | undefined)[];

interface RuleContext {
  b: Builder;
  node: Node;
  ins: Value[];
  out: Value;
  gy: Value;
  /** Whether input k needs a gradient (rules may skip the work otherwise). */
  needs: (k: number) => boolean;
}

const FLOAT: ReadonlySet<DType> = new Set(['float32', 'float64']);

export class AutodiffError extends Error {
  constructor(message: string) {
    super(`autodiff: ${message}`);
    this.name = 'AutodiffError';
  }
}

/**
 * Append the gradient of `loss` (a scalar: shape [] or [1]) with respect to each of `wrt`.
 * Returns input name -> gradient Value; inputs with no path to the loss map to undefined.
 */
export function gradients(b: Builder, loss: Value, wrt: readonly Value[]): Map<string, Value | undefined> {
  const g = b.graph;
  if (!loss.shape || loss.shape.some((d) => d !== 1)) throw new AutodiffError(`loss ${loss.name} must be a scalar, got [${loss.shape}]`);
  const nodes = g.nodes.slice(); // gradient nodes appended below are not revisited

  // Forward: values that depend on a differentiated input.
  const varying = new Set(wrt.map((v) => v.name));
  for (const node of nodes) {
    if (node.inputs.some((name, k) => varying.has(name) && differentiableInput(node, k))) {
      for (const o of node.outputs) if (isFloat(g, o)) varying.add(o);
    }
  }
  if (!varying.has(loss.name)) return new Map(wrt.map((v) => [v.name, undefined]));

  // Backward: values the loss depends on.
  const contributes = new Set([loss.name]);
  const active: Node[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!node.outputs.some((o) => contributes.has(o) && varying.has(o))) continue;
    active.push(node); // reverse topological order
    for (const name of node.inputs) if (name) contributes.add(name);
  }

  const pending = new Map<string, Value[]>();
  const push = (name: string, v: Value) => {
    const list = pending.get(name);
    if (list) list.push(v);
    else pending.set(name, [v]);
  };
  const total = (name: string): Value | undefined => {
    const list = pending.get(name);
    if (!list || list.length === 0) return undefined;
    let sum = list[0];
    for (let i = 1; i < list.length; i++) sum = b.add(sum, list[i]);
    pending.set(name, [sum]);
    return sum;
  };

  push(loss.name, constant(b, loss.dtype, [1], loss.shape as number[]));
  for (const node of active) {
    if (node.outputs.length !== 1) throw new AutodiffError(`${node.op} node ${node.name}: multi-output ops have no gradient rule`);
    const gy = total(node.outputs[0]);
    if (!gy) continue;
    const rule = RULES[node.domain ? `${node.domain}.${node.op}` : node.op];
    if (!rule) throw new AutodiffError(`no gradient rule for ${node.domain ? node.domain + '.' : ''}${node.op} (node ${node.name})`);
    const ins = node.inputs.map((name) => (name ? valueOf(g, name) : (undefined as unknown as Value)));
    const out = valueOf(g, node.outputs[0]);
    for (const v of [...ins.filter((v, k) => v && varying.has(v.name) && differentiableInput(node, k)), out]) requireStatic(v, node);
    const needs = (k: number) => !!node.inputs[k] && varying.has(node.inputs[k]) && differentiableInput(node, k);
    const grads = rule({ b, node, ins, out, gy, needs });
    grads.forEach((gx, k) => {
      if (gx && needs(k)) push(node.inputs[k], gx);
    });
  }
  return new Map(wrt.map((v) => [v.name, total(v.name)]));
}

/** Like `gradients`, and adds each gradient as a graph output named `<prefix><input name>`. */
export function addGradientOutputs(b: Builder, loss: Value, wrt: readonly Value[], prefix = 'grad.'): Map<string, string | undefined> {
  const grads = gradients(b, loss, wrt);
  const names = new Map<string, string | undefined>();
  for (const v of wrt) {
    const gv = grads.get(v.name);
    names.set(v.name, gv ? b.output(gv, prefix + v.name).name : undefined);
  }
  return names;
}

// ---- helpers ----------------------------------------------------------------------------------

function isFloat(g: Graph, name: string): boolean {
  const v = g.values.get(name);
  return !!v && FLOAT.has(v.dtype);
}

function valueOf(g: Graph, name: string): Value {
  const v = g.values.get(name);
  if (!v) throw new AutodiffError(`value ${name} is not registered in graph ${g.name}`);
  return v;
}

/** Index, shape and condition inputs carry no gradient. */
function differentiableInput(node: Node, k: number): boolean {
  switch (node.op) {
    case 'Reshape': case 'Slice': case 'ReduceMean': case 'ReduceSum': case 'Expand':
    case 'Gather': case 'GatherElements': case 'Pow':
      return k === 0;
    case 'Where':
      return k > 0;
    case 'Equal': case 'Shape': case 'Greater': case 'Less': case 'Not': case 'ArgMax':
      return false;
    default:
      return true;
  }
}

function requireStatic(v: Value, node: Node): number[] {
  if (!v.shape || v.shape.some((d) => typeof d !== 'number')) {
    throw new AutodiffError(`${node.op} node ${node.name}: ${v.name} has no static shape ([${v.shape ?? '?'}]); training graphs need static shapes`);
  }
  return v.shape as number[];
}

function shapeOf(v: Value): number[] {
  return v.shape as number[];
}

/** A constant of the given float dtype. */
function constant(b: Builder, dtype: DType, values: number[], shape: number[]): Value {
  const n = shape.reduce((p, d) => p * d, 1);
  const filled = values.length === n ? values : Array.from({ length: n }, (_, i) => values[i % values.length]);
  let data: Uint8Array;
  if (dtype === 'float64') data = new Uint8Array(Float64Array.from(filled).buffer);
  else if (dtype === 'float32') data = new Uint8Array(Float32Array.from(filled).buffer);
  else throw new AutodiffError(`constant of dtype ${dtype}`);
  const t: HostTensor = { dtype, shape, data };
  return b.initializer(b.graph.fresh('grad_const'), t);
}

function scalarLike(b: Builder, like: Value, v: number): Value {
  return constant(b, like.dtype, [v], []);
}

/** Static numbers of an int64 / float initializer (axes, starts, exponents). */
function constantValues(g: Graph, name: string, node: Node): number[] {
  const t = g.initializers.get(name);
  if (!t) throw new AutodiffError(`${node.op} node ${node.name}: input ${name} must be a constant initializer`);
  const buf = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
  if (t.dtype === 'int64') return Array.from(new BigInt64Array(buf), (v) => Number(v));
  if (t.dtype === 'float32') return Array.from(new Float32Array(buf));
  if (t.dtype === 'float64') return Array.from(new Float64Array(buf));
  throw new AutodiffError(`${node.op} node ${node.name}: constant ${name} has dtype ${t.dtype}`);
}

/** Sum a gradient of a broadcast result back to the shape of the operand it came from. */
function unbroadcast(b: Builder, gx: Value, target: number[]): Value {
  const s = shapeOf(gx);
  const lead = s.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (i < lead || (target[i - lead] === 1 && s[i] !== 1)) axes.push(i);
  }
  let out = gx;
  if (axes.length) out = b.reduceSum(out, axes, true);
  if (shapeOf(out).join(',') !== target.join(',')) out = b.reshape(out, target);
  return out;
}

function swapLast2(b: Builder, v: Value): Value {
  const r = v.rank;
  const perm = Array.from({ length: r }, (_, i) => i);
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return b.transpose(v, perm);
}

function attrInt(node: Node, name: string, dflt: number): number {
  const a = node.attrs[name];
  return a && 'i' in a ? a.i : dflt;
}

/** Reduce ops: the gradient spread back over the reduced axes (÷ count for the mean). */
function reduceGrad(mean: boolean): Rule {
  return ({ b, node, ins, gy }) => {
    const x = ins[0];
    const xs = shapeOf(x);
    const axes = node.inputs[1] ? constantValues(b.graph, node.inputs[1], node).map((a) => (a < 0 ? a + xs.length : a)) : xs.map((_, i) => i);
    const keptShape = xs.map((d, i) => (axes.includes(i) ? 1 : d));
    let g = attrInt(node, 'keepdims', 1) ? gy : b.reshape(gy, keptShape);
    if (mean) g = b.mul(g, scalarLike(b, gy, 1 / axes.reduce((p, a) => p * xs[a], 1)));
    return [b.expand(g, b.constInt64(xs), xs)];
  };
}

const RULES: Record<string, Rule> = {
  Identity: ({ gy }) => [gy],
  Add: ({ b, ins, gy, needs }) => [needs(0) ? unbroadcast(b, gy, shapeOf(ins[0])) : undefined, needs(1) ? unbroadcast(b, gy, shapeOf(ins[1])) : undefined],
  Sub: ({ b, ins, gy, needs }) => [needs(0) ? unbroadcast(b, gy, shapeOf(ins[0])) : undefined, needs(1) ? unbroadcast(b, b.neg(gy), shapeOf(ins[1])) : undefined],
  Mul: ({ b, ins, gy, needs }) => [
    needs(0) ? unbroadcast(b, b.mul(gy, ins[1]), shapeOf(ins[0])) : undefined,
    needs(1) ? unbroadcast(b, b.mul(gy, ins[0]), shapeOf(ins[1])) : undefined,
  ],
  Div: ({ b, ins, out, gy, needs }) => [
    needs(0) ? unbroadcast(b, b.div(gy, ins[1]), shapeOf(ins[0])) : undefined,
    needs(1) ? unbroadcast(b, b.neg(b.div(b.mul(gy, out), ins[1])), shapeOf(ins[1])) : undefined,
  ],
  Neg: ({ b, gy }) => [b.neg(gy)],
  Exp: ({ b, out, gy }) => [b.mul(gy, out)],
  Log: ({ b, ins, gy }) => [b.div(gy, ins[0])],
  Sqrt: ({ b, out, gy }) => [b.div(gy, b.mul(out, scalarLike(b, out, 2)))],
  Reciprocal: ({ b, out, gy }) => [b.neg(b.mul(gy, b.mul(out, out)))],
  Sigmoid: ({ b, out, gy }) => [b.mul(gy, b.mul(out, b.sub(scalarLike(b, out, 1), out)))],
  Tanh: ({ b, out, gy }) => [b.mul(gy, b.sub(scalarLike(b, out, 1), b.mul(out, out)))],
  Pow: ({ b, node, ins, gy }) => {
    const e = constantValues(b.graph, node.inputs[1], node);
    if (e.length !== 1) throw new AutodiffError(`Pow node ${node.name}: only a scalar constant exponent is supported`);
    const d = b.mul(scalarLike(b, gy, e[0]), b.pow(ins[0], scalarLike(b, ins[0], e[0] - 1)));
    return [unbroadcast(b, b.mul(gy, d), shapeOf(ins[0]))];
  },
  Softmax: ({ b, node, out, gy }) => {
    const axis = attrInt(node, 'axis', -1);
    return [b.mul(out, b.sub(gy, b.reduceSum(b.mul(gy, out), [axis], true)))];
  },
  LogSoftmax: ({ b, node, out, gy }) => {
    const axis = attrInt(node, 'axis', -1);
    return [b.sub(gy, b.mul(b.exp(out), b.reduceSum(gy, [axis], true)))];
  },
  ReduceMean: reduceGrad(true),
  ReduceSum: reduceGrad(false),
  MatMul: ({ b, ins, gy, needs }) => {
    const [x, w] = ins;
    let gx: Value | undefined;
    let gw: Value | undefined;
    if (needs(0)) gx = unbroadcast(b, b.matmul(gy, swapLast2(b, rebuiltInBackward(b, w, gy))), shapeOf(x));
    if (needs(1)) {
      if (w.rank === 2 && x.rank > 2) {
        // A shared 2-D weight: fold the batch dims into rows, one [K, rows] x [rows, N] product.
        const k = x.dim(-1);
        const n = w.dim(-1);
        gw = b.matmul(b.transpose(b.reshape(x, [-1, k]), [1, 0]), b.reshape(gy, [-1, n]));
      } else {
        gw = unbroadcast(b, b.matmul(swapLast2(b, x), gy), shapeOf(w));
      }
    }
    return [gx, gw];
  },
  Reshape: ({ b, ins, gy }) => [b.reshape(gy, shapeOf(ins[0]))],
  Expand: ({ b, ins, gy }) => [unbroadcast(b, gy, shapeOf(ins[0]))],
  Transpose: ({ b, node, gy }) => {
    const a = node.attrs.perm;
    const perm = a && 'ints' in a ? a.ints : shapeOf(gy).map((_, i, s) => s.length - 1 - i);
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [b.transpose(gy, inverse)];
  },
  Concat: ({ b, node, ins, gy, needs }) => {
    const r = gy.rank;
    const axis = (attrInt(node, 'axis', 0) + r) % r;
    let offset = 0;
    return ins.map((x, k) => {
      const len = x.dim(axis);
      const gx = needs(k) ? b.slice(gy, [offset], [offset + len], [axis]) : undefined;
      offset += len;
      return gx;
    });
  },
  Slice: ({ b, node, ins, gy }) => {
    const xs = shapeOf(ins[0]);
    const values = (k: number) => (node.inputs[k] ? constantValues(b.graph, node.inputs[k], node) : undefined);
    const starts = values(1)!;
    const ends = values(2)!;
    const axes = values(3) ?? starts.map((_, i) => i);
    const steps = values(4);
    if (steps && steps.some((s) => s !== 1)) throw new AutodiffError(`Slice node ${node.name}: only step 1 is differentiable here`);
    const pads = new Array<number>(2 * xs.length).fill(0);
    axes.forEach((ax, i) => {
      const a = ax < 0 ? ax + xs.length : ax;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + xs[a] : v, 0), xs[a]);
      const s = clamp(starts[i]);
      const e = Math.max(s, clamp(ends[i]));
      pads[a] = s;
      pads[xs.length + a] = xs[a] - e;
    });
    return [b.op('Pad', [gy, b.constInt64(pads)], [{ dtype: gy.dtype, shape: xs }], { mode: { s: 'constant' } })[0]];
  },
  Gather: ({ b, node, ins, gy }) => {
    const [data, indices] = ins;
    if (attrInt(node, 'axis', 0) !== 0) throw new AutodiffError(`Gather node ${node.name}: only axis 0 is differentiable here`);
    requireStatic(indices, node);
    const zeros = constant(b, data.dtype, [0], shapeOf(data));
    const idx = b.reshape(indices, [...shapeOf(indices), 1]);
    return [b.op('ScatterND', [zeros, idx, gy], [{ dtype: data.dtype, shape: shapeOf(data) }], { reduction: { s: 'add' } })[0]];
  },
  GatherElements: ({ b, node, ins, gy }) => {
    const [data, indices] = ins;
    const zeros = constant(b, data.dtype, [0], shapeOf(data));
    return [b.op('ScatterElements', [zeros, indices, gy], [{ dtype: data.dtype, shape: shapeOf(data) }], { axis: { i: attrInt(node, 'axis', 0) }, reduction: { s: 'add' } })[0]];
  },
  Where: ({ b, ins, gy, needs }) => {
    const [cond, x, y] = ins;
    const zero = scalarLike(b, gy, 0);
    return [
      undefined,
      needs(1) ? unbroadcast(b, b.where(cond, gy, zero), shapeOf(x)) : undefined,
      needs(2) ? unbroadcast(b, b.where(cond, zero, gy), shapeOf(y)) : undefined,
    ];
  },
  Cast: ({ b, ins, gy }) => [b.cast(gy, ins[0].dtype)],
  // A frozen quantised weight (never a gradient of its own): dx = dy @ W with W rebuilt from its
  // blocks here, a value of the backward pass alone, so the forward keeps no float copy alive.
  'com.microsoft.MatMulNBits': ({ b, node, ins, gy }) => {
    const [x, packed, scales, zeroPoints] = ins;
    if (!zeroPoints || node.inputs.length > 4) throw new AutodiffError(`MatMulNBits node ${node.name}: only codes, scales and integer zero points are differentiable here`);
    const bits = attrInt(node, 'bits', 4);
    if (bits !== 4 && bits !== 8) throw new AutodiffError(`MatMulNBits node ${node.name}: ${bits}-bit weights`);
    const shape = { n: attrInt(node, 'N', 0), k: attrInt(node, 'K', 0), bits, blockSize: attrInt(node, 'block_size', 0) } as const;
    return [unbroadcast(b, timesWeight(b, gy, { packed, scales, zeroPoints, shape }), shapeOf(x))];
  },
};

/** Ops with a gradient rule (for error messages and tests). */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES);
