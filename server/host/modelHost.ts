// The model host: owns the loaded model, its request queue and the active adapter set, and turns
// protocol-level requests into engine calls. Used by the language server (server/main.ts) and the
// CLI (server/cli.ts) alike; knows nothing of JSON-RPC framing or terminals.
// Just over 400 lines: every request method shares the queue and the loaded model's state; the
// image-text (OCR) step of chat is the next piece to move out (into imageText.ts).

import * as fs from 'fs';
import * as path from 'path';
import { TokenEvent } from '../engine/api';
import { LavinModel } from '../engine/lavinModel';
import { readManifest } from '../engine/modelDir';
import { loadAdapter } from '../engine/weights';
import {
  AdapterSetInfo, AnswerResult, DevicePreference, ExplainParams, ImageTextLine, LavinErrorCodes, ListAdapterSetsResult,
  ListModelsParams, ListModelsResult, LoadModelParams, ModelSummary, PreviewTrainingParams, PreviewTrainingResult, SetupModelParams, SetupModelResult, StatusResult, TrainImageTextParams, TrainParams, TrainPreparingParams, TrainProgressParams,
  TrainResult, PreviewVisionDataParams, PreviewVisionDataResult, ExportAdapterSetParams, ExportAdapterSetResult, ImportAdapterSetParams, ImportAdapterSetResult,
} from '../protocol';
import { ConvertProgress, checkPrecision, setupModelFolder } from './modelSetup';
import { defaultModelDir, DEFAULT_MAX_IMAGE_BYTES, lavinHome, packageVersion } from './defaults';
import { badParams, classifyEngineError, HostError } from './errors';
import { HostChatParams, pickImage } from './imageInput';
import { chatBody, fitChat, fitExplain, FittedPrompt, TokenCounter } from './prompt';
import { imageTextFor, ImageTextContext, toProtocolLines } from './imageText';
import { DEFAULT_MAX_NEW_TOKENS, promptTokenBudget } from '../engine/imageTextContext';
import { OcrLine, TextReader } from '../engine/ocr/textReader';
import type { PromptBody } from '../engine/sequence';
import { ModelQueue } from './queue';
import { TrainingPort } from './training';
import { languageIdFor } from './languages';
import { discoverModels } from './models';
import { findVisionTower } from './models/visionTower';
import { isBackbonePath } from '../engine/backboneModel';
import { Workspace } from './workspace';

export interface HostOptions {
  /** Model folder to load on first use (default: the embedded model). */
  modelDir?: string;
  /** A GGUF / Hugging Face backbone's CLIP (`--clip`); default: the vision tower discovery links to it (an mmproj beside it, Ollama's projector layer). */
  clip?: string;
  device?: DevicePreference;
  threads?: number;
  /** LoadOptions.packedWeights for every load (default true). */
  packedWeights?: boolean;
  maxImageBytes?: number;
  /** Chat while training holds the model: reject at once (default) or wait in the queue. */
  whileTraining?: 'reject' | 'wait';
  workspace: Workspace;
  training?: TrainingPort;
  log?: (message: string) => void;
  onStatusChange?: (status: StatusResult) => void;
}

export interface GenerateControl {
  signal?: AbortSignal;
  onToken?: (event: TokenEvent) => void;
  /** Image questions: the lines read from the image, before the answer starts. */
  onImageText?: (lines: ImageTextLine[]) => void;
  /** Diagnostics (lavin ask --top-logits): the logits each answer token was picked from. */
  onLogits?: (logits: Float32Array, index: number) => void;
}

export interface TrainControl {
  signal?: AbortSignal;
  onProgress?: (progress: TrainProgressParams) => void;
  /** Image-question data validated: samples kept and those skipped, before the first step. */
  onData?: (d: { samples: number; skipped: { where: string; reason: string }[] }) => void;
  /** Image samples: their images' text being read, before the first step. */
  onImageText?: (progress: TrainImageTextParams) => void;
  /** A fresh vision set: the data's images measured for its start, before the first step. */
  onPreparing?: (progress: TrainPreparingParams) => void;
}

export interface SetupControl {
  signal?: AbortSignal;
  onProgress?: ConvertProgress;
}

const DEFAULT_TRAIN_STEPS = 100;
/** Files bigger than this are not read for explain (the context holds a few hundred lines at most). */
const MAX_EXPLAIN_FILE_BYTES = 4 * 1024 * 1024;

