// The change of variables the visual projection trains in (server/train/projectionWhitening.ts):
// the eigen-decomposition, the whitening it gives, the saved set's values from the optimizer's, and
// the chain rule for the gradients (checked by finite differences).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { projectionFromWhitened, symmetricEigen, tapWhitening, whitenedGradients } from '../../../server/train/projectionWhitening';
import { Rng } from '../../../server/train/rng';

const W = 12;
const H = 5;

/** Taps with a badly conditioned covariance (scales 0.3 .. 10, mixed) and a non-zero mean. */
function taps(rows: number, rng: Rng): Float32Array {
  const mix = Float64Array.from({ length: W * W }, (_, i) => (i % (W + 1) === 0 ? 1 : 0) + 0.2 * (rng.next() - 0.5));
  const out = new Float32Array(rows * W);
  for (let r = 0; r < rows; r++) {
    const z = Array.from({ length: W }, (_, k) => (rng.next() - 0.5) * 10 ** (1 - (1.5 * k) / (W - 1)));
    for (let j = 0; j < W; j++) {
      let s = 3 + j;
      for (let k = 0; k < W; k++) s += mix[j * W + k] * z[k];
      out[r * W + j] = s;
    }
  }
  return out;
}

test('symmetricEigen: U diag(values) U^T gives the matrix back and U is orthonormal (random, low-rank, diagonal, zero)', () => {
  const rng = new Rng(3);
  const random = (n: number) => {
    const m = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) m[i * n + j] = m[j * n + i] = rng.next() - 0.5;
    return m;
  };
  const lowRank = (n: number) => {
    const u = Array.from({ length: 2 }, () => Array.from({ length: n }, () => rng.next() - 0.5));
    return Float64Array.from({ length: n * n }, (_, k) => u[0][Math.floor(k / n)] * u[0][k % n] + 3 * u[1][Math.floor(k / n)] * u[1][k % n]);
  };
  const diagonal = (n: number) => Float64Array.from({ length: n * n }, (_, k) => (Math.floor(k / n) === k % n ? k % 3 : 0));
  const cases: [string, number, Float64Array][] = [['random 12', 12, random(12)], ['random 40', 40, random(40)], ['rank 2', 20, lowRank(20)], ['diagonal with repeats', 8, diagonal(8)], ['zero', 5, new Float64Array(25)]];
  for (const [name, n, m] of cases) {
    const { values, vectors } = symmetricEigen(m, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let rec = 0;
        let dot = 0;
        for (let k = 0; k < n; k++) {
          rec += vectors[i * n + k] * values[k] * vectors[j * n + k];
          dot += vectors[k * n + i] * vectors[k * n + j];
        }
        assert.ok(Math.abs(rec - m[i * n + j]) < 1e-12, `${name}: reconstruction (${i},${j})`);
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-12, `${name}: orthonormality (${i},${j})`);
      }
    }
  }
});

test('tapWhitening: whitened taps have unit covariance (up to the lift of tiny directions)', () => {
  const rows = taps(400, new Rng(5));
  const w = tapWhitening(rows, W);
  const n = rows.length / W;
  const z = new Float64Array(rows.length);
  for (let r = 0; r < n; r++) for (let j = 0; j < W; j++) {
    let s = 0;
    for (let k = 0; k < W; k++) s += (rows[r * W + k] - w.mean[k]) * w.whiten[k * W + j];
    z[r * W + j] = s;
  }
  for (let i = 0; i < W; i++) {
    let v = 0;
    for (let r = 0; r < n; r++) v += z[r * W + i] ** 2 / (n - 1);
    assert.ok(v > 0.95 && v < 1.0001, `variance of whitened direction ${i}: ${v}`);
    for (let j = i + 1; j < W; j++) {
      let c = 0;
      for (let r = 0; r < n; r++) c += (z[r * W + i] * z[r * W + j]) / (n - 1);
      assert.ok(Math.abs(c) < 0.03, `covariance of whitened directions ${i}, ${j}: ${c}`);
    }
  }
  assert.throws(() => tapWhitening(rows.subarray(0, W), W), /at least two taps/);
});

test('the projection computes V Wh (x - mean) + b, from the optimizer V and b', () => {
  const rng = new Rng(7);
  const w = tapWhitening(taps(200, rng), W);
  const v = Float32Array.from({ length: H * W }, () => rng.next() - 0.5);
  const b = Float32Array.from({ length: H }, () => rng.next() - 0.5);
  const { weight, bias } = projectionFromWhitened(w, v, b);
  const x = Array.from({ length: W }, (_, j) => 3 + j + rng.next());
  for (let i = 0; i < H; i++) {
    let plain = bias[i];
    for (let j = 0; j < W; j++) plain += weight[i * W + j] * x[j];
    let whitened = b[i];
    for (let j = 0; j < W; j++) {
      let xw = 0;
      for (let k = 0; k < W; k++) xw += (x[k] - w.mean[k]) * w.whiten[k * W + j];
      whitened += v[i * W + j] * xw;
    }
    assert.ok(Math.abs(plain - whitened) < 1e-3 * (1 + Math.abs(plain)), `row ${i}: ${plain} vs ${whitened}`);
  }
});

test('whitenedGradients is the chain rule: finite differences of a loss of (conv_A, bias) in V and b', () => {
  const rng = new Rng(11);
  const w = tapWhitening(taps(200, rng), W);
  // loss(A, bias) = sum(GA * A) + sum(Gb * bias): its gradients are GA and Gb.
  const gA = Float32Array.from({ length: H * W }, () => rng.next() - 0.5);
  const gBias = Float32Array.from({ length: H }, () => rng.next() - 0.5);
  const loss = (v: Float32Array, b: Float32Array) => {
    const { weight, bias } = projectionFromWhitened(w, v, b);
    let s = 0;
    for (let k = 0; k < weight.length; k++) s += gA[k] * weight[k];
    for (let k = 0; k < H; k++) s += gBias[k] * bias[k];
    return s;
  };
  const v = Float32Array.from({ length: H * W }, () => rng.next() - 0.5);
  const b = Float32Array.from({ length: H }, () => rng.next() - 0.5);
  const { gV, gB } = whitenedGradients(w, gA, gBias);
  const h = 1e-2;
  for (const k of [0, 7, W + 3, H * W - 1]) {
    const up = Float32Array.from(v);
    const down = Float32Array.from(v);
    up[k] += h;
    down[k] -= h;
    const fd = (loss(up, b) - loss(down, b)) / (2 * h);
    assert.ok(Math.abs(fd - gV[k]) < 2e-2 * (1 + Math.abs(gV[k])), `dV[${k}]: ${fd} vs ${gV[k]}`);
  }
  for (const k of [0, H - 1]) {
    const up = Float32Array.from(b);
    const down = Float32Array.from(b);
    up[k] += h;
    down[k] -= h;
    assert.ok(Math.abs((loss(v, up) - loss(v, down)) / (2 * h) - gB[k]) < 1e-2, `db[${k}]`);
  }
});
