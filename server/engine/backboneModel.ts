// A language backbone from the files people already have (a GGUF file, a Hugging Face folder) run
// as a LaVIN model: the one model definition with the file's hyper-parameters, a fresh adapter set
// on every block (the identity, so the logits are the backbone's own), and no ViT until a vision
// adapter set has been trained for this backbone.

import * as fs from 'fs';
import * as path from 'path';
import { AdapterConfig, LavinConfig, LlamaConfig } from './lavin';
import { EngineOptions, LavinRuntime } from './runtime';
import { SessionConfig } from './session';
import { PromptFamily } from './sequence';
import { HostTensor, fromFloat32, toFloat32 } from './tensor';
import { isSentencePieceStyle, modelChatRenderer, SentencePieceModelTokenizer, Tokenizer, tokenizerFromGguf, tokenizerFromHfFolder } from './tokenizer';
import { OpenedBackbone, openBackbone } from './weights/backbone';

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

/** The LaVIN configuration of a backbone: its own LLaMA fields, no ViT, LaVIN's adapter shape. */
export function backboneConfig(llama: LlamaConfig, contextLength: number, maxSeqLen = DEFAULT_BACKBONE_CONTEXT): LavinConfig {
  return { llama, adapter: BACKBONE_ADAPTER, maxSeqLen: Math.min(contextLength, maxSeqLen) };
}

/**
 * The runtime of an opened backbone with a fresh adapter set: quantised linears stay in their
 * blocks. The runtime owns `opened` from here on (embedding rows are read from the file): its
 * dispose closes it, and so does a failure here.
 */
export async function backboneRuntime(opened: OpenedBackbone, session: SessionConfig, kernels: EngineOptions['kernels'], maxSeqLen?: number): Promise<LavinRuntime> {
  // A file's own RoPE divisors (GGUF rope_freqs.weight, Llama 3) are used as stored, not refitted.
  const freqs = opened.tensors.get('rope_freqs.weight');
  const llama: LlamaConfig = freqs ? { ...opened.spec.llama, ropeScaling: { type: 'frequencyFactors', factors: Array.from(toFloat32(freqs)) } } : opened.spec.llama;
  const cfg = backboneConfig(llama, opened.spec.contextLength, maxSeqLen);
  const tensors = new Map(opened.tensors);
  for (const [k, t] of freshAdapterSet(cfg.llama)) tensors.set(k, t);
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
