// The training graph: one forward + backward pass of LaVIN for one example of a fixed length:
// engine/lavin.ts's lavinForward with its loss, differentiated by engine/graph/autodiff.
//
// Sequence (T = seqLen positions, the reference's `max_words`):
//   row 0      : E_mod[m] = modality(one-hot [1,2]) @ adapter_modality_embedding
//   rows 1..T-1: token embeddings computed on the host (frozen; zero rows where visual tokens go)
//                + visual_placement [T-1, nVisual] @ adapter_proj(CLIP taps)     (image graphs only)
// The router of every LLM block reads that block's normalised row 0 (the modality token), which is
// masked as a key for every later row. Loss: sum over rows of -log p(label) * label_weight, where
// the host sets weight = 1 / (labelled tokens) for labelled rows and 0 elsewhere (ignore label 0).

import { addGradientOutputs } from '../engine/graph/autodiff';
import { Builder } from '../engine/graph/builder';
import { Graph, Value } from '../engine/graph/graph';
import { HostParams } from '../engine/graph/params';
import { LavinConfig, lavinForward, LavinSequence, llamaLinearPolicy, ropeTables, visionOf } from '../engine/lavin';
import { QuantizedWeight } from '../engine/quant';
import { HostTensor } from '../engine/tensor';

export const TRAIN_IO = {
  modality: 'modality_onehot',
  tokenEmbeds: 'token_embeds',
  pixels: 'pixels',
  placement: 'visual_placement',
  labels: 'labels',
  labelWeights: 'label_weights',
  loss: 'loss',
  routerWeights: 'router_weights',
  gradPrefix: 'grad.',
} as const;

export interface DropoutSpec {
  /** Drop probability of the adapter bottleneck u (0.1 in LaVIN). */
  p: number;
}

export interface TrainingGraphOptions {
  /** Adapter parameter names (official, without `module.`) to differentiate. */
  trainable: string[];
  /** Positions in the LLM sequence, modality token included (the reference's max_words). */
  seqLen: number;
  /** Include CLIP + adapter_proj (image examples); text-only graphs skip the vision tower. */
  withImage: boolean;
  /** Dropout on every MM-adapter bottleneck, driven by masks fed as graph inputs. */
  dropout?: DropoutSpec;
  /**
   * Storage of the frozen LLaMA float linear weights: fp32 (default) or fp16 (half the memory, cast
   * to fp32 in the graph; lossless for Meta's fp16 checkpoints).
   */
  frozenFormat?: 'fp32' | 'fp16';
  /**
   * Frozen linears kept in their int8/int4 blocks (absent from the tensor map): multiplied by
   * MatMulNBits at TRAINING_ACCURACY_LEVEL, their input gradient through the weight rebuilt in the
   * backward pass (autodiff's MatMulNBits rule); no float copy is held.
   */
  quantized?: ReadonlyMap<string, QuantizedWeight>;
}

/**
 * MatMulNBits accuracy level of training graphs: 0 multiplies in float32 (the dequantised weight's
 * own numbers, as the backward pass does), not with int8-quantised activations (level 4,
 * inference's): the gradient is then the gradient of the function the forward pass computes.
 */
export const TRAINING_ACCURACY_LEVEL = 0;

/** The linear policy of a training graph's frozen weights. */
export function trainingLinearPolicy(format: 'fp32' | 'fp16' = 'fp32') {
  return { ...llamaLinearPolicy(format), accuracyLevel: TRAINING_ACCURACY_LEVEL };
}

export interface DropoutMaskInput {
  name: string;
  shape: number[];
}

export interface TrainingGraph {
  graph: Graph;
  options: TrainingGraphOptions;
  /** Trainable name -> gradient output name; undefined where the loss does not depend on it. */
  gradOutputs: Map<string, string | undefined>;
  /** Trainable parameters the graph takes as inputs (a subset of options.trainable). */
  paramInputs: string[];
  /** Dropout mask inputs in creation order (the host fills them, values 0 or 1/(1-p)). */
  dropoutMasks: DropoutMaskInput[];
  nVisual: number;
}

