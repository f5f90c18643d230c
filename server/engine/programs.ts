// Inference graphs assembled from the one model definition in lavin.ts.
//
// - vision: pixels -> CLS taps -> visual tokens (+ the ViT's per-token router weights).
// - decoder: one graph for prefill, decode and teacher forcing. Inputs are embeddings (the
//   embedding lookup is a row copy done on the host), RoPE positions, an additive attention bias,
//   the per-layer router weights and the KV cache. Its `router_probe` output is the router of each
//   block evaluated on the first input token; with `route_from_first_token` each block is routed
//   by that output instead of the fed weights, which is how the per-checkpoint router table is
//   computed in one pass without a second copy of the network (see routerTable in runtime.ts).

import { Builder } from './graph/builder';
import { Graph, Value } from './graph/graph';
import { FreeAxis, HostParams, LinearPolicy, ParamSource } from './graph/params';
import { QuantizedWeight } from './quant';
import { fromFloat32, HostTensor, numel } from './tensor';
import { clipVisual, ffnAdapterShapes, FusedKernelInputs, LavinConfig, lavinForward, ropeTables, tapProjectionShapes, visualProjection, visionOf } from './lavin';

/** LaVIN's adapter parameters: every name with an `adapter*` part (LLM and ViT adapters, routers, projection, modality embedding). */
export function isAdapterParam(name: string): boolean {
  return name.split('.').some((part) => part.startsWith('adapter'));
}

/**
 * Parameters for inference graphs: backbones as initializers, adapters as graph inputs, so an adapter
 * set can be swapped into running sessions without rebuilding them (the runtime feeds them, in the
 * layouts the graph multiplies by: measured 13% of a 1B decode step when re-laid-out in the graph).
 */
export function inferenceParams(tensors: ReadonlyMap<string, HostTensor>, taps: number, policy?: LinearPolicy, prequantized?: ReadonlyMap<string, QuantizedWeight>): HostParams {
  const all = withIdentityAdapters(tensors, taps);
  return new HostParams(all, new Set([...all.keys()].filter(isAdapterParam)), policy, { feedLaidOut: true, prequantized, freeAxes: freeAdapterAxis });
}

/**
 * The axis of an adapter parameter whose size a set chooses, if it has one: the visual projection's
 * hidden width (adapter_proj, LaVIN's hidden_proj), which fresh vision sets widen (train/vision.ts).
 * Inference graphs take any width there, so such a set swaps into a model loaded with a narrower one.
 */
export function freeAdapterAxis(name: string): FreeAxis | undefined {
  // the shared input layer and the taps' own (lavin.ts tapProjection) take their rows from it, conv_B its columns
  if (/^adapter_proj\.(taps\.\d+\.)?conv_A\.(weight|bias)$/.test(name)) return { axis: 0, dim: 'proj_hidden' };
  if (name === 'adapter_proj.conv_B.weight') return { axis: 1, dim: 'proj_hidden' };
  return undefined;
}

/**
 * The tensors with an FFN adapter in every block (lavin.ts FFN_ADAPTER) and an input layer of the
 * visual projection for each of the `taps` CLIP taps (lavin.ts tapProjection): zeros, the identity,
 * where the set has none. Inference graphs always take them, so that a set with them swaps into a
 * model loaded without, and a set without them computes exactly what it computed before.
 */
export function withIdentityAdapters(tensors: ReadonlyMap<string, HostTensor>, taps: number): ReadonlyMap<string, HostTensor> {
  const own = new Map<string, number[]>();
  for (const name of tensors.keys()) if (/^layers\.\d+\.adapter_attn\.conv_|^adapter_proj\.conv_A\.weight$/.test(name)) own.set(name, tensors.get(name)!.shape);
  const zeros = new Map<string, HostTensor>();
  for (const [name, shape] of [...ffnAdapterShapes(own), ...tapProjectionShapes(own, taps)]) if (!tensors.has(name)) zeros.set(name, fromFloat32(new Float32Array(numel(shape)), shape));
  return zeros.size === 0 ? tensors : new Overlay(tensors, zeros);
}

/**
 * `base` with names it lacks laid over it, read through, never copied: the converter hands in a
 * view that reports (and may stream) each parameter as it is read.
 */
