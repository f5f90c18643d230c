// THE LaVIN model definition: CLIP ViT with router adapters, the visual projection, and LLaMA with
// mixture-of-modality adapters. Written once; every graph (vision, decoder step with KV cache,
// training) is assembled from these functions (see programs.ts and train/), never re-written.
//
// Shapes are read from the weights. Names are the official ones: Meta LLaMA names, OpenAI CLIP names
// under `backbone.visual.`, and LaVIN adapter names with `module.` stripped.
//
// One file even past 400 lines, on purpose: the definition reads top to bottom in one place, like
// nanoGPT's model.py (the house rule's exception, stated here).

import { Builder } from './graph/builder';
import { Value } from './graph/graph';
import { layerNorm, linear, quickGelu, rmsNorm, silu } from './graph/nn';
import { ParamLayout } from './graph/layouts';
import { LinearPolicy, ParamSource } from './graph/params';
import { WeightFormat } from './quant';

export interface LlamaConfig {
  dim: number;
  nLayers: number;
  /** Query heads. */
  nHeads: number;
  /** Key/value heads (= nHeads without grouped-query attention): the KV cache holds these. */
  nKvHeads: number;
  headDim: number;
  ffnHidden: number;
  vocab: number;
  normEps: number;
  ropeTheta: number;
  /** Which features RoPE rotates together: Meta's adjacent pairs (2i, 2i+1), or i and i + hd/2 (GPT-NeoX, Hugging Face, qwen2). */
  ropeStyle: RopeStyle;
  ropeScaling?: RopeScaling;
  /** q/k/v projections carry biases (qwen2): layers.N.attention.w{q,k,v}.bias. */
  qkvBias: boolean;
  /** No output.weight: the head multiplies by tok_embeddings.weight. */
  tiedEmbeddings: boolean;
}

export type RopeStyle = 'interleaved' | 'neox';

/**
 * Changes to the RoPE frequencies. 'linear' divides every frequency by `factor` (positions
 * interpolated); 'llama3' divides the low frequencies by `factor` and blends towards 1 between the
 * two wavelengths (Llama 3.1+); 'frequencyFactors' gives the divisor of each rotated pair directly,
 * as a GGUF file stores the llama3 correction (rope_freqs.weight).
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number }
  | { type: 'frequencyFactors'; factors: number[] };

/** The backbone fields an official LLaMA-1 checkpoint implies (Meta layout, no GQA, no biases, own head). */
export function llama1Backbone(nHeads: number): Pick<LlamaConfig, 'nKvHeads' | 'ropeStyle' | 'qkvBias' | 'tiedEmbeddings'> {
  return { nKvHeads: nHeads, ropeStyle: 'interleaved', qkvBias: false, tiedEmbeddings: false };
}

export interface ClipConfig {
  width: number;
  layers: number;
  heads: number;
  patch: number;
  resolution: number;
  layerNormEps: number;
}

export interface AdapterConfig {
  /** Bottleneck width of every MM-adapter (8 in LaVIN). */
  hidden: number;
  /** Groups of conv_B / conv_D (2 in LaVIN). */
  groups: number;
  scale: number;
  /** Router softmax temperature (10 for 7B, 5 for 13B), from the checkpoint's args. */
  temperature: number;
  /** Visual tokens = CLS taps of the ViT (6 in LaVIN). */
  nVisualTokens: number;
}

export interface LavinConfig {
  llama: LlamaConfig;
  /** The ViT; absent for a language backbone without a vision adapter set (text path only). */
  clip?: ClipConfig;
  adapter: AdapterConfig;
  /** KV-cache length of the reference; the RoPE table covers twice this. */
  maxSeqLen: number;
}

export const VISUAL_PREFIX = 'backbone.visual.';

/** The ViT's configuration; a clear error for a language backbone that has none. */
export function visionOf(cfg: LavinConfig): ClipConfig {
  if (!cfg.clip) throw new Error('this model has no vision tower (a language backbone without a vision adapter set): it cannot encode images');
  return cfg.clip;
}

/**
 * Which weights a storage format (fp16, int8, int4) applies to: LLaMA's linear layers only, never
 * CLIP's or the adapters'. The model names its parameters, so the policy lives here and is handed
 * to the graph layer (graph/params.ts knows no parameter names).
 */
