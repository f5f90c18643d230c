// Runs the training graph: one forward + backward pass per example, on onnxruntime. Holds one
// session per modality (text-only graphs skip the vision tower) for a fixed sequence length.

import * as ort from 'onnxruntime-node';
import { LavinConfig, visionOf } from '../engine/lavin';
import { createSession, SessionConfig } from '../engine/session';
import { HostTensor, numel, toFloat32 } from '../engine/tensor';
import { buildTrainingGraph, DropoutSpec, TRAIN_IO, TrainingGraph } from './trainingGraph';
import { LaidOutExample, labelledCount, Modality } from '../engine/sequence';
import { FrozenExtras } from './frozenWeights';

export interface StepResult {
  loss: number;
  /** d loss / d param for every trainable name (zeros where the loss does not depend on it). */
  grads: Map<string, Float32Array>;
  /** [L, 2] LLM router weights of this example's modality. */
  routerWeights: Float32Array;
  labelledTokens: number;
}

export interface StepOptions {
  /**
   * Weight of each labelled token's -log p in the loss. Default 1 / (labelled tokens of this
   * example): the reference's per-batch mean for a batch of one.
   */
  tokenWeight?: number;
  /** Uniform [0,1) source for the dropout masks (required when the graphs have dropout). */
  random?: () => number;
}

export interface TrainingStepperOptions {
  trainable: string[];
  seqLen: number;
  dropout?: DropoutSpec;
  /** Frozen LLaMA float linear weights in fp32 (default) or fp16. */
  frozenFormat?: 'fp32' | 'fp16';
  /** Frozen weights not in the tensor map: quantised linears (kept in their blocks) and embedding rows. */
  frozen?: FrozenExtras;
  session?: SessionConfig;
}

/** Frozen token-embedding rows [ids.length, D] from the table or the given reader (zero rows for negative ids). */
export function embeddingRowsOf(cfg: LavinConfig, tensors: ReadonlyMap<string, HostTensor>, frozen: FrozenExtras | undefined): (ids: readonly number[]) => Float32Array {
  const { dim, vocab } = cfg.llama;
  const t = tensors.get('tok_embeddings.weight');
  const read = frozen?.embeddingRows;
  if (!t && !read) throw new Error('training: missing parameter tok_embeddings.weight');
  return (ids) => {
    for (const id of ids) if (id >= 0 && (!Number.isInteger(id) || id >= vocab)) throw new Error(`token id ${id} outside the vocabulary (0..${vocab - 1})`);
    const out = new Float32Array(ids.length * dim);
    if (read) {
      const real = ids.filter((id) => id >= 0);
      const rows = read(real);
      let j = 0;
      ids.forEach((id, i) => {
        if (id >= 0) out.set(rows.subarray(j * dim, ++j * dim), i * dim);
      });
      return out;
    }
    const bytes = t!.dtype === 'float32' ? 4 : 2;
    ids.forEach((id, i) => {
      if (id >= 0) out.set(toFloat32({ dtype: t!.dtype, shape: [dim], data: t!.data.subarray(id * dim * bytes, (id + 1) * dim * bytes) }), i * dim);
    });
    return out;
  };
}

export class TrainingStepper {
  private readonly programs = new Map<Modality, Promise<{ tg: TrainingGraph; session: ort.InferenceSession }>>();
  private readonly embedRows: (ids: readonly number[]) => Float32Array;

  constructor(
    readonly cfg: LavinConfig,
    private readonly tensors: ReadonlyMap<string, HostTensor>,
    readonly options: TrainingStepperOptions,
  ) {
    this.embedRows = embeddingRowsOf(cfg, tensors, options.frozen);
  }

  private program(m: Modality) {
    let p = this.programs.get(m);
    if (!p) {
      p = (async () => {
        const tg = buildTrainingGraph(this.cfg, this.tensors, { trainable: this.options.trainable, seqLen: this.options.seqLen, withImage: m === 'image', dropout: this.options.dropout, frozenFormat: this.options.frozenFormat, quantized: this.options.frozen?.quantized });
        return { tg, session: await createSession(tg.graph, this.options.session) };
      })();
      this.programs.set(m, p);
    }
    return p;
  }

