// Golden forward suite: every forward golden of the fixture set in LAVIN_FIXTURE_DIR, both
// modalities, within the fixture README's tolerances.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../server/engine/modelDir';
import { LavinRuntime } from '../../server/engine/runtime';
import { assertClose, FIXTURE_DIR, fixtureModelDir, GoldenJson, GoldenTensor, readGoldenJson, readGoldenTensors } from './fixture';
import { ForwardContext, forwardChecks } from './forwardChecks';

const golden: GoldenJson = readGoldenJson();
const caseNames = Object.keys(golden.cases);
const checks = forwardChecks(caseNames);

describe(`golden forward (${FIXTURE_DIR})`, () => {
  let ctx: ForwardContext;
  before(async () => {
    const weights = await loadModelDir(fixtureModelDir('openai'));
    ctx = { runtime: await LavinRuntime.create(weights.cfg, weights.tensors, { threads: 1 }), golden, tensors: await readGoldenTensors() };
  });
  after(async () => ctx?.runtime.dispose());

  for (const check of checks) {
    test(check.name, { skip: check.skipReason?.(golden) ?? false }, async (t) => {
      t.diagnostic(await check.run(ctx));
    });
  }

  test('OpenAI .pth and Hugging Face safetensors CLIP give the same features', async (t) => {
    const hf = await loadModelDir(fixtureModelDir('hf'));
    const hfRuntime = await LavinRuntime.create(hf.cfg, hf.tensors, { threads: 1 });
    try {
      for (const name of caseNames) {
        const pixels = golden.cases[name].img_indicator === 1 ? ctx.tensors.get('input.image_pixels')!.data : new Float32Array(ctx.tensors.get('input.image_pixels')!.data.length);
        const a = await ctx.runtime.encodeImage(pixels);
        const b = await hfRuntime.encodeImage(pixels);
        const c = assertClose(`${name}: HF vs OpenAI features`, b.features, a.features, 1e-6, 1e-7);
        assertClose(`${name}: HF features vs golden`, b.features, ctx.tensors.get(`${name}.clip_cls_feats`)!);
        t.diagnostic(`${name}: max |HF - OpenAI| ${c.maxAbsError.toExponential(2)}`);
      }
    } finally {
      await hfRuntime.dispose();
    }
  });

  test('every check fails when a golden value it reads is perturbed', async () => {
    for (const check of checks) {
      const name = check.reads.find((r) => ctx.tensors.has(r));
      if (!name) continue;
      const original = ctx.tensors.get(name)!;
      const perturbed: GoldenTensor = { shape: original.shape, data: original.data.slice() };
      // One element off by 1% of the tensor's largest magnitude: far above the 1e-5 tolerance,
      // small enough to change no argmax of a well-separated step.
      let maxAbs = 0;
      for (const v of original.data) maxAbs = Math.max(maxAbs, Math.abs(v));
      const i = Math.floor(perturbed.data.length / 2);
      perturbed.data[i] += name.endsWith('.tokens') ? 1 : 0.01 * maxAbs;
      ctx.tensors.set(name, perturbed);
      try {
        await assert.rejects(check.run(ctx), `check "${check.name}" passed with ${name}[${i}] perturbed`);
      } finally {
        ctx.tensors.set(name, original);
      }
    }
  });
});
