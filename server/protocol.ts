// Every custom request and notification between the LaVIN Code extension (or any client) and the
// model host, typed once and imported by both sides (like rust-analyzer's lsp_ext.ts).
// Dependency-light on purpose: only vscode-languageserver-protocol, which the extension bundle
// already carries through vscode-languageclient. No engine or Node imports here.
// Over 400 lines on purpose: it is the one wire contract; splitting it would scatter a request's
// params and result, which both sides must read together.

import { NotificationType, ProgressToken, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

// ---------------------------------------------------------------------------------------------
// Shared shapes
// ---------------------------------------------------------------------------------------------

export type DevicePreference = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export type PrecisionName = 'fp32' | 'fp16' | 'int8' | 'int4';
export type StopReason = 'eos' | 'max-tokens' | 'aborted' | 'context-full';
/** Which mixture-of-modality adapter path the router was given. */
export type Route = 'text' | 'image';

/** What currently holds the model: at most one generation or one training run at a time. */
export type HostActivity = 'idle' | 'loading' | 'generating' | 'training' | 'converting';

export interface ModelSummary {
  name: string;
  /** Absolute model folder (the one with model.json). */
  dir: string;
  /** The execution provider that runs the model: cpu, cuda or webgpu. */
  device: string;
  /** That provider, and why the GPU providers tried before it were not used (when any were). */
  deviceNote?: string;
  precision: PrecisionName;
  llama: { dim: number; layers: number; heads: number; vocab: number };
  /** Absent for a language backbone (GGUF / Hugging Face) without a vision adapter set. */
  clip?: { width: number; layers: number; heads: number; resolution: number };
  /** Why images are not used by this model, when they are not. */
  visionNote?: string;
  adapterParameters: number;
  /** Context length in tokens (prompt + answer). */
  maxSeqLen: number;
}

export interface MemoryUsage {
  rssBytes: number;
  heapUsedBytes: number;
  /** Memory outside the JS heap (tensors, onnxruntime buffers). */
  externalBytes: number;
}

export interface StatusResult {
  /** null when no model is loaded. */
  model: ModelSummary | null;
  /** Name of the active adapter set; null = the adapter weights the model folder ships with. */
  adapterSet: string | null;
  activity: HostActivity;
  /** Requests waiting for the model (not counting the running one). */
  queued: number;
  memory: MemoryUsage;
  /** Server version (package.json). */
  version: string;
}

/** Sampling settings shared by chat and explain. Defaults: greedy, 256 new tokens. */
export interface SamplingParams {
  maxNewTokens?: number;
  /** 0 = greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
}

/** Source code attached to a chat turn. */
export interface CodeContext {
  /** File name shown to the model (a basename or workspace-relative path). */
  fileName: string;
  /** VS Code language id, e.g. 'typescript'. */
  languageId: string;
  /** The code itself (the selection, or the part of the file the user chose). */
  text: string;
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
  /**
   * Base64 images (PNG/JPEG/WebP). LaVIN sees one image per request: the newest user image is used,
   * and the answer's `notices` say when others were left out.
   */
  images?: string[];
  code?: CodeContext;
}

/** Links a streaming request to its `lavin/token` notifications. Chosen by the client, unique per request. */
export interface StreamParams {
  streamId?: string;
}

export interface ChatParams extends SamplingParams, StreamParams {
  /** Oldest first; the last one must be a user message. */
  messages: ChatMessage[];
  /**
   * The last message's text is the whole prompt, tokenised exactly as llama.cpp tokenises a raw
   * prompt for the model file: no chat template, no instruction wrapper, no image, no earlier turns.
   */
  raw?: boolean;
  /** Read the text on the question's image (OCR) and give it to the model as context (default true; setting lavin.readImageText). */
  readImageText?: boolean;
}

/** A line of text read from an image: box [x0, y0, x1, y1] in the image's pixels. */
export interface ImageTextLine {
  text: string;
  box: [number, number, number, number];
  confidence: number;
}

/** A 0-based, inclusive line range. */
export interface LineRange {
  startLine: number;
  endLine: number;
}

export interface ExplainParams extends SamplingParams, StreamParams {
  /**
   * The file. Either give `text` (works for unsaved editors; `path`/`uri` is then only a name),
   * or give `path` alone and the server reads it; paths outside the workspace are refused.
   */
  path: string;
  text?: string;
  languageId?: string;
  /** Lines to explain; default: the whole file (truncated to fit the context). */
  selection?: LineRange;
}

/** The answer to chat and explain. */
export interface AnswerResult {
  text: string;
  /** Generated token ids (the first is decided by the prompt). */
  tokens: number[];
  stopReason: StopReason;
  route: Route;
  /** Per LLaMA layer: [expert 0 weight, expert 1 weight] the router gave this request. */
  routerWeights: number[][];
  promptTokens: number;
  /** Of those, the leading tokens the previous answer's KV cache supplied (a chat's earlier turns). */
  reusedPromptTokens?: number;
  timings: { visionMs: number; prefillMs: number; decodeMs: number; decodeTokensPerSecond: number; queuedMs: number };
  /** Things the user should know: turns dropped to fit the context, images ignored, ... */
  notices: string[];
  /** Set when an image came with the question but the model could not use it (no vision adapter set for this backbone): the answer is the text path's. */
  visionNote?: string;
  adapterSet: string | null;
  /** Image questions with readImageText: every line read from the image, in reading order. */
  imageLines?: ImageTextLine[];
  /** The read text as the model was given it (after the token budget; '' when nothing was read). */
  imageText?: string;
  /** Milliseconds spent reading the image's text. */
  imageTextMs?: number;
  /** Image route: how many visual tokens the image took in the prompt. */
  visualTokens?: number;
  /** The execution provider that computed the answer (cpu, cuda, webgpu) and why others were passed over. */
  device?: string;
  deviceNote?: string;
}

export interface TokenNotificationParams {
  streamId: string;
  /** Text this token adds ('' while a multi-byte character is incomplete). */
  text: string;
  /** 0-based index of the generated token. */
  index: number;
  id: number;
}

export interface LoadModelParams {
  /** Model folder with model.json; absent = the embedded default model. */
  dir?: string;
  device?: DevicePreference;
  precision?: PrecisionName;
  threads?: number;
  /** A GGUF / Hugging Face backbone's CLIP (HF CLIP folder or safetensors, OpenAI .pt, LLaVA mmproj .gguf); absent: the mmproj stored with it, if any. */
  clip?: string;
}

export interface TrainParams {
  /** Folder of documents (.md, .txt, source files) to fine-tune the adapters on (this or `data`). */
  docs?: string;
  /**
   * Folder of image-question data instead of docs: a LLaVA-Instruct-style data.json or the ScienceQA
   * layout. Without `steps`, the run's length is a number of epochs sized to the data.
   */
  data?: string;
  /** Glob patterns relative to `docs` ("**\/*.md", "guide/**"); only matching documents are used. Absent: all. */
  include?: string[];
  steps?: number;
  /** Adapter set name to write (default: derived from the docs folder name). */
  name?: string;
  /** Folder to save the adapter set in (default: the adapter-set store). Must lie inside the workspace. */
  out?: string;
  /** Continue from the named set's last checkpoint instead of starting fresh. */
  resume?: boolean;
  /** Replace an existing set of that name; without it (and without resume) an existing set is refused, never replaced. */
  overwrite?: boolean;
  learningRate?: number;
  /** Give image samples the text read from their image as context, as image questions get it (default true; setting lavin.readImageText). */
  readImageText?: boolean;
  /** LSP work-done progress token; progress also goes out as `lavin/trainProgress`. */
  workDoneToken?: ProgressToken;
  /** Links `lavin/trainProgress` notifications to this run (default: the adapter set name). */
  runId?: string;
}

export interface PreviewTrainingParams {
  /** Docs folder, as for `lavin/train` (must lie inside the workspace). */
  docs: string;
  /** As for `lavin/train`. */
  include?: string[];
}

/** One training sample as `lavin/train` would build it, shortened for display. */
export interface TrainingSampleExample {
  /** The prompt the model is given, chat template included (prompt and answer cut to about 300 characters). */
  prompt: string;
  /** The question inside the prompt, without the prompt format (cut like the prompt). */
  instruction?: string;
  answer: string;
  /** Image file of an image sample, relative to the docs folder. */
  image?: string;
}

/** What `lavin/train` would train on, from the same dataset builder, without a model or any training. */
export interface PreviewTrainingResult {
  /** Document files read (matching `include`, of a supported kind). */
  documents: number;
  /** Of those, the ones that gave at least one sample. */
  documentsUsed: number;
  /** Training samples: one per `lavin/train` example. */
  samples: number;
  textSamples: number;
  imageSamples: number;
  /** Files, folders and image references left out, with why (the first 50; see `skippedTotal`). */
  skipped: { path: string; reason: string }[];
  skippedTotal: number;
  /** The first few samples (at most 3). */
  examples: TrainingSampleExample[];
}

export interface PreviewVisionDataParams {
  /** Image-question data folder, as `data` for `lavin/train` (must lie inside the workspace). */
  data: string;
}

/** What `lavin/train` with `data` would train on: the same validation, without a model or any training. */
export interface PreviewVisionDataResult {
  /** LLaVA-Instruct-style data.json, or the ScienceQA layout (its train split). */
  format: 'llava' | 'scienceqa';
  /** Records (conversations or problems) read. */
  records: number;
  /** Samples that pass validation (one per answer). Those too long for the model's context are skipped when training starts. */
  samples: number;
  /** Records and samples left out, with why (the first 50; see `skippedTotal`). */
  skipped: { where: string; reason: string }[];
  skippedTotal: number;
  /** The first few samples (at most 3); `image` relative to the data folder. */
  examples: TrainingSampleExample[];
}

export interface ExportAdapterSetParams {
  /** A set of the adapter-set store. */
  name: string;
  /** Absolute path of the .safetensors file to write. */
  file: string;
  /** Replace an existing file (the user confirmed it); without it an existing file is refused. */
  overwrite?: boolean;
}

export interface ExportAdapterSetResult {
  file: string;
  bytes: number;
  kind: 'docs' | 'vision';
  /** Whether the set records the fingerprint of its backbone and CLIP. */
  fingerprinted: boolean;
}

export interface ImportAdapterSetParams {
  /** Absolute path of a file written by `lavin/exportAdapterSet` or `lavin adapters --export`. */
  file: string;
  /** Name in the store (default: the name in the file). An existing set is never replaced. */
  name?: string;
}

export interface ImportAdapterSetResult {
  name: string;
  path: string;
  kind: 'docs' | 'vision';
  /** The model it was trained on. */
  baseModel: string;
  steps: number;
}

export interface TrainProgressParams {
  runId: string;
  step: number;
  totalSteps: number;
  loss: number;
  tokensPerSecond: number;
  /** Seconds left at the current pace; null before the first step finishes. */
  etaSeconds: number | null;
}

/**
 * Before the first step of a run on image samples: the text of its images being read (OCR, the wait
 * on a folder of screenshots). `done` of `total` distinct image files, `withText` of the done ones had text;
 * the last one has done === total. A run with no image to read sends none.
 */
export interface TrainImageTextParams {
  runId: string;
  done: number;
  total: number;
  withText: number;
}

/**
 * Before the first step of a fresh vision set, after reading the images' text: the data's images
 * being measured for the training start (`what` says what, e.g. the CLIP features the visual
 * projection trains in; a ViT-L takes minutes on a CPU). `done` of `total`; the last one has done === total.
 */
export interface TrainPreparingParams {
  runId: string;
  what: string;
  done: number;
  total: number;
}

export interface TrainResult {
  adapterSet: string;
  /** Folder the adapter set was saved to. */
  path: string;
  steps: number;
  finalLoss: number | null;
  /** True when cancelled: the last checkpoint is kept and `resume: true` continues it. */
  cancelled: boolean;
  /** Image-question data: samples trained on, and those skipped with the reason. */
  samples?: number;
  skipped?: { where: string; reason: string }[];
}

export interface AdapterSetInfo {
  name: string;
  path: string;
  steps: number;
  /** ISO time of the last save. */
  updated: string;
  /** Model folder it was trained on top of. */
  baseModel?: string;
  /** Training loss at the last saved step, when recorded. */
  loss?: number;
  /** What it was trained on: project docs or image-question data. */
  kind?: 'docs' | 'vision';
  /** Whether it records the fingerprint of the backbone and CLIP it was trained on (sets saved before that do not). */
  fingerprinted?: boolean;
}

export interface ListAdapterSetsResult {
  sets: AdapterSetInfo[];
  active: string | null;
}

export interface ActivateAdapterSetParams {
  /** null = back to the model folder's own adapter weights. */
  name: string | null;
}

export interface SetupModelParams {
  /** Folder with Meta's params.json + consolidated.NN.pth. */
  llama: string;
  /** CLIP ViT-L/14 weights (.pth or .safetensors). */
  clip: string;
  /** LaVIN adapter checkpoint (.pth). */
  adapter: string;
  /** SentencePiece tokenizer.model (default: <llama>/../tokenizer.model or <llama>/tokenizer.model). */
  tokenizer?: string;
  /** CLIP attention heads when the weights cannot say (default: a config.json next to the CLIP file, else width / 64). */
  clipHeads?: number;
  precision?: PrecisionName;
  /** Model folder to write. */
  out: string;
  name?: string;
  /** Copy the weight files into `out` (default false: model.json references them in place). */
  copy?: boolean;
  /** Load the new folder after writing it (default true). */
  activate?: boolean;
  workDoneToken?: ProgressToken;
}

export interface SetupModelResult {
  dir: string;
  manifestPath: string;
  model: ModelSummary;
}

/** Where a discovered model was found. */
export type ModelSourceKind = 'ollama' | 'lmstudio' | 'huggingface' | 'picked';

/** A model already on disk that `lavin/listModels` found (nothing is ever downloaded). */
export interface DiscoveredModel {
  /** As its store names it: Ollama `llama3.2:3b`, LM Studio `publisher/repo/file.gguf`, Hugging Face `org/name`. */
  name: string;
  source: ModelSourceKind;
  /** gguf: one GGUF file; hf: a Hugging Face folder (config.json + safetensors); lavin: a model folder with model.json. */
  format: 'gguf' | 'hf' | 'lavin';
  /** What `--model` and the `lavin.modelFolder` setting take: the GGUF file, the snapshot folder, the model folder. */
  path: string;
  /** general.architecture (GGUF), model_type (Hugging Face), "llama" (LaVIN folders); absent when unreadable. */
  architecture?: string;
  parameters?: number;
  /** GGUF general.file_type name (Q4_K_M, Q8_0, F16 ...), Hugging Face torch_dtype (BF16 ...), a model folder's precision. */
  quantization?: string;
  /** Bytes on disk of everything the model reads (all shards, the vision tower). */
  sizeBytes: number;
  contextLength?: number;
  /** A LLaVA mmproj GGUF that belongs to this model (Ollama's projector layer, LM Studio's mmproj-*.gguf beside it). */
  visionTower?: string;
  /** The chat template the store keeps beside the weights (Ollama's template layer, a Go template). */
  storeTemplate?: string;
  /** yes: fits in free memory; tight: fits in this machine's memory but not in what is free now; no: does not fit at all. */
  memory: { fits: 'yes' | 'tight' | 'no' | 'unknown'; needBytes?: number; message?: string };
  /** One line saying why it cannot be used (missing blob, truncated GGUF, unsupported architecture ...); absent when usable. */
  problem?: string;
  /** Things worth knowing that do not stop it (a LoRA layer left out, a second model layer ...). */
  notes?: string[];
}

export interface ListModelsParams {
  /** Ollama model stores to scan instead of the default ($OLLAMA_MODELS, ~/.ollama/models, /usr/share/ollama/.ollama/models). */
  ollama?: string[];
  /** LM Studio models folders instead of the default ($LAVIN_LMSTUDIO_MODELS, LM Studio's downloadsFolder, ~/.lmstudio/models, ~/.cache/lm-studio/models). */
  lmStudio?: string[];
  /** Hugging Face hub caches instead of the default ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub). */
  huggingFace?: string[];
  /** GGUF files or folders the user picked (a folder: its GGUF files, a Hugging Face folder, or a LaVIN model folder). */
  paths?: string[];
}

export interface ListModelsResult {
  models: DiscoveredModel[];
  /** Every place looked at, whether it exists, and why a scan stopped short (entry or time limit, unreadable). */
  searched: { source: ModelSourceKind; root: string; exists: boolean; note?: string }[];
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

export const StatusRequest = new RequestType0<StatusResult, void>('lavin/status');
export const LoadModelRequest = new RequestType<LoadModelParams, StatusResult, void>('lavin/loadModel');
export const UnloadModelRequest = new RequestType0<StatusResult, void>('lavin/unloadModel');
/** Streams `lavin/token` notifications when `streamId` is set; `$/cancelRequest` stops within one token. */
export const ChatRequest = new RequestType<ChatParams, AnswerResult, void>('lavin/chat');
export const ExplainRequest = new RequestType<ExplainParams, AnswerResult, void>('lavin/explain');
/** Reports `$/progress` on `workDoneToken`, `lavin/trainImageText`, `lavin/trainPreparing` then `lavin/trainProgress`; cancellable; resumable. */
export const TrainRequest = new RequestType<TrainParams, TrainResult, void>('lavin/train');
/** Dry run of the docs dataset for `lavin/train`: counts, skipped files, example prompts. Needs no model. */
export const PreviewTrainingRequest = new RequestType<PreviewTrainingParams, PreviewTrainingResult, void>('lavin/previewTraining');
export const ListAdapterSetsRequest = new RequestType0<ListAdapterSetsResult, void>('lavin/listAdapterSets');
/** Dry run of image-question data for `lavin/train` with `data`: format, sample count, skipped with reasons. Needs no model. */
export const PreviewVisionDataRequest = new RequestType<PreviewVisionDataParams, PreviewVisionDataResult, void>('lavin/previewVisionData');
/** One adapter set to one .safetensors file with a manifest (name, kind, model fingerprint, shape, training summary). */
export const ExportAdapterSetRequest = new RequestType<ExportAdapterSetParams, ExportAdapterSetResult, void>('lavin/exportAdapterSet');
/** An exported file into the store; checked whole first (a bad file or a name clash leaves the store as it was). */
export const ImportAdapterSetRequest = new RequestType<ImportAdapterSetParams, ImportAdapterSetResult, void>('lavin/importAdapterSet');
export const ActivateAdapterSetRequest = new RequestType<ActivateAdapterSetParams, StatusResult, void>('lavin/activateAdapterSet');
export const SetupModelRequest = new RequestType<SetupModelParams, SetupModelResult, void>('lavin/setupModel');
/** Models already on disk: Ollama's store, LM Studio's models folder, the Hugging Face hub cache, picked paths. Needs no model; never downloads. */
export const ListModelsRequest = new RequestType<ListModelsParams, ListModelsResult, void>('lavin/listModels');

export const TokenNotification = new NotificationType<TokenNotificationParams>('lavin/token');
export const TrainProgressNotification = new NotificationType<TrainProgressParams>('lavin/trainProgress');
export const TrainImageTextNotification = new NotificationType<TrainImageTextParams>('lavin/trainImageText');
export const TrainPreparingNotification = new NotificationType<TrainPreparingParams>('lavin/trainPreparing');
/** Sent whenever the model, adapter set or activity changes. */
export const StatusChangedNotification = new NotificationType<StatusResult>('lavin/statusChanged');

/** Error codes in JSON-RPC responses, besides the standard ones (-32700 parse, -32601 method, -32602 params, -32800 cancelled). */
export const LavinErrorCodes = {
  /** No model is loaded and the default could not be loaded. */
  NoModel: -32001,
  /** The model is busy with training; chat is rejected rather than queued. `data.activity` says what holds it. */
  Busy: -32002,
  /** A file path outside the workspace folders. */
  PathOutsideWorkspace: -32003,
  /** Loading or converting a model failed (message names the file/field). */
  ModelLoadFailed: -32004,
  /** Image too large or not an image. */
  BadImage: -32005,
  /** Training is not available or failed. */
  TrainingFailed: -32006,
  /** Too many requests waiting for the model. */
  QueueFull: -32007,
} as const;

/** Initialization options the client may pass in `initialize`. */
export interface LavinInitializationOptions {
  /** Model folder to load lazily on the first request (default: the embedded model). */
  modelDir?: string;
  device?: DevicePreference;
  threads?: number;
  /** Where adapter sets live (default: <globalStorage>/adapter-sets or ~/.lavin/adapter-sets). */
  adapterSetsDir?: string;
  /** A GGUF / Hugging Face backbone's CLIP (LoadModelParams.clip) for the lazy first load; absent: the mmproj stored with it, if any. */
  clip?: string;
  /** Largest image accepted, in bytes (default 20 MiB). */
  maxImageBytes?: number;
  /** Chat behaviour while training holds the model: 'reject' (default) or 'wait'. */
  whileTraining?: 'reject' | 'wait';
  /**
   * int8/int4 on the CPU: save onnxruntime's repacked weights beside a converted model on its first
   * start and open them on later starts (default true; LoadOptions.packedWeights).
   */
  packedWeights?: boolean;
}
