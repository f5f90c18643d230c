// Text-only behaviour after image-heavy training (issue "Engine III", MMT).
//
// The fixture model's adapters (every trainable key) are trained for 20 steps on 90 % image
// samples at LaVIN's ScienceQA peak learning rate (1.125e-3), then text-only behaviour is compared
// with the untrained model: greedy tokens on the golden text prompt and teacher-forced logits of
// text sequences (mean KL(before || after) per position, top-1 agreement).
//
// Tolerance (text-only path): mean KL <= 0.02 nats/token, top-1 agreement >= 0.75, the first 8 of
// 12 greedy tokens unchanged, and text KL <= 0.1 x the image path's KL under the same training.
// Justified by measurement (deterministic: the dropout masks are seeded; seeds 3 / 4 / 7):
//   text, own route   KL 0.0048 / 0.0044 / 0.0051   top-1 0.84-0.89   greedy equal 12 of 12
//   image path        KL 0.33   / 0.29   / 0.38     top-1 0.49-0.55   greedy equal 0-1 of 12
// so text drifts ~70x less than the image path. The bounds leave ~4x headroom over the measured
// text drift (other data, random ids, measured KL 0.005 and greedy equal for 9 of 12) and stay an
// order of magnitude below the image drift. This is a matter of degree, not a guarantee: at 4x the
// learning rate (5e-3, 20 steps) text KL is 0.088 and the first greedy text token already changes.
//
// Why text stays close — two ablations, also asserted, because they correct the premise
// ("the router's point"):
// - Router ablation: the same text sequences pushed through the IMAGE route (image modality token
//   and its router weights) drift as much as through the text route (KL 0.0049 vs 0.0048). With
//   these routers (text [0.75 0.25] [0.54 0.46], image [0.64 0.36] [0.63 0.37] per layer) the
//   router gives the text path no measurable protection (ratio 1.02-1.18 over the three seeds).
// - Vision ablation: the image sequences with their OLD visual tokens (only the LLM adapters
//   changed) drift like text (KL 0.0066-0.0068). The image path's large drift comes from the retrained
//   ViT adapters and adapter_proj changing the visual tokens, which text-only requests never use.
// So text-only outputs stay close because the text path skips the vision side, not because the
// router separates the modalities; the shared LLM adapters move text and image sequences alike.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, test } from 'node:test';
import { generateIds } from '../../../server/engine/generate';
import { preprocessImage } from '../../../server/engine/image';
import { loadModelDir, LoadedWeights } from '../../../server/engine/modelDir';
import { LavinRuntime } from '../../../server/engine/runtime';
import { HostTensor, toFloat32 } from '../../../server/engine/tensor';
import { LlamaTokenizer } from '../../../server/engine/tokenizer';
import { loadAdapterSet } from '../../../server/train/adapterStore';
import { layoutPrefixes, prepareExamples } from '../../../server/train/data/prepare';
import { chatPrompt, TextSample } from '../../../server/train/data/tokenize';
import { train } from '../../../server/train/trainer';
import { FIXTURE_DIR, fixtureModelDir, prefixIds, readGoldenJson } from '../../golden/fixture';
import { logSoftmax } from '../../../server/train/eval/textDrift';
import { tempDir } from '../../helpers/tempDir';

const REPO = path.resolve(__dirname, '../../../..');
const TOKENIZER = path.join(REPO, 'test/data/tokenizer/tokenizer.model');
const IMAGES = path.join(REPO, 'test/data/images/inputs');

interface Drift {
  /** Mean over positions of KL(softmax(before) || softmax(after)), nats. */
  meanKl: number;
  /** Share of positions whose argmax is unchanged. */
  top1: number;
  positions: number;
}


function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Drift between two [n, V] logit blocks (lists of them, concatenated). */
function drift(before: Float32Array[], after: Float32Array[], vocab: number): Drift {
  let kl = 0;
  let same = 0;
  let n = 0;
  before.forEach((b, k) => {
    const a = after[k];
    assert.equal(a.length, b.length);
    for (let r = 0; r < b.length / vocab; r++) {
      const rb = b.subarray(r * vocab, (r + 1) * vocab);
      const ra = a.subarray(r * vocab, (r + 1) * vocab);
      const lb = logSoftmax(rb);
      const la = logSoftmax(ra);
      for (let i = 0; i < vocab; i++) kl += Math.exp(lb[i]) * (lb[i] - la[i]);
      if (argmax(rb) === argmax(ra)) same++;
      n++;
    }
  });
  return { meanKl: kl / n, top1: same / n, positions: n };
}

