// A loaded LaVIN model behind the text-level API: prompt layout, image path, streaming text.

import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { GenerateRequest, GenerateResult, LoadOptions, ModelInfo, Precision } from './api';
import { generateIds, PromptCache } from './generate';
import { preprocessImage } from './image';
import { loadModelDir, LoadedWeights, ModelManifest, readManifest, resolveIn } from './modelDir';
import { loadAdapter } from './weights';
import { isAdapterParam } from './programs';
import { LavinRuntime } from './runtime';
import { HostTensor } from './tensor';
import { CONVERTED_FILE, convertedDirFor, convertModelDir, isConvertedCurrent, readConverted, sourceFingerprint } from './convertedCopy';
import { isFfnAdapter, LavinConfig, VISUAL_PREFIX, visionOf } from './lavin';
import { checkCpuMemory } from './memory';
import { chooseDevice, describeChoice } from './device';
import { WEIGHT_FORMATS } from './quant';
import { EngineOptions } from './runtime';
import { ExecutionDevice, SessionConfig } from './session';
import { inferenceSequence, InferenceSequence, LAVIN_FAMILY, Prompt, PromptFamily, promptText } from './sequence';
import { LlamaTokenizer, Tokenizer } from './tokenizer';
import { backboneConfig, backboneRuntime, clipConfigOf, isBackbonePath, loadBackboneClip, NO_VISION_NOTE, openBackboneFiles } from './backboneModel';
import type { LoadedClip } from './weights/clip';

const RAW_FAMILY: PromptFamily = { kind: 'raw' };
const RAW_IMAGE_NOTE = 'a raw prompt has no place for visual tokens, so the image was not used: this is the text-only answer';

/** The CLIP adapters and the visual projection (absent from a set trained without images). */
const isVisionAdapter = (name: string) => name.startsWith(VISUAL_PREFIX) || name.startsWith('adapter_proj.');

/** A loaded model's ModelInfo: what its config, adapter set and device say, plus its own fields. */
function modelInfoOf(
  cfg: LavinConfig,
  adapters: ReadonlyMap<string, HostTensor>,
  choice: Awaited<ReturnType<typeof chooseDevice>>,
  own: Pick<ModelInfo, 'name' | 'dir' | 'precision'> & Pick<Partial<ModelInfo>, 'clip' | 'backbone' | 'visionNote'>,
): ModelInfo {
  let adapterParameters = 0;
  for (const t of adapters.values()) adapterParameters += t.shape.reduce((a, d) => a * d, 1);
  const { dim, nLayers: layers, nHeads: heads, vocab, ffnHidden } = cfg.llama;
  const { name, dir, precision, ...optional } = own; // (the order of the fields as listed in --json output)
  return {
    name,
    dir: path.resolve(dir),
    llama: { dim, layers, heads, vocab, ffnHidden },
    ...optional,
    adapterParameters,
    temperature: cfg.adapter.temperature,
    maxSeqLen: cfg.maxSeqLen,
    device: choice.device,
    deviceNote: describeChoice(choice),
    precision,
  };
}

export class LavinModel {
  /** Every parameter, read on first use when the model runs from a converted copy (training needs it). */
  private weightsLoading?: Promise<LoadedWeights>;
  /** The adapter tensors in use (checkpoint names, `module.` stripped). */
  private adapters: Map<string, HostTensor>;
  /** The adapter set the model folder names (for restoreAdapters). */
  private readonly baseAdapters: Map<string, HostTensor>;
  /** The last answer's KV rows: a chat's next turn repeats its prompt, so only the new part is computed. */
  private promptCache?: PromptCache;
  /** The last image's visual tokens, by a digest of its bytes (a follow-up about it skips the ViT). */
  private lastImage?: { digest: string; visualTokens: Float32Array };
  /** Whether visual tokens are fed: a backbone's only once a vision adapter set trained for it is in use. */
  private visionReady: boolean;
  /** How requests become tokens (sequence.ts); a backbone switches to LaVIN's layout with a vision set (what it was trained in). */
  private promptFamily: PromptFamily;
  private readonly ownFamily: PromptFamily;
  /** A backbone's CLIP file (`--clip`), for training. */
  clipFile?: string;
  private constructor(
    readonly info: ModelInfo,
    readonly runtime: LavinRuntime,
    readonly tokenizer: Tokenizer,
    /** The model folder's manifest; absent for a backbone opened from a GGUF file or Hugging Face folder. */
    readonly manifest: ModelManifest | undefined,
    /** The model folder as given to load(). */
    readonly dir: string,
    adapters: Map<string, HostTensor>,
    weights?: LoadedWeights,
    /** How requests become tokens (sequence.ts): LaVIN's layout, or a backbone's chat template / raw text. */
    family: PromptFamily = LAVIN_FAMILY,
  ) {
    this.promptFamily = this.ownFamily = family;
    this.visionReady = manifest !== undefined;
    this.adapters = adapters;
    this.baseAdapters = new Map(adapters);
    if (weights) this.weightsLoading = Promise.resolve(weights);
  }

