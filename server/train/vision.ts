// Training the adapters on image-question data (data/llavaInstruct.ts: LLaVA-Instruct data.json or
// ScienceQA) for a loaded model: validation, the sequence length the data needs, defaults sized
// for a small dataset, and the frozen backbone seen in the numbers its inference uses.

import { LAVIN_HIDDEN_PROJ } from '../engine/backboneModel';
import { ffnAdapterShapes, tapProjection, tapProjectionShapes, VISUAL_PREFIX, visionOf } from '../engine/lavin';
import { preprocessImage } from '../engine/image';
import { LavinModel } from '../engine/lavinModel';
import { LoadedWeights } from '../engine/modelDir';
import { WeightFormat } from '../engine/quant';
import { HostTensor } from '../engine/tensor';
import { promptText, LAVIN_FAMILY, lavinPrefixes } from '../engine/sequence';
import { loadVisionDataset, SkippedSample, VisionDataset } from './data/llavaInstruct';
import { prepareExamples } from './data/prepare';
import { addImageText, ImageTextCache, ImageTextProgress } from './data/sampleImageText';
import { TextSample } from './data/tokenize';
import { train, TrainProgress, TrainResult } from './trainer';
import { heldBySeparatedRoutes, initAdapterTensors, RouteProbe, separateRoutes } from './init';
import * as fs from 'fs';
import * as path from 'path';
import { Rng } from './rng';
import { openBackboneTraining } from './backboneTraining';
import { quantizeFrozenLinears, TrainingWeights } from './frozenWeights';
import { PROJECTION_IN, PROJECTION_IN_BIAS, tapWhitening, TapWhitening, WhitenedProjection } from './projectionWhitening';
import { ADAPTER_META_FILE, savedProgress } from './adapterStore';

export interface VisionTrainDefaults {
  epochs: number;
  /** Examples per optimizer step (gradient accumulation; examples run one at a time). */
  accumSteps: number;
  lr: number;
  warmupEpochs: number;
  /** Dropout on the adapters' bottleneck. */
  dropout: number;
}

/** Optimizer steps a large set is trained for; sets up to TARGET_STEPS * 4 / MAX_EPOCHS samples get MAX_EPOCHS. */
const TARGET_STEPS = 3600;
const MAX_EPOCHS = 30;
const MIN_EPOCHS = 3;

/**
 * Defaults for a small image-question set when no step count is given: LaVIN's recipe (AdamW,
 * warm-up, half-cosine) at a learning rate sized for a few hundred examples and a tiny effective
 * batch (LaVIN's 9e-3 x batch / 256 assumes tens of thousands of examples and batch 32-64). No
 * dropout: LaVIN's 0.1 on an 8-wide bottleneck left the loss higher at equal steps (lavin-tiny,
 * 100 steps: 4.8 against 4.0), and a few hundred examples are fitted long before they are over-fitted.
 *
 * Mixed questions need many steps: 30 epochs, and about 3600 optimizer steps (14400 examples at 4 a
 * step, at least 3 epochs) for a large set. Measured on lavin-tiny int4, test split
 * (bench/visionTraining.ts; report of issue 14): colour + shape from 240 examples went from 68.8 %
 * (600 steps at 2e-2, shape always "triangle") to 87.5 % (1800 steps at 5e-3); the four kinds from
 * 480 from 57.3 % (1800 steps at 5e-3) to 67.7 % (3600).
 *
 * The peak rate is 5e-3, and shrinks past a 512-wide LLM as 2e-2 * (64 / dim)^(2/3): wider residual
 * streams take the same adapter step as a larger change. At 2e-2 lavin-tiny's loss stayed noisy
 * around 2 nats a token and the d512 shape collapsed to one answer (16.7 % against 47.9 % at 5e-3).
 * At 4096 it gives 1.25e-3, LaVIN-7B's own scale (9e-3 x 32 / 256).
 */
