// A loaded LaVIN model behind the text-level API: prompt layout, image path, streaming text.

import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { Device, GenerateRequest, GenerateResult, LoadOptions, ModelInfo, Precision } from './api';
import { generateIds } from './generate';
import { preprocessImage } from './image';
import { loadModelDir, LoadedWeights } from './modelDir';
import { LavinRuntime } from './runtime';
import { ExecutionDevice } from './session';
import { LlamaTokenizer } from './tokenizer';

export const IMAGE_PREFIX = 'Image: ';
export const TEXT_PREFIX = 'Image: N/A';

export class LavinModel {
  private constructor(
    readonly info: ModelInfo,
    readonly runtime: LavinRuntime,
    readonly tokenizer: LlamaTokenizer,
    readonly weights: LoadedWeights,
  ) {}

  static async load(dir: string, opts: LoadOptions = {}): Promise<LavinModel> {
    const log = opts.log ?? (() => {});
    const precision: Precision = opts.precision ?? 'fp32';
    if (precision !== 'fp32') throw new Error(`precision ${precision} is not available in this build (fp32 only)`);
    const device = resolveDevice(opts.device ?? 'auto');
    log(`loading model folder ${dir}`);
    const weights = await loadModelDir(dir);
    if (!weights.tokenizerPath) throw new Error(`model folder ${dir}: model.json names no "tokenizer" (needed for text prompts)`);
    const tokenizer = await LlamaTokenizer.fromFile(weights.tokenizerPath);
    if (tokenizer.nWords !== weights.cfg.llama.vocab) {
      throw new Error(`tokenizer has ${tokenizer.nWords} pieces but the LLaMA embedding has ${weights.cfg.llama.vocab} rows`);
    }
    const runtime = await LavinRuntime.create(weights.cfg, weights.tensors, { device, threads: opts.threads });
    const { cfg } = weights;
    let adapterParameters = 0;
    for (const k of weights.adapterKeys) adapterParameters += weights.tensors.get(k)!.shape.reduce((a, d) => a * d, 1);
    const info: ModelInfo = {
      name: weights.manifest.name,
      dir: path.resolve(dir),
      llama: { dim: cfg.llama.dim, layers: cfg.llama.nLayers, heads: cfg.llama.nHeads, vocab: cfg.llama.vocab, ffnHidden: cfg.llama.ffnHidden },
      clip: { width: cfg.clip.width, layers: cfg.clip.layers, heads: cfg.clip.heads, patch: cfg.clip.patch, resolution: cfg.clip.resolution },
      adapterParameters,
      temperature: cfg.adapter.temperature,
      maxSeqLen: cfg.maxSeqLen,
      device,
      precision,
    };
    log(`loaded ${info.name}: LLaMA ${cfg.llama.dim}x${cfg.llama.nLayers}, CLIP ${cfg.clip.width}x${cfg.clip.layers}, ${adapterParameters} adapter parameters, on ${device}`);
    return new LavinModel(info, runtime, tokenizer, weights);
  }

  /** Prompt ids as the reference generator lays them out; `visualOffset` marks the placeholders. */
  promptIds(prompt: string, withImage: boolean): { ids: number[]; visualOffset?: number } {
    const n = this.runtime.cfg.adapter.nVisualTokens;
    if (withImage) {
      const prefix = this.tokenizer.encode(IMAGE_PREFIX, { bos: true });
      return { ids: [...prefix, ...new Array<number>(n).fill(0), ...this.tokenizer.encode(prompt)], visualOffset: prefix.length };
    }
    return { ids: [...this.tokenizer.encode(TEXT_PREFIX, { bos: true }), ...this.tokenizer.encode(prompt)] };
  }

  async generate(req: GenerateRequest): Promise<GenerateResult> {
    const t0 = performance.now();
    const withImage = req.image !== undefined;
    const visual = withImage ? (await this.runtime.encodeImage(await preprocessImage(req.image!, { size: this.runtime.cfg.clip.resolution }))).visualTokens : undefined;
    const visionMs = performance.now() - t0;
    const { ids, visualOffset } = this.promptIds(req.prompt, withImage);
    const room = this.runtime.cfg.maxSeqLen - ids.length;
    if (room <= 0) throw new Error(`prompt is ${ids.length} tokens; the context holds ${this.runtime.cfg.maxSeqLen}`);
    const decoder = this.tokenizer.createStreamDecoder();
    let text = '';
    const eos = this.tokenizer.eosId;
    const r = await generateIds(this.runtime, {
      promptIds: ids,
      modality: withImage ? 'image' : 'text',
      visual: visual && { tokens: visual, offset: visualOffset! },
      maxNewTokens: Math.min(req.maxNewTokens ?? 256, room),
      temperature: req.temperature ?? 0,
      topP: req.topP ?? 0.75,
      seed: req.seed,
      eosId: eos,
      stopAtEos: req.stopAtEos ?? true,
      positionMode: req.positionMode ?? this.weights.manifest.positionMode ?? 'reference',
      signal: req.signal,
      onToken: (id, index) => {
        const piece = id === eos ? '' : decoder.push(id);
        text += piece;
        req.onToken?.({ id, text: piece, index });
      },
    });
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
      timings: { visionMs, prefillMs: r.prefillMs, decodeMs: r.decodeMs, decodeTokensPerSecond: decoded > 0 ? (decoded * 1000) / r.decodeMs : 0 },
    };
  }

  async dispose(): Promise<void> {
    await this.runtime.dispose();
  }
}

/** The execution provider for a device setting; 'auto' prefers a GPU the runtime can use. */
export function resolveDevice(requested: Device): ExecutionDevice {
  const backends = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  const has = (name: string) => backends.some((b) => b.name === name);
  if (requested === 'cpu') return 'cpu';
  if (requested === 'auto') return 'cpu';
  if (!has(requested)) {
    throw new Error(`device ${requested} is not available in this onnxruntime-node install (available: ${backends.map((b) => b.name).join(', ')}); see README "GPU"`);
  }
  return requested;
}
