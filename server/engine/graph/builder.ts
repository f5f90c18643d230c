// Primitive ONNX ops with dtype/shape propagation. The model definition and the autodiff pass both
// speak this vocabulary; composite layers (norms, attention) live in nn.ts.

import { DType, HostTensor } from '../tensor';
import { Attr, Dim, Graph, Value } from './graph';

const UNKNOWN = '?';

export class Builder {
  constructor(readonly graph: Graph) {}

  // ---- graph edges ---------------------------------------------------------------------------
  input(name: string, dtype: DType, shape: Dim[]): Value {
    return this.graph.addInput(name, dtype, shape);
  }
  output(v: Value, name?: string): Value {
    const out = name && name !== v.name ? this.identity(v, name) : v;
    this.graph.addOutput(out);
    return out;
  }
  initializer(name: string, t: HostTensor): Value {
    return this.graph.addInitializer(name, t);
  }
  /** A small constant (shape vectors, scalars, masks). */
  constFloat(values: ArrayLike<number>, shape: number[], name?: string): Value {
    const a = Float32Array.from(values);
    return this.initializer(name ?? this.graph.fresh('const'), { dtype: 'float32', shape, data: new Uint8Array(a.buffer) });
  }
  constInt64(values: ArrayLike<number>, shape?: number[], name?: string): Value {
    const a = BigInt64Array.from(Array.from(values, (v) => BigInt(v)));
    return this.initializer(name ?? this.graph.fresh('const_i64'), { dtype: 'int64', shape: shape ?? [a.length], data: new Uint8Array(a.buffer) });
  }
  scalar(v: number): Value {
    return this.constFloat([v], []);
  }

  /** Emit one node; returns its outputs. */
  op(op: string, inputs: (Value | undefined)[], outs: { dtype: DType; shape: Dim[] | undefined; name?: string }[], attrs: Record<string, Attr> = {}, domain = ''): Value[] {
    const name = this.graph.fresh(op);
    const values = outs.map((o, i) => new Value(o.name ?? (outs.length === 1 ? name : `${name}_${i}`), o.dtype, o.shape));
    this.graph.addNode({ op, domain, inputs: inputs.map((v) => (v ? v.name : '')), outputs: values.map((v) => v.name), attrs, name }, values);
    return values;
  }
  private op1(op: string, inputs: (Value | undefined)[], dtype: DType, shape: Dim[] | undefined, attrs: Record<string, Attr> = {}, domain = ''): Value {
    return this.op(op, inputs, [{ dtype, shape }], attrs, domain)[0];
  }

  identity(x: Value, name?: string): Value {
    return this.op('Identity', [x], [{ dtype: x.dtype, shape: x.shape, name }])[0];
  }

  // ---- elementwise -----------------------------------------------------------------------------
  add(a: Value, b: Value): Value { return this.op1('Add', [a, b], a.dtype, broadcast(a, b)); }
  sub(a: Value, b: Value): Value { return this.op1('Sub', [a, b], a.dtype, broadcast(a, b)); }
  mul(a: Value, b: Value): Value { return this.op1('Mul', [a, b], a.dtype, broadcast(a, b)); }
  div(a: Value, b: Value): Value { return this.op1('Div', [a, b], a.dtype, broadcast(a, b)); }
  pow(a: Value, b: Value): Value { return this.op1('Pow', [a, b], a.dtype, broadcast(a, b)); }
  neg(x: Value): Value { return this.op1('Neg', [x], x.dtype, x.shape); }
  exp(x: Value): Value { return this.op1('Exp', [x], x.dtype, x.shape); }
  log(x: Value): Value { return this.op1('Log', [x], x.dtype, x.shape); }
  sqrt(x: Value): Value { return this.op1('Sqrt', [x], x.dtype, x.shape); }
  reciprocal(x: Value): Value { return this.op1('Reciprocal', [x], x.dtype, x.shape); }
  sigmoid(x: Value): Value { return this.op1('Sigmoid', [x], x.dtype, x.shape); }
  tanh(x: Value): Value { return this.op1('Tanh', [x], x.dtype, x.shape); }
  cast(x: Value, to: DType): Value {
    if (x.dtype === to) return x;
    return this.op1('Cast', [x], to, x.shape, { to: { i: ONNX_TYPE[to] } });
  }
  where(cond: Value, a: Value, b: Value): Value { return this.op1('Where', [cond, a, b], a.dtype, broadcast(broadcastValue(cond, a), b)); }
  equal(a: Value, b: Value): Value { return this.op1('Equal', [a, b], 'bool', broadcast(a, b)); }