export function visionTrainDefaults(samples: number, dim = 64): VisionTrainDefaults {
  const accumSteps = samples >= 16 ? 4 : 1;
  const epochs = Math.min(MAX_EPOCHS, Math.max(MIN_EPOCHS, Math.ceil((TARGET_STEPS * accumSteps) / Math.max(1, samples))));
  const lr = Math.min(5e-3, 2e-2 * Math.pow(64 / dim, 2 / 3));
  return { epochs, accumSteps, lr, warmupEpochs: 1, dropout: 0 };
}

export interface VisionTrainRun {
  model: LavinModel;
  dataDir: string;
  outDir: string;
  /** Optimizer steps in total; absent: visionTrainDefaults' epochs. */
  steps?: number;
  epochs?: number;
  lr?: number;
  /** Recipe overrides (experiments, bench): examples per step, warm-up epochs, adapter dropout. */
  accumSteps?: number;
  warmupEpochs?: number;
  dropout?: number;
  /** Adapter parameters to hold at their starting values, besides those the recipe holds. */
  holds?: (name: string) => boolean;
  /** A fresh set gives each CLIP tap its own projection input (default: when the data has TAP_LAYER_IMAGES images). */
  tapLayers?: boolean;
  /** Start from LaVIN's initialisation ('fresh', default) or from the model's adapters. */
  init?: 'fresh' | 'checkpoint';
  resume?: boolean;
  name?: string;
  seed?: number;
  signal?: AbortSignal;
  onStep?: (p: TrainProgress) => void;
  /**
   * Text-only anchor samples mixed in (default: a quarter of the data, at least 4; 0: none): the
   * starting set's own greedy answers to generic instructions, so that the LLaMA adapters, which
   * text-only requests share with image ones, keep text answers where they were.
   */
  textAnchors?: number;
  /** Told once the data is validated, before the first step. */
  onData?: (d: { samples: number; records: number; skipped: SkippedSample[] }) => void;
  /** Give each image sample the text read from its image as context, as inference does (default true; lavin.readImageText). */
  readImageText?: boolean;
  /** OCR results kept across runs (by image content). */
  imageTextCache?: ImageTextCache;
  /** Reading the images' text (OCR), before the first step: the wait on a folder of screenshots. */
  onImageText?: (p: ImageTextProgress) => void;
  /** Then a fresh set's start: the data's images measured for the projection's whitening (a ViT-L takes minutes on a CPU). */
  onPreparing?: (p: { what: string; done: number; total: number }) => void;
}

export interface VisionTrainOutcome {
  samples: number;
  skipped: SkippedSample[];
  dataset: VisionDataset['format'];
  seqLen: number;
  result: TrainResult;
}

export async function trainVisionAdapters(run: VisionTrainRun): Promise<VisionTrainOutcome> {
  // A GGUF / Hugging Face backbone trains over its own file and CLIP, blocks kept (backboneTraining.ts).
  const backbone = run.model.info.backbone ? await openBackboneTraining(run.model) : undefined;
  try {
    return await trainVisionWith(run, backbone?.weights);
  } finally {
    backbone?.close();
  }
}