export function llamaLinearPolicy(format: WeightFormat): LinearPolicy {
  return { format, applies: (name) => !name.startsWith(VISUAL_PREFIX) && !name.includes('adapter') };
}

// ---------------------------------------------------------------------------------------------
// Mixture-of-modality adapter: y = x + s * (w0 * (B u + b) + w1 * (D u + d)),  u = A x + a.
// B and D are grouped 1x1 convs, multiplied as their dense block-diagonal matrices (a weight
// layout: laid out on the host for inference, by graph ops where gradients are needed).
// ---------------------------------------------------------------------------------------------

/** softmax(E n / t): the router's two expert weights for each row of n ([..., C] -> [..., 2]). */
export function routerWeights(b: Builder, p: ParamSource, prefix: string, n: Value, temperature: number): Value {
  const logits = linear(b, n, p.paramT(b, `${prefix}.expert_weights.weight`), p.param(b, `${prefix}.expert_weights.bias`));
  return b.softmax(b.div(logits, b.scalar(temperature)), -1);
}

/**
 * Apply the MM-adapter at `prefix` to x [..., C]. `w0`/`w1` are the expert weights, shaped to
 * broadcast against x [..., 1]. `dropout` (training only) is applied to the bottleneck u.
 */
export function mmAdapter(b: Builder, p: ParamSource, cfg: AdapterConfig, prefix: string, x: Value, w0: Value, w1: Value, dropout?: (u: Value) => Value): Value {
  const grouped: ParamLayout = { kind: 'blockDiagonal', groups: cfg.groups };
  let u = linear(b, x, p.paramT(b, `${prefix}.conv_A.weight`), p.param(b, `${prefix}.conv_A.bias`));
  if (dropout) u = dropout(u);
  const yB = linear(b, u, p.paramAs(b, `${prefix}.conv_B.weight`, grouped), p.param(b, `${prefix}.conv_B.bias`));
  const yD = linear(b, u, p.paramAs(b, `${prefix}.conv_D.weight`, grouped), p.param(b, `${prefix}.conv_D.bias`));
  const scaled = (y: Value) => (cfg.scale === 1 ? y : b.mul(y, b.scalar(cfg.scale)));
  return b.add(b.add(b.mul(scaled(yB), w0), b.mul(scaled(yD), w1)), x);
}

/** Split router weights [..., 2] into the two broadcastable expert weights [..., 1]. */
export function expertWeights(b: Builder, w: Value): [Value, Value] {
  const axis = w.rank - 1;
  return [b.slice(w, [0], [1], [axis]), b.slice(w, [1], [2], [axis])];
}

// ---------------------------------------------------------------------------------------------
// Vision: OpenAI CLIP ViT with a router adapter in every block; features are the class token after
// every (layers / nVisualTokens)-th block, before ln_post (LaVIN's choice; the last tap is the last
// block). A tower whose depth is not a multiple (a LLaVA mmproj keeps 23 of ViT-L's 24 blocks) is
// tapped after block ceil(k * layers / nVisualTokens), k = 1..n: the same blocks when it divides. Batch of one image: the reference routes
// every image in a batch with item 0's per-token weights (a quirk); routing each image by itself is
// what batch size 1 gives, and what we do.
// ---------------------------------------------------------------------------------------------

export interface ClipOutputs {
  /** [nVisualTokens, W] class-token taps. */
  features: Value;
  /** Per block, per token router weights [T, 2]. */
  routerWeights: Value[];
}

