// The product's model folder: a `model.json` manifest naming the LLaMA weights, CLIP weights,
// LaVIN adapter checkpoint and tokenizer. Paths are relative to the folder (or absolute).

import * as fs from 'fs';
import * as path from 'path';
import { PositionMode, Precision } from './api';
import { LavinConfig, llama1Backbone, tapProjection, visionOf } from './lavin';
import { HostTensor, numel } from './tensor';
import { LlamaParams, loadAdapter, loadClip, openLlama } from './weights';
import { VISUAL_PREFIX } from './lavin';

export const MANIFEST_FILE = 'model.json';

export interface ModelManifest {
  format: 'lavin-code-model';
  version: 1;
  name: string;
  /** Folder with Meta's params.json and consolidated.NN.pth. */
  llama: string;
  /** OpenAI CLIP .pth (visual or full state dict) or Hugging Face CLIP .safetensors. */
  clip: string;
  /** ViT heads when the CLIP file cannot say (OpenAI files; default width / 64). */
  clipHeads?: number;
  /** LaVIN adapter checkpoint (.pth with 'model' and 'args'). */
  adapter: string;
  /** SentencePiece tokenizer.model; absent for id-only fixtures. */
  tokenizer?: string;
  /** Decode positions: 'reference' for official checkpoints, 'consistent' for our own adapters. */
  positionMode?: PositionMode;
  maxSeqLen?: number;
  /** Weight format to run in when the caller does not say; `lavin convert` writes the matching copy. */
  precision?: Precision;
  description?: string;
}

export interface LoadedWeights {
  manifest: ModelManifest;
  dir: string;
  cfg: LavinConfig;
  /** Every parameter under its official name (CLIP under `backbone.visual.`). */
  tensors: Map<string, HostTensor>;
  /** Adapter parameter names in checkpoint order. */
  adapterKeys: string[];
  tokenizerPath?: string;
}

export class ModelDirError extends Error {
  constructor(dir: string, detail: string) {
    super(`model folder ${dir}: ${detail}`);
    this.name = 'ModelDirError';
  }
}

