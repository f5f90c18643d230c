// Golden forward suite: every forward golden of the fixture set in LAVIN_FIXTURE_DIR, both
// modalities, within the fixture README's tolerances.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../server/engine/modelDir';
import { LavinRuntime } from '../../server/engine/runtime';
import { FIXTURE_DIR, fixtureModelDir, GoldenJson, GoldenTensor, readGoldenJson, readGoldenTensors } from './fixture';
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
    test(check.name, async (t) => {
      t.diagnostic(await check.run(ctx));
    });
  }

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