  async dispose(): Promise<void> {
    for (const p of this.programs.values()) await (await p).session.release();
    this.programs.clear();
  }

  /** Forward + backward for one laid-out example at the current parameter values. */
  async run(ex: LaidOutExample, params: ReadonlyMap<string, Float32Array>, opts: StepOptions = {}): Promise<StepResult> {
    const T = this.options.seqLen;
    const { dim } = this.cfg.llama;
    if (ex.slots.length !== T - 1 || ex.labelsInserted.length !== T) {
      throw new Error(`training example${ex.source ? ` (${ex.source})` : ''}: laid out for ${ex.slots.length + 1} positions, the graph has ${T}`);
    }
    const { tg, session } = await this.program(ex.modality);
    const n = labelledCount(ex);
    const tokenWeight = opts.tokenWeight ?? (n > 0 ? 1 / n : 0);

    const feeds: Record<string, ort.Tensor> = {};
    for (const name of tg.paramInputs) {
      const v = params.get(name);
      const shape = this.tensors.get(name)!.shape;
      if (!v) throw new Error(`training: no value for trainable parameter ${name}`);
      if (v.length !== numel(shape)) throw new Error(`training: ${name} has ${v.length} values, expected [${shape}]`);
      feeds[name] = new ort.Tensor('float32', v, shape);
    }
    feeds[TRAIN_IO.modality] = new ort.Tensor('float32', Float32Array.from(ex.modality === 'image' ? [0, 1] : [1, 0]), [1, 2]);
    feeds[TRAIN_IO.tokenEmbeds] = new ort.Tensor('float32', this.embedRows(ex.slots.map((s) => ('token' in s ? s.token : -1))), [1, T - 1, dim]);
    if (ex.modality === 'image') {
      const r = visionOf(this.cfg).resolution;
      if (!ex.pixels || ex.pixels.length !== 3 * r * r) throw new Error(`training example${ex.source ? ` (${ex.source})` : ''}: image needs 3x${r}x${r} pixels`);
      feeds[TRAIN_IO.pixels] = new ort.Tensor('float32', ex.pixels, [1, 3, r, r]);
      const nv = tg.nVisual;
      const placement = new Float32Array((T - 1) * nv);
      ex.slots.forEach((s, i) => {
        if ('visual' in s) placement[i * nv + s.visual] = 1;
      });
      feeds[TRAIN_IO.placement] = new ort.Tensor('float32', placement, [T - 1, nv]);
    } else if (ex.slots.some((s) => 'visual' in s)) {
      throw new Error('training: a text-only example has visual slots');
    }
    const labels = new BigInt64Array(T - 1);
    const weights = new Float32Array(T - 1);
    for (let i = 1; i < T; i++) {
      const l = ex.labelsInserted[i];
      if (l !== 0) {
        labels[i - 1] = BigInt(l);
        weights[i - 1] = tokenWeight;
      }
    }
    feeds[TRAIN_IO.labels] = new ort.Tensor('int64', labels, [T - 1, 1]);
    feeds[TRAIN_IO.labelWeights] = new ort.Tensor('float32', weights, [T - 1, 1]);
    if (tg.dropoutMasks.length) {
      const rnd = opts.random;
      const p = this.options.dropout!.p;
      if (!rnd) throw new Error('training: dropout is on but no random source was given');
      for (const m of tg.dropoutMasks) {
        const mask = new Float32Array(numel(m.shape));
        for (let i = 0; i < mask.length; i++) mask[i] = rnd() < p ? 0 : 1 / (1 - p);
        feeds[m.name] = new ort.Tensor('float32', mask, m.shape);
      }
    }

    const out = await session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const name of this.options.trainable) {
      const o = tg.gradOutputs.get(name);
      grads.set(name, o ? (out[o].data as Float32Array) : new Float32Array(numel(this.tensors.get(name)!.shape)));
    }
    return { loss: (out[TRAIN_IO.loss].data as Float32Array)[0], grads, routerWeights: out[TRAIN_IO.routerWeights].data as Float32Array, labelledTokens: n };
  }
}
