// Mixture-of-modality training: public surface for the backend.
export { train, type TrainOptions, type TrainProgress, type TrainResult } from './trainer';
export {
  saveAdapterSet, loadAdapterSet, readMeta, exportLavinPth, importLavinPth, baseModelIdentity, backboneIdentity, lavinArgs,
  modelFingerprint, checkAdapterSetFits, adapterSetKind, setFingerprint,
  ADAPTER_META_FILE, AdapterStoreError, type AdapterSet, type AdapterSetMeta, type OptimizerSnapshot, type BaseModelIdentity,
  type ModelFingerprint, type FingerprintSources, type AdapterSetKind,
} from './adapterStore';
export { initAdapterTensors } from './init';
export { AdamW, learningRate, peakLr, decays, GradientAccumulator, LAVIN_ADAMW, LAVIN_BASE_LR } from './optim';
export { buildTrainingGraph, TRAIN_IO, type TrainingGraph, type TrainingGraphOptions } from './trainingGraph';
export { TrainingStepper, type StepResult } from './step';
export { layoutExample, type TokenizedExample, type LaidOutExample, type Modality } from '../engine/sequence';
export { Rng } from './rng';
export { buildDocsDataset, type DocsDatasetOptions, type DocsSummary } from './data/docs';
export { loadChatFile } from './data/chat';
export { loadScienceQa, scienceQaPrompt } from './data/scienceqa';
export { tokenizeExample, chatPrompt, type TextSample, type TextTokenizer } from './data/tokenize';
export { prepareExamples, layoutPrefixes } from './data/prepare';
export {
  evaluateScienceQa, readScienceQaSplit, parseAnswer, ANSWER_PATTERN, SCIENCEQA_EVAL_DEFAULTS,
  type ScienceQaGenerator, type ScienceQaEvalOptions, type ScienceQaEvalResult, type ScienceQaRow, type ScienceQaItem,
} from './eval/scienceQaEval';
export { formatTable1, computeTable1, table1Buckets, TABLE1_COLUMNS, type Table1, type Table1Counts, type Table1Column } from './eval/table1';
