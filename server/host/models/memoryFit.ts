// Whether a discovered model fits this machine, from the engine's own estimate (engine/memory.ts):
// the decoder's weights as the engine holds them, the KV cache, and the CLIP ViT that the first
// image loads. A GGUF file's precision is fixed by its quantisation; a model folder's can change.

import * as os from 'os';
import { LavinConfig, LlamaConfig } from '../../engine/lavin';
import { estimateCpuMemory } from '../../engine/memory';
import { WeightFormat } from '../../engine/quant';
import type { DiscoveredModel } from '../../protocol';

export interface Machine {
  total: number;
  available: number;
}

/** GiB as the OS reports memory (as engine/memory.ts words it); MiB below one. */
const gb = (bytes: number) => (bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 2 ** 20))} MB`);

export const thisMachine = (): Machine => ({ total: os.totalmem(), available: os.freemem() });

/** The decoder's geometry as discovery reads it (LlamaConfig's fields that size the weights). */
export type DecoderShape = Pick<LlamaConfig, 'dim' | 'nLayers' | 'nHeads' | 'headDim' | 'ffnHidden' | 'vocab'> & { nKvHeads?: number };

/** LaVIN's CLIP ViT-L/14 at 224 px: the vision tower a backbone without its own gets. */
export const LAVIN_CLIP: LavinConfig['clip'] = { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224, layerNormEps: 1e-5 };
/** Discovery estimates at this context (or the model's own, when shorter): what a chat in the editor uses. */
export const ESTIMATE_CONTEXT = 4096;

/**
 * The weight format the engine holds a file's linear weights in: 4-bit blocks for the 2-4 bit
 * quantisations, 8-bit blocks for 5-8 bit ones, float otherwise. undefined: not known.
 */
export function weightFormatOf(quantization: string | undefined): WeightFormat | undefined {
  const q = (quantization ?? '').toUpperCase();
  if (/^(MOSTLY_)?(Q[234]|IQ[1234]|TQ)/.test(q)) return 'int4';
  if (/^(MOSTLY_)?(Q[5678])/.test(q)) return 'int8';
  if (/^(MOSTLY_)?(F16|BF16|FP16)$/.test(q)) return 'fp16';
  if (/^(ALL_)?(F32|FP32|FLOAT32)$/.test(q)) return 'fp32';
  return undefined;
}

/**
 * `visionBytes`: the vision tower's float32 weights (default: LaVIN's ViT-L/14, as a model folder
 * loads it with the first image); 0 for a backbone without one. `weightBytes`: the decoder's weights
 * as counted from the file (a GGUF's tensors as openBackbone holds them) instead of the format's estimate.
 */
export function memoryFit(
  shape: DecoderShape,
  format: WeightFormat | undefined,
  contextTokens: number,
  opts: { visionBytes?: number; machine?: Machine; weightBytes?: number; label?: string } = {},
): DiscoveredModel['memory'] {
  if (!format && opts.weightBytes === undefined) return { fits: 'unknown', message: 'the weight format is not known, so neither is the memory it needs' };
  const machine = opts.machine ?? thisMachine();
  const cfg: LavinConfig = {
    // Fields that do not size anything get neutral values (cast: LlamaConfig gains backbone fields).
    llama: { normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', qkvBias: false, tiedEmbeddings: false, ...shape, nKvHeads: shape.nKvHeads ?? shape.nHeads } as LavinConfig['llama'],
    clip: LAVIN_CLIP,
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: contextTokens,
  };
  const e = estimateCpuMemory(cfg, format ?? 'fp32'); // with weightBytes given, only its KV cache and vision parts are used
  const need = (opts.weightBytes ?? e.decoderBytes) + e.kvCacheBytes + (opts.visionBytes ?? e.visionBytes);
  const at = `at ${opts.label ?? format}, ${contextTokens} tokens of context${opts.visionBytes === 0 ? ', text only' : ''}`;
  if (need > machine.total) return { fits: 'no', needBytes: need, message: `needs at least ${gb(need)} (${at}); this machine has ${gb(machine.total)}` };
  if (need > machine.available) return { fits: 'tight', needBytes: need, message: `needs at least ${gb(need)} (${at}); ${gb(machine.available)} is free now` };
  return { fits: 'yes', needBytes: need, message: `needs at least ${gb(need)} (${at})` };
}

/** Parameters of a LLaMA-family decoder: embeddings, attention (+ q/k/v biases), SwiGLU FFN, norms, head. */
export function decoderParameters(s: DecoderShape & { qkvBias?: boolean; tiedEmbeddings?: boolean }): number {
  const q = s.nHeads * s.headDim;
  const kv = (s.nKvHeads ?? s.nHeads) * s.headDim;
  const attention = s.dim * q + 2 * s.dim * kv + q * s.dim + (s.qkvBias ? q + 2 * kv : 0);
  const block = attention + 3 * s.dim * s.ffnHidden + 2 * s.dim;
  return s.vocab * s.dim * (s.tiedEmbeddings ? 1 : 2) + s.nLayers * block + s.dim;
}
