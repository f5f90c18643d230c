// Benchmark model shapes and their random weights. Every tensor's values are a pure function of
// (seed, tensor name), so the GGUF file for llama.cpp and our converted ONNX folder hold the same
// weights, and no model ever has to be held in memory whole (the tensor map is lazy).

import { LavinConfig, llama1Backbone, visionOf } from '../server/engine/lavin';
import { HostTensor } from '../server/engine/tensor';

export interface BenchShape {
  name: string;
  dim: number;
  nLayers: number;
  nHeads: number;
  ffnHidden: number;
  vocab: number;
  /** Decode tokens timed for this shape (fewer for big shapes: 2 cores). */
  decodeTokens: number;
  /** Prefill runs per measurement (the fastest counts). */
  prefillRepeats: number;
  /** Alternating measurement rounds (each metric keeps its best round). */
  rounds: number;
}

export const SHAPES: Record<string, BenchShape> = {
  d512: { name: 'd512', dim: 512, nLayers: 8, nHeads: 8, ffnHidden: 1536, vocab: 32000, decodeTokens: 128, prefillRepeats: 3, rounds: 2 },
  // ~1.06B parameters: LLaMA-style 2048-wide, 18 blocks, FFN 5632 (TinyLlama's width, full MHA).
  '1b': { name: '1b', dim: 2048, nLayers: 18, nHeads: 16, ffnHidden: 5632, vocab: 32000, decodeTokens: 16, prefillRepeats: 1, rounds: 3 },
  '7b': { name: '7b', dim: 4096, nLayers: 32, nHeads: 32, ffnHidden: 11008, vocab: 32000, decodeTokens: 4, prefillRepeats: 1, rounds: 1 },
};

export const SEED = 20240501;
/** Part of the converted models' source fingerprint: bump when randomValues changes. */
export const WEIGHTS_VERSION = 'identity-adapters-1';

/** LaVIN around a LLaMA shape: CLIP ViT-L/14 at 224 px, LaVIN-7B's adapter sizes. */
export function benchConfig(s: BenchShape): LavinConfig {
  return {
    llama: { dim: s.dim, nLayers: s.nLayers, nHeads: s.nHeads, headDim: s.dim / s.nHeads, ffnHidden: s.ffnHidden, vocab: s.vocab, normEps: 1e-6, ropeTheta: 10000, ...llama1Backbone(s.nHeads) },
    clip: { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224, layerNormEps: 1e-5 },
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: 1024,
  };
}

/** Every parameter name and shape of LaVIN at this config (official names). */
export function parameterShapes(cfg: LavinConfig): Map<string, number[]> {
  const { dim: D, nLayers, ffnHidden: F, vocab: V } = cfg.llama;
  const { width: W, layers, patch: P, resolution: R } = visionOf(cfg);
  const h = cfg.adapter.hidden;
  const m = new Map<string, number[]>();
  const adapter = (prefix: string, c: number) => {
    m.set(`${prefix}.conv_A.weight`, [h, c, 1]);
    m.set(`${prefix}.conv_A.bias`, [h]);
    for (const k of ['conv_B', 'conv_D']) {
      m.set(`${prefix}.${k}.weight`, [c, h / cfg.adapter.groups, 1]);
      m.set(`${prefix}.${k}.bias`, [c]);
    }
    m.set(`${prefix}.expert_weights.weight`, [2, c]);
    m.set(`${prefix}.expert_weights.bias`, [2]);
  };
  m.set('tok_embeddings.weight', [V, D]);
  m.set('norm.weight', [D]);
  m.set('output.weight', [V, D]);
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    for (const w of ['wq', 'wk', 'wv', 'wo']) m.set(`${L}.attention.${w}.weight`, [D, D]);
    m.set(`${L}.feed_forward.w1.weight`, [F, D]);
    m.set(`${L}.feed_forward.w2.weight`, [D, F]);
    m.set(`${L}.feed_forward.w3.weight`, [F, D]);
    m.set(`${L}.attention_norm.weight`, [D]);
    m.set(`${L}.ffn_norm.weight`, [D]);
    adapter(`${L}.adapter_attn`, D);
  }
  const v = 'backbone.visual.';
  m.set(`${v}conv1.weight`, [W, 3, P, P]);
  m.set(`${v}class_embedding`, [W]);
  m.set(`${v}positional_embedding`, [(R / P) ** 2 + 1, W]);
  m.set(`${v}ln_pre.weight`, [W]);
  m.set(`${v}ln_pre.bias`, [W]);
  for (let i = 0; i < layers; i++) {
    const B = `${v}transformer.resblocks.${i}`;
    m.set(`${B}.attn.in_proj_weight`, [3 * W, W]);
    m.set(`${B}.attn.in_proj_bias`, [3 * W]);
    m.set(`${B}.attn.out_proj.weight`, [W, W]);
    m.set(`${B}.attn.out_proj.bias`, [W]);
    m.set(`${B}.mlp.c_fc.weight`, [4 * W, W]);
    m.set(`${B}.mlp.c_fc.bias`, [4 * W]);
    m.set(`${B}.mlp.c_proj.weight`, [W, 4 * W]);
    m.set(`${B}.mlp.c_proj.bias`, [W]);
    for (const n of ['ln_1', 'ln_2']) {
      m.set(`${B}.${n}.weight`, [W]);
      m.set(`${B}.${n}.bias`, [W]);
    }
    adapter(`${B}.adapter_attn`, W);
  }
  m.set('adapter_proj.conv_A.weight', [128, W]);
  m.set('adapter_proj.conv_A.bias', [128]);
  m.set('adapter_proj.conv_B.weight', [D, 128]);
  m.set('adapter_proj.conv_B.bias', [D]);
  m.set('adapter_modality_embedding.weight', [2, D]);
  return m;
}

