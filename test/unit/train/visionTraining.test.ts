// Do the adapters learn to see, and do text answers stay put? The embedded lavin-tiny, quantised to
// int4 at load, is trained from a fresh adapter set on a small synthetic image-question set (colour
// questions, single words) and asked the test split greedily, as `lavin ask --adapters` does; then
// the fixed text-only prompts of textDrift are asked before and after.
//
// Colour questions (4 colours: chance 25 % with the answer prior) in a short run, then the four kinds
// of the synthetic set mixed (colour, shape, count, position) with the default recipe, as `lavin
// train --data` runs it, on 1440 samples as the d512 target run of issue 14 (README): the fresh set
// answers none (it has never seen the answer format). The mix needs the fresh vision set's FFN
// adapters and wide visual projection (train/vision.ts freshVisionShapes: 67.7 % without them,
// 79.2-85.4 % with) and each CLIP tap's own projection input trained in its whitened coordinates
// (train/projectionWhitening.ts: position questions leave chance without; bench/visionTraining.js,
// README); it is the
// longest test here (3600 steps, about 15 minutes on 2 cores). The text path: a fresh set starts with
// the text and image routes apart and the text route's adapters held at the identity
// (train/init.ts), so the text answers must not move at all (first-token KL ~1e-4 nats measured; the
// bound leaves room for int4 rounding only). The bounds below come from measured runs; the step
// count is kept small for CI's 2 cores.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { LavinModel } from '../../../server/engine/lavinModel';
import { writeSyntheticSet } from '../../../server/train/data/synthetic';
import { loadAdapterSet } from '../../../server/train/adapterStore';
import { ImageTextCache } from '../../../server/train/data/sampleImageText';
import { evaluateVisionQa } from '../../../server/train/eval/visionQaEval';
import { textDrift, textSnapshot } from '../../../server/train/eval/textDrift';
import { initAdapterTensors } from '../../../server/train/init';
import { Rng } from '../../../server/train/rng';
import { adapterHostTensors, trainVisionAdapters } from '../../../server/train/vision';
import { tempDir } from '../../helpers/tempDir';

const STEPS = 150;
/** A short run (CI's 2 cores) at 4x the default peak rate: colour, the strongest signal, is learnt by then (0 -> 100 % measured; 68.8 % at the default 5e-3). */
const SHORT_RUN_LR = 2e-2;