async function trainVisionWith(run: VisionTrainRun, backboneWeights?: TrainingWeights): Promise<VisionTrainOutcome> {
  const data = await loadVisionDataset(run.dataDir);
  const tok = run.model.tokenizer;
  const nVisual = run.model.runtime.cfg.adapter.nVisualTokens;
  if (run.readImageText !== false) data.samples = (await addImageText(data.samples, { tok, nVisual, maxSeqLen: run.model.info.maxSeqLen, cache: run.imageTextCache, onProgress: run.onImageText, signal: run.signal })).samples;
  const prefixes = lavinPrefixes(tok);
  // The layout inserts the prefix and the visual slots, then cuts to max_words: size it so that no
  // answer is cut, and skip the samples that would not fit the model's context.
  const extra = prefixes.prefixImage.length + nVisual + 1;
  const maxSeq = run.model.info.maxSeqLen;
  const skipped = [...data.skipped];
  const fitting: TextSample[] = [];
  let longest = 0;
  for (const s of data.samples) {
    const n = tok.encode(promptText(LAVIN_FAMILY, s.prompt) + s.answer, { bos: true, eos: true }).length + extra;
    if (n > maxSeq) skipped.push({ where: s.source, reason: `${n} tokens with the image, the model's context holds ${maxSeq}` });
    else {
      fitting.push(s);
      longest = Math.max(longest, n);
    }
  }
  run.onData?.({ samples: fitting.length, records: data.records, skipped });
  const weights = backboneWeights ?? frozenAsInference(await run.model.loadWeights(), run.model.info.precision as WeightFormat);
  if (fitting.length === 0) throw new Error(`data folder ${run.dataDir}: no usable samples (${data.records} records; ${skipped.length} skipped${skipped.length ? `, e.g. ${skipped[0].where}: ${skipped[0].reason}` : ''})`);
  const init = run.init ?? 'fresh';
  const seed = run.seed ?? 0;
  // A fresh set starts with the text and image routes apart and the text route's adapters held at
  // the identity (init.ts): text answers stay as they were without anchors. Continuing the model's
  // own adapters trains them all, with text anchors. A run resumed past its first step goes on from
  // its saved state: measuring the route separation and the statistics again would cost minutes (a
  // ViT-L) for nothing. One saved at step 0 (cancelled while preparing) starts over.
  const saved = run.resume ? await savedRun(run.outDir) : undefined;
  const resuming = saved !== undefined && saved.step > 0;
  const imagePaths = fitting.flatMap((s) => (s.imagePath ? [s.imagePath] : []));
  // (a resumed run keeps the layout it was saved with)
  const tapLayers = (resuming ? saved.tapLayers : run.tapLayers ?? new Set(imagePaths).size >= TAP_LAYER_IMAGES) ? nVisual : 0;
  const separated = init !== 'fresh' ? undefined
    : resuming ? resumedStart(weights, seed, tapLayers, saved.whitened)
    : await separatedStart(run.model, weights, seed, tapLayers, imagePaths, run);
  const anchorCount = run.textAnchors ?? (separated ? 0 : Math.max(4, Math.round(fitting.length / 4)));
  const anchors = anchorCount === 0 ? [] : await textAnchors(run.model, weights, init, seed, anchorCount);
  for (const a of anchors) longest = Math.max(longest, tok.encode(promptText(LAVIN_FAMILY, a.prompt) + a.answer, { bos: true, eos: true }).length + extra);
  const examples = await prepareExamples([...fitting, ...anchors], tok, { maxWords: Math.min(longest, maxSeq), imageSize: visionResolution(run.model.info.clip) });
  const d = visionTrainDefaults(examples.length, run.model.runtime.cfg.llama.dim);
  const result = await train({
    weights: separated?.weights ?? weights, samples: examples, ...prefixes, projectionWhitening: separated?.whitening,
    steps: run.steps, epochs: run.epochs ?? d.epochs, warmupEpochs: run.warmupEpochs ?? d.warmupEpochs, accumSteps: run.accumSteps ?? d.accumSteps, lr: run.lr ?? d.lr, dropout: run.dropout ?? d.dropout,
    seqLen: Math.min(longest, maxSeq), outDir: run.outDir, resume: resuming, name: run.name, seed: run.seed,
    ...(separated ? { init: 'checkpoint' as const } : { init }),
    // With whitening, a fresh set's CLIP adapters stay at the identity: the statistics are of that CLIP's taps.
    // The taps' own input layers, where it has them, train in place of the shared one, held at zero (freshSet).
    trains: (k: string) => !(separated && (heldBySeparatedRoutes(k) || (separated.tapLayers > 0 && SHARED_PROJECTION_IN.includes(k)) || (separated.holdsClip && k.startsWith(VISUAL_PREFIX)))) && !run.holds?.(k),
    dataSummary: { data: run.dataDir, format: data.format, records: data.records, skipped: skipped.length, textAnchors: anchors.length },
    signal: run.signal, onStep: run.onStep,
  });
  return { samples: fitting.length, skipped, dataset: data.format, seqLen: longest, result };
}

/**
 * The frozen weights as the model's inference sees them: for an int8/int4 model, every LLaMA
 * linear weight the converter quantises goes through the same quantiser (the values MatMulNBits
 * multiplies by), so the adapters learn against the numbers they will run with; the training graphs
 * keep those blocks as they are (frozenWeights.ts), no float copy of them is made.
 */
