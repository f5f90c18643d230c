// Training step with per-block recomputation, for models whose whole training graph is too big
// (7B: 32 blocks x T=512 activations kept for the backward pass, and every weight inside one
// session). The network is cut at block boundaries:
//   vision     pixels -> visual tokens V (forward graph; a VJP graph recomputes it for the backward)
//   assembly   h0 = [E_mod[m]; token embeddings + placement V]       (host, both directions)
//   block      h_in -> h_out, router weights: ONE forward graph and ONE vector-Jacobian-product graph
//              serve every layer (per storage format: a Q4_K_M file mixes them); the layer's weights
//              are graph inputs (fedParams.ts: fed per run, frozen 2-D floats pre-transposed,
//              quantised linears as their blocks), so weights live once in host memory and only
//              the block boundaries h_0..h_L are kept between the forward and backward passes
//   head       h_L -> loss and d loss / d h_L, in chunks of rows (the vocabulary is wide)
// Each VJP graph recomputes its segment's forward pass and contracts the outputs with the incoming
// gradient (sum(out * g_out)), which autodiff differentiates like any loss. Dropout masks are drawn
// in the same order as the whole-graph stepper's, so both steppers compute the same numbers.

import * as ort from 'onnxruntime-node';
import { gradients } from '../engine/graph/autodiff';
import { Builder } from '../engine/graph/builder';
import { Graph, Value } from '../engine/graph/graph';
import { HostParams, transpose2d } from '../engine/graph/params';
import { clipVisual, LavinConfig, lmHead, llamaDecoder, nextTokenLoss, ropeTables, routerWeights, visualProjection, visionOf } from '../engine/lavin';
import { createSession } from '../engine/session';
import { QuantizedWeight } from '../engine/quant';
import { floatsToHalf, HostTensor, numel, toFloat32 } from '../engine/tensor';
import { trainingAttentionBias, trainingLinearPolicy } from './trainingGraph';
import { FedParams, FeedSpec, QuantPart } from './fedParams';
import { LaidOutExample, labelledCount } from '../engine/sequence';
import { embeddingRowsOf, StepOptions, StepResult, TrainingStepperOptions } from './step';


interface Program {
  session: ort.InferenceSession;
  feeds: Map<string, FeedSpec>;
  /** Trainable input name -> gradient output name. */
  grads: Map<string, string>;
  masks: { name: string; shape: number[] }[];
}

const LAYER0 = 'layers.0.';
/** Logit floats per head run (32 MB; see headRows). */
const HEAD_CHUNK = 1 << 23;

export class BlockwiseTrainingStepper {
  private programs = new Map<string, Promise<Program>>();
  private readonly hostCache = new Map<string, Float32Array | Uint16Array>();
  private readonly T: number;
  private readonly embedRows: (ids: readonly number[]) => Float32Array;
  private readonly quantized: ReadonlyMap<string, QuantizedWeight>;

  constructor(
    readonly cfg: LavinConfig,
    private readonly tensors: ReadonlyMap<string, HostTensor>,
    readonly options: TrainingStepperOptions,
  ) {
    this.T = options.seqLen;
    this.embedRows = embeddingRowsOf(cfg, tensors, options.frozen);
    this.quantized = options.frozen?.quantized ?? new Map();
  }

  async dispose(): Promise<void> {
    for (const p of this.programs.values()) await (await p).session.release();
    this.programs.clear();
  }

  private trainableSet(): Set<string> {
    return new Set(this.options.trainable);
  }

  private program(key: string, build: () => { graph: Graph; params: FedParams | HostParams; grads: Map<string, string>; masks: { name: string; shape: number[] }[] }): Promise<Program> {
    let p = this.programs.get(key);
    if (!p) {
      p = (async () => {
        const built = build();
        const session = await createSession(built.graph, this.options.session);
        return { session, feeds: built.params instanceof FedParams ? built.params.feeds : new Map(), grads: built.grads, masks: built.masks };
      })();
      this.programs.set(key, p);
    }
    return p;
  }

  private maskHook(b: Builder, masks: { name: string; shape: number[] }[]) {
    if (!this.options.dropout) return undefined;
    return (u: Value) => {
      const shape = (u.shape as number[]).slice();
      const m = b.input(`dropout_mask_${masks.length}`, 'float32', shape);
      masks.push({ name: m.name, shape });
      return b.mul(u, m);
    };
  }