/** Attention bias of the training layout: causal, and column 0 (the modality token) hidden from rows >= 1. */
export function trainingAttentionBias(T: number): Float32Array {
  const bias = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (j > i || (j === 0 && i > 0)) bias[i * T + j] = -Infinity;
  return bias;
}

export function buildTrainingGraph(cfg: LavinConfig, tensors: ReadonlyMap<string, HostTensor>, opts: TrainingGraphOptions): TrainingGraph {
  const T = opts.seqLen;
  if (!Number.isInteger(T) || T < 2) throw new Error(`training graph: seqLen must be an integer >= 2, got ${T}`);
  if (T > 2 * cfg.maxSeqLen) throw new Error(`training graph: seqLen ${T} exceeds the RoPE table (${2 * cfg.maxSeqLen})`);
  for (const name of opts.trainable) if (!tensors.has(name)) throw new Error(`training graph: trainable parameter ${name} is not in the weights`);
  if (opts.dropout && !(opts.dropout.p >= 0 && opts.dropout.p < 1)) throw new Error(`training graph: dropout p must be in [0, 1), got ${opts.dropout.p}`);

  const g = new Graph(opts.withImage ? 'lavin_train_image' : 'lavin_train_text');
  const b = new Builder(g);
  const trainable = new Set(opts.trainable);
  const format = opts.frozenFormat ?? 'fp32';
  if (format !== 'fp32' && format !== 'fp16') throw new Error(`training graph: frozen weights can be fp32 or fp16, not ${String(format)}`);
  const p = new HostParams(tensors, trainable, trainingLinearPolicy(format), { prequantized: opts.quantized });
  const { dim, headDim } = cfg.llama;
  const nVisual = cfg.adapter.nVisualTokens;

  const dropoutMasks: DropoutMaskInput[] = [];
  const dropout = opts.dropout
    ? (u: Value) => {
        const shape = u.shape as number[];
        const mask = b.input(`dropout_mask_${dropoutMasks.length}`, 'float32', shape.slice());
        dropoutMasks.push({ name: mask.name, shape: shape.slice() });
        return b.mul(u, mask);
      }
    : undefined;

  // ---- the sequence (lavinForward: modality token, tokens with the visual tokens placed, routing
  // from row 0) and the next-token cross-entropy over rows 0..T-2 ---------------------------------
  const r = opts.withImage ? visionOf(cfg).resolution : 0;
  const seq: LavinSequence = {
    modality: b.input(TRAIN_IO.modality, 'float32', [1, 2]),
    tokens: b.input(TRAIN_IO.tokenEmbeds, 'float32', [1, T - 1, dim]),
    image: opts.withImage ? { pixels: b.input(TRAIN_IO.pixels, 'float32', [1, 3, r, r]), placement: b.input(TRAIN_IO.placement, 'float32', [T - 1, nVisual]) } : undefined,
  };
  const tables = ropeTables(cfg.llama, T);
  const out = lavinForward(b, p, cfg, seq, {
    cos: b.constFloat(tables.cos, [T, headDim / 2], 'rope_cos'),
    sin: b.constFloat(tables.sin, [T, headDim / 2], 'rope_sin'),
    attentionBias: b.constFloat(trainingAttentionBias(T), [T, T], 'attention_bias'),
    dropout,
    logitRows: (hidden) => b.slice(hidden, [0], [T - 1], [1]),
    targets: { labels: b.input(TRAIN_IO.labels, 'int64', [T - 1, 1]), weights: b.input(TRAIN_IO.labelWeights, 'float32', [T - 1, 1]) },
  });
  const loss = out.loss!;
  const routes = out.firstRowRoutes;
  b.output(loss, TRAIN_IO.loss);
  b.output(routes.length > 1 ? b.concat(routes, 0) : routes[0], TRAIN_IO.routerWeights);

  // ---- gradients --------------------------------------------------------------------------------
  const paramInputs = g.inputs.filter((v) => trainable.has(v.name));
  const gradOutputs = addGradientOutputs(b, loss, paramInputs, TRAIN_IO.gradPrefix);
  for (const name of opts.trainable) if (!gradOutputs.has(name)) gradOutputs.set(name, undefined);
  return { graph: g, options: opts, gradOutputs, paramInputs: paramInputs.map((v) => v.name), dropoutMasks, nVisual };
}
