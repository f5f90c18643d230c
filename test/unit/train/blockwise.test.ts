// Per-block recomputation computes what the whole training graph computes: same loss, router
// weights and gradients, with dropout masks drawn from the same seeded stream.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModelDir } from '../../../server/engine/modelDir';
import { numel, toFloat32 } from '../../../server/engine/tensor';
import { BlockwiseTrainingStepper } from '../../../server/train/blockwise';
import { Rng } from '../../../server/train/rng';
import { layoutExample, TokenizedExample } from '../../../server/engine/sequence';
import { TrainingStepper } from '../../../server/train/step';
import { buildTrainingGraph } from '../../../server/train/trainingGraph';
import { fixtureModelDir } from '../../golden/fixture';

test('blockwise and whole-graph steps agree (image example, dropout on)', async (t) => {
  const weights = await loadModelDir(fixtureModelDir('openai'));
  const T = 20;
  const r = weights.cfg.clip.resolution;
  const rnd = new Rng(3);
  const pixels = Float32Array.from({ length: 3 * r * r }, () => rnd.next() * 2 - 1);
  const ids = [1, 400, 500, 600, 700, 800, 900, 2];
  const ex: TokenizedExample = { modality: 'image', pixels, inputIds: [...ids, ...new Array(T - ids.length).fill(0)], labels: [0, 0, 0, 0, 600, 700, 800, 900, 2, ...new Array(T - 9).fill(0)].slice(0, T) };
  const laid = layoutExample(ex, { seqLen: T, prefixImage: [30723, 18823, 28559], prefixText: [30723, 18823, 8031], nVisual: weights.cfg.adapter.nVisualTokens });
  const params = new Map(weights.adapterKeys.map((k) => [k, toFloat32(weights.tensors.get(k)!).slice()]));
  const options = { trainable: weights.adapterKeys, seqLen: T, dropout: { p: 0.1 }, session: { threads: 1 } };
  const whole = new TrainingStepper(weights.cfg, weights.tensors, options);
  const blocks = new BlockwiseTrainingStepper(weights.cfg, weights.tensors, options);
  try {
    const rngA = new Rng(11);
    const rngB = new Rng(11);
    const a = await whole.run(laid, params, { random: () => rngA.next() });
    const b = await blocks.run(laid, params, { random: () => rngB.next() });
    assert.deepEqual(rngA.state, rngB.state, 'both steppers drew the same number of mask values');
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.abs(a.loss), `loss ${a.loss} vs ${b.loss}`);
    for (let i = 0; i < a.routerWeights.length; i++) assert.ok(Math.abs(a.routerWeights[i] - b.routerWeights[i]) < 1e-6);
    let worst = 0;
    for (const k of weights.adapterKeys) {
      const ga = a.grads.get(k)!;
      const gb = b.grads.get(k)!;
      assert.equal(gb.length, numel(weights.tensors.get(k)!.shape));
      let maxRef = 0;
      let maxErr = 0;
      for (let i = 0; i < ga.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(ga[i]));
        maxErr = Math.max(maxErr, Math.abs(ga[i] - gb[i]));
      }
      assert.ok(maxRef > 0, `${k}: zero gradient`);
      worst = Math.max(worst, maxErr / maxRef);
    }
    assert.ok(worst < 1e-4, `worst relative gradient difference ${worst}`);
    t.diagnostic(`loss ${a.loss} vs ${b.loss}; worst relative gradient difference ${worst.toExponential(2)}`);
  } finally {
    await whole.dispose();
    await blocks.dispose();
  }
});

test('fp16 storage of the frozen LLaMA weights gives the fp32 result (Meta weights are fp16 already)', async () => {
  const weights = await loadModelDir(fixtureModelDir('openai'));
  const T = 16;
  const ids = [1, 400, 500, 600, 700, 2];
  const ex: TokenizedExample = { modality: 'text', inputIds: [...ids, ...new Array(T - ids.length).fill(0)], labels: [0, 0, 0, 600, 700, 2, ...new Array(T - 6).fill(0)] };
  const laid = layoutExample(ex, { seqLen: T, prefixImage: [30723, 18823, 28559], prefixText: [30723, 18823, 8031], nVisual: weights.cfg.adapter.nVisualTokens });
  const params = new Map(weights.adapterKeys.map((k) => [k, toFloat32(weights.tensors.get(k)!).slice()]));
  const fp32 = new TrainingStepper(weights.cfg, weights.tensors, { trainable: weights.adapterKeys, seqLen: T, session: { threads: 1 } });
  const fp16 = new TrainingStepper(weights.cfg, weights.tensors, { trainable: weights.adapterKeys, seqLen: T, frozenFormat: 'fp16', session: { threads: 1 } });
  const blocks16 = new BlockwiseTrainingStepper(weights.cfg, weights.tensors, { trainable: weights.adapterKeys, seqLen: T, frozenFormat: 'fp16', session: { threads: 1 } });
  try {
    const a = await fp32.run(laid, params);
    for (const [what, s] of [['whole graph', fp16], ['blockwise', blocks16]] as const) {
      const b = await s.run(laid, params);
      assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * a.loss, `${what}: ${a.loss} vs ${b.loss}`);
      for (const k of ['layers.0.adapter_attn.conv_A.weight', 'adapter_modality_embedding.weight']) {
        const ga = a.grads.get(k)!;
        const gb = b.grads.get(k)!;
        const maxRef = Math.max(...Array.from(ga, Math.abs));
        assert.ok(maxRef > 0 && ga.every((v, i) => Math.abs(v - gb[i]) <= 1e-5 * maxRef), `${what}: ${k}`);
      }
    }
  } finally {
    await fp32.dispose();
    await fp16.dispose();
    await blocks16.dispose();
  }
  // Quantised frozen weights would need a gradient rule for MatMulNBits: refused by name.
  assert.throws(() => buildTrainingGraph(weights.cfg, weights.tensors, { trainable: [], seqLen: 4, withImage: false, frozenFormat: 'int4' as 'fp16' }), /fp32 or fp16, not int4/);
});
