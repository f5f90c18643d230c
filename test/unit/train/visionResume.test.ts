// Resuming a vision run: a fresh set's route separation and whitening statistics (train/vision.ts)
// are measured once, at the start. A run resumed past its first step goes on from the saved state
// without measuring them again, and ends where the same run without a stop ends, bit for bit. A run
// cancelled while preparing stops measuring, saves step 0, and starts over when resumed.

import assert from 'node:assert/strict';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { LavinModel } from '../../../server/engine/lavinModel';
import { writeSyntheticSet } from '../../../server/train/data/synthetic';
import { loadAdapterSet } from '../../../server/train/adapterStore';
import { trainVisionAdapters, VisionTrainRun } from '../../../server/train/vision';
import { tempDir } from '../../helpers/tempDir';
import { tapProjection } from '../../../server/engine/lavin';
import { WhitenedProjection } from '../../../server/train/projectionWhitening';

const STEPS = 4;

describe('resuming vision training', () => {
  let dir: string;
  let model: LavinModel;
  /** Calls of the measuring paths: generate (route separation) and encodeImage (whitening statistics). */
  const calls = { generate: 0, encodeImage: 0 };
  before(async () => {
    dir = tempDir('lavin-vision-resume-');
    // 24 distinct images: enough for lavin-tiny's whitening pooled over the taps (16), so the run is whitened and its
    // CLIP adapters held. The runs give each tap its own projection input (a set this small would not by default).
    await writeSyntheticSet(dir, { trainSize: 24, testSize: 4, seed: 5, questions: ['colour', 'position'] });
    model = await LavinModel.load(path.resolve(__dirname, '../../../../models/lavin-tiny'), { precision: 'int4', device: 'cpu', threads: 2 });
    const generate = model.generate.bind(model);
    model.generate = (...a) => (calls.generate++, generate(...a));
    const encodeImage = model.runtime.encodeImage.bind(model.runtime);
    model.runtime.encodeImage = (...a) => (calls.encodeImage++, encodeImage(...a));
  });
  after(async () => {
    await model?.dispose();
  });

  const run = async (outDir: string, extra: Partial<VisionTrainRun> = {}) => {
    calls.generate = calls.encodeImage = 0;
    const r = await trainVisionAdapters({ model, dataDir: path.join(dir, 'train'), outDir, steps: STEPS, readImageText: false, tapLayers: true, ...extra });
    return { ...r, calls: { ...calls } };
  };
  const same = async (a: string, b: string) => {
    const [x, y] = [await loadAdapterSet(a), await loadAdapterSet(b)];
    assert.deepEqual([...y.tensors.keys()], [...x.tensors.keys()]);
    for (const [k, v] of x.tensors) assert.deepEqual(y.tensors.get(k), v, `${k} differs`);
    assert.deepEqual([...y.optimizer!.extra!.keys()], [...x.optimizer!.extra!.keys()]);
    for (const [k, v] of x.optimizer!.extra!) assert.deepEqual(y.optimizer!.extra!.get(k)!.values, v.values, `optimizer ${k} differs`);
  };

  let straight: string;
  test('a straight run measures the start once and is whitened', async () => {
    straight = path.join(dir, 'straight');
    const r = await run(straight);
    assert.equal(r.result.step, STEPS);
    assert.ok(r.calls.generate > 0, 'route separation did not run');
    assert.ok(r.calls.encodeImage >= 16, `whitening statistics from ${r.calls.encodeImage} images`);
    const set = await loadAdapterSet(straight);
    assert.ok(WhitenedProjection.savedIn([...(set.optimizer?.extra?.keys() ?? [])]), 'the run was not whitened');
    // Each tap's own projection input trains (statistics pooled over the taps: 24 images are too few for each tap's); the shared one stays zero.
    assert.ok(set.tensors.has(tapProjection(model.runtime.cfg.adapter.nVisualTokens - 1, 'weight')), 'no input layer of its own for the last tap');
    assert.ok(set.tensors.get('adapter_proj.conv_A.weight')!.every((v) => v === 0), 'the shared projection input moved');
    const extra = set.optimizer!.extra!;
    assert.deepEqual(extra.get('whitening.taps.0.whiten')!.values, extra.get(`whitening.taps.${model.runtime.cfg.adapter.nVisualTokens - 1}.whiten`)!.values, 'not the pooled statistics');
  });

  test('stopped at step 2 and resumed: nothing measured again, the same set as the straight run', async () => {
    const out = path.join(dir, 'stopped');
    const stop = new AbortController();
    const first = await run(out, { signal: stop.signal, onStep: (p) => p.step === 2 && stop.abort() });
    assert.equal(first.result.step, 2);
    assert.ok(first.result.aborted);
    const resumed = await run(out, { resume: true });
    assert.equal(resumed.result.step, STEPS);
    assert.deepEqual(resumed.calls, { generate: 0, encodeImage: 0 });
    await same(straight, out);
  });

  test('cancelled before the first step: stops measuring, saves step 0, and a resume starts over', async () => {
    const out = path.join(dir, 'cancelled');
    const stop = new AbortController();
    stop.abort();
    const first = await run(out, { signal: stop.signal });
    assert.equal(first.result.step, 0);
    assert.ok(first.result.aborted);
    assert.deepEqual(first.calls, { generate: 0, encodeImage: 0 });
    assert.equal((await loadAdapterSet(out)).meta.step, 0);
    const resumed = await run(out, { resume: true });
    assert.equal(resumed.result.step, STEPS);
    assert.ok(resumed.calls.encodeImage >= 16, 'the resumed run did not measure its start');
    await same(straight, out);
  });
});
