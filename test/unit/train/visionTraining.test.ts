// Do the adapters learn to see, and do text answers stay put? The embedded lavin-tiny, quantised to
// int4 at load, is trained from a fresh adapter set on a small synthetic image-question set (colour
// questions, single words) and asked the test split greedily, as `lavin ask --adapters` does; then
// the fixed text-only prompts of textDrift are asked before and after.
//
// Colour questions (4 colours: chance 25 % with the answer prior), then shape questions (3 shapes):
// the fresh set answers none (it has never seen the answer format). Shape shows that more than the
// image's dominant colour gets through CLIP and adapter_proj (the default recipe, 120 samples, 900
// steps: 93.8 % measured). The four kinds mixed are not learnt by the tiny backbone (67.7 %;
// bench/visionTraining.js and the README measure why), so no test claims them. The text path: a fresh set starts with
// the text and image routes apart and the text route's adapters held at the identity
// (train/init.ts), so the text answers must not move at all (first-token KL ~1e-4 nats measured; the
// bound leaves room for int4 rounding only). The bounds below come from measured runs; the step
// count is kept small for CI's 2 cores.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
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

const STEPS = 150;
/** A short run (CI's 2 cores) at 4x the default peak rate: colour, the strongest signal, is learnt by then (0 -> 100 % measured; 68.8 % at the default 5e-3). */
const SHORT_RUN_LR = 2e-2;

describe('vision adapters learn the synthetic set (int4 backbone)', () => {
  let dir: string;
  let model: LavinModel;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-vision-'));
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
    // The text route's up-projections were held at zero, and the text modality token keeps to that expert.
    for (const [k, v] of set.tensors) if (/^layers\.\d+\.adapter_attn\.conv_B\./.test(k)) assert.ok(v.every((x) => x === 0), `${k} moved`);
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

  test('shape questions, the default recipe (120 samples: 900 steps): test-split accuracy well above chance', { timeout: 900_000 }, async () => {
    const shapes = path.join(dir, 'shapes');
    await writeSyntheticSet(shapes, { trainSize: 120, testSize: 48, seed: 7, questions: ['shape'] });
    const w = await model.loadWeights();
    const adapterShapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(adapterShapes, new Rng(0)), shapes: adapterShapes }));
    const cache = new ImageTextCache();
    const opts = { positionMode: 'consistent' as const, imageText: { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, cache } };
    const accBefore = await evaluateVisionQa(model, path.join(shapes, 'test'), opts);
    const r = await trainVisionAdapters({ model, dataDir: path.join(shapes, 'train'), outDir: path.join(shapes, 'set'), imageTextCache: cache });
    assert.equal(r.result.step, 900);
    model.setAdapters(adapterHostTensors(await loadAdapterSet(path.join(shapes, 'set'), { optimizer: false })));
    const accAfter = await evaluateVisionQa(model, path.join(shapes, 'test'), opts);
    const answers = new Map<string, number>();
    for (const x of accAfter.rows) answers.set(x.got, (answers.get(x.got) ?? 0) + 1);
    console.log(`shape accuracy ${accBefore.accuracy} -> ${accAfter.accuracy}; answers ${JSON.stringify(Object.fromEntries(answers))}`);
    assert.ok(accBefore.accuracy <= 0.34, `before: ${accBefore.accuracy}`);
    // Answering one shape to everything scores that shape's share of the test split (triangles: 20/48 here).
    assert.ok(accAfter.accuracy >= 0.75, `after training: ${accAfter.accuracy}`);
  });
});
