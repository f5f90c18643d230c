// Do the adapters learn to see? Train a model's adapters on the synthetic image-question set
// (server/train/data/synthetic.ts) and measure test-split exact-answer accuracy before and after,
// with the wall time and the step count.
//
//   node out/bench/visionTraining.js [--model DIR] [--train 96] [--test 48] [--epochs E | --steps N] [--lr LR] [--init fresh|checkpoint] [--questions colour,shape,count,position] [--json]
//
// Default model: the embedded lavin-tiny. Runs on whatever else the machine is doing; times move.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { adapterHostTensors, visionTrainDefaults, trainVisionAdapters } from '../server/train/vision';
import { LavinModel } from '../server/engine/lavinModel';
import { SyntheticQuestion, writeSyntheticSet } from '../server/train/data/synthetic';
import { loadAdapterSet } from '../server/train/adapterStore';
import { evaluateVisionQa } from '../server/train/eval/visionQaEval';
import { textDrift, textSnapshot } from '../server/train/eval/textDrift';
import { initAdapterTensors } from '../server/train/init';
import { Rng } from '../server/train/rng';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.resolve(__dirname, '../../models/lavin-tiny') },
      train: { type: 'string', default: '96' },
      test: { type: 'string', default: '48' },
      epochs: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      init: { type: 'string' },
      questions: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-vision-bench-'));
  try {
    await writeSyntheticSet(tmp, { trainSize: Number(values.train), testSize: Number(values.test), seed: 7, questions: values.questions?.split(',') as SyntheticQuestion[] | undefined });
    const model = await LavinModel.load(values.model!);
    // "Before" is the fresh set training starts from (LaVIN's init: identity adapters), seed 0 as the trainer's.
    const w = await model.loadWeights();
    const shapes = new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape.slice()]));
    if (values.init !== 'checkpoint') model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(shapes, new Rng(0)), shapes }));
    const before = await evaluateVisionQa(model, path.join(tmp, 'test'), { positionMode: 'consistent' });
    const textBefore = await textSnapshot(model, undefined, { positionMode: 'consistent' });
    const t0 = performance.now();
    const r = await trainVisionAdapters({
      model, dataDir: path.join(tmp, 'train'), outDir: path.join(tmp, 'set'),
      steps: values.steps ? Number(values.steps) : undefined,
      epochs: values.epochs ? Number(values.epochs) : undefined,
      lr: values.lr ? Number(values.lr) : undefined,
      init: values.init as 'fresh' | 'checkpoint' | undefined,
    });
    const wallS = (performance.now() - t0) / 1000;
    const set = await loadAdapterSet(path.join(tmp, 'set'), { optimizer: false });
    model.setAdapters(adapterHostTensors(set));
    const after = await evaluateVisionQa(model, path.join(tmp, 'test'), { positionMode: 'consistent' });
    const onTrain = await evaluateVisionQa(model, path.join(tmp, 'train'), { positionMode: 'consistent', limit: 48 });
    console.log(`accuracy on (the first 48 of) the train split after training: ${(100 * onTrain.accuracy).toFixed(1)} %`);
    const drift = textDrift(textBefore, await textSnapshot(model, undefined, { positionMode: 'consistent' }));
    const row = {
      model: model.info.name, precision: model.info.precision, trainSamples: r.samples, steps: r.result.step, wallS: Math.round(wallS),
      accuracyBefore: before.accuracy, accuracyAfter: after.accuracy, textKl: drift.meanKl, textMaxKl: drift.maxKl, sameGreedyText: drift.sameGreedy, finalLoss: r.result.losses.at(-1), defaults: visionTrainDefaults(r.samples),
    };
    if (values.json) console.log(JSON.stringify(row));
    else {
      console.log('| model | precision | train samples | steps | wall (s) | accuracy before | accuracy after | text KL (nats, first token, mean/max) | same greedy text |');
      console.log('|---|---|---|---|---|---|---|---|---|');
      console.log(`| ${row.model} | ${row.precision} | ${row.trainSamples} | ${row.steps} | ${row.wallS} | ${(100 * before.accuracy).toFixed(1)} % | ${(100 * after.accuracy).toFixed(1)} % | ${drift.meanKl.toFixed(4)} / ${drift.maxKl.toFixed(4)} | ${(100 * drift.sameGreedy).toFixed(0)} % |`);
      const l = r.result.losses;
      console.log('loss every ~10 %:', Array.from({ length: 10 }, (_, i) => l[Math.floor((i * l.length) / 10)]?.toFixed(3)).join(' '), 'last', l.at(-1)?.toFixed(3));
      console.log('wrong after training:', after.rows.filter((x) => !x.correct).slice(0, 8).map((x) => `${x.expected}->${x.got}`).join(', '));
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
