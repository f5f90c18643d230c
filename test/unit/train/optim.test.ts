// AdamW, parameter groups and the LR schedule against steps worked out by hand.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, decays, GradientAccumulator, learningRate, peakLr } from '../../../server/train/optim';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test('weight-decay groups follow timm add_weight_decay', () => {
  assert.equal(decays('layers.0.adapter_attn.conv_A.weight', [8, 64, 1]), true);
  assert.equal(decays('layers.0.adapter_attn.conv_A.bias', [8]), false);
  assert.equal(decays('adapter_proj.conv_B.bias', [64]), false);
  assert.equal(decays('adapter_modality_embedding.weight', [2, 64]), true);
  assert.equal(decays('some.scale', [4]), false); // 1-D
});

test('two AdamW steps match the PyTorch formula worked by hand', () => {
  const shapes = new Map<string, number[]>([['w', [1, 2]], ['b', [1]]]);
  const opt = new AdamW(shapes); // betas 0.9/0.95, eps 1e-8, wd 0.02
  const params = new Map([['w', Float32Array.from([1, -2])], ['b', Float32Array.from([0.5])]]);
  const lr = 0.1;
  // step 1, w[0]: g=0.5 -> p = 1*(1-0.002) - 0.1/(0.1) * 0.05 / (sqrt(0.0125)/sqrt(0.05) + 1e-8)
  //   m=0.05, v=0.05*0.25=0.0125; mhat = 0.5, vhat = 0.25 -> update = 0.1 * 0.5/(0.5+1e-8) ~ 0.1
  opt.step(params, new Map([['w', Float32Array.from([0.5, -1])], ['b', Float32Array.from([2])]]), lr);
  close(params.get('w')![0], 1 * (1 - 0.1 * 0.02) - 0.1 * 0.5 / (0.5 + 1e-8));
  close(params.get('w')![1], -2 * (1 - 0.1 * 0.02) - 0.1 * -1 / (1 + 1e-8));
  close(params.get('b')![0], 0.5 - 0.1 * 2 / (2 + 1e-8)); // no decay for the bias
  // step 2 on b with g = -1: m = 0.9*0.2 + 0.1*-1 = 0.08; v = 0.95*0.2 + 0.05*1 = 0.24
  const b1 = params.get('b')![0];
  opt.step(params, new Map([['w', Float32Array.from([0, 0])], ['b', Float32Array.from([-1])]]), lr);
  const mhat = 0.08 / (1 - 0.81);
  const vhat = 0.24 / (1 - 0.9025);
  close(params.get('b')![0], b1 - 0.1 * mhat / (Math.sqrt(vhat) + 1e-8));
  assert.equal(opt.state.step, 2);
});

test('AdamW rejects a bad learning rate and non-finite gradients, naming the parameter', () => {
  const opt = new AdamW(new Map([['w', [2]]]));
  const params = new Map([['w', new Float32Array(2)]]);
  assert.throws(() => opt.step(params, new Map([['w', Float32Array.from([1, NaN])]]), 0.1), /gradient of w\[1\] is NaN/);
  assert.throws(() => opt.step(params, new Map([['w', new Float32Array(2)]]), NaN), /learning rate/);
  assert.throws(() => opt.step(params, new Map(), 0.1), /no gradient for parameter w/);
});

test('LR: blr * batch / 256, linear warm-up, half-cosine to zero', () => {
  const s = { effectiveBatch: 32, epochs: 20, warmupEpochs: 2 };
  close(peakLr(s), 1.125e-3);
  close(learningRate(s, 0), 0);
  close(learningRate(s, 1), 1.125e-3 / 2);
  close(learningRate(s, 2), 1.125e-3);
  close(learningRate(s, 11), 1.125e-3 * 0.5);
  close(learningRate(s, 20), 0);
  close(learningRate({ ...s, lr: 1e-3 }, 2), 1e-3);
});

test('gradient accumulation sums scaled micro-batch gradients', () => {
  const acc = new GradientAccumulator(new Map([['w', [2]]]));
  acc.add(new Map([['w', Float32Array.from([1, 2])]]), 0.5);
  acc.add(new Map([['w', Float32Array.from([3, 4])]]), 0.5);
  assert.deepEqual(Array.from(acc.sum.get('w')!), [2, 3]);
  assert.equal(acc.count, 2);
  acc.reset();
  assert.deepEqual(Array.from(acc.sum.get('w')!), [0, 0]);
});
