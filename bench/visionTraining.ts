// Do the adapters learn to see? Train a model's adapters from a fresh set on the synthetic
// image-question set (server/train/data/synthetic.ts) and measure test-split exact-answer accuracy
// before and after (per kind of question), how far text-only answers moved (first-token KL and
// same greedy tokens over textDrift's fixed prompts), the step count and the wall time.
//
//   node out/bench/visionTraining.js [--model DIR | --shape d512] [--precision int4|int8|fp16|fp32] [--train 96] [--test 48]
//        [--vocabulary standard|varied] [--questions colour,shape,count,position] [--seed 7]
//        [--epochs E | --steps N] [--lr LR] [--accum K] [--dropout P] [--hold REGEX] [--no-image-text] [--json]
//
// --hold: adapter parameters matching REGEX keep their starting values (e.g. '^backbone\.visual\.' for CLIP's).
// --tap-layers on|off: give each CLIP tap its own projection input, or not (default: by the image count, train/vision.ts).
// --no-image-text: train and ask without the text read from the image (`lavin train --no-image-text`).
//
// Default model: the embedded lavin-tiny at int4 (what `lavin convert --precision int4` gives).
// --shape d512: a random-weight LLaMA of bench/shapes.ts's d512 shape (512 x 8 layers, fp16 .pth,
// the bench's random values) with the tiny fixture's CLIP (ViT width 48 x 24) and the LLaMA
// tokenizer, written once under the system's temp folder; a ViT-L/14 would make every step minutes
// long on a 2-core machine, and the question here is whether the adapters over that backbone learn.
// Without --epochs/--steps the run uses visionTrainDefaults, as `lavin train` does. Runs on whatever
// else the machine is doing; times move.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { adapterHostTensors, visionTrainDefaults, trainVisionAdapters } from '../server/train/vision';
import { LavinModel } from '../server/engine/lavinModel';
import { WeightFormat } from '../server/engine/quant';
import { STANDARD_VOCABULARY, SyntheticQuestion, VARIED_VOCABULARY, writeSyntheticSet } from '../server/train/data/synthetic';
import { loadAdapterSet } from '../server/train/adapterStore';
import { evaluateVisionQa, VisionQaResult } from '../server/train/eval/visionQaEval';
import { ImageTextCache } from '../server/train/data/sampleImageText';
import { textDrift, textSnapshot } from '../server/train/eval/textDrift';
import { initAdapterTensors } from '../server/train/init';
import { Rng } from '../server/train/rng';
import { writeSafetensors } from '../server/engine/convertedCopy';
import { MANIFEST_FILE } from '../server/engine/modelDir';
import { isAdapterParam } from '../server/engine/programs';
import { floatsToHalf, HostTensor } from '../server/engine/tensor';
import { loadClip } from '../server/engine/weights';
import { PyTensor, PyValue, torchSave } from '../server/train/pthWriter';
import { benchConfig, parameterShapes, randomValues, SEED, SHAPES, WEIGHTS_VERSION } from './shapes';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURE = path.join(ROOT, 'test/fixtures/lavin-tiny-ref');

