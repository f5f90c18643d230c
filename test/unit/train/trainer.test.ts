// Training runs on the tiny fixture model: a docs folder's loss goes down; a run stopped at step k
// (as if killed) and resumed ends with exactly the parameters of an uninterrupted run; stopping
// never leaves an unreadable adapter set.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'node:child_process';
import { before, describe, test } from 'node:test';
import { preprocessImage } from '../../../server/engine/image';
import { loadModelDir, LoadedWeights } from '../../../server/engine/modelDir';
import { LlamaTokenizer } from '../../../server/engine/tokenizer';
import { loadAdapterSet } from '../../../server/train/adapterStore';
import { buildDocsDataset } from '../../../server/train/data/docs';
import { layoutPrefixes, prepareExamples } from '../../../server/train/data/prepare';
import { TokenizedExample } from '../../../server/engine/sequence';
import { train, TrainProgress } from '../../../server/train/trainer';
import { Rng } from '../../../server/train/rng';
import { PROJECTION_IN, PROJECTION_IN_BIAS, projectionFromWhitened, tapWhitening } from '../../../server/train/projectionWhitening';
import { tapProjection, tapProjectionShapes } from '../../../server/engine/lavin';
import { fromFloat32, HostTensor, numel, toFloat32 } from '../../../server/engine/tensor';
import { fixtureModelDir } from '../../golden/fixture';
import { tempDir } from '../../helpers/tempDir';

const REPO = path.resolve(__dirname, '../../../..');
const TOKENIZER = path.join(REPO, 'test/data/tokenizer/tokenizer.model');
const IMAGE = path.join(REPO, 'test/data/images/inputs/icc-110x70.png');