class Overlay<V> implements ReadonlyMap<string, V> {
  constructor(private readonly base: ReadonlyMap<string, V>, private readonly extra: ReadonlyMap<string, V>) {}
  get size(): number {
    return this.base.size + this.extra.size;
  }
  get(name: string): V | undefined {
    return this.extra.get(name) ?? this.base.get(name);
  }
  has(name: string): boolean {
    return this.extra.has(name) || this.base.has(name);
  }
  keys(): MapIterator<string> {
    return [...this.base.keys(), ...this.extra.keys()][Symbol.iterator]();
  }
  values(): MapIterator<V> {
    return [...this.keys()].map((name) => this.get(name)!)[Symbol.iterator]();
  }
  entries(): MapIterator<[string, V]> {
    return [...this.keys()].map((name): [string, V] => [name, this.get(name)!])[Symbol.iterator]();
  }
  forEach(f: (value: V, name: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [name, value] of this.entries()) f(value, name, this);
  }
  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

export const VISION_IO = {
  pixels: 'pixels',
  features: 'clip_features',
  visualTokens: 'visual_tokens',
  clipRouterWeights: 'clip_router_weights',
} as const;

export function buildVisionGraph(cfg: LavinConfig, p: ParamSource): Graph {
  const g = new Graph('lavin_vision');
  const b = new Builder(g);
  const { resolution, layers } = visionOf(cfg);
  const pixels = b.input(VISION_IO.pixels, 'float32', [1, 3, resolution, resolution]);
  const clip = clipVisual(b, p, cfg, pixels);
  b.output(clip.features, VISION_IO.features);
  b.output(visualProjection(b, p, clip.features), VISION_IO.visualTokens);
  const routes = clip.routerWeights.map((w) => b.reshape(w, [1, -1, 2]));
  b.output(layers > 1 ? b.concat(routes, 0) : routes[0], VISION_IO.clipRouterWeights);
  return g;
}

export const DECODER_IO = {
  embeds: 'inputs_embeds',
  positions: 'position_ids',
  bias: 'attention_bias',
  router: 'router_weights',
  /** bool [1]: true routes every block from the router's own output on the first token (router table). */
  routeSelf: 'route_from_first_token',
  logitPositions: 'logit_positions',
  logits: 'logits',
  probe: 'router_probe',
  /** Keys transposed: [1, Hkv, hd, slots]. */
  pastKey: (l: number) => `past_key_t_${l}`,
  pastValue: (l: number) => `past_value_${l}`,
  /** This step's keys transposed: [1, Hkv, hd, T]. */
  addedKey: (l: number) => `added_key_t_${l}`,
  addedValue: (l: number) => `added_value_${l}`,
} as const;

/** 'plain': standard ONNX ops (the differentiable definition); 'fused': onnxruntime's fused RMSNorm and RoPE kernels. */
export type Kernels = 'plain' | 'fused';

export function buildDecoderGraph(cfg: LavinConfig, p: ParamSource, kernels: Kernels = 'plain'): Graph {
  const g = new Graph('lavin_decoder');
  const b = new Builder(g);
  const { dim, nLayers, nKvHeads, headDim } = cfg.llama;
  const io = DECODER_IO;

  const embeds = b.input(io.embeds, 'float32', [1, 'seq', dim]);
  const positions = b.input(io.positions, 'int64', ['seq']);
  const bias = b.input(io.bias, 'float32', ['seq', 'slots_plus_seq']);
  const router = b.input(io.router, 'float32', [nLayers, 2]);
  const routeSelf = b.input(io.routeSelf, 'bool', [1]);
  const logitPositions = b.input(io.logitPositions, 'int64', ['n_logits']);
  // The cache: past_* are the host's buffers of C slots (keys transposed [1, Hkv, hd, C], values
  // [1, Hkv, C, hd]; Hkv = nKvHeads), read in place; slots not yet filled are masked by the attention bias
  // [T, C + T]. added_* are this step's keys and values in the same layouts ([1, H, hd, T] and
  // [1, H, T, hd]), which the host copies into its buffers row by row. So each step moves O(T)
  // data through onnxruntime-node, which copies every fetched output into fresh JS memory:
  // returning the whole cache instead cost 112 ms per 1B step at 512 tokens of context
  // (measured: 140 ms vs 28 ms at 16 tokens).
  const past = Array.from({ length: nLayers }, (_, l) => ({
    keyT: b.input(io.pastKey(l), 'float32', [1, nKvHeads, headDim, 'slots']),
    value: b.input(io.pastValue(l), 'float32', [1, nKvHeads, 'slots', headDim]),
  }));

  const tables = ropeTables(cfg.llama, 2 * cfg.maxSeqLen);
  const cosTable = b.constFloat(tables.cos, [2 * cfg.maxSeqLen, headDim / 2], 'rope_cos');
  const sinTable = b.constFloat(tables.sin, [2 * cfg.maxSeqLen, headDim / 2], 'rope_sin');
  const cos = b.gather(cosTable, positions, 0);
  const sin = b.gather(sinTable, positions, 0);

  if (kernels !== 'fused' && kernels !== 'plain') throw new Error(`unknown kernels "${kernels}" (plain or fused)`);
  const fused: FusedKernelInputs | undefined = kernels === 'fused' ? { positionIds: b.reshape(positions, [1, -1]), cosCache: cosTable, sinCache: sinTable } : undefined;

  // The rows continue a sequence (no modality token, no image: visual tokens are spliced into the
  // embeddings on the host). Each block's router on the step's first token is output as
  // `router_probe`, and with route_from_first_token it is the block's own weights, so one pass of
  // the modality token alone reaches the per-checkpoint table (block l's weights depend only on
  // blocks < l); otherwise the fed table routes the block.
  const out = lavinForward(b, p, cfg, { tokens: embeds }, {
    cos,
    sin,
    attentionBias: bias,
    route: (l, firstRow) => b.where(routeSelf, firstRow, b.slice(router, [l], [l + 1], [0])),
    past,
    fused,
    logitRows: (hidden) => b.gather(hidden, logitPositions, 1),
  });

  b.output(out.logits, io.logits);
  out.added.forEach((kv, l) => {
    b.output(kv.keyT, io.addedKey(l));
    b.output(kv.value, io.addedValue(l));
  });
  const probes = out.firstRowRoutes;
  b.output(nLayers > 1 ? b.concat(probes, 0) : probes[0], io.probe);
  return g;
}