  static async load(dir: string, opts: LoadOptions = {}): Promise<LavinModel> {
    const log = opts.log ?? (() => {});
    const choice = await chooseDevice(opts.device ?? 'auto', { log });
    const device = choice.device;
    if (isBackbonePath(dir)) return LavinModel.loadBackbone(dir, choice, opts);
    log(`loading model folder ${dir}`);
    const manifest = readManifest(dir);
    const precision: Precision = opts.precision ?? manifest.precision ?? 'fp32';
    if (!WEIGHT_FORMATS.includes(precision)) throw new Error(`precision "${precision}" is not one of ${WEIGHT_FORMATS.join(', ')}`);
    if (!manifest.tokenizer) throw new Error(`model folder ${dir}: model.json names no "tokenizer" (needed for text prompts)`);
    // Fused RMSNorm/RoPE kernels on the CPU (measured; golden-exact). GPU providers get the plain
    // standard ops, which every provider implements: correct by construction, unmeasured here (no GPU).
    const engine: Required<EngineOptions> = { weights: precision, kernels: device === 'cpu' ? 'fused' : 'plain' };
    if (precision === 'fp16' && device === 'cpu') {
      log('fp16 on the CPU: onnxruntime widens the weights to float32 when the model opens, so it runs at fp32 speed and memory with a slower start (bench, 1B: 8.6 s vs 1.2 s); int8 or int4 are faster here');
    }
    const session: SessionConfig = { device, threads: opts.threads, log };
    const converted = convertedDirFor(dir, engine.weights, engine.kernels);
    let runtime: LavinRuntime;
    let weights: LoadedWeights | undefined;
    let adapters: Map<string, HostTensor>;
    // Before the big allocations: a model that cannot fit is refused with the precisions that would.
    const checkMemory = (c: LavinConfig) => {
      if (device !== 'cpu') return;
      const warning = checkCpuMemory(c, engine.weights, manifest.name);
      if (warning) log(`warning: ${warning}`);
    };
    const fingerprint = sourceFingerprint(dir);
    // A copy converted earlier but now stale (an older converter, changed weights): the user chose to
    // convert this model, so convert again (resumable, the checkpoint read one linear weight at a
    // time) rather than fall back to quantising the whole checkpoint in memory (7B: 13.5 GB of fp16).
    if (!isConvertedCurrent(converted, fingerprint) && fs.existsSync(path.join(converted, CONVERTED_FILE))) {
      log(`the converted ${engine.weights} copy in ${converted} is out of date (an older LaVIN Code, or changed weights): converting it again`);
      try {
        let reported = '';
        await convertModelDir(dir, engine.weights, {
          kernels: engine.kernels,
          onProgress: (p) => {
            const quarter = Math.floor((4 * p.done) / Math.max(1, p.total)) * 25;
            const line = `converting: ${p.part} ${p.skipped ? 'kept' : p.phase === 'build' ? 'reading weights' : `written ${quarter}%`}`;
            if (line !== reported) log((reported = line));
          },
        });
      } catch (e) {
        log(`converting again failed (${(e as Error).message.split('\n')[0]}); using the weights from the checkpoint`);
      }
    }
    if (isConvertedCurrent(converted, fingerprint)) {
      // The converted ONNX files hold the backbones: the checkpoint itself is not read (memory).
      checkMemory(readConverted(converted).cfg);
      log(`opening the converted ${engine.weights} model in ${converted}`);
      runtime = await LavinRuntime.open(converted, session, { packed: opts.packedWeights === false ? 'use' : 'write', log });
      adapters = (await loadAdapter(resolveIn(dir, manifest.adapter))).tensors;
    } else {
      weights = await loadModelDir(dir);
      checkMemory(weights.cfg);
      if (engine.weights !== 'fp32') log(`quantising the LLaMA linears to ${engine.weights} in memory (convert the folder once to skip this at start-up)`);
      runtime = await LavinRuntime.create(weights.cfg, weights.tensors, session, engine);
      adapters = new Map(weights.adapterKeys.map((k) => [k, weights!.tensors.get(k)!]));
    }
    const cfg = runtime.cfg;
    const tokenizer = await LlamaTokenizer.fromFile(resolveIn(dir, manifest.tokenizer));
    if (tokenizer.nWords !== cfg.llama.vocab) {
      throw new Error(`tokenizer has ${tokenizer.nWords} pieces but the LLaMA embedding has ${cfg.llama.vocab} rows`);
    }
    const { width, layers, heads, patch, resolution } = visionOf(cfg);
    const info = modelInfoOf(cfg, adapters, choice, { name: manifest.name, dir, precision, clip: { width, layers, heads, patch, resolution } });
    log(`loaded ${info.name}: LLaMA ${cfg.llama.dim}x${cfg.llama.nLayers}, CLIP ${width}x${layers}, ${info.adapterParameters} adapter parameters, on ${device}`);
    return new LavinModel(info, runtime, tokenizer, manifest, dir, adapters, weights);
  }