export class ModelHost {
  private model: LavinModel | null = null;
  /** The model folder the user chose; adapter sets are applied on top of it. */
  private baseDir: string | null = null;
  private adapterSet: string | null = null;
  /** Device/threads of the last explicit load, reused when an adapter set swap reloads the model. */
  private loadOptions: LoadModelParams = {};
  /** The CLIP a loadModel request gave, for the backbone it was given with (reloads keep it). */
  private givenClip?: { dir: string; clip: string };
  private readonly queue: ModelQueue;
  private readonly version = packageVersion();
  private disposed = false;
  private textReader?: Promise<TextReader>;

  constructor(private readonly opts: HostOptions) {
    this.queue = new ModelQueue(16, () => this.changed());
  }

  get workspace(): Workspace {
    return this.opts.workspace;
  }

  status(): StatusResult {
    const m = process.memoryUsage();
    return {
      model: this.model ? summary(this.model) : null,
      adapterSet: this.adapterSet,
      activity: this.queue.activity,
      queued: this.queue.queued,
      memory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external + m.arrayBuffers },
      version: this.version,
    };
  }

  async loadModel(params: LoadModelParams): Promise<StatusResult> {
    checkPrecision(params.precision);
    await this.queue.run('loading', () => this.replaceModel(params.dir ?? this.opts.modelDir ?? defaultModelDir(), null, params));
    return this.status();
  }

  async unloadModel(): Promise<StatusResult> {
    await this.queue.run('loading', async () => {
      const old = this.model;
      this.model = null;
      this.adapterSet = null;
      await old?.dispose();
    });
    return this.status();
  }

  /** A chat request: the protocol's, or from the same process with image bytes (HostChatParams). */
  async chat(params: HostChatParams, ctl: GenerateControl = {}): Promise<AnswerResult> {
    const maxImageBytes = this.opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    const picked = pickImage(params.messages, maxImageBytes);
    if (params.raw) {
      // The text as given: nothing to fit or drop (a prompt too long for the context is refused by the engine).
      const text = params.messages[params.messages.length - 1].content;
      return this.answer(params, picked.image, picked.notices, ctl, () => ({ body: { kind: 'text', text }, notices: [] }));
    }
    if (!picked.image || params.readImageText === false) {
      return this.answer(params, picked.image, picked.notices, ctl, (count, budget) => fitChat(params.messages, count, budget));
    }
    const started = performance.now();
    const lines = toProtocolLines(await this.readText(picked.image));
    const imageTextMs = performance.now() - started;
    ctl.onImageText?.(lines);
    let context: ImageTextContext | undefined;
    const result = await this.answer(params, picked.image, picked.notices, ctl, (count, budget) => {
      context = imageTextFor(lines, (text) => chatBody(params.messages, text), count, budget);
      const fitted = fitChat(params.messages, count, budget, context.text || undefined);
      return { body: fitted.body, notices: [...context.notices, ...fitted.notices] };
    });
    const given = result.promptBody?.kind === 'chat' ? result.promptBody.context ?? '' : '';
    delete result.promptBody;
    return { ...result, imageLines: lines, imageText: given, imageTextMs };
  }

  /** OCR of an image question's image; the reader opens on first use and stays open. */
  private async readText(image: Uint8Array): Promise<OcrLine[]> {
    try {
      this.textReader ??= TextReader.open({ threads: this.opts.threads });
      return await (await this.textReader).read(image);
    } catch (err) {
      if (/^OCR |OCR models/.test((err as Error).message)) this.textReader = undefined;
      throw classifyEngineError(err);
    }
  }

  async explain(params: ExplainParams, ctl: GenerateControl = {}): Promise<AnswerResult> {
    let text = params.text;
    let fileName = params.path;
    if (text === undefined) {
      const file = this.opts.workspace.resolve(params.path, 'file');
      if (!fs.existsSync(file) || !fs.statSync(file).isFile()) throw badParams(`file ${params.path} does not exist`);
      const size = fs.statSync(file).size;
      if (size > MAX_EXPLAIN_FILE_BYTES) throw badParams(`file ${params.path} is ${size} bytes; explain reads files up to ${MAX_EXPLAIN_FILE_BYTES} bytes (pass a selection's text instead)`);
      text = fs.readFileSync(file, 'utf8');
      fileName = this.displayName(file);
    } else {
      fileName = params.path.startsWith('file://') ? path.basename(decodeURIComponent(new URL(params.path).pathname)) : params.path;
    }
    const lineCount = text.split(/\r?\n/).length;
    if (params.selection && params.selection.startLine >= lineCount) {
      throw badParams(`selection starts at line ${params.selection.startLine + 1} but ${fileName} has ${lineCount} line(s)`);
    }
    const input = { fileName, languageId: params.languageId ?? languageIdFor(fileName), text, selection: params.selection };
    return this.answer(params, undefined, [], ctl, (count, budget) => fitExplain(input, count, budget));
  }

  async train(params: TrainParams, ctl: TrainControl = {}): Promise<TrainResult> {
    const training = this.trainingPort();
    if ((params.docs === undefined) === (params.data === undefined)) throw badParams('training needs either "docs" (a docs folder) or "data" (image-question data), not both');
    const docsDir = params.docs === undefined ? undefined : this.docsFolder(params.docs);
    const dataDir = params.data === undefined ? undefined : this.docsFolder(params.data, 'data folder');
    const outDir = params.out === undefined ? undefined : this.opts.workspace.resolve(params.out, 'output folder');
    const name = params.name ?? (path.basename((docsDir ?? dataDir)!).replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'adapters');
    const runId = params.runId ?? name;
    // Image-question data without a step count trains for epochs sized to it (train/vision.ts).
    const totalSteps = params.steps ?? (dataDir ? undefined : DEFAULT_TRAIN_STEPS);
    const signal = ctl.signal ?? new AbortController().signal;
    return this.queue.run('training', async () => {
      const model = await this.ensureModel();
      const started = performance.now();
      let firstStepAt: number | null = null;
      let firstStep = 0;
      try {
        const outcome = await training.train({
          model, docsDir, dataDir, onData: ctl.onData, include: params.include, name, outDir, steps: totalSteps, resume: params.resume ?? false, overwrite: params.overwrite ?? false, learningRate: params.learningRate, readImageText: params.readImageText, signal,
          onImageText: ctl.onImageText && ((p) => ctl.onImageText!({ runId, ...p })),
          onPreparing: ctl.onPreparing && ((p) => ctl.onPreparing!({ runId, ...p })),
          onStep: (s) => {
            const now = performance.now();
            if (firstStepAt === null) {
              firstStepAt = now;
              firstStep = s.step;
            }
            // ETA from the pace since the first reported step (excludes warm-up and resume offset).
            const done = s.step - firstStep;
            const perStep = done > 0 ? (now - firstStepAt) / done : now - started;
            const eta = s.etaSeconds ?? ((s.totalSteps - s.step) * perStep) / 1000;
            ctl.onProgress?.({ runId, step: s.step, totalSteps: s.totalSteps, loss: s.loss, tokensPerSecond: s.tokensPerSecond, etaSeconds: s.step > 0 ? Math.max(0, eta) : null });
          },
        });
        return { adapterSet: outcome.name, path: outcome.path, steps: outcome.steps, finalLoss: outcome.finalLoss, cancelled: outcome.cancelled, samples: outcome.samples, skipped: outcome.skipped };
      } catch (err) {
        if (err instanceof HostError) throw err;
        throw new HostError(LavinErrorCodes.TrainingFailed, `training failed: ${(err as Error).message}`);
      }
    }, { signal, label: `training adapter set ${name}` });
  }

  /** The samples `train` would build from these params; reads the docs only, needs no model and does not queue. */
  previewTraining(params: PreviewTrainingParams): PreviewTrainingResult {
    return this.trainingPort().previewDocs(this.docsFolder(params.docs), params.include);
  }

  /** Image-question data as `train` with `data` validates it; reads the folder only, needs no model and does not queue. */
  previewVisionData(params: PreviewVisionDataParams): Promise<PreviewVisionDataResult> {
    return this.trainingPort().previewVisionData(this.docsFolder(params.data, 'data folder'));
  }

  exportAdapterSet(params: ExportAdapterSetParams): Promise<ExportAdapterSetResult> {
    return this.trainingPort().exportAdapterSet(params.name, params.file, { overwrite: params.overwrite });
  }

  importAdapterSet(params: ImportAdapterSetParams): Promise<ImportAdapterSetResult> {
    return this.trainingPort().importAdapterSet(params.file, params.name);
  }

  /** Models already on disk (Ollama, LM Studio, Hugging Face cache, picked paths): metadata only, no queue. */
  listModels(params: ListModelsParams): Promise<ListModelsResult> {
    return discoverModels(params);
  }

  async listAdapterSets(): Promise<ListAdapterSetsResult> {
    const sets: AdapterSetInfo[] = this.opts.training ? await this.opts.training.listAdapterSets() : [];
    return { sets, active: this.adapterSet };
  }

  async activateAdapterSet(name: string | null): Promise<StatusResult> {
    await this.queue.run('loading', async () => {
      const base = this.baseDir ?? this.opts.modelDir ?? defaultModelDir();
      // A backbone has no model.json to derive a folder from: its sets always swap into the loaded model.
      if (name !== null && isBackbonePath(base)) await this.ensureModel();
      // The loaded model is the base folder's own (not a derived folder): adapters swap in place.
      const inPlace = this.model !== null && this.model.info.dir === path.resolve(base);
      if (name === null) {
        if (!inPlace) return this.replaceModel(base, null, {});
        this.model!.restoreAdapters();
        this.adapterSet = null;
        return;
      }
      const training = this.opts.training;
      if (!training) throw new HostError(LavinErrorCodes.TrainingFailed, 'adapter sets need the trainer, which is not available in this build');
      const known = await training.listAdapterSets();
      if (!known.some((s) => s.name === name)) throw badParams(`no adapter set named "${name}" (known: ${known.map((s) => s.name).join(', ') || 'none'})`);
      const model = await this.ensureModel();
      const file = await training.adapterFile(name, model, (note) => this.opts.log?.(`note: ${note}`));
      const set = await loadAdapter(file);
      if (inPlace && set.args.temperature === model.info.temperature) {
        // A backbone sees images only with a set trained on images for it and its CLIP.
        model.setAdapters(set.tensors, { vision: model.info.backbone ? await training.seesImages?.(name, model) : true });
        this.adapterSet = name;
        this.opts.log?.(`adapter set ${name} swapped in (backbones kept)`);
        return;
      }
      // A different router temperature is a constant of the graphs: build them again.
      await this.replaceModel(writeDerivedModelDir(base, name, file), name, {}, base);
    });
    return this.status();
  }

  async setupModel(params: SetupModelParams, ctl: SetupControl = {}): Promise<SetupModelResult> {
    return this.queue.run('converting', async () => {
      const { dir, manifestPath, model } = await setupModelFolder(params, ctl.onProgress, ctl.signal, { packedWeights: this.opts.packedWeights, log: this.opts.log });
      const result = { dir, manifestPath, model: summary(model) };
      if (params.activate === false) {
        await model.dispose();
      } else {
        const old = this.model;
        this.model = model;
        this.baseDir = dir;
        this.adapterSet = null;
        await old?.dispose();
      }
      return result;
    }, { signal: ctl.signal });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.model?.dispose();
    this.model = null;
    await (await this.textReader?.catch(() => undefined))?.dispose();
  }

  // -------------------------------------------------------------------------------------------

  private async answer(
    params: HostChatParams | ExplainParams,
    image: Uint8Array | undefined,
    notices: string[],
    ctl: GenerateControl,
    fit: (count: TokenCounter, budget: number) => FittedPrompt,
  ): Promise<AnswerResult & { promptBody?: PromptBody }> {
    const queuedAt = performance.now();
    return this.queue.run('generating', async () => {
      const queuedMs = performance.now() - queuedAt;
      const model = await this.ensureModel();
      const ctx = model.info.maxSeqLen;
      const maxNewTokens = params.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
      // The prompt may use all but the answer's share; a long answer request cannot starve the prompt below half.
      const budget = promptTokenBudget(ctx, maxNewTokens);
      const raw = 'raw' in params && params.raw === true;
      const count: TokenCounter = (body) => model.promptIds(body, image !== undefined && model.seesImages, raw).ids.length;
      const fitted = fit(count, budget);
      try {
        const r = await model.generate({
          prompt: fitted.body, image, raw, maxNewTokens, temperature: params.temperature, topP: params.topP, seed: params.seed,
          signal: ctl.signal, onToken: ctl.onToken, onLogits: ctl.onLogits,
          // A set trained here learned with training positions; swapped in place it must decode with them too.
          positionMode: this.adapterSet !== null ? 'consistent' : undefined,
        });
        return {
          text: r.text, tokens: r.tokens, stopReason: r.stopReason, route: r.route, routerWeights: r.routerWeights,
          promptTokens: r.promptTokens, reusedPromptTokens: r.reusedPromptTokens, timings: { ...r.timings, queuedMs },
          notices: [...notices, ...fitted.notices, ...(r.visionNote ? [r.visionNote] : [])], ...(r.visionNote ? { visionNote: r.visionNote } : {}), adapterSet: this.adapterSet,
          device: model.info.device, deviceNote: model.info.deviceNote,
          promptBody: fitted.body,
          // Visual tokens only reach a model that sees images, and never a raw prompt.
          ...(image && model.seesImages && !raw ? { visualTokens: model.promptIds(fitted.body, true).visual?.count } : {}),
        };
      } catch (err) {
        throw classifyEngineError(err);
      }
    }, { signal: ctl.signal, whileTraining: this.opts.whileTraining });
  }

  /** The loaded model, loading the configured one first if needed. Call only inside a queued job. */
  private async ensureModel(): Promise<LavinModel> {
    if (!this.model) await this.replaceModel(this.opts.modelDir ?? defaultModelDir(), null, {});
    return this.model!;
  }

  private async replaceModel(dir: string, adapterSet: string | null, params: LoadModelParams, baseDir = dir): Promise<void> {
    const log = this.opts.log;
    const options = { ...this.loadOptions, ...params };
    let model: LavinModel;
    try {
      model = await LavinModel.load(dir, { device: options.device ?? this.opts.device, precision: options.precision, threads: options.threads ?? this.opts.threads, packedWeights: this.opts.packedWeights, clip: this.clipFor(dir, params.clip ?? (this.givenClip?.dir === dir ? this.givenClip.clip : undefined)), log });
    } catch (err) {
      throw new HostError(LavinErrorCodes.ModelLoadFailed, (err as Error).message);
    }
    const old = this.model;
    this.model = model;
    this.baseDir = baseDir;
    this.adapterSet = adapterSet;
    this.loadOptions = { device: options.device, precision: options.precision, threads: options.threads };
    this.givenClip = params.clip === undefined ? this.givenClip : { dir, clip: params.clip };
    await old?.dispose();
    this.changed();
  }

  /** The CLIP of a backbone: the one given, else the vision tower stored with it (none for a model folder, which names its own). */
  private clipFor(dir: string, given?: string): string | undefined {
    if (!isBackbonePath(dir)) return undefined;
    if (given ?? this.opts.clip) return given ?? this.opts.clip;
    const tower = findVisionTower(dir);
    if (tower) this.opts.log?.(`vision tower ${tower} belongs to ${dir}: using its CLIP`);
    return tower;
  }

    private trainingPort(): TrainingPort {
    const training = this.opts.training;
    if (!training) throw new HostError(LavinErrorCodes.TrainingFailed, 'training is not available in this build (no trainer is wired to the host)');
    return training;
  }

  /** The docs folder of a train or preview request: inside the workspace, existing, a folder. */
  private docsFolder(docs: string, what = 'docs folder'): string {
    const docsDir = this.opts.workspace.resolve(docs, what);
    if (!fs.existsSync(docsDir) || !fs.statSync(docsDir).isDirectory()) throw badParams(`${what} ${docs} does not exist or is not a folder`);
    return docsDir;
  }

  private displayName(file: string): string {
    for (const root of this.opts.workspace.folders) {
      if (file.startsWith(root + path.sep)) return path.relative(root, file);
    }
    return path.basename(file);
  }

  private changed(): void {
    if (!this.disposed) this.opts.onStatusChange?.(this.status());
  }
}

