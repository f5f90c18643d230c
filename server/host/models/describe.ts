// One discovered model from the files themselves: a GGUF file (through the engine's GGUF reader), a
// Hugging Face folder (config.json through the engine's hfFolder.ts, safetensors headers) or a LaVIN
// model folder (model.json).
// Anything wrong becomes the model's one-line `problem`; nothing here throws.

import * as path from 'path';
import { ModelDirError, readManifest, resolveIn } from '../../engine/modelDir';
import { WeightFormat } from '../../engine/quant';
import { openLlama, openTensorFile } from '../../engine/weights';
import { expectedBackboneShapes } from '../../engine/weights/backbone';
import { engineNameOfHf, hfSpecOf } from '../../engine/weights/hfFolder';
import type { DiscoveredModel } from '../../protocol';
import { decoderParameters, DecoderShape, ESTIMATE_CONTEXT, Machine, memoryFit, weightFormatOf } from './memoryFit';
import { fileSize, firstLine, listDir, readSmallText, ScanBudget } from './walk';

/** What discovery needs from a GGUF file's metadata (the fields of weights/backbone.ts's BackboneSpec it uses). */
export interface BackboneFacts {
  arch: string;
  name?: string;
  contextLength?: number;
  /** general.file_type by name: Q4_K_M, Q8_0, F16 ... */
  fileType?: string;
  llama?: DecoderShape & { qkvBias?: boolean; tiedEmbeddings?: boolean };
  /** Elements of every tensor in the file, when the reader counted them. */
  parameters?: number;
  /** Bytes the engine holds for the weights once the file is opened (counted tensor by tensor). */
  weightBytes?: number;
}

/** A reader's error for a file it cannot use, carrying what it did read (architecture ...) for the listing. */
export class UnusableFileError extends Error {
  constructor(message: string, readonly partial: Partial<BackboneFacts>) {
    super(message);
    this.name = 'UnusableFileError';
  }
}

/** Reads a GGUF file's facts; throws a one-line error naming the file when it cannot be used. */
export type SpecReader = (file: string) => Promise<BackboneFacts>;

export interface DescribeContext {
  readGguf: SpecReader;
  machine?: Machine;
  budget: ScanBudget;
}

type Base = Pick<DiscoveredModel, 'name' | 'source'> & Partial<DiscoveredModel>;

const unknownMemory: DiscoveredModel['memory'] = { fits: 'unknown' };

/** A GGUF model file; `base.sizeBytes` (when given) counts its shards and vision tower too. */
export async function describeGguf(file: string, base: Base, ctx: DescribeContext): Promise<DiscoveredModel> {
  const model: DiscoveredModel = { sizeBytes: (await fileSize(file)) ?? 0, memory: unknownMemory, ...base, format: 'gguf', path: file };
  if (model.problem) return model;
  let facts: BackboneFacts;
  try {
    facts = await ctx.readGguf(file);
  } catch (e) {
    const partial = e instanceof UnusableFileError ? e.partial : {};
    return { ...model, architecture: partial.arch ?? model.architecture, quantization: partial.fileType ?? model.quantization, parameters: partial.parameters, problem: firstLine(e) };
  }
  const context = Math.min(facts.contextLength || ESTIMATE_CONTEXT, ESTIMATE_CONTEXT);
  return {
    ...model,
    architecture: facts.arch,
    quantization: facts.fileType ?? model.quantization,
    contextLength: facts.contextLength,
    parameters: facts.parameters ?? (facts.llama ? decoderParameters(facts.llama) : undefined),
    // Text only: a GGUF backbone runs without a ViT in this build (engine/backboneModel.ts), its vision tower unused.
    // Without the weights' own count (a test reader), the format's estimate, embedding table included.
    memory: facts.llama ? memoryFit(facts.llama, weightFormatOf(facts.fileType), context, { machine: ctx.machine, visionBytes: 0, weightBytes: facts.weightBytes, label: facts.fileType }) : unknownMemory,
  };
}

