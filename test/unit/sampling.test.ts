import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmax, createRng, sampleTopP, softmax, topPCandidates, xoshiro128ss } from '../../server/engine/sampling';

/** The reference's sample_top_p mask, written the slow obvious way: full sort, cumsum, mask. */
function naiveKept(probs: Float64Array, topP: number): number[] {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
  const kept: number[] = [];
  let cum = 0;
  for (const i of order) {
    cum += probs[i];
    if (!(cum - probs[i] > topP) && probs[i] > 0) kept.push(i);
  }
  return kept.sort((a, b) => a - b); // as a set: ascending ids
}

function randomLogits(n: number, scale: number, rng: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() - 0.5) * scale + (rng() < 0.001 ? 8 : 0);
  return out;
}

test('argmax picks the largest logit, the first on ties', () => {
  assert.equal(argmax(Float32Array.from([0.1, 3, -2, 2.9])), 1);
  assert.equal(argmax(Float32Array.from([5, 1, 5])), 0);
  assert.equal(argmax(Float32Array.from([-Infinity, -1e30, -Infinity])), 1);
});

test('temperature 0 is greedy whatever the rng says', () => {
  const rng = createRng(1);
  const logits = randomLogits(32000, 10, rng);
  const best = argmax(logits);
  for (let i = 0; i < 20; i++) assert.equal(sampleTopP(logits, 0, 0.75, rng), best);
});

test('a tiny top-p keeps only the most probable token', () => {
  const rng = createRng(2);
  const logits = randomLogits(32000, 4, rng);
  const best = argmax(logits);
  for (let i = 0; i < 200; i++) assert.equal(sampleTopP(logits, 1.0, 1e-9, rng), best);
  assert.equal(sampleTopP(logits, 1.0, 0, () => 0.999999), best);
});

test('hand-worked mask: p = (0.5, 0.3, 0.15, 0.05), top-p 0.75 keeps the first two', () => {
  const probs = softmax(Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log)));
  assert.deepEqual(topPCandidates(probs, 0.75), [0, 1]);
  assert.deepEqual(topPCandidates(probs, 0.51), [0, 1]);
  assert.deepEqual(topPCandidates(probs, 0.49), [0]);
  assert.deepEqual(topPCandidates(probs, 1.0), [0, 1, 2, 3]);
});

test('fast top-p candidate set equals the full-sort reference on 32000-token logits', () => {
  const rng = createRng(3);
  let checked = 0;
  for (const scale of [2, 10, 40]) {
    const logits = randomLogits(32000, scale, rng);
    for (const temperature of [0.1, 0.7, 1.0, 2.0]) {
      const probs = softmax(logits, temperature);
      for (const topP of [0, 0.1, 0.75, 0.95, 0.999, 1.0]) {
        assert.deepEqual(topPCandidates(probs, topP), naiveKept(probs, topP), `scale ${scale} T ${temperature} p ${topP}`);
        checked++;
      }
    }
  }
  assert.equal(checked, 72);
});

test('draws follow the renormalised top-p distribution (chi-square, fixed seed)', () => {
  // softmax((log p) / T) with T = 0.5 squares and renormalises p; top-p 0.8 then masks.
  const base = [0.3, 0.25, 0.2, 0.1, 0.08, 0.07];
  const logits = Float32Array.from(base.map(Math.log));
  const probs = softmax(logits, 0.5);
  const kept = naiveKept(probs, 0.8);
  assert.ok(kept.length >= 2 && kept.length < base.length, `kept ${kept}`);
  const keptMass = kept.reduce((s, i) => s + probs[i], 0);
  const draws = 40000;
  const counts = new Array(base.length).fill(0);
  const rng = createRng(12345);
  for (let n = 0; n < draws; n++) counts[sampleTopP(logits, 0.5, 0.8, rng)]++;
  let chi2 = 0;
  for (let i = 0; i < base.length; i++) {
    if (!kept.includes(i)) {
      assert.equal(counts[i], 0, `masked token ${i} was drawn`);
      continue;
    }
    const expected = (draws * probs[i]) / keptMass;
    chi2 += (counts[i] - expected) ** 2 / expected;
  }
  // df = kept - 1 (at most 4): chi-square 20 has p < 0.001 for df <= 4.
  assert.ok(chi2 < 20, `chi-square ${chi2.toFixed(2)} for counts ${counts}`);
});

test('same seed gives the same stream; different seeds differ', () => {
  const a = createRng(42);
  const b = createRng(42);
  const c = createRng(43);
  const sa = Array.from({ length: 100 }, a);
  const sb = Array.from({ length: 100 }, b);
  const sc = Array.from({ length: 100 }, c);
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  for (const v of sa) assert.ok(v >= 0 && v < 1);
  const big = createRng(2 ** 40 + 42);
  assert.notDeepEqual(Array.from({ length: 5 }, big), sa.slice(0, 5));
});

test('createRng is uniform enough: mean and decile counts', () => {
  const rng = createRng(7);
  const n = 100000;
  const deciles = new Array(10).fill(0);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = rng();
    sum += v;
    deciles[Math.floor(v * 10)]++;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.005, `mean ${sum / n}`);
  const chi2 = deciles.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 30, `decile chi-square ${chi2}`); // df 9
});

test('xoshiro128** matches the reference implementation on state (0, 1, 2, 3)', () => {
  const next = xoshiro128ss([0, 1, 2, 3]);
  assert.deepEqual(Array.from({ length: 6 }, next), [5760, 17280, 2966400, 32451840, 2604340873, 3891234569]);
});

test('broken logits and bad settings give clear errors', () => {
  const rng = createRng(0);
  const nan = Float32Array.from([1, NaN, 2]);
  assert.throws(() => argmax(nan), /logit 1 is NaN/);
  assert.throws(() => argmax(Float32Array.from([NaN, 1])), /logit 0 is NaN/);
  assert.throws(() => argmax(Float32Array.from([0, Infinity, NaN])), /logit 1 is Infinity/);
  assert.throws(() => argmax(Float32Array.from([3, 1, NaN])), /logit 2 is NaN/);
  assert.throws(() => sampleTopP(nan, 0.8, 0.9, rng), /logit 1 is NaN/);
  assert.throws(() => sampleTopP(nan, 0, 0.9, rng), /logit 1 is NaN/);
  assert.throws(() => sampleTopP(Float32Array.from([0, Infinity]), 1, 0.9, rng), /logit 1 is Infinity/);
  assert.throws(() => argmax(Float32Array.from([-Infinity, -Infinity])), /every logit is -Infinity/);
  assert.throws(() => argmax(new Float32Array(0)), /empty/);
  const ok = Float32Array.from([1, 2, 3]);
  assert.throws(() => sampleTopP(ok, -1, 0.9, rng), /temperature/);
  assert.throws(() => sampleTopP(ok, NaN, 0.9, rng), /temperature/);
  assert.throws(() => sampleTopP(ok, 0.8, -0.1, rng), /top-p/);
  assert.throws(() => sampleTopP(ok, 0.8, 0.9, () => 1), /rng must return/);
  assert.throws(() => createRng(NaN), /seed/);
});
