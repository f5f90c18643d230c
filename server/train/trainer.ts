// Mixture-of-modality training of an adapter set (spec section 4): every `adapter*` parameter is
// trained, LLaMA and CLIP stay frozen; AdamW with LaVIN's groups and schedule; gradient
// accumulation; dropout masks from a seeded RNG. Deterministic and resumable: the adapter set, the
// AdamW moments, the RNG state and the data cursor are saved together (atomically) every
// `saveEvery` steps, and a resumed run continues exactly where the saved one stood.
//
// Batching: each optimizer step consumes batchSize x accumSteps examples. Like the reference
// (CrossEntropyLoss over a batch, divided by accum_iter), a micro-batch's loss is the mean over its
// labelled tokens and micro-batches are averaged. Examples run one at a time through the graph.

import * as fs from 'fs';
import { SessionConfig } from '../engine/session';
import { HostTensor, numel, toFloat32 } from '../engine/tensor';
import { AdapterSet, AdapterSetMeta, baseModelIdentity, lavinArgs, loadAdapterSet, readMeta, saveAdapterSet, ADAPTER_META_FILE } from './adapterStore';
import { initAdapterTensors } from './init';
import { AdamW, GradientAccumulator, learningRate, ScheduleOptions } from './optim';
import { Rng } from './rng';
import { LaidOutExample, labelledCount, layoutExample, TokenizedExample } from '../engine/sequence';
import { TrainingStepper } from './step';
import { BlockwiseTrainingStepper } from './blockwise';
import { frozenParameterCount, TrainingWeights } from './frozenWeights';
import { TapWhitening, WhitenedProjection } from './projectionWhitening';
import * as path from 'path';

export interface TrainProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface TrainOptions {
  /**
   * The model: a LaVIN model folder's LoadedWeights, or frozenWeights.ts's forms (int8/int4 linears
   * kept in their blocks; a GGUF / Hugging Face backbone via backboneTrainingWeights).
   */
  weights: TrainingWeights;
  /** Tokenised examples (see data/tokenize.ts); all are laid out to `seqLen`. */
  samples: TokenizedExample[];
  /** Token ids of the image and no-image prefixes (lavinPrefixes in engine/sequence.ts). */
  prefixImage: number[];
  prefixText: number[];
  /** Optimizer steps to run in total (counting steps of a resumed run). Default: epochs worth. */
  steps?: number;
  epochs?: number;
  warmupEpochs?: number;
  batchSize?: number;
  accumSteps?: number;
  /** Peak learning rate; default LaVIN's 9e-3 * effective batch / 256. */
  lr?: number;
  weightDecay?: number;
  /** Dropout on the adapter bottleneck (LaVIN: 0.1; 0 disables). */
  dropout?: number;
  seed?: number;
  /** LLM sequence length (default: the longest example). */
  seqLen?: number;
  /** Adapter set folder (created; see adapterStore.ts). */
  outDir: string;
  /** Continue from the state saved in outDir. */
  resume?: boolean;
  /** Start from the model's current adapter ('checkpoint', default) or LaVIN's initialisation ('fresh'). */
  init?: 'checkpoint' | 'fresh';
  saveEvery?: number;
  /** Save the state when stopped through `signal` (default true; false behaves like a hard kill). */
  saveOnAbort?: boolean;
  name?: string;
  /** Free-form description of the data, stored in adapter.json. */
  dataSummary?: Record<string, unknown>;
  /**
   * 'whole': one graph for the whole forward + backward pass (fastest; memory grows with every
   * layer's activations and every weight sits in the session). 'blockwise': per-block
   * recomputation (blockwise.ts), for large models. Default: 'blockwise' from 1e9 frozen parameters.
   */
  recompute?: 'whole' | 'blockwise';
  /** Frozen LLaMA linear weights in fp32 (default) or fp16 (half the memory; whole-graph stepper). */
  frozenFormat?: 'fp32' | 'fp16';
  /**
   * Train the visual projection's input layers in whitened coordinates of these CLIP tap statistics:
   * one per tap, or one for all (projectionWhitening.ts; the CLIP adapters must be held, or the
   * statistics go stale). A resumed run takes the coordinates it was saved with.
   */
  projectionWhitening?: readonly TapWhitening[];
  /** Which adapter parameters train (default all); the others keep their starting values and are saved with the set. */
  trains?: (name: string) => boolean;
  signal?: AbortSignal;
  onStep?: (p: TrainProgress) => void;
  session?: SessionConfig;
}

export interface TrainResult {
  /** Optimizer steps completed (including those before a resume). */
  step: number;
  totalSteps: number;
  aborted: boolean;
  /** Loss of each step run in this call. */
  losses: number[];
  meta: AdapterSetMeta;
  /** Seconds per optimizer step (mean over this call). */
  secondsPerStep: number;
}