describe('vision adapters learn the synthetic set (int4 backbone)', () => {
  let dir: string;
  let model: LavinModel;
  before(async () => {
    dir = tempDir('lavin-vision-');
    await writeSyntheticSet(dir, { trainSize: 64, testSize: 32, seed: 7, questions: ['colour'] });
    model = await LavinModel.load(path.resolve(__dirname, '../../../../models/lavin-tiny'), { precision: 'int4', device: 'cpu', threads: 2 });
  });
  after(async () => {
    await model?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test(`${STEPS} steps from a fresh set: test-split accuracy well above chance`, { timeout: 600_000 }, async () => {
    const w = await model.loadWeights();
    const shapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(shapes, new Rng(0)), shapes }));
    // Asked as `lavin ask --adapters --image` asks: training positions, the read text as context.
    const cache = new ImageTextCache();
    const opts = { positionMode: 'consistent' as const, imageText: { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, cache } };
    const accBefore = await evaluateVisionQa(model, path.join(dir, 'test'), opts);
    const textBefore = await textSnapshot(model, undefined, { positionMode: 'consistent' });

    const r = await trainVisionAdapters({ model, dataDir: path.join(dir, 'train'), outDir: path.join(dir, 'set'), steps: STEPS, lr: SHORT_RUN_LR, imageTextCache: cache });
    assert.equal(r.result.step, STEPS);
    assert.equal(r.skipped.length, 0);
    const set = await loadAdapterSet(path.join(dir, 'set'), { optimizer: false });
    // A fresh vision set: FFN adapters beside the attention ones, and a visual projection 128 wide (vision.ts freshVisionShapes).
    assert.ok(set.tensors.has('layers.1.adapter_mlp.conv_D.weight'), 'no FFN adapters');
    assert.equal(set.meta.args.adapter_type, 'block');
    assert.deepEqual(set.shapes.get('adapter_proj.conv_A.weight'), [128, model.info.clip!.width]);
    // The text route's up-projections were held at zero, and the text modality token keeps to that expert.
    let held = 0;
    for (const [k, v] of set.tensors) if (/^layers\.\d+\.adapter_(attn|mlp)\.conv_B\./.test(k) && ++held) assert.ok(v.every((x) => x === 0), `${k} moved`);
    assert.equal(held, 4 * model.runtime.cfg.llama.nLayers);
    model.setAdapters(adapterHostTensors(set));
    const textRoute = await model.generate({ prompt: { kind: 'chat', turns: [{ role: 'user', content: 'Hello' }] }, temperature: 0, maxNewTokens: 1 });
    for (const [l, w] of textRoute.routerWeights.entries()) assert.ok(w[1] < 1e-6, `block ${l}: the text route gives expert 1 weight ${w[1]}`);
    const accAfter = await evaluateVisionQa(model, path.join(dir, 'test'), opts);
    const drift = textDrift(textBefore, await textSnapshot(model, undefined, { positionMode: 'consistent' }));
    const wrong = accAfter.rows.filter((x) => !x.correct).map((x) => `${x.expected}->${x.got}`).join(', ');
    console.log(`accuracy ${accBefore.accuracy} -> ${accAfter.accuracy} (wrong: ${wrong}); text KL ${drift.meanKl.toFixed(4)} nats, same greedy ${drift.sameGreedy}`);
    assert.ok(accBefore.accuracy <= 0.25, `before: ${accBefore.accuracy}`);
    assert.ok(accAfter.accuracy >= 0.75, `after ${STEPS} steps: ${accAfter.accuracy} (wrong: ${wrong})`);
    assert.ok(drift.meanKl < 0.01, `text-only answers moved: first-token KL ${drift.meanKl} nats`);
    assert.ok(drift.sameGreedy >= 0.9, `text-only answers moved: ${drift.sameGreedy} of the prompts keep their greedy tokens`);
  });

  test('the four kinds mixed (colour, shape, count, position), the default recipe (1440 samples: 3600 steps): test-split accuracy far above the answer priors', { timeout: 3_000_000 }, async () => {
    const mixed = path.join(dir, 'mixed');
    await writeSyntheticSet(mixed, { trainSize: 1440, testSize: 96, seed: 7 });
    const w = await model.loadWeights();
    const adapterShapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(adapterShapes, new Rng(0)), shapes: adapterShapes }));
    const cache = new ImageTextCache();
    const opts = { positionMode: 'consistent' as const, imageText: { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, cache } };
    const accBefore = await evaluateVisionQa(model, path.join(mixed, 'test'), opts);
    const r = await trainVisionAdapters({ model, dataDir: path.join(mixed, 'train'), outDir: path.join(mixed, 'set'), imageTextCache: cache });
    assert.equal(r.result.step, 3600);
    const set = await loadAdapterSet(path.join(mixed, 'set'));
    // Each tap's own projection input (1440 images: train/vision.ts TAP_LAYER_IMAGES), trained in that tap's whitened
    // coordinates (train/projectionWhitening.ts), the shared one held at zero, over CLIP adapters held at the identity.
    const extra = set.optimizer?.extra;
    const taps = model.runtime.cfg.adapter.nVisualTokens;
    for (let k = 0; k < taps; k++) assert.ok(extra?.has(`whitening.taps.${k}.V`), `tap ${k}'s projection input did not train in whitened coordinates`);
    assert.notDeepEqual(extra!.get('whitening.taps.0.whiten')!.values, extra!.get(`whitening.taps.${taps - 1}.whiten`)!.values, 'the taps share one whitening');
    assert.ok(set.tensors.get('adapter_proj.conv_A.weight')!.every((x) => x === 0), 'the shared projection input moved');
    let clipHeld = 0;
    for (const [k, v] of set.tensors) if (/^backbone\.visual\..*adapter_attn\.conv_B\.weight$/.test(k) && ++clipHeld) assert.ok(v.every((x) => x === 0), `${k} moved`);
    assert.equal(clipHeld, model.info.clip!.layers);
    model.setAdapters(adapterHostTensors(set));
    const accAfter = await evaluateVisionQa(model, path.join(mixed, 'test'), opts);
    const perKind = [...accAfter.byQuestion].map(([q, c]) => `${q.split(' ').slice(0, 3).join(' ')}: ${c.correct}/${c.total}`).join('; ');
    console.log(`four kinds: accuracy ${accBefore.accuracy} -> ${accAfter.accuracy} (${perKind})`);
    assert.ok(accBefore.accuracy <= 0.1, `before: ${accBefore.accuracy}`);
    // Answering each kind with its commonest answer scores about 36 % here. Measured with the bench (README): 94.8 %
    // (colour 23, shape 24, count 23, position 21 of 24), against 83.3 % with the shared projection input alone
    // (position 8/24); the bound leaves room for another machine's rounding.
    assert.ok(accAfter.accuracy >= 0.85, `after training: ${accAfter.accuracy} (${perKind})`);
  });
});