/** The config.json fields shown even when the model cannot be used (the rest is hfSpecOf's). */
interface HfConfig {
  model_type?: unknown; architectures?: unknown; torch_dtype?: unknown; dtype?: unknown; max_position_embeddings?: unknown;
}

const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined);

/** A Hugging Face folder: config.json, then model.safetensors or the shards its index names. */
export async function describeHfFolder(dir: string, base: Base, ctx: DescribeContext): Promise<DiscoveredModel> {
  const model: DiscoveredModel = { sizeBytes: 0, memory: unknownMemory, ...base, format: 'hf', path: dir };
  const fail = (problem: string): DiscoveredModel => ({ ...model, problem });
  const configFile = path.join(dir, 'config.json');
  const text = await readSmallText(configFile);
  if ('reason' in text) return fail(text.reason);
  let cfg: HfConfig;
  try {
    const raw = JSON.parse(text.text) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
    cfg = raw as HfConfig;
  } catch (e) {
    return fail(`${configFile} is not valid JSON: ${firstLine(e)}`);
  }
  const modelType = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
  const dtype = typeof cfg.torch_dtype === 'string' ? cfg.torch_dtype : typeof cfg.dtype === 'string' ? cfg.dtype : undefined;
  model.architecture = modelType ?? (Array.isArray(cfg.architectures) && typeof cfg.architectures[0] === 'string' ? cfg.architectures[0] : undefined);
  model.quantization = dtype ? hfDtypeName(dtype) : undefined;
  model.contextLength = int(cfg.max_position_embeddings);

  const shards = await hfShards(dir, ctx.budget);
  if ('problem' in shards) return fail(shards.problem);
  let parameters = 0;
  const tensors = new Map<string, { shape: number[]; dtype: string; file: string }>();
  for (const shard of shards.files) {
    const size = await fileSize(shard);
    if (size === undefined) return fail(`missing shard ${path.basename(shard)} in ${dir}${shards.index ? ` (named by ${path.basename(shards.index)})` : ''}`);
    model.sizeBytes += size;
    try {
      const f = await openTensorFile(shard);
      try {
        for (const name of f.names()) {
          const info = f.info(name);
          parameters += info.shape.reduce((a, d) => a * d, 1);
          const engineName = engineNameOfHf(name);
          if (engineName) tensors.set(engineName, { ...info, file: shard });
        }
      } finally {
        await f.close();
      }
    } catch (e) {
      return fail(firstLine(e));
    }
  }
  model.parameters = parameters;
  // The loader's own reading of config.json (engine/weights/hfFolder.ts) decides what is supported.
  let spec: ReturnType<typeof hfSpecOf>;
  try {
    spec = hfSpecOf(dir, cfg as Record<string, unknown>);
  } catch (e) {
    return fail(firstLine(e));
  }
  model.architecture = modelType ?? spec.arch; // mistral stays mistral in the listing, though it runs as llama
  // What openHfFolder checks before reading: every tensor there, its shape, a float dtype. (Like it,
  // a config without tie_word_embeddings and a folder without lm_head means a tied head.)
  if ((cfg as { tie_word_embeddings?: unknown }).tie_word_embeddings === undefined && !tensors.has('output.weight')) spec.llama = { ...spec.llama, tiedEmbeddings: true };
  for (const [name, shape] of expectedBackboneShapes({ ...spec, nParams: parameters })) {
    const t = tensors.get(name);
    if (!t) return fail(`${dir}: the model's tensor ${name} is in none of its safetensors files`);
    if (t.shape.join(',') !== shape.join(',')) return fail(`${t.file}: ${name} is [${t.shape}], config.json says [${shape}]`);
    if (!['float32', 'float16', 'bfloat16'].includes(t.dtype)) return fail(`${t.file}: ${name} is ${t.dtype} (bf16, fp16 and fp32 are read)`);
  }
  model.contextLength = spec.contextLength;
  const context = Math.min(spec.contextLength, ESTIMATE_CONTEXT);
  model.memory = memoryFit(spec.llama, weightFormatOf(model.quantization), context, { machine: ctx.machine, visionBytes: 0 });
  return model;
}

