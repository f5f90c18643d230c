// The default vision recipe: how many epochs and steps a set gets, and the peak rate by LLM width.
// Steps = ceil(samples * epochs / accumSteps) per the trainer; the bounds are the recipe's words in
// server/train/vision.ts (30 epochs, about 3600 steps past 480 samples, at least 3 epochs).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { visionTrainDefaults } from '../../../server/train/vision';

const steps = (samples: number) => {
  const d = visionTrainDefaults(samples);
  return Math.ceil(samples / d.accumSteps) * d.epochs;
};

test('small and medium sets get 30 epochs (npm test: 120 samples, 900 steps)', () => {
  assert.equal(visionTrainDefaults(120).epochs, 30);
  assert.equal(steps(120), 900);
  assert.equal(visionTrainDefaults(480).epochs, 30);
  assert.equal(steps(480), 3600);
});

test('larger sets get about 3600 steps, and never under 3 epochs', () => {
  for (const n of [960, 2000, 4800]) assert.ok(Math.abs(steps(n) - 3600) <= Math.ceil(n / 4), `${n} samples: ${steps(n)} steps`);
  assert.equal(visionTrainDefaults(100000).epochs, 3);
});

test('a set under 16 samples steps on every sample', () => {
  const d = visionTrainDefaults(10);
  assert.equal(d.accumSteps, 1);
  assert.equal(d.epochs, 30);
});

test('the peak rate is 5e-3 up to a 512-wide LLM, then shrinks as (64 / dim)^(2/3)', () => {
  assert.equal(visionTrainDefaults(120, 64).lr, 5e-3);
  assert.equal(visionTrainDefaults(120, 512).lr, 5e-3);
  assert.ok(Math.abs(visionTrainDefaults(120, 4096).lr - 1.25e-3) < 1e-9);
});
