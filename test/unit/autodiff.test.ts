// Every gradient rule of the autodiff pass against float64 central finite differences, run through
// onnxruntime. Each case builds a float64 graph, reduces its output to a scalar with a fixed random
// weighting (so every output element matters differently), and compares the appended gradient
// outputs with (L(x + h) - L(x - h)) / 2h for every element of every differentiated input.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { addGradientOutputs, AutodiffError, DIFFERENTIABLE_OPS, gradients } from '../../server/engine/graph/autodiff';
import { Builder } from '../../server/engine/graph/builder';
import { Graph, Value } from '../../server/engine/graph/graph';
import { createSession } from '../../server/engine/session';

/** Deterministic uniform numbers in [lo, hi). */
function rng(seed: number) {
  let s = seed >>> 0;
  return (lo = -1, hi = 1) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  };
}

function f64(b: Builder, values: number[], shape: number[], name?: string): Value {
  return b.initializer(name ?? b.graph.fresh('c64'), { dtype: 'float64', shape, data: new Uint8Array(Float64Array.from(values).buffer) });
}

function i64c(b: Builder, values: number[], shape: number[]): Value {
  return b.constInt64(values, shape);
}

interface InputSpec {
  name: string;
  shape: number[];
  /** Range of the random values (default [-1, 1)). */
  range?: [number, number];
  /** Not differentiated (fed only). */
  frozen?: boolean;
}

const numel = (s: number[]) => s.reduce((p, d) => p * d, 1);

async function checkGradients(title: string, specs: InputSpec[], build: (b: Builder, xs: Value[]) => Value, seed = 1, h = 1e-6, tol = 1e-6): Promise<number> {
  const g = new Graph(title.replace(/\W+/g, '_'));
  const b = new Builder(g);
  const rand = rng(seed);
  const xs = specs.map((s) => b.input(s.name, 'float64', s.shape));
  const y = build(b, xs);
  const yShape = y.shape as number[];
  const weights = f64(b, Array.from({ length: numel(yShape) }, () => rand()), yShape);
  const loss = b.reduceSum(b.mul(y, weights), yShape.map((_, i) => i), false);
  b.output(loss, 'loss');
  const wrt = xs.filter((_, i) => !specs[i].frozen);
  const names = addGradientOutputs(b, loss, wrt);
  const session = await createSession(g);

  const values = specs.map((s) => Float64Array.from({ length: numel(s.shape) }, () => rand(...(s.range ?? [-1, 1]))));
  const feeds = (vals: Float64Array[]) => Object.fromEntries(specs.map((s, i) => [s.name, new ort.Tensor('float64', vals[i], s.shape)]));
  const base = await session.run(feeds(values));
  let worst = 0;
  for (let i = 0; i < specs.length; i++) {
    if (specs[i].frozen) continue;
    const outName = names.get(specs[i].name);
    assert.ok(outName, `${title}: no gradient for ${specs[i].name}`);
    const analytic = base[outName!].data as Float64Array;
    assert.equal(analytic.length, values[i].length, `${title}: gradient of ${specs[i].name} has the wrong size`);
    for (let j = 0; j < values[i].length; j++) {
      const keep = values[i][j];
      values[i][j] = keep + h;
      const up = (await session.run(feeds(values))).loss.data[0] as number;
      values[i][j] = keep - h;
      const down = (await session.run(feeds(values))).loss.data[0] as number;
      values[i][j] = keep;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - analytic[j]) / (1 + Math.abs(numeric));
      worst = Math.max(worst, err);
      assert.ok(err < tol, `${title}: d/d${specs[i].name}[${j}] analytic ${analytic[j]} vs numeric ${numeric}`);
    }
  }
  await session.release();
  return worst;
}