export function clipVisual(b: Builder, p: ParamSource, cfg: LavinConfig, pixels: Value /* [1,3,R,R] */, dropout?: (u: Value) => Value): ClipOutputs {
  const { width, layers, heads, patch, resolution, layerNormEps } = visionOf(cfg);
  const grid = resolution / patch;
  const P = (n: string) => p.param(b, VISUAL_PREFIX + n);
  const PT = (n: string) => p.paramT(b, VISUAL_PREFIX + n);

  // Patch embedding (a stride-P conv) as patchify + matmul.
  const patches = b.reshape(b.transpose(b.reshape(pixels, [3, grid, patch, grid, patch]), [1, 3, 0, 2, 4]), [grid * grid, 3 * patch * patch]);
  const convT = b.transpose(b.reshape(P('conv1.weight'), [width, 3 * patch * patch]), [1, 0]);
  let x = b.matmul(patches, convT); // [G*G, W]
  x = b.concat([b.reshape(P('class_embedding'), [1, width]), x], 0);
  x = b.add(x, P('positional_embedding'));
  x = layerNorm(b, x, P('ln_pre.weight'), P('ln_pre.bias'), layerNormEps);

  const nTaps = cfg.adapter.nVisualTokens;
  if (layers < nTaps) throw new Error(`a CLIP of ${layers} blocks cannot give ${nTaps} visual tokens (one per tapped block)`);
  const tapped = (i: number) => Math.floor(((i + 1) * nTaps) / layers) > Math.floor((i * nTaps) / layers);
  const taps: Value[] = [];
  const routes: Value[] = [];
  for (let i = 0; i < layers; i++) {
    const blk = `transformer.resblocks.${i}`;
    const n = layerNorm(b, x, P(`${blk}.ln_1.weight`), P(`${blk}.ln_1.bias`), layerNormEps);
    const w = routerWeights(b, p, `${VISUAL_PREFIX}${blk}.adapter_attn`, n, cfg.adapter.temperature); // per token
    routes.push(w);
    const [w0, w1] = expertWeights(b, w);
    const a = mmAdapter(b, p, cfg.adapter, `${VISUAL_PREFIX}${blk}.adapter_attn`, n, w0, w1, dropout);
    x = b.add(x, clipAttention(b, a, PT(`${blk}.attn.in_proj_weight`), P(`${blk}.attn.in_proj_bias`), PT(`${blk}.attn.out_proj.weight`), P(`${blk}.attn.out_proj.bias`), width, heads));
    const m = layerNorm(b, x, P(`${blk}.ln_2.weight`), P(`${blk}.ln_2.bias`), layerNormEps);
    x = b.add(x, linear(b, quickGelu(b, linear(b, m, PT(`${blk}.mlp.c_fc.weight`), P(`${blk}.mlp.c_fc.bias`))), PT(`${blk}.mlp.c_proj.weight`), P(`${blk}.mlp.c_proj.bias`)));
    if (tapped(i)) taps.push(b.slice(x, [0], [1], [0]));
  }
  return { features: b.concat(taps, 0), routerWeights: routes };
}

/** nn.MultiheadAttention over one image's tokens x [T, W] (packed q/k/v projection). */
function clipAttention(b: Builder, x: Value, inProjT: Value, inBias: Value, outProjT: Value, outBias: Value, width: number, heads: number): Value {
  const hd = width / heads;
  const qkv = linear(b, x, inProjT, inBias); // [T, 3W]
  const split = (k: number) => b.transpose(b.reshape(b.slice(qkv, [k * width], [(k + 1) * width], [1]), [-1, heads, hd]), [1, 0, 2]); // [H,T,hd]
  const q = b.mul(split(0), b.scalar(1 / Math.sqrt(hd)));
  const k = split(1);
  const v = split(2);
  const attn = b.softmax(b.matmul(q, b.transpose(k, [0, 2, 1])), -1);
  const o = b.reshape(b.transpose(b.matmul(attn, v), [1, 0, 2]), [-1, width]);
  return linear(b, o, outProjT, outBias);
}

/**
 * adapter_proj: Linear(W -> h) -> SiLU -> Linear(h -> D); CLS taps [n, W] -> visual tokens [n, D].
 * LaVIN's first Linear (conv_A) is shared by the taps. A set may add each tap's own input layer
 * (taps.k.conv_A, tapProjectionShapes): taps from different depths differ in scale and direction,
 * and what one of them says about the image's left and right can lie where another has its largest
 * spread, which no single input layer trains well on (train/projectionWhitening.ts). A fresh vision
 * set trains those alone, its shared conv_A held at zero; other sets have none.
 */