export function readManifest(dir: string): ModelManifest {
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) throw new ModelDirError(dir, `no ${MANIFEST_FILE} (a model folder needs one; see README "Model folders")`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelDirError(dir, `${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  const m = raw as Partial<ModelManifest>;
  if (typeof m !== 'object' || m === null || m.format !== 'lavin-code-model') throw new ModelDirError(dir, `${MANIFEST_FILE}: "format" must be "lavin-code-model"`);
  if (m.version !== 1) throw new ModelDirError(dir, `${MANIFEST_FILE}: unsupported version ${String(m.version)} (this build reads 1)`);
  for (const key of ['name', 'llama', 'clip', 'adapter'] as const) {
    if (typeof m[key] !== 'string' || !m[key]) throw new ModelDirError(dir, `${MANIFEST_FILE}: "${key}" must be a non-empty string`);
  }
  if (m.positionMode !== undefined && m.positionMode !== 'reference' && m.positionMode !== 'consistent') {
    throw new ModelDirError(dir, `${MANIFEST_FILE}: "positionMode" must be "reference" or "consistent"`);
  }
  if (m.precision !== undefined && !['fp32', 'fp16', 'int8', 'int4'].includes(m.precision)) {
    throw new ModelDirError(dir, `${MANIFEST_FILE}: "precision" must be fp32, fp16, int8 or int4`);
  }
  return m as ModelManifest;
}

/** A manifest path: relative to the model folder, or absolute. */
export function resolveIn(dir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.join(dir, p);
}

/** Load and cross-check every weight file a manifest names. */
export async function loadModelDir(dir: string): Promise<LoadedWeights> {
  const opened = await openModelDir(dir, { deferLinears: false });
  await opened.close();
  const { manifest, cfg, tensors, adapterKeys, tokenizerPath } = opened;
  return { manifest, dir, cfg, tensors, adapterKeys, tokenizerPath };
}

/** A model folder whose LLaMA linear weights may still be in the checkpoint (see openModelDir). */
export interface OpenedWeights extends LoadedWeights {
  /** Read one parameter from the checkpoint (deferred ones included) while the folder is open. */
  read(name: string): Promise<HostTensor>;
  close(): Promise<void>;
}

/** The LLaMA weights that dominate a checkpoint: every block's projections and the LM head. */
const LLAMA_LINEAR = /^(layers\.\d+\.(attention\.w[qkvo]|feed_forward\.w[123])|output)\.weight$/;

/**
 * Like loadModelDir, and with `deferLinears` the LLaMA linear weights stay in the checkpoint: their
 * entries carry dtype and shape but no data until `read` fetches one. Converting LaVIN-7B to int4
 * then holds one fp16 weight at a time, not the whole 13.5 GB checkpoint. Close when done.
 */
export async function openModelDir(dir: string, opts: { deferLinears: boolean }): Promise<OpenedWeights> {
  const manifest = readManifest(dir);
  const llamaDir = resolveIn(dir, manifest.llama);
  const clipPath = resolveIn(dir, manifest.clip);
  const adapterPath = resolveIn(dir, manifest.adapter);
  for (const [what, p] of [['llama', llamaDir], ['clip', clipPath], ['adapter', adapterPath]] as const) {
    if (!fs.existsSync(p)) throw new ModelDirError(dir, `${what} path ${p} does not exist`);
  }
  const tokenizerPath = manifest.tokenizer ? resolveIn(dir, manifest.tokenizer) : undefined;
  if (tokenizerPath && !fs.existsSync(tokenizerPath)) throw new ModelDirError(dir, `tokenizer ${tokenizerPath} does not exist`);

  const ckpt = await openLlama(llamaDir);
  try {
    const llamaTensors = new Map<string, HostTensor>();
    for (const name of ckpt.names()) {
      if (opts.deferLinears && LLAMA_LINEAR.test(name)) {
        const { dtype, shape } = ckpt.info(name);
        llamaTensors.set(name, { dtype, shape, data: new Uint8Array(0) });
      } else {
        llamaTensors.set(name, await ckpt.read(name));
      }
    }
    const llama = { params: ckpt.params, tensors: llamaTensors, ignored: ckpt.ignored };
    const clip = await loadClip(clipPath, { heads: manifest.clipHeads });
    const adapter = await loadAdapter(adapterPath);
    const cfg = configFrom({ llama, clip, adapter }, manifest.maxSeqLen);

    const tensors = new Map<string, HostTensor>(llama.tensors);
    for (const [k, t] of clip.tensors) tensors.set(VISUAL_PREFIX + k, t);
    for (const [k, t] of adapter.tensors) tensors.set(k, t);
    checkAdapterFits(dir, cfg, tensors, adapterPath);
    const read = async (name: string): Promise<HostTensor> => {
      const t = tensors.get(name);
      if (t && (t.data.byteLength > 0 || numel(t.shape) === 0)) return t;
      return ckpt.read(name);
    };
    return { manifest, dir, cfg, tensors, adapterKeys: adapter.keys, tokenizerPath, read, close: () => ckpt.close() };
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}

type Loaded = {
  llama: { params: LlamaParams; tensors: Map<string, HostTensor>; ignored: string[] };
  clip: Awaited<ReturnType<typeof loadClip>>;
  adapter: Awaited<ReturnType<typeof loadAdapter>>;
};

/** Model geometry from the weights themselves; only what no tensor stores comes from args. */
export function configFrom({ llama, clip, adapter }: Loaded, maxSeqLen?: number): LavinConfig {
  const p = llama.params;
  const convA = adapter.tensors.get('layers.0.adapter_attn.conv_A.weight');
  const convB = adapter.tensors.get('layers.0.adapter_attn.conv_B.weight');
  if (!convA || !convB) throw new Error('adapter checkpoint has no layers.0.adapter_attn (is it a LaVIN adapter checkpoint?)');
  const hidden = convA.shape[0];
  const groups = hidden / convB.shape[1];
  return {
    llama: { dim: p.dim, nLayers: p.nLayers, nHeads: p.nHeads, headDim: p.headDim, ffnHidden: p.ffnHidden, vocab: p.vocabSize, normEps: p.normEps, ropeTheta: 10000, ...llama1Backbone(p.nHeads) },
    clip: { width: clip.config.width, layers: clip.config.layers, heads: clip.config.heads, patch: clip.config.patch, resolution: clip.config.resolution, layerNormEps: clip.config.layerNormEps },
    adapter: { hidden, groups, scale: adapter.args.adapterScale ?? 1, temperature: adapter.args.temperature, nVisualTokens: adapter.args.nPrompt ?? 6 },
    maxSeqLen: maxSeqLen ?? adapter.args.maxSeqLen ?? 512,
  };
}

/** The adapter must match the backbones it is attached to: name every mismatch. */
function checkAdapterFits(dir: string, cfg: LavinConfig, tensors: Map<string, HostTensor>, adapterPath: string): void {
  const expect = (name: string, shape: number[]) => {
    const t = tensors.get(name);
    if (!t) throw new ModelDirError(dir, `${path.basename(adapterPath)} lacks ${name}`);
    if (t.shape.join(',') !== shape.join(',')) {
      throw new ModelDirError(dir, `${path.basename(adapterPath)}: ${name} has shape [${t.shape}], the backbones need [${shape}] (adapter for another model size?)`);
    }
  };
  const { dim, nLayers } = cfg.llama;
  const { width, layers } = visionOf(cfg);
  const h = cfg.adapter.hidden;
  for (let l = 0; l < nLayers; l++) expect(`layers.${l}.adapter_attn.conv_A.weight`, [h, dim, 1]);
  for (let l = 0; l < layers; l++) expect(`${VISUAL_PREFIX}transformer.resblocks.${l}.adapter_attn.conv_A.weight`, [h, width, 1]);
  const proj = tensors.get('adapter_proj.conv_A.weight');
  if (!proj) throw new ModelDirError(dir, `${path.basename(adapterPath)} lacks adapter_proj.conv_A.weight`);
  expect('adapter_proj.conv_A.weight', [proj.shape[0], width]);
  expect('adapter_proj.conv_B.weight', [dim, proj.shape[0]]);
  // the taps' own input layers (lavin.ts tapProjection), when the set has them
  if (tensors.has(tapProjection(0, 'weight'))) for (let k = 0; k < cfg.adapter.nVisualTokens; k++) expect(tapProjection(k, 'weight'), [proj.shape[0], width]);
  expect('adapter_modality_embedding.weight', [2, dim]);
  if (visionOf(cfg).layers % cfg.adapter.nVisualTokens !== 0) {
    throw new ModelDirError(dir, `CLIP has ${visionOf(cfg).layers} blocks, not a multiple of ${cfg.adapter.nVisualTokens} visual tokens`);
  }
}
