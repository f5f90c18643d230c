// The ONNX writer and builder against onnxruntime itself: graphs we emit load and compute what the
// ops mean, including int64 constants, negative attributes and external data.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Builder } from '../../server/engine/graph/builder';
import { Graph } from '../../server/engine/graph/graph';
import { layerNorm, rmsNorm } from '../../server/engine/graph/nn';
import { createSession, f32 } from '../../server/engine/session';

function host(values: number[], shape: number[]) {
  return { dtype: 'float32' as const, shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

test('matmul + bias + softmax(axis=-1) through a serialised graph', async () => {
  const g = new Graph('t');
  const b = new Builder(g);
  const x = b.input('x', 'float32', [2, 3]);
  const w = b.initializer('w', host([1, 0, 0, 1, 1, 1], [3, 2]));
  const y = b.softmax(b.add(b.matmul(x, w), b.constFloat([0.5, -0.5], [2])), -1);
  b.output(y, 'y');
  assert.deepEqual(y.shape, [2, 2]);
  const s = await createSession(g);
  const out = await s.run({ x: f32(Float32Array.from([1, 2, 3, 0, 0, 0]), [2, 3]) });
  const d = out.y.data as Float32Array;
  // row 0: [1+3, 2+3] + [0.5,-0.5] = [4.5, 4.5] -> [0.5, 0.5]; row 1: [0.5, -0.5]
  assert.ok(Math.abs(d[0] - 0.5) < 1e-6 && Math.abs(d[1] - 0.5) < 1e-6);
  const e = Math.exp(1);
  assert.ok(Math.abs(d[2] - e / (e + 1)) < 1e-6);
  await s.release();
});

test('reshape with 0/-1, transpose, slice, concat and gather keep the shapes onnxruntime computes', async () => {
  const g = new Graph('shapes');
  const b = new Builder(g);
  const x = b.input('x', 'float32', [2, 'n', 4]);
  const r = b.reshape(x, [0, 0, 2, 2]);
  const t = b.transpose(r, [0, 2, 1, 3]);
  const s = b.slice(t, [1], [2], [3]);
  const c = b.concat([s, s], 3);
  const idx = b.constInt64([1, 0]);
  const gathered = b.gather(c, idx, 1);
  b.output(gathered, 'y');
  assert.deepEqual(gathered.shape, [2, 2, 'n', 2]);
  const sess = await createSession(g);
  const input = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i);
  const out = await sess.run({ x: f32(input, [2, 3, 4]) });
  assert.deepEqual(out.y.dims, [2, 2, 3, 2]);
  // y[0,0,0,:] = c[0,1,0,:] = t[0,1,0,1] twice = x[0,0, 1*2+1] = 3
  assert.equal((out.y.data as Float32Array)[0], 3);
  await sess.release();
});

test('norm layers match a float64 reference', async () => {
  const g = new Graph('norms');
  const b = new Builder(g);
  const x = b.input('x', 'float32', [1, 4]);
  const w = b.initializer('w', host([1, 2, 3, 4], [4]));
  const bias = b.initializer('bias', host([0, 1, 0, -1], [4]));
  b.output(rmsNorm(b, x, w, 1e-6), 'rms');
  b.output(layerNorm(b, x, w, bias, 1e-5), 'ln');
  const s = await createSession(g);
  const xs = [1, -2, 3, 0.5];
  const out = await s.run({ x: f32(Float32Array.from(xs), [1, 4]) });
  const ms = xs.reduce((a, v) => a + v * v, 0) / 4;
  const rms = xs.map((v, i) => (v / Math.sqrt(ms + 1e-6)) * (i + 1));
  const mean = xs.reduce((a, v) => a + v, 0) / 4;
  const variance = xs.reduce((a, v) => a + (v - mean) ** 2, 0) / 4;
  const ln = xs.map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * (i + 1) + [0, 1, 0, -1][i]);
  (out.rms.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - rms[i]) < 1e-5, `rms[${i}] ${v} vs ${rms[i]}`));
  (out.ln.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - ln[i]) < 1e-5, `ln[${i}] ${v} vs ${ln[i]}`));
  await s.release();
});

test('large initializers travel as external data and still compute', async () => {
  const g = new Graph('ext');
  const b = new Builder(g);
  const n = 1 << 19; // 2 MiB of float32, above the session's external threshold
  const big = new Float32Array(n).map((_, i) => (i % 7) - 3);
  const x = b.input('x', 'float32', [1, n]);
  const w = b.initializer('w', { dtype: 'float32', shape: [n, 1], data: new Uint8Array(big.buffer) });
  b.output(b.matmul(x, w), 'y');
  const s = await createSession(g);
  const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(n).fill(1), [1, n]) });
  const expected = big.reduce((a, v) => a + v, 0);
  assert.equal((out.y.data as Float32Array)[0], expected);
  await s.release();
});
