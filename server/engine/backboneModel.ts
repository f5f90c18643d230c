// A language backbone from the files people already have (a GGUF file, a Hugging Face folder) run
// as a LaVIN model: the one model definition with the file's hyper-parameters, a fresh adapter set
// on every block (the identity, so the logits are the backbone's own), and optionally a CLIP the
// user names (`--clip`: OpenAI, Hugging Face or a LLaVA mmproj GGUF) with fresh CLIP adapters and a
// visual projection sized to the backbone. Untrained visual tokens are never fed: the model sees
// images only once a vision adapter set trained for this backbone and CLIP is swapped in.

import * as fs from 'fs';
import * as path from 'path';
import { AdapterConfig, ClipConfig, LavinConfig, LlamaConfig, VISUAL_PREFIX } from './lavin';
import { EngineOptions, LavinRuntime } from './runtime';
import { SessionConfig } from './session';
import { PromptFamily } from './sequence';
import { HostTensor, fromFloat32, toFloat32 } from './tensor';
import { isSentencePieceStyle, modelChatRenderer, SentencePieceModelTokenizer, Tokenizer, tokenizerFromGguf, tokenizerFromHfFolder } from './tokenizer';
import { OpenedBackbone, openBackbone } from './weights/backbone';
import { loadClipSource, type LoadedClip } from './weights/clip';

/** What an answer says when it was given an image it could not use. */
export const NO_VISION_NOTE = 'no vision adapter set is trained for this backbone yet, so the image was not used: this is the text-only answer';

/** LaVIN's adapter shape (bottleneck 8 in 2 groups; LaVIN-7B's router temperature). */
export const BACKBONE_ADAPTER: AdapterConfig = { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 };

/**
 * Longest context a backbone is opened with (its own when shorter): the RoPE tables cover twice
 * it, and a 128k-token model would spend 128 MB on them for prompts that are rarely that long.
 */
export const DEFAULT_BACKBONE_CONTEXT = 4096;

/** A path that holds a backbone rather than a LaVIN model folder (model.json). */
export function isBackbonePath(p: string): boolean {
  if (!fs.existsSync(p)) return false;
  if (fs.statSync(p).isFile()) return /\.gguf$/i.test(p) || isGgufFile(p);
  return !fs.existsSync(path.join(p, 'model.json')) && fs.existsSync(path.join(p, 'config.json'));
}