  /** Vision: pixels -> V [n, D]; with `vjp`, also d(sum(V * g_V)) / d(adapter params). */
  private vision(vjp: boolean) {
    return this.program(vjp ? 'vision_vjp' : 'vision', () => {
      const g = new Graph(vjp ? 'train_vision_vjp' : 'train_vision');
      const b = new Builder(g);
      const params = new HostParams(this.tensors, this.trainableSet());
      const masks: { name: string; shape: number[] }[] = [];
      const r = visionOf(this.cfg).resolution;
      const clip = clipVisual(b, params, this.cfg, b.input('pixels', 'float32', [1, 3, r, r]), this.maskHook(b, masks));
      const visual = visualProjection(b, params, clip.features);
      const grads = new Map<string, string>();
      if (vjp) {
        const gV = b.input('grad_out', 'float32', (visual.shape as number[]).slice());
        const wrt = g.inputs.filter((v) => this.trainableSet().has(v.name));
        const scalar = b.reduceSum(b.mul(visual, gV), [0, 1], false);
        for (const [name, gv] of gradients(b, scalar, wrt)) if (gv) grads.set(name, b.output(gv, `grad.${name}`).name);
      } else {
        b.output(visual, 'visual_tokens');
      }
      return { graph: g, params, grads, masks };
    });
  }

  /**
   * Which storage each of a layer's linears has (float, or bits/block/offsets): layers that store
   * theirs alike share one graph (a Q4_K_M file gives some layers' ffn_down Q6_K, others Q4_K).
   */
  private layerFormat(layer: number): string {
    const prefix = `layers.${layer}.`;
    const parts: string[] = [];
    for (const [name, q] of this.quantized) if (name.startsWith(prefix)) parts.push(`${name.slice(prefix.length)}:${q.bits}/${q.blockSize}${q.offsets ? '+o' : ''}`);
    return parts.sort().join(',');
  }

  /** One LLM block with layer-0 names, shaped like `layer`'s weights; every weight is an input. */
  private block(vjp: boolean, layer: number) {
    const format = this.layerFormat(layer);
    return this.program(`${vjp ? 'block_vjp' : 'block'}|${format}`, () => {
      const { dim, headDim } = this.cfg.llama;
      const T = this.T;
      const g = new Graph(vjp ? 'train_block_vjp' : 'train_block');
      const b = new Builder(g);
      const trainable = new Set([...this.trainableSet()].filter((n) => n.startsWith(LAYER0)).concat(
        [...this.trainableSet()].filter((n) => /^layers\.\d+\./.test(n)).map((n) => n.replace(/^layers\.\d+\./, LAYER0)),
      ));
      const quantizedOf = (name: string) => this.quantized.get(name.replace(/^layers\.0\./, `layers.${layer}.`));
      const params = new FedParams(this.tensors, trainable, this.options.frozenFormat === 'fp16', quantizedOf);
      const masks: { name: string; shape: number[] }[] = [];
      const hIn = b.input('h_in', 'float32', [1, T, dim]);
      const tables = ropeTables(this.cfg.llama, T);
      let route: Value | undefined;
      const out = llamaDecoder(b, params, { ...this.cfg, llama: { ...this.cfg.llama, nLayers: 1 } }, hIn, {
        cos: b.constFloat(tables.cos, [T, headDim / 2]),
        sin: b.constFloat(tables.sin, [T, headDim / 2]),
        attentionBias: b.constFloat(trainingAttentionBias(T), [T, T]),
        route: (l, normed) => (route = routerWeights(b, params, `layers.${l}.adapter_attn`, b.slice(normed, [0], [1], [1]), this.cfg.adapter.temperature)),
        dropout: this.maskHook(b, masks),
      });
      const grads = new Map<string, string>();
      if (vjp) {
        const gOut = b.input('grad_out', 'float32', [1, T, dim]);
        const scalar = b.reduceSum(b.mul(out.hidden, gOut), [0, 1, 2], false);
        const wrt = [hIn, ...params.trainableInputs(g)];
        for (const [name, gv] of gradients(b, scalar, wrt)) if (gv) grads.set(name, b.output(gv, `grad.${name}`).name);
      } else {
        b.output(out.hidden, 'h_out');
        b.output(b.reshape(route!, [1, 2]), 'router_weights');
      }
      return { graph: g, params, grads, masks };
    });
  }