describe('autodiff gradient rules vs float64 central differences', () => {
  const cases: [string, InputSpec[], (b: Builder, xs: Value[]) => Value][] = [
    ['Add (broadcast both ways)', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3] }], (b, [a, c]) => b.add(a, c)],
    ['Add (size-1 middle dim)', [{ name: 'a', shape: [2, 1, 3] }, { name: 'b', shape: [2, 4, 3] }], (b, [a, c]) => b.add(a, c)],
    ['Sub', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [2, 1] }], (b, [a, c]) => b.sub(a, c)],
    ['Mul', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [1, 3] }], (b, [a, c]) => b.mul(a, c)],
    ['Mul (same input twice)', [{ name: 'a', shape: [4] }], (b, [a]) => b.mul(a, a)],
    ['Div', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3], range: [0.5, 2] }], (b, [a, c]) => b.div(a, c)],
    ['Neg', [{ name: 'a', shape: [5] }], (b, [a]) => b.neg(a)],
    ['Sigmoid', [{ name: 'a', shape: [2, 3], range: [-3, 3] }], (b, [a]) => b.sigmoid(a)],
    ['Tanh', [{ name: 'a', shape: [4] }], (b, [a]) => b.tanh(a)],
    ['Sqrt', [{ name: 'a', shape: [4], range: [0.5, 3] }], (b, [a]) => b.sqrt(a)],
    ['Reciprocal', [{ name: 'a', shape: [4], range: [0.5, 3] }], (b, [a]) => b.reciprocal(a)],
    ['Exp', [{ name: 'a', shape: [4] }], (b, [a]) => b.exp(a)],
    ['Log', [{ name: 'a', shape: [4], range: [0.5, 3] }], (b, [a]) => b.log(a)],
    ['Pow (constant exponent)', [{ name: 'a', shape: [4], range: [0.5, 2] }], (b, [a]) => b.pow(a, f64(b, [2.5], []))],
    ['Softmax', [{ name: 'a', shape: [2, 5] }], (b, [a]) => b.softmax(a, -1)],
    ['Softmax (axis 0)', [{ name: 'a', shape: [3, 2] }], (b, [a]) => b.softmax(a, 0)],
    ['LogSoftmax', [{ name: 'a', shape: [2, 5] }], (b, [a]) => b.logSoftmax(a, -1)],
    ['ReduceMean keepdims', [{ name: 'a', shape: [2, 3, 4] }], (b, [a]) => b.reduceMean(a, [-1], true)],
    ['ReduceMean no keepdims, two axes', [{ name: 'a', shape: [2, 3, 4] }], (b, [a]) => b.reduceMean(a, [0, 2], false)],
    ['ReduceSum', [{ name: 'a', shape: [2, 3] }], (b, [a]) => b.reduceSum(a, [1], false)],
    ['MatMul 2-D', [{ name: 'a', shape: [2, 3] }, { name: 'w', shape: [3, 4] }], (b, [a, w]) => b.matmul(a, w)],
    ['MatMul batched x shared 2-D weight', [{ name: 'a', shape: [2, 3, 4] }, { name: 'w', shape: [4, 2] }], (b, [a, w]) => b.matmul(a, w)],
    ['MatMul batched broadcast', [{ name: 'a', shape: [2, 1, 2, 3] }, { name: 'w', shape: [3, 3, 2] }], (b, [a, w]) => b.matmul(a, w)],
    ['Reshape', [{ name: 'a', shape: [2, 6] }], (b, [a]) => b.mul(b.reshape(a, [3, -1]), f64(b, [1, 2, 3, 4], [4]))],
    ['Transpose', [{ name: 'a', shape: [2, 3, 4] }], (b, [a]) => b.transpose(a, [2, 0, 1])],
    ['Concat', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [2, 1] }], (b, [a, c]) => b.concat([a, c, a], 1)],
    ['Slice (negative start, clamped end)', [{ name: 'a', shape: [3, 5] }], (b, [a]) => b.slice(a, [1, -3], [3, 1000], [0, 1])],
    ['Gather axis 0 (repeated indices)', [{ name: 'a', shape: [4, 3] }], (b, [a]) => b.gather(a, i64c(b, [2, 0, 2], [3]), 0)],
    ['GatherElements', [{ name: 'a', shape: [3, 4] }], (b, [a]) => b.op('GatherElements', [a, i64c(b, [1, 3, 3], [3, 1])], [{ dtype: 'float64', shape: [3, 1] }], { axis: { i: 1 } })[0]],
    ['Where', [{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [3] }], (b, [a, c]) => {
      const cond = b.initializer(b.graph.fresh('cond'), { dtype: 'bool', shape: [2, 3], data: Uint8Array.from([1, 0, 1, 0, 0, 1]) });
      return b.where(cond, a, c);
    }],
    ['Expand', [{ name: 'a', shape: [3, 1] }], (b, [a]) => b.expand(a, b.constInt64([2, 3, 4]), [2, 3, 4])],
    ['Identity', [{ name: 'a', shape: [3] }], (b, [a]) => b.identity(a)],
  ];
  for (const [title, specs, build] of cases) {
    test(title, async (t) => {
      t.diagnostic(`worst relative error ${(await checkGradients(title, specs, build)).toExponential(2)}`);
    });
  }

  test('Cast (float64 -> float32 -> float64; a coarse step, since float32 rounds the perturbation)', async (t) => {
    const worst = await checkGradients('cast', [{ name: 'a', shape: [3] }], (b, [a]) => b.mul(b.cast(b.cast(a, 'float32'), 'float64'), a), 3, 1e-2, 1e-5);
    t.diagnostic(`worst relative error ${worst.toExponential(2)}`);
  });

  test('a small attention block (rms norm, masked softmax, rope-like slices) end to end', async (t) => {
    const T = 3, D = 4;
    const worst = await checkGradients('block', [{ name: 'x', shape: [1, T, D] }, { name: 'wq', shape: [D, D] }, { name: 'wv', shape: [D, D] }], (b, [x, wq, wv]) => {
      const ms = b.reduceMean(b.mul(x, x), [-1]);
      const n = b.mul(x, b.reciprocal(b.sqrt(b.add(ms, f64(b, [1e-6], [])))));
      const q = b.matmul(n, wq);
      const v = b.matmul(n, wv);
      const pairs = b.reshape(q, [1, T, D / 2, 2]);
      const re = b.slice(pairs, [0], [1], [3]);
      const im = b.slice(pairs, [1], [2], [3]);
      const rot = b.reshape(b.concat([b.neg(im), re], 3), [1, T, D]);
      const mask = f64(b, Array.from({ length: T * T }, (_, k) => (k % T > Math.floor(k / T) ? -Infinity : 0)), [T, T]);
      const att = b.softmax(b.add(b.div(b.matmul(rot, b.transpose(q, [0, 2, 1])), f64(b, [2], [])), mask), -1);
      return b.add(x, b.mul(b.matmul(att, v), b.sigmoid(v)));
    }, 7);
    t.diagnostic(`worst relative error ${worst.toExponential(2)}`);
  });

  test('only inputs on a path to the loss get gradients; others map to undefined', () => {
    const g = new Graph('paths');
    const b = new Builder(g);
    const a = b.input('a', 'float32', [2]);
    const unused = b.input('unused', 'float32', [2]);
    b.output(b.exp(unused), 'side');
    const loss = b.reduceSum(b.mul(a, a), [0], false);
    const nBefore = g.nodes.length;
    const grads = gradients(b, loss, [a, unused]);
    assert.ok(grads.get('a'));
    assert.equal(grads.get('unused'), undefined);
    // Nothing was differentiated through the side branch's Exp.
    assert.ok(!g.nodes.slice(nBefore).some((n) => n.op === 'Exp'));
  });

  test('clear errors: non-scalar loss, op without a rule, symbolic shapes', () => {
    {
      const b = new Builder(new Graph('e1'));
      const a = b.input('a', 'float32', [2]);
      assert.throws(() => gradients(b, b.exp(a), [a]), /must be a scalar/);
    }
    {
      const b = new Builder(new Graph('e2'));
      const a = b.input('a', 'float32', [2]);
      const m = b.reduceMax(a, [0], false);
      assert.throws(() => gradients(b, m, [a]), (e: Error) => e instanceof AutodiffError && /no gradient rule for ReduceMax/.test(e.message));
    }
    {
      const b = new Builder(new Graph('e3'));
      const a = b.input('a', 'float32', ['n']);
      assert.throws(() => gradients(b, b.reduceSum(a, [0], false), [a]), /no static shape/);
    }
    assert.ok(DIFFERENTIABLE_OPS.includes('MatMul'));
  });
});
