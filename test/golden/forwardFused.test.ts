// The golden forward suite again, with the decoder on onnxruntime's fused kernels
// (SimplifiedLayerNormalization, RotaryEmbedding) and the attention that reads the KV cache in place:
// same checks, same tolerances.

import { after, before, describe, test } from 'node:test';
import { loadModelDir } from '../../server/engine/modelDir';
import { buildDecoderGraph } from '../../server/engine/programs';
import { HostParams } from '../../server/engine/graph/params';
import { LavinRuntime } from '../../server/engine/runtime';
import assert from 'node:assert/strict';
import { FIXTURE_DIR, fixtureModelDir, GoldenJson, readGoldenJson, readGoldenTensors } from './fixture';
import { ForwardContext, forwardChecks } from './forwardChecks';

const golden: GoldenJson = readGoldenJson();
const checks = forwardChecks(Object.keys(golden.cases));

describe(`golden forward, fused kernels (${FIXTURE_DIR})`, () => {
  let ctx: ForwardContext;
  before(async () => {
    const weights = await loadModelDir(fixtureModelDir('openai'));
    ctx = { runtime: await LavinRuntime.create(weights.cfg, weights.tensors, { threads: 1 }, { kernels: 'fused' }), golden, tensors: await readGoldenTensors() };
  });
  after(async () => ctx?.runtime.dispose());

  test('the fused decoder graph norms and rotates every block with the fused kernels', async () => {
    const weights = await loadModelDir(fixtureModelDir('openai'));
    const count = new Map<string, number>();
    for (const n of buildDecoderGraph(weights.cfg, new HostParams(weights.tensors), 'fused').nodes) count.set(n.op, (count.get(n.op) ?? 0) + 1);
    const L = weights.cfg.llama.nLayers;
    assert.equal(count.get('SimplifiedLayerNormalization'), 2 * L, 'attention and FFN norms');
    assert.equal(count.get('RotaryEmbedding'), 2 * L, 'queries and keys');
  });

  for (const check of checks) {
    test(check.name, { skip: check.skipReason?.(golden) ?? false }, async (t) => {
      t.diagnostic(await check.run(ctx));
    });
  }
});