  /**
   * Rows of h per head run: the head is per row (norm, logits, each row's -log p), so it runs on
   * chunks of rows whose logits stay near HEAD_CHUNK floats; one pass over every row would hold
   * several [T, vocab] tensors (8B at 512 tokens: 262 MB each).
   */
  private headRows(): number {
    return Math.max(1, Math.min(this.T - 1, Math.floor(HEAD_CHUNK / this.cfg.llama.vocab)));
  }

  /** Final norm, LM head and the cross-entropy of headRows() rows; outputs their loss and d loss / d h. */
  private head() {
    return this.program('head', () => {
      const { dim, vocab } = this.cfg.llama;
      const R = this.headRows();
      const g = new Graph('train_head');
      const b = new Builder(g);
      const params = new HostParams(this.tensors, new Set(), trainingLinearPolicy(this.options.frozenFormat), { prequantized: this.quantized });
      const h = b.input('h', 'float32', [1, R, dim]);
      const logits = lmHead(b, params, this.cfg, h);
      const loss = nextTokenLoss(b, logits, vocab, b.input('labels', 'int64', [R, 1]), b.input('label_weights', 'float32', [R, 1]));
      b.output(loss, 'loss');
      const grads = new Map<string, string>();
      grads.set('h', b.output(gradients(b, loss, [h]).get('h')!, 'grad.h').name);
      return { graph: g, params, grads, masks: [] };
    });
  }

  /** Host float32 copy of a tensor (transposed when asked), made once. */
  private host(name: string, transposed: boolean): Float32Array {
    return this.hostCopy({ name, transposed, half: false }) as Float32Array;
  }

  /** Host copy of a tensor in the form a graph input wants, made once per form. */
  private hostCopy(src: FeedSpec): Float32Array | Uint16Array {
    const key = `${src.name}${src.transposed ? '.T' : ''}${src.half ? '.fp16' : ''}`;
    let v = this.hostCache.get(key);
    if (!v) {
      const t = this.tensors.get(src.name);
      if (!t) throw new Error(`missing parameter ${src.name}`);
      const f = src.transposed ? toFloat32(transpose2d(t, src.name)) : toFloat32(t);
      v = src.half ? floatsToHalf(f) : f;
      this.hostCache.set(key, v);
    }
    return v;
  }