export function visualProjection(b: Builder, p: ParamSource, features: Value, dropout?: (u: Value) => Value): Value {
  let input = linear(b, features, p.paramT(b, 'adapter_proj.conv_A.weight'), p.param(b, 'adapter_proj.conv_A.bias'));
  if (p.has(tapProjection(0, 'weight'))) {
    const taps = features.shape?.[0];
    if (typeof taps !== 'number') throw new Error('visual projection: the number of CLIP taps is not known when the graph is built');
    const own = Array.from({ length: taps }, (_, k) => linear(b, b.slice(features, [k], [k + 1], [0]), p.paramT(b, tapProjection(k, 'weight')), p.param(b, tapProjection(k, 'bias'))));
    input = b.add(input, taps > 1 ? b.concat(own, 0) : own[0]);
  }
  let hidden = silu(b, input);
  if (dropout) hidden = dropout(hidden);
  return linear(b, hidden, p.paramT(b, 'adapter_proj.conv_B.weight'), p.param(b, 'adapter_proj.conv_B.bias'));
}

/** Tap k's own input layer of the visual projection (added to the shared conv_A's output). */
export function tapProjection(k: number, part: 'weight' | 'bias'): string {
  return `adapter_proj.taps.${k}.conv_A.${part}`;
}

/** The shapes of the taps' own input layers, each that of the shared conv_A (and its bias). */
export function tapProjectionShapes(shapes: ReadonlyMap<string, readonly number[]>, taps: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const weight = shapes.get('adapter_proj.conv_A.weight');
  if (!weight) return out;
  for (let k = 0; k < taps; k++) {
    out.set(tapProjection(k, 'weight'), weight.slice());
    out.set(tapProjection(k, 'bias'), [weight[0]]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The whole model on one sequence (what nanoGPT's forward is to its model.py). Every decoder graph
// is assembled from it: the training graph (train/trainingGraph.ts) and the inference decoder
// (programs.ts); the vision graph runs its first part, clipVisual + visualProjection, on its own.
//
//   row 0       the modality token: onehot(text | image) @ adapter_modality_embedding
//   rows 1..T   token embeddings (a row copy of tok_embeddings done on the host), with the image's
//               visual tokens (adapter_proj of the CLIP class-token taps) added into their slots
//   blocks      LLaMA + MM-adapters; block l is routed by its router on its normalised row 0
//   head        logits of the chosen rows; with targets, the next-token loss
//
// Decoding with a KV cache continues a sequence whose modality token was routed once: the runtime
// runs this forward on the modality token's row alone (route = the first-row router) to get the
// per-checkpoint router table, and feeds those weights to every later step (route = fed weights).
// Which token ids fill the rows, and where the visual slots are, is engine/sequence.ts's.
// ---------------------------------------------------------------------------------------------

export interface LavinSequence {
  /** One-hot [1, 2] (text, image): the modality token opens the sequence as row 0. Absent: the rows continue a routed sequence. */
  modality?: Value;
  /** Token embeddings [1, T, D]; visual slots hold zero rows. */
  tokens: Value;
  /** The image encoded in the graph: visual tokens added at `placement` [T, nVisual] (a 1 per visual slot). */
  image?: { pixels: Value; placement: Value };
}

export interface LavinForwardOptions extends Omit<DecoderContext, 'route'> {
  /** Block l's expert weights given its router on the first row ([1, 2]); default: exactly those (LaVIN's routing). */
  route?: (layer: number, firstRow: Value) => Value;
  /** The rows whose logits are computed, from the last hidden states [1, T, D] (default: all). */
  logitRows?: (hidden: Value) => Value;
  /** Next-token targets of the logit rows: ids int64 [N, 1] and weights [N, 1] (0 ignores a row). */
  targets?: { labels: Value; weights: Value };
}

export interface LavinForward {
  /** [1, N, V] for the logit rows. */
  logits: Value;
  /** -sum(weight * log p(label)) over the logit rows, when targets are given. */
  loss?: Value;
  /** Per block, its router on the first row [1, 2]. */
  firstRowRoutes: Value[];
  /** Per block, this pass's keys and values in the cache's layout (see DecoderOutputs). */
  added: { keyT: Value; value: Value }[];
}

export function lavinForward(b: Builder, p: ParamSource, cfg: LavinConfig, seq: LavinSequence, opts: LavinForwardOptions): LavinForward {
  const { dim, vocab } = cfg.llama;
  const modalityToken = seq.modality && b.reshape(b.matmul(seq.modality, p.param(b, 'adapter_modality_embedding.weight')), [1, 1, dim]);
  let tokens = seq.tokens;
  if (seq.image) {
    const clip = clipVisual(b, p, cfg, seq.image.pixels, opts.dropout);
    const visual = visualProjection(b, p, clip.features); // LaVIN's AdapterMLP has no dropout
    tokens = b.add(tokens, b.reshape(b.matmul(seq.image.placement, visual), [1, -1, dim]));
  }
  const h = modalityToken ? b.concat([modalityToken, tokens], 1) : tokens;

  const firstRowRoutes: Value[] = [];
  const { route, logitRows, targets, ...ctx } = opts;
  const out = llamaDecoder(b, p, cfg, h, {
    ...ctx,
    route: (l, normed) => {
      const first = b.reshape(routerWeights(b, p, `layers.${l}.adapter_attn`, b.slice(normed, [0], [1], [1]), cfg.adapter.temperature), [1, 2]);
      firstRowRoutes.push(first);
      return route ? route(l, first) : first;
    },
  });

  const logits = lmHead(b, p, cfg, logitRows ? logitRows(out.hidden) : out.hidden);
  const loss = targets && nextTokenLoss(b, logits, vocab, targets.labels, targets.weights);
  return { logits, loss, firstRowRoutes, added: out.added };
}

/** -sum over rows of weight * log softmax(logits)[label]: logits [1, N, V], labels int64 [N, 1], weights [N, 1]. */
export function nextTokenLoss(b: Builder, logits: Value, vocab: number, labels: Value, weights: Value): Value {
  const logp = b.logSoftmax(b.reshape(logits, [-1, vocab]), -1);
  const picked = b.op('GatherElements', [logp, labels], [{ dtype: 'float32', shape: labels.shape }], { axis: { i: 1 } })[0];
  return b.neg(b.reduceSum(b.mul(picked, weights), [0, 1], false));
}

// ---------------------------------------------------------------------------------------------
// LLaMA with MM-adapters. One adapter per block on the normalised attention input (shared by q, k,
// v) and, where the set has one, one on the normalised FFN input (LaVIN's 'block' layout, below).
// The router of block l reads the normalised modality token; how that token's weights reach the
// block is the caller's choice (`route`): computed in the graph from the first token (training), or
// fed from the per-checkpoint table (inference with a KV cache).
// ---------------------------------------------------------------------------------------------

/**
 * LaVIN's 'block' layout: an MM-adapter before each block's FFN as well, `layers.N.adapter_mlp`,
 * shaped like the block's adapter_attn. Official LaVIN ships only the attention adapters (its
 * 'block' code path is marked unsupported); sets trained here for vision from fresh have both
 * (more room where the question meets the image: lavin-tiny int4, four question kinds, 67.7 % ->
 * 75.0 %; README). Both adapters of a block follow the block's one router: the route is the
 * request's modality, chosen once per sequence, so adapter_mlp has no expert_weights. A set
 * without it runs exactly as before (the identity: no FFN adapter in training graphs, zeros fed to
 * inference graphs, which always take one so that any set can be swapped in).
 */
export const FFN_ADAPTER = 'adapter_mlp';

/** Whether a parameter belongs to a block's FFN adapter (`layers.N.adapter_mlp.*`). */
export const isFfnAdapter = (name: string): boolean => name.split('.')[2] === FFN_ADAPTER;

/** Names and shapes of the FFN adapters the attention adapters of a set imply (conv_A/B/D as adapter_attn's). */
export function ffnAdapterShapes(shapes: ReadonlyMap<string, readonly number[]>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [name, shape] of shapes) {
    const m = /^(layers\.\d+)\.adapter_attn\.(conv_[ABD]\.(?:weight|bias))$/.exec(name);
    if (m) out.set(`${m[1]}.${FFN_ADAPTER}.${m[2]}`, shape.slice());
  }
  return out;
}

export interface DecoderContext {
  /** RoPE cos/sin of each input position, [T, headDim/2]. */
  cos: Value;
  sin: Value;
  /**
   * Added to attention scores (0 or -inf), [T, C+T]: columns 0..C-1 are the cache's slots (a slot
   * not yet filled must be masked), then this step's T tokens.
   */
  attentionBias: Value;
  /** Expert weights for block l given its normalised input n [B, T, D]; returns [B, 2] or [1, 2]. */
  route: (layer: number, normed: Value) => Value;
  /**
   * Per-layer cache of C slots, read in place (never copied): keys (after RoPE) transposed
   * [B, Hkv, hd, C] and values [B, Hkv, C, hd] (Hkv = nKvHeads). Omitted for cache-free graphs (training).
   */
  past?: { keyT: Value; value: Value }[];
  dropout?: (u: Value) => Value;
  /**
   * Inference only: use onnxruntime's fused kernels for RMSNorm (SimplifiedLayerNormalization)
   * and RoPE (com.microsoft RotaryEmbedding) instead of the plain-op forms. Training graphs leave
   * this unset: the fused ops have no gradient rules.
   */
  fused?: FusedKernelInputs;
}

/** What the fused RoPE kernel reads besides the hidden states. */
export interface FusedKernelInputs {
  /** RoPE position of each input token, int64 [1, T] (may differ from cache slots: decode quirk). */
  positionIds: Value;
  /** RoPE tables [positions, hd/2] that position ids index. */
  cosCache: Value;
  sinCache: Value;
}

export interface DecoderOutputs {
  hidden: Value; // [B, T, D] after the last block (before the final norm)
  /**
   * Per layer, this step's keys (after RoPE) and values in the cache's layout (keys transposed
   * [B, Hkv, hd, T], values [B, Hkv, T, hd]): what the cache appends, row by row.
   */
  added: { keyT: Value; value: Value }[];
}

export function llamaDecoder(b: Builder, p: ParamSource, cfg: LavinConfig, h: Value /* [B,T,D] */, ctx: DecoderContext): DecoderOutputs {
  const { nLayers, normEps } = cfg.llama;
  const added: { keyT: Value; value: Value }[] = [];
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    const norm = (x: Value, w: Value) => (ctx.fused ? fusedRmsNorm(b, x, w, normEps) : rmsNorm(b, x, w, normEps));
    const n = norm(h, p.param(b, `${L}.attention_norm.weight`));
    const w = ctx.route(l, n);
    const [w0, w1] = expertWeights(b, b.reshape(w, [-1, 1, 2]));
    const a = mmAdapter(b, p, cfg.adapter, `${L}.adapter_attn`, n, w0, w1, ctx.dropout);
    const { out, keyT, value } = llamaAttention(b, p, cfg, L, a, ctx, ctx.past?.[l]);
    added.push({ keyT, value });
    h = b.add(h, out);
    let f = norm(h, p.param(b, `${L}.ffn_norm.weight`));
    if (p.has(`${L}.${FFN_ADAPTER}.conv_A.weight`)) f = mmAdapter(b, p, cfg.adapter, `${L}.${FFN_ADAPTER}`, f, w0, w1, ctx.dropout);
    const gate = silu(b, p.linear(b, f, `${L}.feed_forward.w1.weight`));
    const up = p.linear(b, f, `${L}.feed_forward.w3.weight`);
    h = b.add(h, p.linear(b, b.mul(gate, up), `${L}.feed_forward.w2.weight`));
  }
  return { hidden: h, added };
}

/**
 * Causal self-attention over the cache and this step's tokens. With a cache, the scores against
 * the cached keys and against the step's own keys are computed apart and set side by side, and the
 * probabilities are split the same way to weight the cached and the new values: the same result
 * as attending over the concatenation, without ever copying the cache (what onnxruntime's
 * GroupQueryAttention does on every step: at 1000 tokens of context the attention alone measured
 * 3-4x slower, a whole 1B int4 step 2.2x; bench/README.md).
 *
 * Grouped-query attention: query heads g*G .. g*G+G-1 share key/value head g (G = nHeads /
 * nKvHeads, as llama.cpp and Hugging Face pair them). Queries are laid out [B, Hkv, G*T, hd], so
 * each cached head multiplies all its G query heads at once and the cache is never repeated per
 * query head. Without GQA (G = 1) every reshape here is the identity.
 */
function llamaAttention(b: Builder, p: ParamSource, cfg: LavinConfig, L: string, x: Value, ctx: DecoderContext, past?: { keyT: Value; value: Value }) {
  const { nHeads, nKvHeads, headDim, qkvBias, ropeStyle } = cfg.llama;
  const project = (w: string) => p.linear(b, x, `${L}.attention.${w}.weight`, qkvBias ? p.param(b, `${L}.attention.${w}.bias`) : undefined);
  const heads = (t: Value, n: number) => b.reshape(t, [0, 0, n, headDim]); // [B,T,n,hd]
  const rotate = (t: Value, n: number) => (ctx.fused ? fusedRope(b, t, ctx.fused, n, ropeStyle) : b.reshape(rope(b, heads(t, n), ctx.cos, ctx.sin, headDim, ropeStyle), [0, 0, n * headDim]));
  // Queries take the 1/sqrt(hd) score scale: T x H*hd values rather than H x T x (C+T) scores.
  const q = b.mul(rotate(project('wq'), nHeads), b.scalar(1 / Math.sqrt(headDim))); // [B,T,H*hd]
  const k = rotate(project('wk'), nKvHeads);
  const v = project('wv');
  const qh = b.reshape(b.transpose(heads(q, nHeads), [0, 2, 1, 3]), [0, nKvHeads, -1, headDim]); // [B,Hkv,G*T,hd]
  const vh = b.transpose(heads(v, nKvHeads), [0, 2, 1, 3]); // [B,Hkv,T,hd]
  const kT = b.transpose(heads(k, nKvHeads), [0, 2, 3, 1]); // [B,Hkv,hd,T]
  let scores = b.matmul(qh, kT); // [B,Hkv,G*T,T]
  if (past) scores = b.concat([b.matmul(qh, past.keyT), scores], 3); // [B,Hkv,G*T,C+T]
  // The bias [T, C+T] masks each query head's T rows alike.
  const perQueryHead = b.reshape(scores, [0, nHeads, -1, 0]); // [B,H,T,C+T]
  const probs = b.reshape(b.softmax(b.add(perQueryHead, ctx.attentionBias), -1), [0, nKvHeads, -1, 0]); // [B,Hkv,G*T,C+T]
  let o: Value; // [B,Hkv,G*T,hd]
  if (past) {
    const slots = b.dim(past.value, 2); // C
    o = b.add(b.matmul(b.sliceAt(probs, 3, b.constInt64([0]), slots), past.value), b.matmul(b.sliceAt(probs, 3, slots), vh));
  } else {
    o = b.matmul(probs, vh);
  }
  const merged = b.reshape(b.transpose(b.reshape(o, [0, nHeads, -1, headDim]), [0, 2, 1, 3]), [0, 0, nHeads * headDim]);
  return { out: p.linear(b, merged, `${L}.attention.wo.weight`), keyT: kT, value: vh };
}

/** RMSNorm as onnxruntime's SimplifiedLayerNormalization (float32 throughout). */
function fusedRmsNorm(b: Builder, x: Value, weight: Value, eps: number): Value {
  return b.op('SimplifiedLayerNormalization', [x, weight], [{ dtype: x.dtype, shape: x.shape }], { axis: { i: -1 }, epsilon: { f: eps }, stash_type: { i: 1 } })[0];
}

/** RoPE as onnxruntime's RotaryEmbedding on x [B,T,n*hd] at explicit positions. */
function fusedRope(b: Builder, x: Value, f: FusedKernelInputs, nHeads: number, style: RopeStyle): Value {
  const interleaved = style === 'interleaved' ? 1 : 0;
  return b.op('RotaryEmbedding', [x, f.positionIds, f.cosCache, f.sinCache], [{ dtype: x.dtype, shape: x.shape }], { interleaved: { i: interleaved }, num_heads: { i: nHeads } }, 'com.microsoft')[0];
}

/** RoPE on x [B,T,n,hd] with cos/sin [T, hd/2], in plain (differentiable) ops. */
function rope(b: Builder, x: Value, cos: Value, sin: Value, headDim: number, style: RopeStyle): Value {
  return style === 'interleaved' ? ropeAdjacentPairs(b, x, cos, sin, headDim) : ropeHalves(b, x, cos, sin, headDim);
}

/** Meta RoPE: rotates the adjacent pairs (2i, 2i+1). */
function ropeAdjacentPairs(b: Builder, x: Value, cos: Value, sin: Value, headDim: number): Value {
  const pairs = b.reshape(x, [0, 0, 0, headDim / 2, 2]);
  const re = b.slice(pairs, [0], [1], [4]);
  const im = b.slice(pairs, [1], [2], [4]);
  const c = b.reshape(cos, [-1, 1, headDim / 2, 1]);
  const s = b.reshape(sin, [-1, 1, headDim / 2, 1]);
  const outRe = b.sub(b.mul(re, c), b.mul(im, s));
  const outIm = b.add(b.mul(re, s), b.mul(im, c));
  return b.reshape(b.concat([outRe, outIm], 4), [0, 0, 0, headDim]);
}

/** GPT-NeoX RoPE (Hugging Face's rotate_half): rotates the pairs (i, i + hd/2). */
function ropeHalves(b: Builder, x: Value, cos: Value, sin: Value, headDim: number): Value {
  const half = headDim / 2;
  const x1 = b.slice(x, [0], [half], [3]);
  const x2 = b.slice(x, [half], [headDim], [3]);
  const c = b.reshape(cos, [-1, 1, half]);
  const s = b.reshape(sin, [-1, 1, half]);
  return b.concat([b.sub(b.mul(x1, c), b.mul(x2, s)), b.add(b.mul(x1, s), b.mul(x2, c))], 3);
}

/** Final RMSNorm and the output head: h [B, N, D] -> logits [B, N, V] (the embedding table when tied). */
export function lmHead(b: Builder, p: ParamSource, cfg: LavinConfig, h: Value): Value {
  const head = cfg.llama.tiedEmbeddings ? 'tok_embeddings.weight' : 'output.weight';
  return p.linear(b, rmsNorm(b, h, p.param(b, 'norm.weight'), cfg.llama.normEps), head);
}

/**
 * RoPE tables [positions, hd/2] computed as the reference does in float32:
 * freqs = 1 / theta^(2i/hd); angle = t * freqs; cos/sin of the float32 angle. A scaled RoPE divides
 * each frequency by its pair's divisor first (1 without scaling: the same float32 values).
 */
export function ropeTables(llama: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>, positions: number): { cos: Float32Array; sin: Float32Array } {
  const { headDim, ropeTheta: theta } = llama;
  const half = headDim / 2;
  const divisors = ropeDivisors(llama);
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let i = 0; i < half; i++) {
    const freq = Math.fround(Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim)))) / divisors[i]);
    for (let t = 0; t < positions; t++) {
      const angle = Math.fround(t * freq);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * What each rotated pair's frequency is divided by. llama3: as Meta's reference and llama.cpp's
 * converter (convert_hf_to_gguf.py writes these as rope_freqs.weight): pairs whose wavelength is
 * below originalContext / highFreqFactor keep their frequency, those above originalContext /
 * lowFreqFactor are divided by factor, and the ones between blend smoothly.
 */
export function ropeDivisors(llama: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const { headDim, ropeTheta: theta, ropeScaling: s } = llama;
  const half = headDim / 2;
  const out = new Float64Array(half).fill(1);
  if (!s) return out;
  if (s.type === 'linear') return out.fill(s.factor);
  if (s.type === 'frequencyFactors') {
    if (s.factors.length !== half) throw new Error(`RoPE frequency factors: ${s.factors.length} values for ${half} rotated pairs`);
    out.set(s.factors.map((f) => Math.fround(f)));
    return out;
  }
  const lowWavelength = s.originalContext / s.lowFreqFactor;
  const highWavelength = s.originalContext / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelength = (2 * Math.PI) / Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / headDim))));
    if (wavelength < highWavelength) continue;
    if (wavelength > lowWavelength) out[i] = s.factor;
    else {
      const smooth = (s.originalContext / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = Math.fround(1 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return out;
}