function hfDtypeName(dtype: string): string {
  const names: Record<string, string> = { bfloat16: 'BF16', float16: 'F16', half: 'F16', float32: 'F32', float: 'F32' };
  return names[dtype] ?? dtype;
}

/** The safetensors files a Hugging Face folder's weights live in. */
async function hfShards(dir: string, budget: ScanBudget): Promise<{ files: string[]; index?: string } | { problem: string }> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  const index = await readSmallText(indexFile, 64 * 1024 * 1024);
  if ('text' in index) {
    let files: string[];
    try {
      const map = (JSON.parse(index.text) as { weight_map?: Record<string, unknown> }).weight_map;
      if (typeof map !== 'object' || map === null) throw new Error('no "weight_map" object');
      files = [...new Set(Object.values(map))].map((f) => {
        if (typeof f !== 'string' || f.includes('..') || path.isAbsolute(f)) throw new Error(`weight_map names ${JSON.stringify(f)}`);
        return path.join(dir, f);
      });
    } catch (e) {
      return { problem: `${indexFile} is not a usable index: ${firstLine(e)}` };
    }
    if (files.length === 0) return { problem: `${indexFile} names no shards` };
    return { files: files.sort(), index: indexFile };
  }
  const entries = await listDir(dir, budget);
  if (typeof entries === 'string') return { problem: entries };
  const names = entries.map((e) => e.name);
  const safetensors = entries.filter((e) => e.name.endsWith('.safetensors') && e.kind !== 'dir').map((e) => e.full);
  if (safetensors.length) return { files: safetensors };
  if (names.some((n) => /^pytorch_model.*\.bin$/.test(n))) return { problem: `${dir} has only PyTorch .bin weights; this build reads safetensors` };
  return { problem: `${dir} has no model.safetensors (nor an index of shards)` };
}

/** A LaVIN model folder (model.json): its LLaMA folder's geometry, the CLIP file's parameters. */
export async function describeLavinFolder(dir: string, base: Base, ctx: DescribeContext): Promise<DiscoveredModel> {
  const model: DiscoveredModel = { sizeBytes: 0, memory: unknownMemory, architecture: 'llama', ...base, format: 'lavin', path: dir };
  try {
    const manifest = readManifest(dir);
    model.name = manifest.name;
    const format: WeightFormat = manifest.precision ?? 'fp32';
    model.quantization = format;
    const llama = await openLlama(resolveIn(dir, manifest.llama));
    const p = llama.params;
    await llama.close();
    let visionParameters = 0;
    const clip = await openTensorFile(resolveIn(dir, manifest.clip));
    try {
      for (const name of clip.names()) visionParameters += clip.info(name).shape.reduce((a, d) => a * d, 1);
    } finally {
      await clip.close();
    }
    const shape: DecoderShape = { dim: p.dim, nLayers: p.nLayers, nHeads: p.nHeads, headDim: p.headDim, ffnHidden: p.ffnHidden, vocab: p.vocabSize };
    model.parameters = decoderParameters(shape);
    model.contextLength = manifest.maxSeqLen ?? 512;
    for (const f of [...llama.shards, resolveIn(dir, manifest.clip), resolveIn(dir, manifest.adapter), ...(manifest.tokenizer ? [resolveIn(dir, manifest.tokenizer)] : [])]) {
      model.sizeBytes += (await fileSize(f)) ?? 0;
    }
    model.memory = memoryFit(shape, format, model.contextLength, { machine: ctx.machine, visionBytes: 4 * visionParameters });
    return model;
  } catch (e) {
    return { ...model, problem: e instanceof ModelDirError ? e.message : `model folder ${dir}: ${firstLine(e)}` };
  }
}