function isGgufFile(p: string): boolean {
  const fd = fs.openSync(p, 'r');
  try {
    const magic = Buffer.alloc(4);
    return fs.readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A fresh LLM adapter set for a backbone, as LaVIN starts one: up-projections (conv_B, conv_D) and
 * every bias zero, so each adapter returns its input and the router's weights do not matter.
 * conv_A is Xavier-uniform (from a fixed seed) so that training can start from this set; the
 * router and the modality embedding start at zero (no modality token enters a backbone's sequence).
 */
export function freshAdapterSet(llama: Pick<LlamaConfig, 'dim' | 'nLayers'>, a: AdapterConfig = BACKBONE_ADAPTER): Map<string, HostTensor> {
  const { dim, nLayers } = llama;
  const out = new Map<string, HostTensor>();
  let seed = 0x1a2b3c4d;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  const bound = Math.sqrt(6 / (dim + a.hidden));
  const put = (name: string, shape: number[], values?: (i: number) => number) => {
    const n = shape.reduce((p, d) => p * d, 1);
    out.set(name, fromFloat32(values ? Float32Array.from({ length: n }, (_, i) => values(i)) : new Float32Array(n), shape));
  };
  for (let l = 0; l < nLayers; l++) {
    const p = `layers.${l}.adapter_attn`;
    put(`${p}.conv_A.weight`, [a.hidden, dim, 1], () => uniform() * bound);
    put(`${p}.conv_A.bias`, [a.hidden]);
    for (const up of ['conv_B', 'conv_D']) {
      put(`${p}.${up}.weight`, [dim, a.hidden / a.groups, 1]);
      put(`${p}.${up}.bias`, [dim]);
    }
    put(`${p}.expert_weights.weight`, [2, dim]);
    put(`${p}.expert_weights.bias`, [2]);
  }
  put('adapter_modality_embedding.weight', [2, dim]);
  return out;
}

/** LaVIN's visual projection bottleneck (AdapterMLP hidden_proj, 128 in LaVIN-7B/13B). */
export const LAVIN_HIDDEN_PROJ = 128;

/**
 * Fresh CLIP adapters (one router adapter per ViT block, the identity like the LLM's) and a visual
 * projection W -> 128 -> dim whose output layer is zero: the visual tokens of an untrained set are
 * zero vectors. Training starts from LaVIN's own initialisation (train/init.ts) whatever these are.
 */
export function freshVisionAdapters(clip: Pick<ClipConfig, 'width' | 'layers'>, dim: number, a: AdapterConfig = BACKBONE_ADAPTER): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  let seed = 0x5eed1e55;
  const uniform = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) * 2 - 1;
  const put = (name: string, shape: number[], bound = 0) => {
    const n = shape.reduce((p, d) => p * d, 1);
    out.set(name, fromFloat32(Float32Array.from({ length: n }, () => (bound ? uniform() * bound : 0)), shape));
  };
  const W = clip.width;
  for (let l = 0; l < clip.layers; l++) {
    const p = `${VISUAL_PREFIX}transformer.resblocks.${l}.adapter_attn`;
    put(`${p}.conv_A.weight`, [a.hidden, W, 1], Math.sqrt(6 / (W + a.hidden)));
    put(`${p}.conv_A.bias`, [a.hidden]);
    for (const up of ['conv_B', 'conv_D']) {
      put(`${p}.${up}.weight`, [W, a.hidden / a.groups, 1]);
      put(`${p}.${up}.bias`, [W]);
    }
    put(`${p}.expert_weights.weight`, [2, W]);
    put(`${p}.expert_weights.bias`, [2]);
  }
  put('adapter_proj.conv_A.weight', [LAVIN_HIDDEN_PROJ, W], Math.sqrt(6 / (W + LAVIN_HIDDEN_PROJ)));
  put('adapter_proj.conv_A.bias', [LAVIN_HIDDEN_PROJ]);
  put('adapter_proj.conv_B.weight', [dim, LAVIN_HIDDEN_PROJ]);
  put('adapter_proj.conv_B.bias', [dim]);
  return out;
}

/** A CLIP's tensors under the model definition's names. */
export function clipParams(clip: LoadedClip): Map<string, HostTensor> {
  return new Map([...clip.tensors].map(([k, t]) => [VISUAL_PREFIX + k, t]));
}

/** The model definition's ViT fields of a loaded CLIP. */
export function clipConfigOf(clip: LoadedClip): ClipConfig {
  const { width, layers, heads, patch, resolution, layerNormEps } = clip.config;
  return { width, layers, heads, patch, resolution, layerNormEps };
}

/** Load the CLIP a user gave for a backbone; one line naming the file when it cannot serve. */
export async function loadBackboneClip(p: string, nVisual = BACKBONE_ADAPTER.nVisualTokens): Promise<LoadedClip> {
  const clip = await loadClipSource(p);
  if (clip.config.layers < nVisual) throw new Error(`${p}: a CLIP of ${clip.config.layers} blocks cannot give LaVIN's ${nVisual} visual tokens (one per tapped block)`);
  return clip;
}

/** The LaVIN configuration of a backbone: its own LLaMA fields, LaVIN's adapter shape, and the ViT when a CLIP is given. */
export function backboneConfig(llama: LlamaConfig, contextLength: number, maxSeqLen = DEFAULT_BACKBONE_CONTEXT, clip?: ClipConfig): LavinConfig {
  return { llama, ...(clip ? { clip } : {}), adapter: BACKBONE_ADAPTER, maxSeqLen: Math.min(contextLength, maxSeqLen) };
}

/** The backbone's LLaMA fields; a file's own RoPE divisors (GGUF rope_freqs.weight, Llama 3) are used as stored, not refitted. */
function llamaOf(opened: Pick<OpenedBackbone, 'spec' | 'tensors'>): LlamaConfig {
  const freqs = opened.tensors.get('rope_freqs.weight');
  return freqs ? { ...opened.spec.llama, ropeScaling: { type: 'frequencyFactors', factors: Array.from(toFloat32(freqs)) } } : opened.spec.llama;
}

/**
 * The runtime of an opened backbone with a fresh adapter set: quantised linears stay in their
 * blocks. The runtime owns `opened` from here on (embedding rows are read from the file): its
 * dispose closes it, and so does a failure here.
 */
export async function backboneRuntime(opened: OpenedBackbone, session: SessionConfig, kernels: EngineOptions['kernels'], maxSeqLen?: number, clip?: LoadedClip): Promise<LavinRuntime> {
  const cfg = backboneConfig(llamaOf(opened), opened.spec.contextLength, maxSeqLen, clip && clipConfigOf(clip));
  const tensors = new Map(opened.tensors);
  for (const [k, t] of freshAdapterSet(cfg.llama)) tensors.set(k, t);
  if (clip) {
    for (const [k, t] of clipParams(clip)) tensors.set(k, t);
    for (const [k, t] of freshVisionAdapters(clip.config, cfg.llama.dim)) tensors.set(k, t);
  }
  // The runtime keeps these two functions, not `opened`: once the session holds the weights, the
  // host copies in opened.tensors/quantized are garbage (unless the caller keeps `opened`).
  const { embeddingRows, close } = opened;
  try {
    return await LavinRuntime.create(cfg, tensors, session, { weights: 'fp32', kernels }, { prequantized: opened.quantized, embeddingRows, close });
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * The tokenizer of a backbone (llama.cpp's, from the GGUF metadata or the folder's tokenizer.json;
 * a SentencePiece-style folder with tokenizer.model uses that model) and how its requests become
 * text: its own chat template when it has one, else the text as given.
 */
export async function backboneTokenizer(p: string, opened: Pick<OpenedBackbone, 'spec' | 'metadata'>): Promise<{ tokenizer: Tokenizer; family: PromptFamily }> {
  let tokenizer: Tokenizer;
  if (opened.spec.source.kind === 'gguf') tokenizer = tokenizerFromGguf(opened.metadata, p);
  else {
    const json = path.join(p, 'tokenizer.json');
    const spm = path.join(p, 'tokenizer.model');
    const sentencePiece = fs.existsSync(spm) && (!fs.existsSync(json) || isSentencePieceStyle(JSON.parse(fs.readFileSync(json, 'utf8'))));
    tokenizer = sentencePiece ? await SentencePieceModelTokenizer.fromFile(spm) : tokenizerFromHfFolder(p);
  }
  const render = modelChatRenderer(tokenizer, p);
  return { tokenizer, family: render ? { kind: 'chatTemplate', render } : { kind: 'raw' } };
}

/** Open a GGUF file or Hugging Face folder and its tokenizer; closing `opened` is the caller's. */
export async function openBackboneFiles(p: string): Promise<{ opened: OpenedBackbone; tokenizer: Tokenizer; family: PromptFamily }> {
  const opened = await openBackbone(p);
  try {
    return { opened, ...(await backboneTokenizer(p, opened)) };
  } catch (e) {
    opened.close();
    throw e;
  }
}