describe('trainer on the tiny fixture model', () => {
  let weights: LoadedWeights;
  before(async () => {
    weights = await loadModelDir(fixtureModelDir('openai'));
  });

  test('training on a small docs folder lowers the loss', async (t) => {
    const docs = tempDir('lavin-docs-');
    fs.mkdirSync(path.join(docs, 'guide'));
    fs.copyFileSync(IMAGE, path.join(docs, 'guide', 'panel.png'));
    fs.writeFileSync(path.join(docs, 'guide', 'setup.md'), [
      '# Setup', '', 'Install the extension, open the LaVIN panel and choose a model folder with model.json in it.', '',
      '![The LaVIN panel with a model picker](panel.png)', '*The panel after choosing a model.*', '',
      '## Training', '', 'Pick a docs folder, press Train, and watch the loss fall step by step.',
    ].join('\n'));
    fs.writeFileSync(path.join(docs, 'notes.txt'), 'Adapters are small: only the mixture-of-modality adapters are trained, the backbones stay frozen.');
    const tok = await LlamaTokenizer.fromFile(TOKENIZER);
    const { samples, summary } = buildDocsDataset(docs, { minSectionChars: 20 });
    t.diagnostic(`docs: ${summary.textSamples} text + ${summary.imageSamples} image samples from ${summary.filesUsed.length} files`);
    assert.equal(summary.imageSamples, 1);
    const examples = await prepareExamples(samples, tok, { maxWords: 48 });
    const outDir = tempDir('lavin-train-docs-');
    const losses: number[] = [];
    const progress: TrainProgress[] = [];
    const r = await train({
      weights, samples: examples, ...layoutPrefixes(tok), steps: 12, lr: 5e-3, warmupEpochs: 0, dropout: 0, seed: 1,
      outDir, saveEvery: 100, onStep: (p) => { losses.push(p.loss); progress.push(p); }, session: { threads: 1 },
    });
    const n = examples.length;
    const firstEpoch = losses.slice(0, n).reduce((a, b) => a + b) / n;
    const lastEpoch = losses.slice(-n).reduce((a, b) => a + b) / n;
    t.diagnostic(`${n} examples; mean loss first pass ${firstEpoch.toFixed(3)} -> last pass ${lastEpoch.toFixed(3)}; ${(r.secondsPerStep * 1000).toFixed(0)} ms/step`);
    assert.ok(lastEpoch < firstEpoch - 0.5, `loss did not fall: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
    assert.equal(r.step, 12);
    assert.ok(progress.every((p) => p.tokensPerSecond > 0 && p.etaSeconds >= 0 && p.totalSteps === 12));
    const saved = await loadAdapterSet(outDir);
    assert.equal(saved.meta.step, 12);
    assert.equal(saved.meta.data?.image, 1);
  });

  test('kill at step k then resume gives bit-identical parameters to an uninterrupted run (dropout on)', async () => {
    const rnd = new Rng(42);
    const pixels = await preprocessImage(fs.readFileSync(IMAGE));
    const maxWords = 24;
    const samples: TokenizedExample[] = Array.from({ length: 5 }, (_, i) => {
      const prompt = Array.from({ length: 6 }, () => 3 + Math.floor(rnd.next() * 31000));
      const answer = Array.from({ length: 4 }, () => 3 + Math.floor(rnd.next() * 31000));
      const ids = [1, ...prompt, ...answer, 2];
      const pad = new Array(maxWords - ids.length).fill(0);
      return {
        modality: i === 2 ? 'image' : 'text', pixels: i === 2 ? pixels : undefined,
        inputIds: [...ids, ...pad], labels: [0, ...prompt.map(() => 0), ...answer, 2, ...pad], source: `sample ${i}`,
      } as TokenizedExample;
    });
    const common = { weights, samples, prefixImage: [30723, 18823, 28559], prefixText: [30723, 18823, 8031], steps: 6, batchSize: 1, accumSteps: 2, lr: 2e-3, warmupEpochs: 1, dropout: 0.1, seed: 7, saveEvery: 2, session: { threads: 1 } };

    const straight = tempDir('lavin-train-straight-');
    const full = await train({ ...common, outDir: straight });
    assert.equal(full.step, 6);

    const killed = tempDir('lavin-train-killed-');
    const controller = new AbortController();
    const first = await train({ ...common, outDir: killed, signal: controller.signal, saveOnAbort: false, onStep: (p) => { if (p.step === 3) controller.abort(); } });
    assert.equal(first.aborted, true);
    assert.equal(first.step, 3);
    // Like a hard kill: the folder holds the last periodic save (step 2), complete and readable.
    const atKill = await loadAdapterSet(killed);
    assert.equal(atKill.meta.step, 2);
    assert.equal(atKill.optimizer!.step, 2);

    const resumed = await train({ ...common, outDir: killed, resume: true });
    assert.equal(resumed.step, 6);
    assert.equal(resumed.losses.length, 4);
    assert.deepEqual(resumed.losses, full.losses.slice(2));
    const a = await loadAdapterSet(straight);
    const b = await loadAdapterSet(killed);
    for (const k of a.meta.keys) {
      assert.deepEqual(Buffer.from(b.tensors.get(k)!.buffer), Buffer.from(a.tensors.get(k)!.buffer), `${k} differs after resume`);
      assert.deepEqual(b.optimizer!.m.get(k), a.optimizer!.m.get(k));
    }
    // The parameters moved at all (so the equality above is not vacuous).
    const k0 = a.meta.keys[0];
    const orig = new Float32Array(weights.tensors.get(k0)!.data.slice().buffer);
    assert.notDeepEqual(a.tensors.get(k0), orig);
  });

  // LaVIN's shared input layer with statistics pooled over the taps, and each tap's own layer with its own (the shared one held at zero).
  for (const layout of ['shared', 'per tap'] as const) {
    test(`with projection whitening (${layout}): resume is bit-identical, the saved weight / bias are V Wh / b - weight mean, and V is what moved`, async () => {
      const pixels = await preprocessImage(fs.readFileSync(IMAGE));
      const rnd = new Rng(5);
      const samples: TokenizedExample[] = Array.from({ length: 4 }, (_, i) => {
        const prompt = Array.from({ length: 6 }, () => 3 + Math.floor(rnd.next() * 31000));
        const ids = [1, ...prompt, 3 + i, 2];
        const pad = new Array(20 - ids.length).fill(0);
        return { modality: 'image', pixels, inputIds: [...ids, ...pad], labels: [0, ...prompt.map(() => 0), 3 + i, 2, ...pad], source: `sample ${i}` } as TokenizedExample;
      });
      const [hidden, width] = weights.tensors.get(PROJECTION_IN)!.shape;
      const taps = weights.cfg.adapter.nVisualTokens;
      const statsOf = () => tapWhitening(Float32Array.from({ length: 8 * width * 6 }, () => rnd.next() * (1 + (rnd.next() < 0.2 ? 10 : 0))), width);
      const stats = layout === 'shared' ? [statsOf()] : Array.from({ length: taps }, statsOf);
      const own = layout === 'shared' ? new Map<string, HostTensor>() : new Map([...tapProjectionShapes(new Map([[PROJECTION_IN, [hidden, width]]]), taps)].map(([k, shape]) => [k, fromFloat32(Float32Array.from({ length: numel(shape) }, () => rnd.next() - 0.5), shape)] as const));
      const layers = layout === 'shared' ? [{ weight: PROJECTION_IN, bias: PROJECTION_IN_BIAS, prefix: 'whitening.' }] : Array.from({ length: taps }, (_, k) => ({ weight: tapProjection(k, 'weight'), bias: tapProjection(k, 'bias'), prefix: `whitening.taps.${k}.` }));
      const w = { ...weights, tensors: new Map([...weights.tensors, ...own]), adapterKeys: [...weights.adapterKeys, ...own.keys()] };
      const trains = (k: string) => layout === 'shared' || (k !== PROJECTION_IN && k !== PROJECTION_IN_BIAS);
      const common = { weights: w, samples, prefixImage: [30723, 18823, 28559], prefixText: [30723, 18823, 8031], steps: 4, lr: 2e-3, warmupEpochs: 0, dropout: 0, seed: 3, saveEvery: 2, session: { threads: 1 }, projectionWhitening: stats, trains };
      const straight = tempDir('lavin-train-whiten-');
      await train({ ...common, outDir: straight });
      const killed = tempDir('lavin-train-whiten-killed-');
      const controller = new AbortController();
      await train({ ...common, outDir: killed, signal: controller.signal, saveOnAbort: false, onStep: (p) => { if (p.step === 3) controller.abort(); } });
      await train({ ...common, outDir: killed, resume: true });
      const a = await loadAdapterSet(straight);
      const b = await loadAdapterSet(killed);
      for (const k of a.meta.keys) assert.deepEqual(Buffer.from(b.tensors.get(k)!.buffer), Buffer.from(a.tensors.get(k)!.buffer), `${k} differs after resume`);
      const extra = a.optimizer!.extra!;
      assert.equal(extra.size, 4 * layers.length);
      layers.forEach(({ weight, bias, prefix }, i) => {
        const folded = projectionFromWhitened(stats[i], extra.get(`${prefix}V`)!.values, extra.get(`${prefix}b`)!.values);
        assert.deepEqual(a.tensors.get(weight), folded.weight);
        assert.deepEqual(a.tensors.get(bias), folded.bias);
        // The run started from V = the set's starting weight, and V moved.
        const start = toFloat32(w.tensors.get(weight)!);
        const moved = extra.get(`${prefix}V`)!.values.reduce((m, v, j) => Math.max(m, Math.abs(v - start[j])), 0);
        assert.ok(moved > 1e-4, `${prefix}V moved by ${moved}`);
      });
      // A held shared layer keeps its starting values.
      if (layout === 'per tap') assert.deepEqual(a.tensors.get(PROJECTION_IN), toFloat32(weights.tensors.get(PROJECTION_IN)!));
    });
  }

  test('a graceful stop saves the state reached; bad options get clear errors', async () => {
    const tok = await LlamaTokenizer.fromFile(TOKENIZER);
    const examples = await prepareExamples([{ prompt: 'Instruction: hi\nResponse:', answer: ' hello there', source: 'inline' }], tok, { maxWords: 16 });
    const controller = new AbortController();
    const out = tempDir('lavin-train-stop-');
    const r = await train({ weights, samples: examples, ...layoutPrefixes(tok), steps: 5, dropout: 0, outDir: out, saveEvery: 100, signal: controller.signal, onStep: () => controller.abort(), session: { threads: 1 } });
    assert.equal(r.aborted, true);
    assert.equal((await loadAdapterSet(out)).meta.step, 1);
    await assert.rejects(train({ weights, samples: [], ...layoutPrefixes(tok), outDir: out }), /no samples/);
    await assert.rejects(train({ weights, samples: examples, ...layoutPrefixes(tok), outDir: out, accumSteps: 0 }), /accumSteps must be a positive integer/);
    await assert.rejects(train({ weights, samples: [...examples, ...examples], ...layoutPrefixes(tok), outDir: out, resume: true, steps: 2 }), /data cursor does not match/);
  });

  test('SIGKILL while saving every step never leaves an unreadable adapter set', async (t) => {
    const out = tempDir('lavin-train-sigkill-');
    const script = path.join(out, '..', `${path.basename(out)}-child.js`);
    const mod = (p: string) => JSON.stringify(path.join(REPO, 'out', p));
    fs.writeFileSync(script, `
      const { loadModelDir } = require(${mod('server/engine/modelDir')});
      const { train } = require(${mod('server/train/trainer')});
      const { fixtureModelDir } = require(${mod('test/golden/fixture')});
      (async () => {
        const weights = await loadModelDir(fixtureModelDir('openai'));
        let said = false;
        const ids = [1, 400, 500, 600, 700, 2, 0, 0];
        const samples = [{ modality: 'text', inputIds: ids, labels: [0, 0, 0, 600, 700, 2, 0, 0] }];
        await train({ weights, samples, prefixImage: [5], prefixText: [6], steps: 100000, lr: 1e-3, dropout: 0, outDir: ${JSON.stringify(out)}, resume: true, saveEvery: 1, session: { threads: 1 },
          onStep: () => { if (!said) { said = true; process.stdout.write('saving\\n'); } } });
      })();
    `);
    const kills: number[] = [];
    for (const delay of [30, 170, 400]) {
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => setTimeout(() => { child.kill('SIGKILL'); resolve(); }, delay));
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
      await new Promise((r) => child.once('exit', r));
      const set = await loadAdapterSet(out);
      assert.equal(set.optimizer!.step, set.meta.step);
      assert.ok(set.meta.step >= 1);
      // Each child resumes the set the previous kill left, so the saved step only grows.
      assert.ok(set.meta.step > (kills[kills.length - 1] ?? 0));
      kills.push(set.meta.step);
    }
    t.diagnostic(`killed at saved steps ${kills.join(', ')}; each left a complete set`);
    fs.rmSync(script, { force: true });
  });
});
