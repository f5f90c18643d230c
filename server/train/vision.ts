// Training the adapters on image-question data (data/llavaInstruct.ts: LLaVA-Instruct data.json or
// ScienceQA) for a loaded model: validation, the sequence length the data needs, defaults sized
// for a small dataset, and the frozen backbone seen in the numbers its inference uses.

import { LavinModel } from '../engine/lavinModel';
import { LoadedWeights } from '../engine/modelDir';
import { bitsOf, dequantizeWeight, quantizeWeight, WeightFormat } from '../engine/quant';
import { HostTensor } from '../engine/tensor';
import { llamaLinearPolicy } from '../engine/lavin';
import { promptText, LAVIN_FAMILY, lavinPrefixes } from '../engine/sequence';
import { loadVisionDataset, SkippedSample, VisionDataset } from './data/llavaInstruct';
import { prepareExamples } from './data/prepare';
import { TextSample } from './data/tokenize';
import { train, TrainProgress, TrainResult } from './trainer';

export interface VisionTrainDefaults {
  epochs: number;
  /** Examples per optimizer step (gradient accumulation; examples run one at a time). */
  accumSteps: number;
  lr: number;
  warmupEpochs: number;
}

/**
 * Defaults for a small image-question set when no step count is given: LaVIN's recipe (AdamW,
 * warm-up, half-cosine) at a learning rate sized for a few hundred examples and a tiny effective
 * batch (LaVIN's 9e-3 x batch / 256 assumes tens of thousands of examples and batch 32-64), and
 * enough epochs that every answer is seen several times. Measured on the synthetic set with
 * bench/visionTraining.ts (numbers in the report of issue 14).
 */
export function visionTrainDefaults(samples: number): VisionTrainDefaults {
  const accumSteps = samples >= 64 ? 4 : 1;
  const epochs = samples <= 200 ? 12 : samples <= 2000 ? 8 : 3;
  return { epochs, accumSteps, lr: 5e-3, warmupEpochs: 1 };
}

export interface VisionTrainRun {
  model: LavinModel;
  dataDir: string;
  outDir: string;
  /** Optimizer steps in total; absent: visionTrainDefaults' epochs. */
  steps?: number;
  epochs?: number;
  lr?: number;
  /** Start from LaVIN's initialisation ('fresh', default) or from the model's adapters. */
  init?: 'fresh' | 'checkpoint';
  resume?: boolean;
  name?: string;
  seed?: number;
  signal?: AbortSignal;
  onStep?: (p: TrainProgress) => void;
  /** Told once the data is validated, before the first step. */
  onData?: (d: { samples: number; records: number; skipped: SkippedSample[] }) => void;
}

export interface VisionTrainOutcome {
  samples: number;
  skipped: SkippedSample[];
  dataset: VisionDataset['format'];
  seqLen: number;
  result: TrainResult;
}

export async function trainVisionAdapters(run: VisionTrainRun): Promise<VisionTrainOutcome> {
  const data = await loadVisionDataset(run.dataDir);
  const tok = run.model.tokenizer;
  const nVisual = run.model.runtime.cfg.adapter.nVisualTokens;
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
  if (fitting.length === 0) throw new Error(`data folder ${run.dataDir}: no usable samples (${data.records} records; ${skipped.length} skipped${skipped.length ? `, e.g. ${skipped[0].where}: ${skipped[0].reason}` : ''})`);
  const examples = await prepareExamples(fitting, tok, { maxWords: longest, imageSize: run.model.info.clip.resolution });
  const d = visionTrainDefaults(fitting.length);
  const weights = frozenAsInference(await run.model.loadWeights(), run.model.info.precision as WeightFormat);
  const result = await train({
    weights, samples: examples, ...prefixes,
    steps: run.steps, epochs: run.epochs ?? d.epochs, warmupEpochs: d.warmupEpochs, accumSteps: d.accumSteps, lr: run.lr ?? d.lr,
    seqLen: longest, outDir: run.outDir, resume: run.resume, init: run.init ?? 'fresh', name: run.name, seed: run.seed,
    dataSummary: { data: run.dataDir, format: data.format, records: data.records, skipped: skipped.length },
    signal: run.signal, onStep: run.onStep,
  });
  return { samples: fitting.length, skipped, dataset: data.format, seqLen: longest, result };
}

/**
 * The frozen weights as the model's inference sees them: for an int8/int4 model, every LLaMA
 * linear weight the converter quantises goes through the same quantiser and back (the values
 * MatMulNBits multiplies by), so the adapters learn against the numbers they will run with.
 * The float copies are what training multiplies; keeping the blocks packed in the training graph
 * is not done yet.
 */
export function frozenAsInference(w: LoadedWeights, precision: WeightFormat): LoadedWeights {
  const bits = bitsOf(precision);
  if (!bits) return w;
  const policy = llamaLinearPolicy(precision);
  const tensors = new Map(w.tensors);
  for (const [name, t] of w.tensors) {
    if (t.shape.length !== 2 || !isLinearWeight(name) || !policy.applies!(name)) continue;
    const q = quantizeWeight(t, bits, name);
    const f = dequantizeWeight(q);
    tensors.set(name, { dtype: 'float32', shape: t.shape.slice(), data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) } satisfies HostTensor);
  }
  return { ...w, tensors };
}

/** The decoder's linear layers (the weights `linear` quantises in inference). */
function isLinearWeight(name: string): boolean {
  return /^layers\.\d+\.(attention\.w[qkvo]|feed_forward\.w[123])\.weight$/.test(name) || name === 'output.weight';
}

/** A saved set's values as the tensors LavinModel.setAdapters takes. */
export function adapterHostTensors(set: { tensors: ReadonlyMap<string, Float32Array>; shapes: ReadonlyMap<string, number[]> }): Map<string, HostTensor> {
  return new Map([...set.tensors].map(([k, v]) => [k, { dtype: 'float32', shape: set.shapes.get(k)!.slice(), data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) } satisfies HostTensor]));
}