  private paramFeeds(p: Program, layer: number | undefined, params: ReadonlyMap<string, Float32Array>): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [input, src] of p.feeds) {
      const real = layer === undefined ? src.name : src.name.replace(/^layers\.0\./, `layers.${layer}.`);
      if (src.part) {
        feeds[input] = this.quantizedFeed(real, src.part);
        continue;
      }
      const shape = this.tensors.get(real)!.shape;
      const trained = params.get(real);
      if (this.options.trainable.includes(real) && !trained) throw new Error(`training: no value for trainable parameter ${real}`);
      const dims = src.transposed ? [shape[1], shape[0]] : shape;
      feeds[input] = trained
        ? new ort.Tensor('float32', trained, dims)
        : src.half
          ? new ort.Tensor('float16', this.hostCopy({ ...src, name: real }) as Uint16Array, dims)
          : new ort.Tensor('float32', this.hostCopy({ ...src, name: real }) as Float32Array, dims);
    }
    return feeds;
  }

  /** A part of a quantised weight as a graph input (the codes are fed as stored: no copy). */
  private quantizedFeed(name: string, part: QuantPart): ort.Tensor {
    const q = this.quantized.get(name);
    if (!q) throw new Error(`training: ${name} is not quantised like layer 0's (blockwise graphs are shared per storage format)`);
    if (part === 'packed') return new ort.Tensor('uint8', q.packed.data, q.packed.shape);
    if (part === 'zeroPoints') return new ort.Tensor('uint8', q.zeroPoints.data, q.zeroPoints.shape);
    if (part === 'scales') return new ort.Tensor('float32', floatView(q.scales), q.scales.shape);
    const key = `${name}.offsetsT`;
    let t = this.hostCache.get(key) as Float32Array | undefined;
    if (!t) {
      const blocks = Math.ceil(q.k / q.blockSize);
      t = toFloat32(transpose2d({ dtype: 'float32', shape: [q.n, blocks], data: q.offsets!.data }, key));
      this.hostCache.set(key, t);
    }
    return new ort.Tensor('float32', t, [Math.ceil(q.k / q.blockSize), q.n]);
  }

  private drawMasks(masks: { name: string; shape: number[] }[], random: (() => number) | undefined): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    if (!masks.length) return feeds;
    if (!random) throw new Error('training: dropout is on but no random source was given');
    const p = this.options.dropout!.p;
    for (const m of masks) {
      const mask = new Float32Array(numel(m.shape));
      for (let i = 0; i < mask.length; i++) mask[i] = random() < p ? 0 : 1 / (1 - p);
      feeds[m.name] = new ort.Tensor('float32', mask, m.shape);
    }
    return feeds;
  }

  async run(ex: LaidOutExample, params: ReadonlyMap<string, Float32Array>, opts: StepOptions = {}): Promise<StepResult> {
    const T = this.T;
    const { dim, nLayers } = this.cfg.llama;
    if (ex.slots.length !== T - 1 || ex.labelsInserted.length !== T) throw new Error(`training example${ex.source ? ` (${ex.source})` : ''}: laid out for ${ex.slots.length + 1} positions, the graph has ${T}`);
    const grads = new Map<string, Float32Array>(this.options.trainable.map((k) => [k, new Float32Array(numel(this.tensors.get(k)!.shape))]));
    const addGrad = (name: string, g: Float32Array) => {
      const acc = grads.get(name);
      if (acc) for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    };

    // ---- vision forward (masks drawn first, as in the whole graph) -----------------------------
    let visionMasks: Record<string, ort.Tensor> = {};
    let visual: Float32Array | undefined;
    const image = ex.modality === 'image';
    if (image) {
      const r = visionOf(this.cfg).resolution;
      if (!ex.pixels || ex.pixels.length !== 3 * r * r) throw new Error(`training example${ex.source ? ` (${ex.source})` : ''}: image needs 3x${r}x${r} pixels`);
      const vf = await this.vision(false);
      visionMasks = this.drawMasks(vf.masks, opts.random);
      const pixels = new ort.Tensor('float32', ex.pixels, [1, 3, r, r]);
      const trainedFeeds = Object.fromEntries(this.options.trainable.filter((k) => vf.session.inputNames.includes(k)).map((k) => [k, new ort.Tensor('float32', params.get(k)!, this.tensors.get(k)!.shape)]));
      visual = (await vf.session.run({ pixels, ...trainedFeeds, ...visionMasks })).visual_tokens.data as Float32Array;
    }

    // ---- assembly -----------------------------------------------------------------------------
    const m = image ? 1 : 0;
    const eMod = params.get('adapter_modality_embedding.weight') ?? this.host('adapter_modality_embedding.weight', false);
    const h0 = new Float32Array(T * dim);
    h0.set(eMod.subarray(m * dim, (m + 1) * dim), 0);
    for (const s of ex.slots) if ('token' in s && s.token < 0) throw new Error(`token id ${s.token} outside the vocabulary`);
    h0.set(this.embedRows(ex.slots.map((s) => ('token' in s ? s.token : -1))), dim);
    ex.slots.forEach((s, i) => {
      const row = (i + 1) * dim;
      if (!('token' in s)) {
        if (!visual) throw new Error('training: a text-only example has visual slots');
        h0.set(visual.subarray(s.visual * dim, (s.visual + 1) * dim), row);
      }
    });

    // ---- blocks forward, keeping only the boundaries --------------------------------------------
    const hs: Float32Array[] = [h0];
    const blockMasks: Record<string, ort.Tensor>[] = [];
    const routes = new Float32Array(nLayers * 2);
    for (let l = 0; l < nLayers; l++) {
      const fwd = await this.block(false, l);
      blockMasks.push(this.drawMasks(fwd.masks, opts.random));
      const out = await fwd.session.run({ h_in: new ort.Tensor('float32', hs[l], [1, T, dim]), ...this.paramFeeds(fwd, l, params), ...blockMasks[l] });
      hs.push(out.h_out.data as Float32Array);
      routes.set(out.router_weights.data as Float32Array, l * 2);
    }

    // ---- head ---------------------------------------------------------------------------------
    const n = labelledCount(ex);
    const tokenWeight = opts.tokenWeight ?? (n > 0 ? 1 / n : 0);
    const labels = new BigInt64Array(T - 1);
    const weights = new Float32Array(T - 1);
    for (let i = 1; i < T; i++) {
      if (ex.labelsInserted[i] !== 0) {
        labels[i - 1] = BigInt(ex.labelsInserted[i]);
        weights[i - 1] = tokenWeight;
      }
    }
    // Logit rows 0..T-2 in chunks of R (the last one padded with weight-0 rows); row T-1 has none.
    const head = await this.head();
    const R = this.headRows();
    let loss = 0;
    let g: Float32Array = new Float32Array(T * dim);
    for (let r0 = 0; r0 < T - 1; r0 += R) {
      const rows = Math.min(R, T - 1 - r0);
      const h = new Float32Array(R * dim);
      h.set(hs[nLayers].subarray(r0 * dim, (r0 + rows) * dim));
      const lab = new BigInt64Array(R);
      lab.set(labels.subarray(r0, r0 + rows));
      const wts = new Float32Array(R);
      wts.set(weights.subarray(r0, r0 + rows));
      const ho = await head.session.run({ h: new ort.Tensor('float32', h, [1, R, dim]), labels: new ort.Tensor('int64', lab, [R, 1]), label_weights: new ort.Tensor('float32', wts, [R, 1]) });
      loss += (ho.loss.data as Float32Array)[0];
      g.set((ho['grad.h'].data as Float32Array).subarray(0, rows * dim), r0 * dim);
    }

    // ---- blocks backward (recomputing each block) -----------------------------------------------
    for (let l = nLayers - 1; l >= 0; l--) {
      const vjp = await this.block(true, l);
      const out = await vjp.session.run({ h_in: new ort.Tensor('float32', hs[l], [1, T, dim]), grad_out: new ort.Tensor('float32', g, [1, T, dim]), ...this.paramFeeds(vjp, l, params), ...blockMasks[l] });
      for (const [input, output] of vjp.grads) {
        if (input === 'h_in') continue;
        addGrad(input.replace(/^layers\.0\./, `layers.${l}.`), out[output].data as Float32Array);
      }
      g = out[vjp.grads.get('h_in')!].data as Float32Array;
    }

    // ---- assembly backward, then vision ---------------------------------------------------------
    const gMod = new Float32Array(2 * dim);
    gMod.set(g.subarray(0, dim), m * dim);
    addGrad('adapter_modality_embedding.weight', gMod);
    if (image) {
      const nv = this.cfg.adapter.nVisualTokens;
      const gV = new Float32Array(nv * dim);
      ex.slots.forEach((s, i) => {
        if ('visual' in s) for (let d = 0; d < dim; d++) gV[s.visual * dim + d] += g[(i + 1) * dim + d];
      });
      const vv = await this.vision(true);
      const r = visionOf(this.cfg).resolution;
      const trainedFeeds = Object.fromEntries(this.options.trainable.filter((k) => vv.session.inputNames.includes(k)).map((k) => [k, new ort.Tensor('float32', params.get(k)!, this.tensors.get(k)!.shape)]));
      const out = await vv.session.run({ pixels: new ort.Tensor('float32', ex.pixels!, [1, 3, r, r]), grad_out: new ort.Tensor('float32', gV, [nv, dim]), ...trainedFeeds, ...visionMasks });
      for (const [input, output] of vv.grads) addGrad(input, out[output].data as Float32Array);
    }
    return { loss, grads, routerWeights: routes, labelledTokens: n };
  }
}

/** A float32 HostTensor's values without a copy where its bytes are aligned. */
function floatView(t: HostTensor): Float32Array {
  const d = t.data;
  return d.byteOffset % 4 === 0 ? new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4) : toFloat32(t);
}
