// What the trainer trains over: the frozen backbone in the form it is stored in. Float tensors
// (norms, biases, CLIP, adapters, float linears) sit in `tensors`; int8/int4 linears stay in their
// blocks (`quantized`, MatMulNBits's format: a LaVIN model converted with --precision int4|int8, or
// a GGUF file's own Q4_0/Q8_0/K-quant blocks re-blocked exactly); the token-embedding table may be
// served row by row (a GGUF file's). The training graphs multiply the blocks directly and rebuild a
// float weight only inside the backward product that needs it (engine/graph/dequantize.ts).

import { BACKBONE_ADAPTER, backboneConfig, freshAdapterSet } from '../engine/backboneModel';
import { AdapterConfig, ClipConfig, LavinConfig, LlamaConfig, llamaLinearPolicy } from '../engine/lavin';
import { bitsOf, QuantizedWeight, quantizeWeight, WeightFormat } from '../engine/quant';
import { HostTensor, numel, toFloat32 } from '../engine/tensor';
import type { OpenedBackbone } from '../engine/weights/backbone';
import type { BaseModelIdentity } from './adapterStore';

export interface FrozenExtras {
  /** Frozen linear weights kept in their blocks, by engine name (absent from `tensors`). */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
  /** Token-embedding rows [ids.length * dim] when tok_embeddings.weight is not in `tensors`. */
  embeddingRows?: (ids: readonly number[]) => Float32Array;
}

/** Everything train() needs of a model: LaVIN model folders (LoadedWeights) and backbones alike. */
export interface TrainingWeights extends FrozenExtras {
  cfg: LavinConfig;
  /** Float tensors under official names: adapters (trained), and every frozen float parameter. */
  tensors: Map<string, HostTensor>;
  /** Adapter parameter names, in checkpoint order: what trains. */
  adapterKeys: string[];
  /** The model the set is trained on (resume checks, adapter.json); LaVIN folders derive it from manifest + dir. */
  baseModel?: BaseModelIdentity;
  manifest?: import('../engine/modelDir').ModelManifest;
  dir?: string;
}

/** The decoder's linear layers (the weights inference quantises). */
export function isLinearWeight(name: string): boolean {
  return /^layers\.\d+\.(attention\.w[qkvo]|feed_forward\.w[123])\.weight$/.test(name) || name === 'output.weight';
}

/**
 * A LaVIN model at int8/int4: every LLaMA linear the converter quantises goes through the same
 * quantiser (the numbers MatMulNBits multiplies in inference) and is then held as its blocks only;
 * the float copy is dropped. fp32/fp16 models come back unchanged.
 */
export function quantizeFrozenLinears<W extends TrainingWeights>(w: W, precision: WeightFormat): W {
  const bits = bitsOf(precision);
  if (!bits) return w;
  const policy = llamaLinearPolicy(precision);
  const tensors = new Map(w.tensors);
  const quantized = new Map(w.quantized ?? []);
  for (const [name, t] of w.tensors) {
    if (t.shape.length !== 2 || !isLinearWeight(name) || !policy.applies!(name)) continue;
    quantized.set(name, quantizeWeight(t, bits, name));
    tensors.delete(name);
  }
  return { ...w, tensors, quantized };
}

export interface BackboneTrainingOptions {
  /** The ViT and its tensors (official names under `backbone.visual.`, CLIP adapters and adapter_proj included) for vision training. */
  clip?: { cfg: ClipConfig; tensors: ReadonlyMap<string, HostTensor> };
  /** Adapter values to start from (default: freshAdapterSet, the identity; vision adapters come with `clip`). */
  adapters?: ReadonlyMap<string, HostTensor>;
  adapter?: AdapterConfig;
  /** Training sequence cap (default: the backbone's context, at most DEFAULT_BACKBONE_CONTEXT). */
  maxSeqLen?: number;
  baseModel?: BaseModelIdentity;
}

/**
 * Training weights over an opened GGUF / Hugging Face backbone: its float tensors and quantised
 * blocks as they are (nothing widened), embedding rows read from the file, the LLM adapters (fresh
 * unless given) and, for vision, the CLIP tower and its adapters. The caller keeps `opened` open
 * while training and closes it after.
 */
export function backboneTrainingWeights(opened: OpenedBackbone, opts: BackboneTrainingOptions = {}): TrainingWeights {
  const freqs = opened.tensors.get('rope_freqs.weight');
  const llama: LlamaConfig = freqs ? { ...opened.spec.llama, ropeScaling: { type: 'frequencyFactors', factors: Array.from(toFloat32(freqs)) } } : opened.spec.llama;
  const base = backboneConfig(llama, opened.spec.contextLength, opts.maxSeqLen);
  const cfg: LavinConfig = { ...base, adapter: opts.adapter ?? BACKBONE_ADAPTER, ...(opts.clip ? { clip: opts.clip.cfg } : {}) };
  const tensors = new Map(opened.tensors);
  tensors.delete('rope_freqs.weight');
  const adapters = new Map(freshAdapterSet(cfg.llama, cfg.adapter));
  if (opts.clip) for (const [k, t] of opts.clip.tensors) (k.includes('adapter') ? adapters : tensors).set(k, t);
  for (const [k, t] of opts.adapters ?? []) adapters.set(k, t);
  for (const [k, t] of adapters) {
    if (tensors.has(k)) throw new Error(`backbone training: ${k} is both a backbone tensor and an adapter`);
    tensors.set(k, t);
  }
  const adapterKeys = [...adapters.keys()].filter((k) => numel(adapters.get(k)!.shape) > 0);
  const embeddingRows = (ids: readonly number[]) => opened.embeddingRows(ids);
  return { cfg, tensors, adapterKeys, quantized: opened.quantized, embeddingRows, baseModel: opts.baseModel ?? { id: `${opened.spec.source.kind}:${opened.spec.source.path}`, name: opened.spec.name } };
}

/** Frozen parameters (float and quantised): what the trainer sizes its recomputation choice by. */
export function frozenParameterCount(w: Pick<TrainingWeights, 'tensors' | 'quantized'>): number {
  let n = 0;
  for (const t of w.tensors.values()) n += numel(t.shape);
  for (const q of w.quantized?.values() ?? []) n += q.n * q.k;
  return n;
}