  /**
   * A GGUF file or Hugging Face folder: the backbone with a fresh (identity) adapter set, its own
   * tokenizer, and no ViT (images are answered from the text path, with a note saying so).
   */
  private static async loadBackbone(file: string, choice: Awaited<ReturnType<typeof chooseDevice>>, opts: LoadOptions): Promise<LavinModel> {
    const log = opts.log ?? (() => {});
    const device: ExecutionDevice = choice.device;
    if (opts.precision && opts.precision !== 'fp32') log(`precision ${opts.precision} ignored: ${file} runs in its own tensor types`);
    log(`opening backbone ${file}`);
    // The CLIP first: a bad CLIP file fails before the backbone is read.
    let clip: LoadedClip | undefined;
    if (opts.clip) {
      clip = await loadBackboneClip(opts.clip);
      log(`CLIP ${opts.clip}: ${clip.source}, ViT ${clip.config.width}x${clip.config.layers}, ${clip.config.resolution} px, patch ${clip.config.patch}${clip.notes.length ? ` (${clip.notes.join('; ')})` : ''}`);
    }
    const { opened, tokenizer, family } = await openBackboneFiles(file);
    const { spec } = opened;
    if (device === 'cpu') {
      // The estimate's weight format closest to the file's (its quantised blocks stay as they are).
      const format = /^Q[2-5]/.test(spec.fileType ?? '') ? 'int4' : /^Q/.test(spec.fileType ?? '') ? 'int8' : 'fp32';
      try {
        const warning = checkCpuMemory(backboneConfig(spec.llama, spec.contextLength, undefined, clip && clipConfigOf(clip)), format, spec.name);
        if (warning) log(`warning: ${warning}`);
      } catch (e) {
        opened.close();
        throw e;
      }
    }
    const runtime = await backboneRuntime(opened, { device, threads: opts.threads }, device === 'cpu' ? 'fused' : 'plain', undefined, clip); // owns `opened` now
    const cfg = runtime.cfg;
    if (tokenizer.nWords > cfg.llama.vocab) {
      await runtime.dispose();
      throw new Error(`${file}: the tokenizer has ${tokenizer.nWords} tokens but the embedding table ${cfg.llama.vocab} rows`);
    }
    const adapters = new Map([...runtime.adapterTensors()]);
    const info = modelInfoOf(cfg, adapters, choice, {
      name: spec.name, dir: file, precision: 'fp32',
      backbone: { arch: spec.arch, source: spec.source.kind, path: spec.source.path, fileType: spec.fileType, ...(opts.clip ? { clip: path.resolve(opts.clip) } : {}) },
      ...(clip ? { clip: { width: clip.config.width, layers: clip.config.layers, heads: clip.config.heads, patch: clip.config.patch, resolution: clip.config.resolution } } : {}),
      visionNote: NO_VISION_NOTE,
    });
    log(`loaded ${spec.name}: ${spec.arch} ${cfg.llama.dim}x${cfg.llama.nLayers} (${cfg.llama.nHeads} heads, ${cfg.llama.nKvHeads} key/value heads)${spec.fileType ? `, ${spec.fileType}` : ''}, fresh adapters, ${clip ? 'CLIP without a trained vision set (images not seen yet)' : 'no vision tower'}, on ${device}`);
    const model = new LavinModel(info, runtime, tokenizer, undefined, file, adapters, undefined, family);
    if (opts.clip) model.clipFile = path.resolve(opts.clip);
    return model;
  }

