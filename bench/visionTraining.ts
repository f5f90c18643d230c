// Do the adapters learn to see? Train a model's adapters from a fresh set on the synthetic
// image-question set (server/train/data/synthetic.ts) and measure test-split exact-answer accuracy
// before and after (per kind of question), how far text-only answers moved (first-token KL and
// same greedy tokens over textDrift's fixed prompts), the step count and the wall time.
//
//   node out/bench/visionTraining.js [--model DIR] [--precision int4|int8|fp16|fp32] [--train 96] [--test 48]
//        [--vocabulary standard|varied] [--questions colour,shape,count,position] [--seed 7]
//        [--epochs E | --steps N] [--lr LR] [--accum K] [--dropout P] [--json]
//
// Default model: the embedded lavin-tiny at int4 (what `lavin convert --precision int4` gives).
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
import { textDrift, textSnapshot } from '../server/train/eval/textDrift';
import { initAdapterTensors } from '../server/train/init';
import { Rng } from '../server/train/rng';

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const perQuestion = (r: VisionQaResult) => [...r.byQuestion].map(([q, c]) => `${q.split(/[ ?]/).slice(0, 3).join(' ')}: ${c.correct}/${c.total}`).join('; ');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.resolve(__dirname, '../../models/lavin-tiny') },
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
      json: { type: 'boolean', default: false },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-vision-bench-'));
  try {
    const vocabulary = values.vocabulary === 'varied' ? VARIED_VOCABULARY : STANDARD_VOCABULARY;
    await writeSyntheticSet(tmp, { trainSize: Number(values.train), testSize: Number(values.test), seed: Number(values.seed), vocabulary, questions: values.questions?.split(',') as SyntheticQuestion[] | undefined });
    const model = await LavinModel.load(values.model!, { precision: values.precision as WeightFormat });
    // "Before" is a fresh set (LaVIN's init: identity adapters; its routers do not matter then).
    const w = await model.loadWeights();
    const shapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(shapes, new Rng(0)), shapes }));
    const opts = { positionMode: 'consistent' as const };
    const before = await evaluateVisionQa(model, path.join(tmp, 'test'), opts);
    const textBefore = await textSnapshot(model, undefined, opts);
    const t0 = performance.now();
    const r = await trainVisionAdapters({
      model, dataDir: path.join(tmp, 'train'), outDir: path.join(tmp, 'set'),
      steps: num(values.steps), epochs: num(values.epochs), lr: num(values.lr), accumSteps: num(values.accum), dropout: num(values.dropout),
    });
    const wallS = (performance.now() - t0) / 1000;
    const set = await loadAdapterSet(path.join(tmp, 'set'), { optimizer: false });
    model.setAdapters(adapterHostTensors(set));
    const after = await evaluateVisionQa(model, path.join(tmp, 'test'), opts);
    const onTrain = await evaluateVisionQa(model, path.join(tmp, 'train'), { ...opts, limit: 48 });
    const drift = textDrift(textBefore, await textSnapshot(model, undefined, opts));
    const row = {
      model: model.info.name, precision: model.info.precision, vocabulary: values.vocabulary, trainSamples: r.samples, testSamples: after.total, steps: r.result.step,
      wallS: Math.round(wallS), secondsPerStep: r.result.secondsPerStep,
      accuracyBefore: before.accuracy, accuracyAfter: after.accuracy, accuracyTrain48: onTrain.accuracy,
      perQuestionAfter: Object.fromEntries(after.byQuestion), textKl: drift.meanKl, textMaxKl: drift.maxKl, sameGreedyText: drift.sameGreedy,
      finalLoss: r.result.losses.at(-1), defaults: visionTrainDefaults(r.samples),
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
