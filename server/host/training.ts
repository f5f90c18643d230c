// The host's training port: what the host needs from server/train, kept as an interface so the
// host (and its tests) do not depend on how training is implemented.

import { LavinModel } from '../engine/lavinModel';
import { AdapterSetInfo, ExportAdapterSetResult, ImportAdapterSetResult, PreviewTrainingResult, PreviewVisionDataResult, TrainImageTextParams, TrainPreparingParams } from '../protocol';

/** How far reading the images' text is, as the trainer reports it (the protocol's notification less its run id). */
export type ImageTextProgressUpdate = Omit<TrainImageTextParams, 'runId'>;
export type PreparingUpdate = Omit<TrainPreparingParams, 'runId'>;

export interface TrainStep {
  step: number;
  totalSteps: number;
  loss: number;
  /** Training tokens processed per second over the last step(s). */
  tokensPerSecond: number;
  /** The trainer's own estimate, when it has one. */
  etaSeconds?: number;
}

export interface TrainRun {
  model: LavinModel;
  /** Folder of documents, already checked to lie inside the workspace. */
  docsDir?: string;
  /** Or a folder of image-question data (train/data/llavaInstruct.ts), checked the same way. */
  dataDir?: string;
  /** Glob patterns relative to docsDir; only matching documents are used (absent: all). */
  include?: string[];
  /** Adapter set to write (or resume). */
  name: string;
  /** Folder to save the set in; default: the trainer's adapter-set store under that name. */
  outDir?: string;
  /** Absent: the trainer's default for the data (epochs for image-question data). */
  steps?: number;
  resume: boolean;
  /** Replace an existing set in outDir; without it (and without resume) an existing set is refused. */
  overwrite?: boolean;
  learningRate?: number;
  /** Give image samples the text read from their image as context, as image questions get it (default true; lavin.readImageText). */
  readImageText?: boolean;
  signal: AbortSignal;
  onStep: (step: TrainStep) => void;
  /** Image-question data: told once every sample is validated, before the first step. */
  onData?: (d: { samples: number; skipped: { where: string; reason: string }[] }) => void;
  /** Image samples: reading the text of their images (OCR), before the first step; distinct image files done of total, and how many had text. */
  onImageText?: (p: ImageTextProgressUpdate) => void;
  /** A fresh vision set: the data's images measured for its start, after the OCR and before the first step. */
  onPreparing?: (p: PreparingUpdate) => void;
}

export interface TrainOutcome {
  name: string;
  path: string;
  steps: number;
  finalLoss: number | null;
  cancelled: boolean;
  samples?: number;
  skipped?: { where: string; reason: string }[];
}

export interface TrainingPort {
  /** Fine-tune the adapters; on abort, keep the last checkpoint and resolve with cancelled: true. */
  train(run: TrainRun): Promise<TrainOutcome>;
  /** What `train` would use from the docs folder (same builder, same options), without a model. */
  previewDocs(docsDir: string, include?: string[]): PreviewTrainingResult;
  /** What `train` would use from image-question data (same validation), without a model. */
  previewVisionData(dataDir: string): Promise<PreviewVisionDataResult>;
  listAdapterSets(): Promise<AdapterSetInfo[]>;
  /** A saved set to one .safetensors file with its manifest (train/adapterExport.ts). */
  exportAdapterSet(name: string, file: string, opts: { overwrite?: boolean }): Promise<ExportAdapterSetResult>;
  /** An exported file into the store, never over an existing set. */
  importAdapterSet(file: string, name?: string): Promise<ImportAdapterSetResult>;
  /** A LaVIN adapter checkpoint (.pth) of a saved set, checked to fit `model`'s backbones; `onNote` hears why a check was partial. */
  adapterFile(name: string, model: LavinModel, onNote?: (note: string) => void): Promise<string>;
  /** Whether a saved set was trained on images for this backbone and its CLIP (then its visual tokens are fed). */
  seesImages?(name: string, model: LavinModel): Promise<boolean>;
}