function summary(m: LavinModel): ModelSummary {
  const i = m.info;
  return {
    name: i.name, dir: i.dir, device: i.device, deviceNote: i.deviceNote, precision: i.precision,
    llama: { dim: i.llama.dim, layers: i.llama.layers, heads: i.llama.heads, vocab: i.llama.vocab },
    clip: i.clip && { width: i.clip.width, layers: i.clip.layers, heads: i.clip.heads, resolution: i.clip.resolution },
    visionNote: i.visionNote,
    adapterParameters: i.adapterParameters, maxSeqLen: i.maxSeqLen,
  };
}

/**
 * A model folder that is `base` with another adapter checkpoint: model.json only, every path absolute.
 * (Swapping adapter tensors in place would avoid reloading the backbones; the engine has no such call yet.)
 */
function writeDerivedModelDir(base: string, adapterSet: string, adapterFile: string): string {
  const manifest = readManifest(base);
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.join(path.resolve(base), p));
  const dir = path.join(lavinHome(), 'derived', `${manifest.name}+${adapterSet}`);
  fs.mkdirSync(dir, { recursive: true });
  const derived = {
    ...manifest,
    name: `${manifest.name}+${adapterSet}`,
    llama: abs(manifest.llama),
    clip: abs(manifest.clip),
    adapter: path.resolve(adapterFile),
    tokenizer: manifest.tokenizer && abs(manifest.tokenizer),
    // Adapters trained by this product use training positions at decode time.
    positionMode: 'consistent' as const,
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(derived, null, 2) + '\n');
  return dir;
}
