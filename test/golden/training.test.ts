// Golden training suite: for every case of the fixture set in LAVIN_FIXTURE_DIR, one forward +
// backward pass of the training graph against the reference's loss, router weights and the
// gradient of every adapter parameter.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../server/engine/modelDir';
import { toFloat32 } from '../../server/engine/tensor';
import { layoutExample } from '../../server/engine/sequence';
import { TrainingStepper } from '../../server/train/step';
import { BlockwiseTrainingStepper } from '../../server/train/blockwise';
import { FIXTURE_DIR, fixtureModelDir, GoldenJson, GoldenTensor, prefixIds, readGoldenJson, readGoldenTensors } from './fixture';
import { MODULE_PREFIX, TrainingContext, trainingChecks } from './trainingChecks';

const golden: GoldenJson = readGoldenJson();
const checks = trainingChecks(golden);

for (const kind of ['whole graph', 'per-block recomputation'] as const) describe(`golden training, ${kind} (${FIXTURE_DIR})`, () => {
  let ctx: TrainingContext;
  let stepper: TrainingStepper | BlockwiseTrainingStepper | undefined;

  before(async () => {
    const weights = await loadModelDir(fixtureModelDir('openai'));
    const tensors = await readGoldenTensors();
    const ours = weights.adapterKeys.map((k) => MODULE_PREFIX + k);
    assert.deepEqual([...ours].sort(), [...golden.trainable_keys].sort(), 'adapter keys of the checkpoint vs golden.json trainable_keys');
    const params = new Map(weights.adapterKeys.map((k) => [k, toFloat32(weights.tensors.get(k)!)]));
    const seqLen = golden.config.max_words;
    const stepperOptions = { trainable: weights.adapterKeys, seqLen, session: { threads: 1 } };
    stepper = kind === 'whole graph' ? new TrainingStepper(weights.cfg, weights.tensors, stepperOptions) : new BlockwiseTrainingStepper(weights.cfg, weights.tensors, stepperOptions);
    const results: TrainingContext['results'] = new Map();
    for (const [name, c] of Object.entries(golden.cases)) {
      const pixels = tensors.get('input.image_pixels')!.data;
      const example = layoutExample(
        { modality: c.img_indicator === 1 ? 'image' : 'text', inputIds: c.train_input_ids, labels: c.train_labels, pixels: c.img_indicator === 1 ? pixels : undefined, source: `golden case ${name}` },
        { seqLen, prefixImage: prefixIds(golden, 'prefix_img_ids'), prefixText: prefixIds(golden, 'prefix_nonimg_ids'), nVisual: weights.cfg.adapter.nVisualTokens },
      );
      // Step times are the bench's (node out/bench/trainingRow.js [--recompute blockwise]), not a test's.
      results.set(name, { example, step: await stepper.run(example, params) });
    }
    ctx = { golden, tensors, results };
  });
  after(async () => stepper?.dispose());

  for (const check of checks) {
    test(check.name, (t) => {
      t.diagnostic(check.run(ctx));
    });
  }

  test('every check fails when a golden value it reads is perturbed', { skip: kind !== 'whole graph' && 'the checks are the same code; run once' }, () => {
    for (const check of checks) {
      // Alter the largest-magnitude element of one tensor the check reads, by 1% of the tensor's
      // largest magnitude (10x the gradient tolerance), by 1e-3 in an all-zero tensor (a None
      // gradient) or by 1 for integer labels.
      const candidates = check.reads.filter((r) => ctx.tensors.has(r));
      const name = candidates[Math.floor(candidates.length / 2)];
      if (!name) continue;
      const original = ctx.tensors.get(name)!;
      const perturbed: GoldenTensor = { shape: original.shape, data: original.data.slice() };
      let maxAbs = 0;
      let at = 0;
      original.data.forEach((v, i) => { if (Math.abs(v) > maxAbs) { maxAbs = Math.abs(v); at = i; } });
      perturbed.data[at] += name.endsWith('labels_inserted') ? 1 : 0.01 * maxAbs || 1e-3;
      ctx.tensors.set(name, perturbed);
      try {
        assert.throws(() => check.run(ctx), `check "${check.name}" passed with ${name}[${at}] perturbed`);
      } finally {
        ctx.tensors.set(name, original);
      }
    }
  });

  test('a gradient that is zero in the golden but non-zero here fails the check', { skip: kind !== 'whole graph' && 'run once' }, () => {
    const name = Object.keys(golden.cases)[0];
    const check = checks.find((c) => c.name.startsWith(`${name}: every adapter gradient`))!;
    const key = golden.trainable_keys[0].slice(MODULE_PREFIX.length);
    const grads = ctx.results.get(name)!.step.grads;
    const original = grads.get(key)!;
    const altered = original.slice();
    altered[0] += 1e-3 * Math.max(...Array.from(original, Math.abs)) * 2;
    grads.set(key, altered);
    try {
      assert.throws(() => check.run(ctx));
    } finally {
      grads.set(key, original);
    }
  });
});