/** A LaVIN model folder around a bench LLaMA shape (see the header); written once per shape. */
async function shapeModel(name: string): Promise<string> {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`unknown shape ${name} (known: ${Object.keys(SHAPES).join(', ')})`);
  const dir = path.join(os.tmpdir(), `lavin-vision-bench-${name}-${WEIGHTS_VERSION}`);
  if (fs.existsSync(path.join(dir, MANIFEST_FILE))) return dir;
  fs.mkdirSync(path.join(dir, 'llama'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'clip'), { recursive: true });
  for (const f of ['model.safetensors', 'config.json']) fs.copyFileSync(path.join(FIXTURE, 'clip', f), path.join(dir, 'clip', f));
  fs.copyFileSync(path.join(ROOT, 'models/lavin-tiny/tokenizer.model'), path.join(dir, 'tokenizer.model'));
  const cfg = benchConfig(shape);
  const shapes = parameterShapes({ ...cfg, clip: (await loadClip(path.join(dir, 'clip', 'model.safetensors'))).config });
  const llama = new Map<string | number, PyValue>();
  const adapterNames: string[] = [];
  const adapter: HostTensor[] = [];
  for (const [n, s] of shapes) {
    const values = randomValues(SEED, n, s);
    if (isAdapterParam(n)) {
      adapterNames.push(n);
      adapter.push({ dtype: 'float32', shape: s, data: new Uint8Array(values.buffer) });
    } else if (!n.startsWith('backbone.visual.')) llama.set(n, new PyTensor({ dtype: 'float16', shape: s, data: new Uint8Array(floatsToHalf(values).buffer) }));
  }
  const { dim, nHeads, nLayers } = cfg.llama;
  fs.writeFileSync(path.join(dir, 'llama', 'params.json'), JSON.stringify({ dim, multiple_of: 256, n_heads: nHeads, n_layers: nLayers, norm_eps: 1e-6, vocab_size: -1 }));
  const fd = fs.openSync(path.join(dir, 'llama', 'consolidated.00.pth'), 'w');
  for (const chunk of torchSave(llama, 'consolidated')) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  writeSafetensors(path.join(dir, 'adapter.safetensors'), adapterNames, adapter);
  const manifest = { format: 'lavin-code-model', version: 1, name: `vision-bench-${name}`, llama: 'llama', clip: 'clip/model.safetensors', adapter: 'adapter.safetensors', tokenizer: 'tokenizer.model', maxSeqLen: 512 };
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  return dir;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const perQuestion = (r: VisionQaResult) => [...r.byQuestion].map(([q, c]) => `${q.split(/[ ?]/).slice(0, 3).join(' ')}: ${c.correct}/${c.total}`).join('; ');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      shape: { type: 'string' },
      precision: { type: 'string', default: 'int4' },
      train: { type: 'string', default: '96' },
      test: { type: 'string', default: '48' },
      vocabulary: { type: 'string', default: 'standard' },
      questions: { type: 'string' },
      seed: { type: 'string', default: '7' },
      epochs: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      accum: { type: 'string' },
      dropout: { type: 'string' },
      hold: { type: 'string' },
      'tap-layers': { type: 'string' },
      'no-image-text': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-vision-bench-'));
  try {
    const vocabulary = values.vocabulary === 'varied' ? VARIED_VOCABULARY : STANDARD_VOCABULARY;
    await writeSyntheticSet(tmp, { trainSize: Number(values.train), testSize: Number(values.test), seed: Number(values.seed), vocabulary, questions: values.questions?.split(',') as SyntheticQuestion[] | undefined });
    const modelDir = values.shape ? await shapeModel(values.shape) : values.model ?? path.join(ROOT, 'models/lavin-tiny');
    const model = await LavinModel.load(modelDir, { precision: values.precision as WeightFormat });
    // "Before" is a fresh set (LaVIN's init: identity adapters; its routers do not matter then).
    const w = await model.loadWeights();
    const shapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(shapes, new Rng(0)), shapes }));
    // Asked as `lavin ask --adapters --image` asks: training positions, the read text as context (as training gives it).
    const cache = new ImageTextCache();
    const readImageText = !values['no-image-text'];
    const opts = { positionMode: 'consistent' as const, ...(readImageText ? { imageText: { tok: model.tokenizer, nVisual: model.runtime.cfg.adapter.nVisualTokens, maxSeqLen: model.info.maxSeqLen, cache } } : {}) };
    const before = await evaluateVisionQa(model, path.join(tmp, 'test'), opts);
    const textBefore = await textSnapshot(model, undefined, { positionMode: 'consistent' });
    const t0 = performance.now();
    const r = await trainVisionAdapters({
      model, dataDir: path.join(tmp, 'train'), outDir: path.join(tmp, 'set'), imageTextCache: cache, readImageText,
      steps: num(values.steps), epochs: num(values.epochs), lr: num(values.lr), accumSteps: num(values.accum), dropout: num(values.dropout),
      holds: values.hold ? (k: string) => new RegExp(values.hold!).test(k) : undefined,
      tapLayers: values['tap-layers'] === undefined ? undefined : values['tap-layers'] === 'on',
    });
    const wallS = (performance.now() - t0) / 1000;
    const set = await loadAdapterSet(path.join(tmp, 'set'), { optimizer: false });
    model.setAdapters(adapterHostTensors(set));
    const after = await evaluateVisionQa(model, path.join(tmp, 'test'), opts);
    const onTrain = await evaluateVisionQa(model, path.join(tmp, 'train'), { ...opts, limit: 48 });
    const drift = textDrift(textBefore, await textSnapshot(model, undefined, { positionMode: 'consistent' }));
    const row = {
      model: model.info.name, precision: model.info.precision, vocabulary: values.vocabulary, trainSamples: r.samples, testSamples: after.total, steps: r.result.step,
      wallS: Math.round(wallS), secondsPerStep: r.result.secondsPerStep,
      accuracyBefore: before.accuracy, accuracyAfter: after.accuracy, accuracyTrain48: onTrain.accuracy,
      perQuestionAfter: Object.fromEntries(after.byQuestion), textKl: drift.meanKl, textMaxKl: drift.maxKl, sameGreedyText: drift.sameGreedy,
      finalLoss: r.result.losses.at(-1), defaults: visionTrainDefaults(r.samples, model.runtime.cfg.llama.dim),
    };
    if (values.json) console.log(JSON.stringify(row));
    else {
      console.log('| model | precision | vocabulary | train / test | steps | wall (s) | s/step | accuracy before | accuracy after | train (first 48) | text KL (nats, first token, mean/max) | same greedy text |');
      console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
      console.log(`| ${row.model} | ${row.precision} | ${row.vocabulary} | ${row.trainSamples} / ${row.testSamples} | ${row.steps} | ${row.wallS} | ${row.secondsPerStep.toFixed(2)} | ${pct(before.accuracy)} | ${pct(after.accuracy)} | ${pct(onTrain.accuracy)} | ${drift.meanKl.toFixed(4)} / ${drift.maxKl.toFixed(4)} | ${pct(drift.sameGreedy)} |`);
      console.log(`per question before: ${perQuestion(before)}`);
      console.log(`per question after:  ${perQuestion(after)}`);
      const l = r.result.losses;
      console.log('loss every ~10 %:', Array.from({ length: 10 }, (_, i) => l[Math.floor((i * l.length) / 10)]?.toFixed(3)).join(' '), 'last', l.at(-1)?.toFixed(3));
      console.log('wrong after training:', after.rows.filter((x) => !x.correct).slice(0, 12).map((x) => `${x.expected}->${x.got}`).join(', '));
    }
    await model.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