  /** Whether the full checkpoint (backbones) is in host memory. */
  get weightsLoaded(): boolean {
    return this.weightsLoading !== undefined;
  }

  /** Every parameter under its official name, with the adapters in use (for training). */
  async loadWeights(): Promise<LoadedWeights> {
    this.promptCache = undefined; // training is the caller: free the conversation's KV rows (7B: up to 1 GB) first
    // A backbone's training weights are read from its file by train/backboneTraining.ts (quantised blocks kept).
    if (this.info.backbone) throw new Error(`${this.info.name} is a GGUF / Hugging Face backbone: its training weights come from its file (train/backboneTraining.ts), not from a model folder`);
    this.weightsLoading ??= loadModelDir(this.dir);
    const w = await this.weightsLoading;
    // (FFN adapters of a set used before this one must not stay behind in the cached tensors)
    for (const k of [...w.tensors.keys()]) if (isFfnAdapter(k) && !this.adapters.has(k)) w.tensors.delete(k);
    for (const [k, t] of this.adapters) w.tensors.set(k, t);
    return { ...w, adapterKeys: [...w.adapterKeys, ...[...this.adapters.keys()].filter((k) => isFfnAdapter(k) && !w.adapterKeys.includes(k))] };
  }

  /** Whether images reach the model: a backbone without a trained vision adapter set answers them from the text path. */
  get seesImages(): boolean {
    return this.runtime.cfg.clip !== undefined && this.visionReady;
  }

  /** How this model's requests become tokens now. */
  get family(): PromptFamily {
    return this.promptFamily;
  }

  /**
   * Prompt ids in this model's prompt family (sequence.ts); `visual` marks the placeholders. `raw`:
   * the text as given, tokenised as llama.cpp tokenises a raw prompt for this file.
   */
  promptIds(prompt: Prompt, withImage: boolean, raw = false): InferenceSequence {
    const family = raw ? RAW_FAMILY : this.family;
    // A backbone without a chat template takes a chat in LaVIN's instruction format, as plain text.
    const body = family.kind === 'raw' && typeof prompt !== 'string' && prompt.kind !== 'text' ? promptText(LAVIN_FAMILY, prompt) : prompt;
    return inferenceSequence(this.tokenizer, family, body, { image: withImage, nVisual: this.runtime.cfg.adapter.nVisualTokens });
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const t0 = performance.now();
    // Untrained visual tokens are never fed: without a vision adapter set the image is set aside, and the answer says so.
    // A raw prompt has no place for visual tokens either (sequence.ts): its image is set aside the same way.
    const withImage = req.image !== undefined && this.seesImages && req.raw !== true;
    const visionNote = req.image !== undefined && !withImage ? (this.seesImages ? RAW_IMAGE_NOTE : this.info.visionNote ?? NO_VISION_NOTE) : undefined;
    const visual = withImage ? await this.visualTokens(req.image!) : undefined;
    const visionMs = performance.now() - t0;
    const { ids, visual: slots, modality } = this.promptIds(req.prompt, withImage, req.raw);
    const room = this.runtime.cfg.maxSeqLen - ids.length;
    if (room <= 0) throw new Error(`prompt is ${ids.length} tokens; the context holds ${this.runtime.cfg.maxSeqLen}`);
    const decoder = this.tokenizer.createStreamDecoder();
    let text = '';
    const eos = this.tokenizer.eosId;
    const stopIds = this.tokenizer.stopIds;
    const reuse = this.promptCache;
    this.promptCache = undefined; // taken over by this call (its rows get extended in place)
    const r = await generateIds(this.runtime, {
      reuse,
      promptIds: ids,
      modality: modality ?? 'text', // without a modality token in the sequence, blocks are routed by the text table
      visual: visual && { tokens: visual, offset: slots!.offset },
      maxNewTokens: Math.min(req.maxNewTokens ?? 256, room),
      temperature: req.temperature ?? 0,
      topP: req.topP ?? 0.75,
      seed: req.seed,
      eosId: eos,
      stopIds,
      stopAtEos: req.stopAtEos ?? true,
      // Without a modality token (a backbone, a raw prompt) positions start at 0, each token at its own (as llama.cpp).
      firstPosition: modality ? 1 : 0,
      // A backbone's vision set was trained here, with training positions.
      positionMode: req.positionMode ?? (modality && this.manifest ? this.manifest.positionMode ?? 'reference' : 'consistent'),
      signal: req.signal,
      keepLogits: req.onLogits !== undefined,
      onToken: (id, index) => {
        const piece = id === eos || stopIds?.has(id) ? '' : decoder.push(id);
        text += piece;
        req.onToken?.({ id, text: piece, index });
      },
    });
    this.promptCache = r.promptCache;
    r.stepLogits.forEach((logits, index) => req.onLogits?.(logits, index));
    text += decoder.flush();
    const L = this.runtime.cfg.llama.nLayers;
    const routerWeights = Array.from({ length: L }, (_, l) => [r.routerWeights[2 * l], r.routerWeights[2 * l + 1]]);
    const decoded = r.tokens.length - 1;
    return {
      text,
      tokens: r.tokens,
      stopReason: r.stopReason,
      route: withImage ? 'image' : 'text',
      routerWeights,
      promptTokens: ids.length,
      reusedPromptTokens: r.reusedPromptTokens,
      ...(visionNote ? { visionNote } : {}),
      timings: { visionMs, prefillMs: r.prefillMs, decodeMs: r.decodeMs, decodeTokensPerSecond: decoded > 0 ? (decoded * 1000) / r.decodeMs : 0 },
    };
  }