export function frozenAsInference(w: LoadedWeights, precision: WeightFormat): LoadedWeights & TrainingWeights {
  return quantizeFrozenLinears(w, precision);
}

/** A saved set's values as the tensors LavinModel.setAdapters takes. */
export function adapterHostTensors(set: { tensors: ReadonlyMap<string, Float32Array>; shapes: ReadonlyMap<string, number[]> }): Map<string, HostTensor> {
  return new Map([...set.tensors].map(([k, v]) => [k, { dtype: 'float32', shape: set.shapes.get(k)!.slice(), data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) } satisfies HostTensor]));
}

/** Generic instructions for the text anchors (not the prompts textDrift measures with). */
const ANCHOR_INSTRUCTIONS = [
  'Tell me a fun fact about space.', 'What is a good name for a cat?', 'Describe a sunny morning.', 'List two fruits.',
  'How are you today?', 'What is the opposite of cold?', 'Translate hello into French.', 'Suggest a hobby for a rainy day.',
  'What is a prime number?', 'Write one sentence about trains.', 'What sound does a dog make?', 'Name a large ocean.',
  'What is water made of?', 'Give a tip for learning to code.', 'Which season comes after winter?', 'What is a verb?',
];

/**
 * The shapes of a fresh vision set, from those of the model's own set: LaVIN's 'block' layout (an
 * FFN adapter beside each attention adapter, lavin.ts FFN_ADAPTER), a visual projection at least
 * LaVIN's hidden_proj wide (128, what a backbone's fresh set has; lavin-tiny's own is 16), and an
 * input layer of it for each of the `taps` CLIP taps (lavin.ts tapProjection; 0: none, as LaVIN).
 * The first two give the question more room to meet the image: lavin-tiny int4, four kinds from
 * 480 samples, 67.7 % with neither, 75.0 % with the FFN adapters, 85.4 % with both (79.2 % through
 * the CLI; 87.5 % with the projection trained in whitened taps, projectionWhitening.ts; README).
 */
export function freshVisionShapes(own: ReadonlyMap<string, number[]>, taps: number): Map<string, number[]> {
  const shapes = new Map([...own].map(([k, s]) => [k, s.slice()]));
  for (const [k, shape] of ffnAdapterShapes(own)) shapes.set(k, shape);
  const projA = shapes.get('adapter_proj.conv_A.weight');
  const projB = shapes.get('adapter_proj.conv_B.weight');
  if (projA && projB && projA[0] < LAVIN_HIDDEN_PROJ) {
    projA[0] = LAVIN_HIDDEN_PROJ;
    projB[1] = LAVIN_HIDDEN_PROJ;
    shapes.set('adapter_proj.conv_A.bias', [LAVIN_HIDDEN_PROJ]);
  }
  for (const [k, shape] of tapProjectionShapes(shapes, taps)) shapes.set(k, shape);
  return shapes;
}

/**
 * Images a set needs for its fresh adapters to give each CLIP tap its own projection input; fewer
 * share LaVIN's one. Measured on the four kinds of the synthetic set (README): d512 int4, 1440
 * images, 95.8 % with tap layers against 87.5 % (position learnt); lavin-tiny int4, 480 images,
 * 85.4 % against 87.5 %; 240 images through the CLI, 63.5 % against 80.2 % (six input layers
 * memorise a small set).
 */
const TAP_LAYER_IMAGES = 960;

/** The shared input layer of the visual projection, which a fresh set with the taps' own holds at zero. */
const SHARED_PROJECTION_IN = [PROJECTION_IN, PROJECTION_IN_BIAS];

/**
 * Images of the data whose CLIP taps give the projection's whitening statistics (spread over the
 * data): 128, or enough for twice as many taps as the CLIP is wide, for each tap's own statistics
 * (lavin-tiny's 48-wide taps: 96 images) or, where that needs more images than the data has or
 * than are worth encoding (a ViT-L's 1024: 2048), for statistics pooled over the six taps. With
 * fewer taps than that the covariance is too poorly known to invert, and the projection trains in
 * the taps' own coordinates.
 */
