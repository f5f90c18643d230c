// Inference graphs assembled from the one model definition in lavin.ts.
//
// - vision: pixels -> CLS taps -> visual tokens (+ the ViT's per-token router weights).
// - decoder: one graph for prefill, decode and teacher forcing. Inputs are embeddings (the
//   embedding lookup is a row copy done on the host), RoPE positions, an additive attention bias,
//   the per-layer router weights and the KV cache. Its `router_probe` output is the router of each
//   block evaluated on the first input token, which is how the per-checkpoint router table is
//   computed without a second copy of the network (see routerTable in runtime.ts).

import { Builder } from './graph/builder';
import { Graph, Value } from './graph/graph';
import { HostParams, LinearPolicy, ParamSource } from './graph/params';
import { HostTensor } from './tensor';
import { clipVisual, FusedKernelInputs, LavinConfig, lmHead, llamaDecoder, ropeTables, routerWeights, visualProjection } from './lavin';

/** LaVIN's adapter parameters: every name with an `adapter*` part (LLM and ViT adapters, routers, projection, modality embedding). */
export function isAdapterParam(name: string): boolean {
  return name.split('.').some((part) => part.startsWith('adapter'));
}

/**
 * Parameters for inference graphs: backbones as initializers, adapters as graph inputs, so an adapter
 * set can be swapped into running sessions without rebuilding them (the runtime feeds them, in the
 * layouts the graph multiplies by: measured 13% of a 1B decode step when re-laid-out in the graph).
 */
export function inferenceParams(tensors: ReadonlyMap<string, HostTensor>, policy?: LinearPolicy): HostParams {
  return new HostParams(tensors, new Set([...tensors.keys()].filter(isAdapterParam)), policy, { feedLaidOut: true });
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
  const { resolution, layers } = cfg.clip;
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
  logitPositions: 'logit_positions',
  logits: 'logits',
  probe: 'router_probe',
  pastKey: (l: number) => `past_key_${l}`,
  pastValue: (l: number) => `past_value_${l}`,
  addedKey: (l: number) => `added_key_${l}`,
  addedValue: (l: number) => `added_value_${l}`,
} as const;

/** 'plain': standard ONNX ops (the differentiable definition); 'fused': onnxruntime's fused kernels. */
export type Kernels = 'plain' | 'fused';

export function buildDecoderGraph(cfg: LavinConfig, p: ParamSource, kernels: Kernels = 'plain'): Graph {
  const g = new Graph('lavin_decoder');
  const b = new Builder(g);
  const { dim, nLayers, nHeads, headDim, ropeTheta } = cfg.llama;
  const io = DECODER_IO;

  const embeds = b.input(io.embeds, 'float32', [1, 'seq', dim]);
  const positions = b.input(io.positions, 'int64', ['seq']);
  const bias = b.input(io.bias, 'float32', ['seq', 'total']);
  const router = b.input(io.router, 'float32', [nLayers, 2]);
  const logitPositions = b.input(io.logitPositions, 'int64', ['n_logits']);
  // The cache: past_* are the host's buffers [1, H, capacity, hd], of which the first P rows are
  // valid (P + T = the attention bias's width); added_* are this step's keys and values [1, T, D],
  // which the host writes into its buffers. So each step moves O(T) data through onnxruntime-node,
  // which copies every fetched output into fresh JS memory: returning the whole cache instead cost
  // 112 ms per 1B step at 512 tokens of context (measured: 140 ms vs 28 ms at 16 tokens).
  const past = Array.from({ length: nLayers }, (_, l) => ({
    key: b.input(io.pastKey(l), 'float32', [1, nHeads, 'capacity', headDim]),
    value: b.input(io.pastValue(l), 'float32', [1, nHeads, 'capacity', headDim]),
  }));
  const dimOf = (v: Value, axis: number) => b.gather(b.op('Shape', [v], [{ dtype: 'int64', shape: [v.rank] }])[0], b.constInt64([axis]), 0);
  const total = dimOf(bias, 1); // int64 [1]: P + T
  const cached = b.sub(total, dimOf(embeds, 1)); // P

  const tables = ropeTables(headDim, 2 * cfg.maxSeqLen, ropeTheta);
  const cosTable = b.constFloat(tables.cos, [2 * cfg.maxSeqLen, headDim / 2], 'rope_cos');
  const sinTable = b.constFloat(tables.sin, [2 * cfg.maxSeqLen, headDim / 2], 'rope_sin');
  const cos = b.gather(cosTable, positions, 0);
  const sin = b.gather(sinTable, positions, 0);

  let fused: FusedKernelInputs | undefined;
  let valid = past;
  if (kernels === 'fused') {
    // GroupQueryAttention reads the first P rows of each past buffer: seqlens_k = P + T - 1.
    const total32 = b.cast(total, 'int32');
    fused = {
      positionIds: b.reshape(positions, [1, -1]),
      cosCache: cosTable,
      sinCache: sinTable,
      seqlensK: b.op('Sub', [total32, b.initializer('one_i32', { dtype: 'int32', shape: [1], data: new Uint8Array(Int32Array.from([1]).buffer) })], [{ dtype: 'int32', shape: [1] }])[0],
      totalLength: b.reshape(total32, []),
    };
  } else if (kernels === 'plain') {
    const rows = (v: Value) => b.op('Slice', [v, b.constInt64([0]), cached, b.constInt64([2])], [{ dtype: v.dtype, shape: [1, nHeads, 'past', headDim] }])[0];
    valid = past.map((kv) => ({ key: rows(kv.key), value: rows(kv.value) }));
  } else {
    throw new Error(`unknown kernels "${kernels}" (plain or fused)`);
  }

  const out = llamaDecoder(b, p, cfg, embeds, {
    cos,
    sin,
    attentionBias: bias,
    route: (l) => b.slice(router, [l], [l + 1], [0]),
    past: valid,
    fused,
  });

  const selected = b.gather(out.hidden, logitPositions, 1);
  b.output(lmHead(b, p, cfg, selected), io.logits);
  out.added.forEach((kv, l) => {
    b.output(kv.key, io.addedKey(l));
    b.output(kv.value, io.addedValue(l));
  });
  const probes: Value[] = out.normed.map((n, l) =>
    b.reshape(routerWeights(b, p, `layers.${l}.adapter_attn`, b.slice(n, [0], [1], [1]), cfg.adapter.temperature), [1, 2]),
  );
  b.output(nLayers > 1 ? b.concat(probes, 0) : probes[0], io.probe);
  return g;
}