  /**
   * Run with another adapter set of this model (names as in the checkpoint, `module.` stripped):
   * swapped into the running sessions; the backbones are not touched or reloaded.
   */
  setAdapters(given: ReadonlyMap<string, HostTensor>, opts: { vision?: boolean } = {}): void {
    // A backbone's text-only set (no CLIP adapters) runs with the fresh CLIP adapters of a CLIP loaded beside it.
    let adapters = given;
    if (this.info.backbone) {
      const filled = new Map(given);
      for (const [k, t] of this.baseAdapters) if (!filled.has(k) && isVisionAdapter(k)) filled.set(k, t);
      adapters = filled;
    }
    this.runtime.setAdapters(adapters);
    if (this.info.backbone) {
      // A backbone sees images only with a set trained on them for it (and its CLIP), in LaVIN's layout.
      this.visionReady = opts.vision === true && this.runtime.cfg.clip !== undefined;
      this.promptFamily = this.visionReady ? LAVIN_FAMILY : this.ownFamily;
      if (this.visionReady) delete this.info.visionNote;
      else this.info.visionNote = NO_VISION_NOTE;
    }
    this.promptCache = undefined; // rows and visual tokens were computed with the old adapters
    this.lastImage = undefined;
    // The model's own names, and the FFN adapters of a set that has them (lavin.ts FFN_ADAPTER).
    const names = [...this.baseAdapters.keys(), ...[...adapters.keys()].filter((k) => isFfnAdapter(k) && !this.baseAdapters.has(k))];
    this.adapters = new Map(names.map((k) => [k, adapters.get(k)!]));
  }

  /** Visual tokens of an encoded image; the ViT runs again only for different bytes. */
  private async visualTokens(image: Uint8Array): Promise<Float32Array> {
    const digest = crypto.createHash('sha256').update(image).digest('hex');
    if (this.lastImage?.digest === digest) return this.lastImage.visualTokens;
    const { visualTokens } = await this.runtime.encodeImage(await preprocessImage(image, { size: visionOf(this.runtime.cfg).resolution }));
    this.lastImage = { digest, visualTokens };
    return visualTokens;
  }

  /** Back to the adapters the model folder names. */
  restoreAdapters(): void {
    this.setAdapters(this.baseAdapters, { vision: this.manifest !== undefined });
  }

  async dispose(): Promise<void> {
    await this.runtime.dispose();
  }
}