function commonPrefix(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const fmt = (d: Drift) => `KL ${d.meanKl.toFixed(4)} top-1 ${d.top1.toFixed(2)} (${d.positions} positions)`;

/** Everything measured on one set of adapter values. */
interface Snapshot {
  textGreedy: number[];
  imageGreedy: number[];
  /** Teacher-forced logits of the text sequences through the text route. */
  text: Float32Array[];
  /** The same text sequences through the image route (router ablation). */
  textViaImageRoute: Float32Array[];
  /** Image sequences with this model's visual tokens. */
  image: Float32Array[];
  /** Image sequences with the untrained model's visual tokens (vision ablation). */
  imageOldVisual: Float32Array[];
  visualTokens: Float32Array;
  routers: { text: number[]; image: number[] };
}

describe('text-only behaviour after image-heavy training', () => {
  let weights: LoadedWeights;
  let tok: LlamaTokenizer;
  before(async () => {
    weights = await loadModelDir(fixtureModelDir('openai'));
    tok = await LlamaTokenizer.fromFile(TOKENIZER);
  });

  test('text outputs stay within tolerance while the image path moves; the router is not why', async (t) => {
    const golden = readGoldenJson();
    const { cfg } = weights;
    const { vocab, dim } = cfg.llama;
    const nv = cfg.adapter.nVisualTokens;
    const prefixImage = prefixIds(golden, 'prefix_img_ids');
    const prefixText = prefixIds(golden, 'prefix_nonimg_ids');
    const fixtureImage = path.join(FIXTURE_DIR, 'inputs/image.png');
    const pixels = await preprocessImage(fs.readFileSync(fixtureImage));

    // ---- image-heavy training data: 9 image samples, 1 text sample ------------------------------
    const pictures = [fixtureImage, path.join(IMAGES, 'photo-300x200.jpg'), path.join(IMAGES, 'rgb-150x97.png')];
    const questions = ['What is in this picture?', 'Describe the colours you see.', 'Which object is on the left?'];
    const answers = [' A grey square with a red stripe.', ' Mostly blue and green, with a white sky.', ' A small wooden box next to a lamp.'];
    const samples: TextSample[] = [];
    for (let i = 0; i < 9; i++) {
      samples.push({ prompt: chatPrompt(questions[i % 3]), answer: answers[(i + Math.floor(i / 3)) % 3], imagePath: pictures[i % 3], source: `image ${i}` });
    }
    samples.push({ prompt: chatPrompt('Name a prime number.'), answer: ' Seven is a prime number.', source: 'text 0' });
    const examples = await prepareExamples(samples, tok, { maxWords: 32 });
    assert.equal(examples.filter((e) => e.modality === 'image').length, 9);

    // ---- what is compared -------------------------------------------------------------------------
    const textCase = golden.cases.text;
    const imageCase = golden.cases.image;
    const textSequences = [
      textCase.train_input_ids.filter((id) => id !== 0),
      tok.encode(chatPrompt('Explain what a compiler does.') + ' It turns source code into machine code.', { bos: true, eos: true }),
      tok.encode(chatPrompt('Write a haiku about autumn.') + ' Red leaves drift and fall.', { bos: true, eos: true }),
      tok.encode('Question: Which is heavier?\nContext: N/A\nOptions: (A) a feather (B) a brick\nResponse: The answer is B.', { bos: true }),
    ];
    let oldVisual: Float32Array | undefined;
    const measure = async (tensors: ReadonlyMap<string, HostTensor>): Promise<Snapshot> => {
      const rt = await LavinRuntime.create(cfg, tensors, { threads: 1 });
      try {
        const visualTokens = (await rt.encodeImage(pixels)).visualTokens;
        oldVisual ??= visualTokens;
        const textGreedy = (await generateIds(rt, { promptIds: textCase.gen_prompt_ids, modality: 'text', maxNewTokens: 12 })).tokens;
        const imageGreedy = (await generateIds(rt, {
          promptIds: imageCase.gen_prompt_ids, modality: 'image', visual: { tokens: visualTokens, offset: 1 + prefixImage.length }, maxNewTokens: 12,
        })).tokens;
        const snap: Snapshot = { textGreedy, imageGreedy, text: [], textViaImageRoute: [], image: [], imageOldVisual: [], visualTokens, routers: { text: [], image: [] } };
        const imageEmbeds = (ids: number[], visual: Float32Array) => {
          const e = rt.embed([ids[0], ...prefixImage, ...new Array<number>(nv).fill(0), ...ids.slice(1)]);
          e.set(visual, (1 + prefixImage.length) * dim);
          return e;
        };
        for (const ids of textSequences) {
          const textEmbeds = rt.embed([ids[0], ...prefixText, ...ids.slice(1)]);
          snap.text.push(await rt.teacherForced('text', textEmbeds));
          snap.textViaImageRoute.push(await rt.teacherForced('image', textEmbeds));
          snap.image.push(await rt.teacherForced('image', imageEmbeds(ids, visualTokens)));
          snap.imageOldVisual.push(await rt.teacherForced('image', imageEmbeds(ids, oldVisual)));
        }
        snap.routers = { text: Array.from(await rt.routerTable('text')), image: Array.from(await rt.routerTable('image')) };
        return snap;
      } finally {
        await rt.dispose();
      }
    };

    const before = await measure(weights.tensors);
    // The untrained measurements are the reference model's (golden greedy tokens).
    assert.deepEqual(before.textGreedy, textCase.gen_tokens);
    assert.deepEqual(before.imageGreedy, imageCase.gen_tokens);

    // ---- train every adapter parameter ------------------------------------------------------------
    const outDir = tempDir('lavin-text-preservation-');
    const run = await train({
      weights, samples: examples, ...layoutPrefixes(tok), steps: 20, lr: 1.125e-3, warmupEpochs: 0, dropout: 0.1, seed: 3,
      outDir, saveEvery: 1000, session: { threads: 1 },
    });
    assert.equal(run.step, 20);
    const trained = await loadAdapterSet(outDir, { optimizer: false });
    const tensors = new Map(weights.tensors);
    let moved = 0;
    for (const k of weights.adapterKeys) {
      const v = trained.tensors.get(k)!;
      const old = toFloat32(weights.tensors.get(k)!);
      if (v.some((x, i) => x !== old[i])) moved++;
      tensors.set(k, { dtype: 'float32', shape: weights.tensors.get(k)!.shape.slice(), data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });
    }
    const after = await measure(tensors);

    const text = drift(before.text, after.text, vocab);
    const textViaImageRoute = drift(before.textViaImageRoute, after.textViaImageRoute, vocab);
    const image = drift(before.image, after.image, vocab);
    const imageOldVisual = drift(before.imageOldVisual, after.imageOldVisual, vocab);
    const textPrefix = commonPrefix(before.textGreedy, after.textGreedy);
    const imagePrefix = commonPrefix(before.imageGreedy, after.imageGreedy);
    const r = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
    t.diagnostic(`trained ${moved}/${weights.adapterKeys.length} adapter tensors, losses ${run.losses.map((l) => l.toFixed(2)).join(' ')}`);
    t.diagnostic(`text, own route:       ${fmt(text)}; greedy equal for ${textPrefix}/12 tokens`);
    t.diagnostic(`image path:            ${fmt(image)}; greedy equal for ${imagePrefix}/12 tokens`);
    t.diagnostic(`text via image route:  ${fmt(textViaImageRoute)}  (router ablation)`);
    t.diagnostic(`image, old visual:     ${fmt(imageOldVisual)}  (vision ablation)`);
    t.diagnostic(`routers before: text ${r(before.routers.text)}, image ${r(before.routers.image)}; after: text ${r(after.routers.text)}, image ${r(after.routers.image)}`);

    // Training really happened, on every kind of adapter parameter (else the checks are vacuous).
    assert.equal(moved, weights.adapterKeys.length);
    assert.ok(image.meanKl > 0.05, `the image path barely moved (${fmt(image)}): training too weak to test anything`);

    // The tolerance for text-only behaviour.
    assert.ok(text.meanKl <= 0.02, `text-only logits drifted: ${fmt(text)}`);
    assert.ok(text.top1 >= 0.75, `text-only argmax changed too often: ${fmt(text)}`);
    assert.ok(textPrefix >= 8, `text greedy tokens changed at ${textPrefix}: ${before.textGreedy} -> ${after.textGreedy}`);
    assert.ok(text.meanKl <= 0.1 * image.meanKl, `text drift ${text.meanKl} is not small next to the image path's ${image.meanKl}`);

    // Router ablation: the two routes really differ, yet text drifts about as much through either.
    const routeGap = Math.max(...before.routers.text.map((w, i) => Math.abs(w - before.routers.image[i])));
    assert.ok(routeGap > 0.05, `text and image routes are nearly equal (${routeGap}): the ablation would be vacuous`);
    const routeRatio = textViaImageRoute.meanKl / text.meanKl;
    assert.ok(routeRatio > 0.5 && routeRatio < 2, `the route changes text drift by a factor ${routeRatio.toFixed(2)}: update the statement above`);
    // Vision ablation: with the old visual tokens the image sequences drift like text.
    const visionRatio = imageOldVisual.meanKl / text.meanKl;
    assert.ok(visionRatio > 0.5 && visionRatio < 2, `image sequences with old visual tokens drift ${visionRatio.toFixed(2)}x text: update the statement above`);
    assert.ok(image.meanKl > 10 * imageOldVisual.meanKl, 'the image path drift is not mostly the visual tokens');
  });
});
