// The memory check before a model loads: the estimate counts what the fixture's tensors really hold,
// and a model that cannot fit is refused with the precisions that would.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LavinConfig, llama1Backbone, VISUAL_PREFIX } from '../../server/engine/lavin';
import { checkCpuMemory, estimateCpuMemory } from '../../server/engine/memory';
import { loadModelDir } from '../../server/engine/modelDir';
import { cpuBytesPerWeight } from '../../server/engine/quant';
import { numel } from '../../server/engine/tensor';
import { fixtureModelDir } from '../golden/fixture';

/** LLaMA-7B with CLIP ViT-L/14 and LaVIN's context of 512. */
const LAVIN_7B: LavinConfig = {
  llama: { dim: 4096, nLayers: 32, nHeads: 32, headDim: 128, ffnHidden: 11008, vocab: 32000, normEps: 1e-6, ropeTheta: 10000, ...llama1Backbone(32) },
  clip: { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224, layerNormEps: 1e-5 },
  adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
  maxSeqLen: 512,
};
const GiB = 2 ** 30;

describe('memory estimate', () => {
  test('counts the fixture checkpoint: every LLaMA linear and the embeddings; the ViT to within 5%', async () => {
    const w = await loadModelDir(fixtureModelDir('openai'));
    let linears = 0;
    let vision = 0;
    for (const [name, t] of w.tensors) {
      if (name.startsWith(VISUAL_PREFIX)) vision += numel(t.shape);
      else if (/^(layers\.\d+\.(attention\.w[qkvo]|feed_forward\.w[123])|output)\.weight$/.test(name)) linears += numel(t.shape);
    }
    const embeddings = numel(w.tensors.get('tok_embeddings.weight')!.shape);
    for (const format of ['fp32', 'int4'] as const) {
      const e = estimateCpuMemory(w.cfg, format);
      assert.ok(Math.abs(e.decoderBytes - (linears * cpuBytesPerWeight(format) + embeddings * 2)) < 1, `${format}: decoder bytes`);
      assert.ok(e.visionBytes <= 4 * vision && e.visionBytes > 0.95 * 4 * vision, `vision ${e.visionBytes} vs ${4 * vision} bytes of parameters`);
    }
  });

  test('LaVIN-7B: about 27 GiB at fp32, 5.2 GiB at int4 (under 8 GB)', () => {
    const fp32 = estimateCpuMemory(LAVIN_7B, 'fp32').totalBytes / GiB;
    const int4 = estimateCpuMemory(LAVIN_7B, 'int4').totalBytes / GiB;
    assert.ok(fp32 > 26 && fp32 < 27, `fp32 ${fp32} GiB`);
    assert.ok(int4 > 5 && int4 < 5.5, `int4 ${int4} GiB`);
  });

  test('a model that cannot fit is refused, naming the precisions that would', () => {
    const machine = { total: 16 * GiB, available: 12 * GiB };
    assert.throws(() => checkCpuMemory(LAVIN_7B, 'fp16', 'LaVIN-7B', machine),
      /LaVIN-7B at fp16 needs at least 2\d\.\d GB of memory on the CPU \(fp16 weights are widened to float32 there\), and this machine has 16\.0 GB: convert it with --precision int8 \(about \d+\.\d GB\) or int4 \(about \d\.\d GB\)/);
    assert.throws(() => checkCpuMemory(LAVIN_7B, 'int4', 'LaVIN-7B', { total: 2 * GiB, available: 2 * GiB }), /no precision fits/);
  });

  test('one that fits but not in what is free now loads with a warning', () => {
    assert.match(checkCpuMemory(LAVIN_7B, 'int8', 'LaVIN-7B', { total: 32 * GiB, available: 6 * GiB }) ?? '', /needs at least \d+\.\d GB of memory; 6\.0 GB is free now/);
    assert.equal(checkCpuMemory(LAVIN_7B, 'int4', 'LaVIN-7B', { total: 32 * GiB, available: 16 * GiB }), undefined);
  });
});