  // ---- reductions and normalisers --------------------------------------------------------------
  reduceMean(x: Value, axes: number[], keepdims = true): Value {
    return this.op1('ReduceMean', [x, this.constInt64(axes)], x.dtype, reduceShape(x, axes, keepdims), { keepdims: { i: keepdims ? 1 : 0 } });
  }
  reduceSum(x: Value, axes: number[], keepdims = true): Value {
    return this.op1('ReduceSum', [x, this.constInt64(axes)], x.dtype, reduceShape(x, axes, keepdims), { keepdims: { i: keepdims ? 1 : 0 } });
  }
  reduceMax(x: Value, axes: number[], keepdims = true): Value {
    return this.op1('ReduceMax', [x, this.constInt64(axes)], x.dtype, reduceShape(x, axes, keepdims), { keepdims: { i: keepdims ? 1 : 0 } });
  }
  softmax(x: Value, axis = -1): Value { return this.op1('Softmax', [x], x.dtype, x.shape, { axis: { i: axis } }); }
  logSoftmax(x: Value, axis = -1): Value { return this.op1('LogSoftmax', [x], x.dtype, x.shape, { axis: { i: axis } }); }

  // ---- linear algebra --------------------------------------------------------------------------
  matmul(a: Value, b: Value): Value { return this.op1('MatMul', [a, b], a.dtype, matmulShape(a, b)); }

  // ---- shape ops -------------------------------------------------------------------------------
  /** Reshape with ONNX semantics: 0 copies the input dim, -1 is inferred. */
  reshape(x: Value, shape: number[]): Value {
    return this.op1('Reshape', [x, this.constInt64(shape)], x.dtype, reshapeShape(x, shape));
  }
  transpose(x: Value, perm: number[]): Value {
    return this.op1('Transpose', [x], x.dtype, x.shape && perm.map((p) => x.shape![p]), { perm: { ints: perm } });
  }
  concat(xs: Value[], axis: number): Value {
    return this.op1('Concat', xs, xs[0].dtype, concatShape(xs, axis), { axis: { i: axis } });
  }
  /** Static slice along the given axes (ends clamp as in ONNX). */
  slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[]): Value {
    const ins = [x, this.constInt64(starts), this.constInt64(ends), this.constInt64(axes)];
    if (steps) ins.push(this.constInt64(steps));
    return this.op1('Slice', ins, x.dtype, sliceShape(x, starts, ends, axes, steps));
  }
  /** The length of one axis at run time, int64 [1]. */
  dim(x: Value, axis: number): Value {
    return this.op1('Shape', [x], 'int64', [1], { start: { i: axis }, end: { i: axis + 1 } });
  }
  /** Slice along one axis between run-time bounds (int64 [1] each; `end` omitted: to the end). */
  sliceAt(x: Value, axis: number, start: Value, end?: Value): Value {
    const shape = x.shape && x.shape.map((d, i) => (i === (axis < 0 ? axis + x.shape!.length : axis) ? 'sliced' : d));
    return this.op1('Slice', [x, start, end ?? this.constInt64([Number.MAX_SAFE_INTEGER]), this.constInt64([axis])], x.dtype, shape);
  }
  gather(x: Value, indices: Value, axis = 0): Value {
    let shape: Dim[] | undefined;
    if (x.shape && indices.shape) {
      const a = axis < 0 ? axis + x.shape.length : axis;
      shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
    }
    return this.op1('Gather', [x, indices], x.dtype, shape, { axis: { i: axis } });
  }
  expand(x: Value, shape: Value, outShape: Dim[]): Value {
    return this.op1('Expand', [x, shape], x.dtype, outShape);
  }
}

export const ONNX_TYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

// ---- shape inference -------------------------------------------------------------------------

function broadcastValue(a: Value, b: Value): Value {
  return new Value('', b.dtype, broadcast(a, b));
}