/**
 * Values of one tensor: norm weights 1, embeddings N(0,1)-like, everything else uniform with
 * standard deviation 1/sqrt(fan-in) (keeps activations in range through random blocks).
 */
export function randomValues(seed: number, name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const out = new Float32Array(n);
  if (/(norm|ln_\d|ln_pre)\.weight$/.test(name)) return out.fill(1);
  // LaVIN's adapter initialisation: B, D and their biases zero, so each LLM adapter is the identity
  // (its matmuls still run). The decoder then computes plain LLaMA, the model in the GGUF file, and
  // the two engines' greedy tokens can be compared.
  if (/adapter_attn\.conv_[BD]\.(weight|bias)$/.test(name)) return out;
  const fanIn = shape.length >= 2 ? shape.slice(1).reduce((a, d) => a * d, 1) : 1;
  const std = /embedding|tok_embeddings|modality/.test(name) || shape.length < 2 ? (name.endsWith('bias') ? 0.02 : 1) : 1 / Math.sqrt(fanIn);
  const a = std * Math.sqrt(3);
  let s = (seed ^ hash(name)) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32: fast, and plenty for benchmark weights.
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A read-only tensor map that generates each tensor when asked (nothing is cached). */
export function lazyRandomTensors(cfg: LavinConfig, seed = SEED): ReadonlyMap<string, HostTensor> {
  const shapes = parameterShapes(cfg);
  const make = (name: string): HostTensor | undefined => {
    const shape = shapes.get(name);
    if (!shape) return undefined;
    const v = randomValues(seed, name, shape);
    return { dtype: 'float32', shape, data: new Uint8Array(v.buffer) };
  };
  const map = {
    get: make,
    has: (name: string) => shapes.has(name),
    get size() { return shapes.size; },
    keys: () => shapes.keys(),
    *entries(): IterableIterator<[string, HostTensor]> { for (const k of shapes.keys()) yield [k, make(k)!]; },
    *values(): IterableIterator<HostTensor> { for (const k of shapes.keys()) yield make(k)!; },
    forEach(cb: (v: HostTensor, k: string, m: ReadonlyMap<string, HostTensor>) => void) { for (const k of shapes.keys()) cb(make(k)!, k, map as unknown as ReadonlyMap<string, HostTensor>); },
    [Symbol.iterator]() { return map.entries(); },
  };
  return map as unknown as ReadonlyMap<string, HostTensor>;
}

/** Parameters of the LLaMA part (what the bench's "1B" and "7B" refer to). */
export function llamaParameters(s: BenchShape): number {
  return 2 * s.vocab * s.dim + s.nLayers * (4 * s.dim * s.dim + 3 * s.dim * s.ffnHidden + 2 * s.dim) + s.dim;
}

/** Prompt token ids for timing runs: spread over the vocabulary past the special ids 0-2, a pure function of (n, seed). */
export function syntheticIds(n: number, vocab: number, seed = 0): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729) % (vocab - 3)));
}