const WHITENING_IMAGES = 128;
const WHITENING_TAPS_PER_WIDTH = 2;
const MAX_WHITENING_IMAGES = 512;

/** Where a saved run stands: its step, whether it has tap layers, and whether its projection trains whitened (its CLIP adapters then held). */
async function savedRun(outDir: string): Promise<{ step: number; tapLayers: boolean; whitened: boolean } | undefined> {
  if (!fs.existsSync(path.join(outDir, ADAPTER_META_FILE))) return undefined;
  const { step, keys, extraNames } = await savedProgress(outDir);
  return { step, tapLayers: keys.includes(tapProjection(0, 'weight')), whitened: WhitenedProjection.savedIn(extraNames) };
}

/** A fresh vision set (freshVisionShapes) drawn from Rng(seed), as the trainer's own fresh draw; with tap layers, its shared projection input zero. */
function freshSet(weights: TrainingWeights, seed: number, tapLayers: number): { start: Map<string, Float32Array>; shapes: Map<string, number[]> } {
  const shapes = freshVisionShapes(new Map(weights.adapterKeys.map((k) => [k, weights.tensors.get(k)!.shape.slice()])), tapLayers);
  const start = initAdapterTensors(shapes, new Rng(seed));
  if (tapLayers > 0) for (const k of SHARED_PROJECTION_IN) start.get(k)?.fill(0);
  return { start, shapes };
}

function withAdapters(weights: TrainingWeights, adapters: Map<string, HostTensor>): TrainingWeights {
  return { ...weights, tensors: new Map([...weights.tensors, ...adapters]), adapterKeys: [...adapters.keys()] };
}

/** A fresh set's start: its weights, its taps' own projection inputs (0: none), the whitening statistics when measured, and whether the CLIP adapters are held. */
interface FreshStart {
  weights: TrainingWeights;
  tapLayers: number;
  whitening?: TapWhitening[];
  holdsClip: boolean;
}

/** The start of a resumed fresh-set run: the shapes matter (the saved state has the values); nothing is measured. */
function resumedStart(weights: TrainingWeights, seed: number, tapLayers: number, whitened: boolean): FreshStart {
  const { start, shapes } = freshSet(weights, seed, tapLayers);
  return { weights: withAdapters(weights, adapterHostTensors({ tensors: start, shapes })), tapLayers, holdsClip: whitened };
}

/**
 * The weights with a fresh adapter set whose routes are separated (init.ts separateRoutes), measured
 * through the model with an image of the data, and the whitening statistics of the data's CLIP taps
 * through that set (projectionWhitening.ts; the CLIP adapters are then held); undefined when the data
 * has no image. Cancelled, it stops measuring: the set saved at step 0 starts over when resumed.
 */
async function separatedStart(model: LavinModel, weights: TrainingWeights, seed: number, tapLayers: number, imagePaths: string[], run: Pick<VisionTrainRun, 'signal' | 'onPreparing'>): Promise<FreshStart | undefined> {
  if (imagePaths.length === 0) return undefined;
  const image = fs.readFileSync(imagePaths[0]);
  const current = new Map(weights.adapterKeys.map((k) => [k, weights.tensors.get(k)!]));
  const cfg = model.runtime.cfg;
  const { start, shapes } = freshSet(weights, seed, tapLayers);
  const sawImages = model.seesImages;
  const probe: RouteProbe = async (set) => {
    model.setAdapters(adapterHostTensors({ tensors: set, shapes }), { vision: true });
    const routes = async (img?: Uint8Array) => {
      const r = await model.generate({ prompt: { kind: 'chat', turns: [{ role: 'user', content: 'Describe it.' }] }, image: img, temperature: 0, maxNewTokens: 1 });
      if (r.route !== (img ? 'image' : 'text')) throw new Error(`adapter init: a ${img ? 'image' : 'text'} request took the ${r.route} route`);
      return r.routerWeights;
    };
    return { text: await routes(), image: await routes(image) };
  };
  let startTensors: Map<string, HostTensor>;
  let whitening: TapWhitening[] | undefined;
  try {
    if (!run.signal?.aborted) await separateRoutes(start, cfg.llama.nLayers, cfg.adapter.temperature, probe, new Rng(seed + 1));
    startTensors = adapterHostTensors({ tensors: start, shapes });
    model.setAdapters(startTensors, { vision: true });
    whitening = await dataTapWhitening(model, imagePaths, tapLayers > 0, run);
  } finally {
    model.setAdapters(current, { vision: sawImages });
  }
  return { weights: withAdapters(weights, startTensors), tapLayers, whitening, holdsClip: whitening !== undefined };
}