interface TrainerCursor {
  epoch: number;
  /** Position in the current epoch's order. */
  cursor: number;
  order: number[];
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { weights } = opts;
  const cfg = weights.cfg;
  if (opts.samples.length === 0) throw new Error('training: no samples');
  const batchSize = opts.batchSize ?? 1;
  const accumSteps = opts.accumSteps ?? 1;
  for (const [k, v] of [['batchSize', batchSize], ['accumSteps', accumSteps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`training: ${k} must be a positive integer, got ${v}`);
  }
  const perStep = batchSize * accumSteps;
  const stepsPerEpoch = Math.max(1, Math.floor(opts.samples.length / perStep));
  const epochs = opts.epochs ?? 15;
  const totalSteps = opts.steps ?? epochs * stepsPerEpoch;
  const schedule: ScheduleOptions = {
    lr: opts.lr,
    effectiveBatch: perStep,
    epochs: opts.steps !== undefined ? totalSteps / stepsPerEpoch : epochs,
    warmupEpochs: opts.warmupEpochs ?? Math.min(2, (opts.steps !== undefined ? totalSteps / stepsPerEpoch : epochs) / 10),
  };
  const seqLen = opts.seqLen ?? Math.max(...opts.samples.map((s) => s.inputIds.length));
  const layout = { seqLen, prefixImage: opts.prefixImage, prefixText: opts.prefixText, nVisual: cfg.adapter.nVisualTokens };
  const examples: LaidOutExample[] = opts.samples.map((s) => layoutExample(s, layout));

  // ---- parameters and state ---------------------------------------------------------------------
  const keys = weights.adapterKeys;
  const shapes = new Map(keys.map((k) => [k, weights.tensors.get(k)!.shape.slice()]));
  let params: Map<string, Float32Array>;
  let rng: Rng;
  let cursor: TrainerCursor;
  let step: number;
  let meta: AdapterSetMeta;
  let whitening: WhitenedProjection | undefined;
  const trainable = keys.filter((k) => opts.trains?.(k) ?? true);
  if (trainable.length === 0) throw new Error('training: no adapter parameter is trainable');
  const trainableShapes = new Map(trainable.map((k) => [k, shapes.get(k)!]));
  const optimizer = new AdamW(trainableShapes, opts.weightDecay !== undefined ? { weightDecay: opts.weightDecay } : {});
  const base = weights.baseModel ?? baseModelOf(weights);

  if (opts.resume && fs.existsSync(path.join(opts.outDir, ADAPTER_META_FILE))) {
    const saved = await loadAdapterSet(opts.outDir);
    if (saved.meta.baseModel.id !== base.id) throw new Error(`training: ${opts.outDir} was trained on another base model (${saved.meta.baseModel.name})`);
    if (!saved.optimizer) throw new Error(`training: ${opts.outDir} has no optimizer state to resume from`);
    for (const k of keys) if (!saved.tensors.has(k)) throw new Error(`training: saved set lacks ${k}`);
    params = saved.tensors;
    optimizer.state = { step: saved.optimizer.step, m: saved.optimizer.m, v: saved.optimizer.v };
    rng = new Rng(saved.optimizer.rng);
    whitening = saved.optimizer.extra && WhitenedProjection.resume(saved.optimizer.extra);
    cursor = saved.optimizer.trainer as unknown as TrainerCursor;
    if (!cursor || !Array.isArray(cursor.order) || cursor.order.length !== examples.length) {
      throw new Error(`training: the saved data cursor does not match these ${examples.length} samples (resume with the same data)`);
    }
    step = saved.meta.step;
    meta = saved.meta;
  } else {
    rng = new Rng(opts.seed ?? 0);
    params = opts.init === 'fresh'
      ? initAdapterTensors(shapes, rng)
      : new Map(keys.map((k) => [k, toFloat32(weights.tensors.get(k)!).slice()]));
    cursor = { epoch: 0, cursor: 0, order: rng.shuffle(examples.map((_, i) => i)) };
    step = 0;
    if (opts.projectionWhitening) whitening = WhitenedProjection.start(opts.projectionWhitening, params, (k) => trainableShapes.has(k));
    const now = new Date().toISOString();
    meta = {
      format: 'lavin-code-adapter', version: 1, name: opts.name ?? path.basename(opts.outDir), baseModel: base,
      temperature: cfg.adapter.temperature, args: lavinArgs(cfg, shapes), step: 0, epoch: 0, createdAt: now, updatedAt: now,
      data: { samples: examples.length, image: examples.filter((e) => e.modality === 'image').length, ...opts.dataSummary }, keys, files: { tensors: '' },
    };
  }

  const frozen = { quantized: weights.quantized, embeddingRows: weights.embeddingRows };
  const stepperOptions = { trainable, seqLen, dropout: (opts.dropout ?? 0.1) > 0 ? { p: opts.dropout ?? 0.1 } : undefined, frozenFormat: opts.frozenFormat, frozen, session: opts.session };
  const totalParams = frozenParameterCount(weights);
  const recompute = opts.recompute ?? (totalParams >= 1e9 ? 'blockwise' : 'whole');
  // Adapter parameters that do not train enter the graphs as constants at their starting values.
  const frozenAdapters = keys.filter((k) => !trainableShapes.has(k));
  const graphTensors = frozenAdapters.length === 0 ? weights.tensors : new Map([...weights.tensors, ...frozenAdapters.map((k) => [k, hostFloat32(params.get(k)!, shapes.get(k)!)] as const)]);
  const stepper = recompute === 'blockwise' ? new BlockwiseTrainingStepper(cfg, graphTensors, stepperOptions) : new TrainingStepper(cfg, graphTensors, stepperOptions);
  const acc = new GradientAccumulator(trainableShapes);
  const saveEvery = opts.saveEvery ?? 50;
  // The set stores moments for every adapter key: zeros for those that do not train.
  const everyKey = (part: Map<string, Float32Array>) => new Map(keys.map((k) => [k, part.get(k) ?? new Float32Array(numel(shapes.get(k)!))]));
  const save = () => {
    meta = saveAdapterSet(opts.outDir, {
      meta: { ...meta, step, epoch: cursor.epoch, loss: losses.length ? losses[losses.length - 1] : meta.loss },
      tensors: params, shapes,
      optimizer: { step: optimizer.state.step, m: everyKey(optimizer.state.m), v: everyKey(optimizer.state.v), rng: rng.state, trainer: { ...cursor }, extra: whitening?.snapshot() },
    });
  };
  const nextExample = (): LaidOutExample => {
    if (cursor.cursor >= cursor.order.length) {
      cursor = { epoch: cursor.epoch + 1, cursor: 0, order: rng.shuffle(examples.map((_, i) => i)) };
    }
    return examples[cursor.order[cursor.cursor++]];
  };

  const losses: number[] = [];
  const started = performance.now();
  let tokens = 0;
  let aborted = false;
  try {
    while (step < totalSteps) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      const lr = learningRate(schedule, (step * perStep) / examples.length);
      acc.reset();
      let stepLoss = 0;
      for (let a = 0; a < accumSteps; a++) {
        const batch = Array.from({ length: batchSize }, nextExample);
        const labelled = batch.reduce((n, e) => n + labelledCount(e), 0);
        const tokenWeight = labelled > 0 ? 1 / labelled / accumSteps : 0;
        for (const ex of batch) {
          const r = await stepper.run(ex, params, { tokenWeight, random: () => rng.next() });
          acc.add(r.grads);
          stepLoss += r.loss;
          tokens += seqLen;
        }
      }
      if (whitening) {
        const view = whitening.optimizerView(params, acc.sum);
        optimizer.step(view.params, view.grads, lr);
        whitening.writeBack(params);
      } else optimizer.step(params, acc.sum, lr);
      step++;
      losses.push(stepLoss);
      if (step % saveEvery === 0 || step === totalSteps) save();
      const elapsed = (performance.now() - started) / 1000;
      const perStepS = elapsed / losses.length;
      opts.onStep?.({ step, totalSteps, epoch: cursor.epoch, loss: stepLoss, lr, tokensPerSecond: tokens / elapsed, etaSeconds: perStepS * (totalSteps - step) });
    }
  } finally {
    await stepper.dispose();
  }
  if ((aborted && opts.saveOnAbort !== false) || !fs.existsSync(path.join(opts.outDir, ADAPTER_META_FILE))) save();
  else meta = readMeta(opts.outDir);
  const elapsed = (performance.now() - started) / 1000;
  return { step, totalSteps, aborted, losses, meta, secondsPerStep: losses.length ? elapsed / losses.length : 0 };
}

function baseModelOf(w: TrainingWeights) {
  if (!w.manifest || !w.dir) throw new Error('training: the weights name no base model (a model folder or baseModel)');
  return baseModelIdentity({ manifest: w.manifest, dir: w.dir });
}

/** Adapter values of a saved set as a tensor map ready to merge into LoadedWeights.tensors. */
export async function adapterTensors(dir: string): Promise<AdapterSet> {
  return loadAdapterSet(dir, { optimizer: false });
}

function hostFloat32(v: Float32Array, shape: number[]): HostTensor {
  return { dtype: 'float32', shape: shape.slice(), data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
}

export function paramCount(shapes: ReadonlyMap<string, number[]>): number {
  let n = 0;
  for (const s of shapes.values()) n += numel(s);
  return n;
}