export function broadcast(a: Value, b: Value): Dim[] | undefined {
  if (!a.shape || !b.shape) return undefined;
  const n = Math.max(a.shape.length, b.shape.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = a.shape[a.shape.length - n + i] ?? 1;
    const db = b.shape[b.shape.length - n + i] ?? 1;
    if (da === 1) out.push(db);
    else if (db === 1 || da === db) out.push(da);
    else if (typeof da === 'number' && typeof db === 'number') throw new Error(`broadcast: [${a.shape}] (${a.name}) vs [${b.shape}] (${b.name})`);
    else out.push(typeof da === 'number' ? da : typeof db === 'number' ? db : da);
  }
  return out;
}

function matmulShape(a: Value, b: Value): Dim[] | undefined {
  if (!a.shape || !b.shape) return undefined;
  if (a.shape.length < 2 || b.shape.length < 2) throw new Error(`matmul: rank < 2 (${a.name} [${a.shape}], ${b.name} [${b.shape}])`);
  const k1 = a.shape[a.shape.length - 1], k2 = b.shape[b.shape.length - 2];
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) throw new Error(`matmul: ${a.name} [${a.shape}] x ${b.name} [${b.shape}]`);
  const batch = broadcast(new Value('', a.dtype, a.shape.slice(0, -2)), new Value('', b.dtype, b.shape.slice(0, -2)))!;
  return [...batch, a.shape[a.shape.length - 2], b.shape[b.shape.length - 1]];
}

function reduceShape(x: Value, axes: number[], keepdims: boolean): Dim[] | undefined {
  if (!x.shape) return undefined;
  const r = x.shape.length;
  const ax = new Set(axes.map((a) => (a < 0 ? a + r : a)));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (ax.has(i)) { if (keepdims) out.push(1); } else out.push(d);
  });
  return out;
}

function reshapeShape(x: Value, shape: number[]): Dim[] | undefined {
  const out: Dim[] = shape.map((d, i) => (d === 0 ? (x.shape ? x.shape[i] : UNKNOWN) : d));
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const known = x.shape && x.shape.every((d) => typeof d === 'number') && out.every((d, i) => i === neg || typeof d === 'number');
    if (known) {
      const total = (x.shape as number[]).reduce((p, d) => p * d, 1);
      const rest = (out as number[]).reduce((p, d, i) => (i === neg ? p : p * d), 1);
      if (total % rest) throw new Error(`reshape: ${x.name} [${x.shape}] to [${shape}]`);
      out[neg] = total / rest;
    } else {
      out[neg] = UNKNOWN;
    }
  } else if (x.shape && x.shape.every((d) => typeof d === 'number') && out.every((d) => typeof d === 'number')) {
    const a = (x.shape as number[]).reduce((p, d) => p * d, 1);
    const b = (out as number[]).reduce((p, d) => p * d, 1);
    if (a !== b) throw new Error(`reshape: ${x.name} [${x.shape}] has ${a} elements, target [${shape}] has ${b}`);
  }
  return out;
}

function concatShape(xs: Value[], axis: number): Dim[] | undefined {
  if (xs.some((x) => !x.shape)) return undefined;
  const r = xs[0].shape!.length;
  const a = axis < 0 ? axis + r : axis;
  const out = xs[0].shape!.slice();
  let total: Dim = 0;
  for (const x of xs) {
    const d = x.shape![a];
    total = typeof total === 'number' && typeof d === 'number' ? total + d : UNKNOWN;
  }
  out[a] = total;
  return out;
}

function sliceShape(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[]): Dim[] | undefined {
  if (!x.shape) return undefined;
  const out = x.shape.slice();
  axes.forEach((ax, i) => {
    const a = ax < 0 ? ax + out.length : ax;
    const d = out[a];
    const step = steps?.[i] ?? 1;
    if (typeof d !== 'number' || step !== 1) {
      out[a] = typeof d === 'number' && step !== 1 ? Math.ceil((clampIdx(ends[i], d) - clampIdx(starts[i], d)) / step) : UNKNOWN;
      return;
    }
    out[a] = Math.max(0, clampIdx(ends[i], d) - clampIdx(starts[i], d));
  });
  return out;
}

function clampIdx(i: number, d: number): number {
  if (i < 0) i += d;
  return Math.min(Math.max(i, 0), d);
}