/**
 * Whitening statistics of the CLIP taps of the data's images, through the model's active set: one
 * per tap, or one pooled over them (WHITENING_IMAGES); undefined for too few images.
 */
async function dataTapWhitening(model: LavinModel, imagePaths: string[], tapLayers: boolean, run: Pick<VisionTrainRun, 'signal' | 'onPreparing'>): Promise<TapWhitening[] | undefined> {
  const { width, resolution } = visionOf(model.runtime.cfg);
  const taps = model.runtime.cfg.adapter.nVisualTokens;
  const unique = [...new Set(imagePaths)];
  const eachTap = WHITENING_TAPS_PER_WIDTH * width;
  const perTap = tapLayers && eachTap <= MAX_WHITENING_IMAGES && unique.length >= eachTap;
  const needed = perTap ? eachTap : Math.ceil(eachTap / taps);
  if (unique.length < needed) return undefined;
  const n = Math.min(Math.max(WHITENING_IMAGES, needed), unique.length);
  const rows = new Float32Array(n * taps * width);
  const what = 'measuring the CLIP features of the images';
  run.onPreparing?.({ what, done: 0, total: n });
  for (let i = 0; i < n; i++) {
    if (run.signal?.aborted) return undefined;
    const image = fs.readFileSync(unique[Math.floor((i * unique.length) / n)]);
    rows.set((await model.runtime.encodeImage(await preprocessImage(image, { size: resolution }))).features, i * taps * width);
    run.onPreparing?.({ what, done: i + 1, total: n });
  }
  if (!perTap) return [tapWhitening(rows, width)];
  return Array.from({ length: taps }, (_, k) => {
    const own = new Float32Array(n * width);
    for (let i = 0; i < n; i++) own.set(rows.subarray((i * taps + k) * width, (i * taps + k + 1) * width), i * width);
    return tapWhitening(own, width);
  });
}

/** The anchors: the starting adapter set's greedy answers (the model's adapters are put back afterwards). */
async function textAnchors(model: LavinModel, weights: Pick<TrainingWeights, 'adapterKeys' | 'tensors'>, init: 'fresh' | 'checkpoint', seed: number, n: number): Promise<TextSample[]> {
  const keys = weights.adapterKeys;
  const current = new Map(keys.map((k) => [k, weights.tensors.get(k)!]));
  const shapes = new Map(keys.map((k) => [k, weights.tensors.get(k)!.shape.slice()]));
  // The trainer draws a fresh set from Rng(seed) first thing: the same draw here is the set it starts from.
  if (init === 'fresh') model.setAdapters(adapterHostTensors({ tensors: initAdapterTensors(shapes, new Rng(seed)), shapes }));
  const out: TextSample[] = [];
  try {
    for (const instruction of ANCHOR_INSTRUCTIONS.slice(0, n)) {
      const prompt = { kind: 'chat' as const, turns: [{ role: 'user' as const, content: instruction }] };
      const r = await model.generate({ prompt, temperature: 0, maxNewTokens: 8, positionMode: 'consistent' });
      if (r.text.trim()) out.push({ prompt, answer: r.text, instruction, source: `text anchor "${instruction}"` });
    }
  } finally {
    model.setAdapters(current);
  }
  return out;
}

/** The CLIP input size; a backbone without a vision tower cannot train vision adapters. */
function visionResolution(clip: { resolution: number } | undefined): number {
  if (!clip) throw new Error('this model has no vision tower (CLIP): vision adapters cannot be trained for it yet');
  return clip.resolution;
}
