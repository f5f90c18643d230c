// Runs the inference graphs: vision pass, embedding lookup, the router table, and decoder steps over
// a KV cache (kvCache.ts). Token-level only: text, prompts and sampling live in generate.ts; opening
// a converted copy's sessions (and its packed weights) lives in convertedSessions.ts.
// It passes 400 lines because a decoder step has two paths, the KV cache in host memory and on a
// GPU (moving it: deviceKv.ts), over one decoder session and one set of adapter feeds that this
// class keeps; split apart they would share most of the class's private state.

import * as ort from 'onnxruntime-node';
import { openConvertedSessions, OpenOptions } from './convertedSessions';
import { LavinConfig, llamaLinearPolicy, visionOf } from './lavin';
import { QuantizedWeight, WeightFormat } from './quant';
import { buildDecoderGraph, buildVisionGraph, DECODER_IO, freeAdapterAxis, inferenceParams, isAdapterParam, Kernels, VISION_IO, withIdentityAdapters } from './programs';
import { createSession, ExecutionDevice, f32, i64, SessionConfig } from './session';
import { parseLaidOutName, layOutHost } from './graph/layouts';
import { HostTensor, toFloat32 } from './tensor';
import { KvCache } from './kvCache';
import { decoderSessionConfig, DeviceTensors, keepsKvOnDevice } from './deviceKv';
import type { Modality } from './sequence';
export { KvCache };
export type { Modality, OpenOptions };

/** How the decoder is built: weight format of the LLaMA linears and plain or fused kernels. */
export interface EngineOptions {
  weights?: WeightFormat;
  kernels?: Kernels;
}

/** A backbone read from a GGUF file or Hugging Face folder (weights/backbone.ts). */
export interface BackboneWeights {
  /** Linear weights kept in their file's blocks (MatMulNBits), by engine name: never widened to float32. */
  prequantized?: ReadonlyMap<string, QuantizedWeight>;
  /** Rows of the token embedding table [ids.length, D] when the table is not a float tensor in `tensors` (quantised). */
  embeddingRows?: (ids: readonly number[]) => Float32Array;
  /** Releases what embeddingRows reads (the open file); called by dispose. */
  close?: () => void;
}
export const MODALITY_INDEX: Record<Modality, number> = { text: 0, image: 1 };

export interface VisionResult {
  features: Float32Array; // [n, W]
  visualTokens: Float32Array; // [n, D]
  clipRouterWeights: Float32Array; // [layers, T, 2]
}

/** Prompt tokens per decoder call in `prefill`. */
export const PREFILL_CHUNK = 256;

export interface StepInput {
  embeds: Float32Array; // [T, D]
  positions: number[]; // RoPE position of each input token
  routerWeights: Float32Array; // [L, 2]
  cache: KvCache;
  /** Which input rows to return logits for (default: the last). */
  logitRows?: number[];
  /** Extra -inf bias entries: [row, column] pairs within the step's [T, P+T] score matrix. */
  masked?: (row: number, column: number) => boolean;
  /** Route every block from its router on the first token, ignoring routerWeights (routerTable). */
  routeFromFirstToken?: boolean;
}

const ROUTE_FED = new ort.Tensor('bool', Uint8Array.from([0]), [1]);
const ROUTE_SELF = new ort.Tensor('bool', Uint8Array.from([1]), [1]);

/**
 * Where decoder steps spend their time, summed since the runtime opened (bench/checkGpu.ts resets
 * it): preparing feeds, the decoder's run (on a GPU including onnxruntime's uploads of host inputs
 * and downloads of host outputs), and keeping the KV cache (host copy or device write).
 */
export interface StepStats {
  steps: number;
  prepareMs: number;
  runMs: number;
  kvMs: number;
  /** Bytes of host tensors given to the decoder and KV sessions (on a GPU: uploaded). */
  hostInputBytes: number;
  /** Bytes of host tensors they returned (on a GPU: downloaded). */
  hostOutputBytes: number;
}

export const emptyStepStats = (): StepStats => ({ steps: 0, prepareMs: 0, runMs: 0, kvMs: 0, hostInputBytes: 0, hostOutputBytes: 0 });

const hostBytes = (ts: Iterable<ort.Tensor>) => {
  let n = 0;
  for (const t of ts) if (t.location === 'cpu') n += (t.data as ArrayBufferView).byteLength;
  return n;
};

export interface StepOutput {
  logits: Float32Array; // [n, V]
  /** The input cache, now extended by this step's tokens. */
  cache: KvCache;
  routerProbe: Float32Array; // [L, 2]
}

export class LavinRuntime {
  private routerTables = new Map<Modality, Float32Array>();
  private readonly tokEmbeddings?: HostTensor;
  private readonly modalityEmbedding: Float32Array;

  private vision?: Promise<ort.InferenceSession>;
  private readonly openVision: () => Promise<ort.InferenceSession>;
  /** On WebGPU: moves the KV cache and adapter feeds onto the device, where steps keep them (deviceKv.ts). */
  private readonly mover?: DeviceTensors;
  /** The decoder's adapter feeds on the device (made on the first GPU step after setAdapters). */
  private deviceAdapters?: Promise<Map<string, ort.Tensor>>;
  readonly stats: StepStats = emptyStepStats();

  private constructor(
    readonly cfg: LavinConfig,
    /** The ViT session, or how to create it on the first image (text-only use never loads it). */
    vision: ort.InferenceSession | (() => Promise<ort.InferenceSession>),
    private readonly decoder: ort.InferenceSession,
    tensors: ReadonlyMap<string, HostTensor>,
    /** The ONNX file the decoder session came from (undefined: built in memory). */
    readonly decoderFile?: string,
    private readonly device: ExecutionDevice = 'cpu',
    private readonly embeddingRows?: (ids: readonly number[]) => Float32Array,
    private readonly closeBackbone?: () => void,
    /** Set when steps keep the KV cache on the device: the sessions that move it are made with this. */
    kvSession?: SessionConfig,
  ) {
    this.openVision = typeof vision === 'function' ? vision : async () => vision;
    if (typeof vision !== 'function') this.vision = Promise.resolve(vision);
    if (!embeddingRows) this.tokEmbeddings = tensors.get('tok_embeddings.weight'); // (a backbone's tied table would stay alive for nothing)
    this.modalityEmbedding = toFloat32(tensors.get('adapter_modality_embedding.weight')!);
    this.feedAdapters(tensors);
    if (kvSession) this.mover = new DeviceTensors(kvSession, cfg.llama.nLayers, cfg.llama.nKvHeads, cfg.llama.headDim);
  }

  /** Whether decoder steps keep the KV cache on the device (WebGPU). */
  get kvOnDevice(): boolean {
    return this.mover !== undefined;
  }

  /** The adapter set in use, as host tensors (checkpoint names; not the identity adapters fed for a set without them). */
  *adapterTensors(): IterableIterator<[string, HostTensor]> {
    for (const [name, t] of this.adapterFeeds) {
      if (this.identityFeeds.has(name)) continue;
      const data = t.data as Float32Array;
      yield [name, { dtype: 'float32', shape: t.dims.slice(), data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }];
    }
  }

  /** The adapter tensors the graphs take as inputs (fed on every run; swapped by setAdapters). */
  private readonly adapterFeeds = new Map<string, ort.Tensor>();
  /** The FFN adapters and tap projections fed as zeros because the set in use has none (programs.ts withIdentityAdapters). */
  private identityFeeds = new Set<string>();

  /**
   * Feed an adapter set, the identity adapters filled in where it has none. `like`: the set in
   * use, whose every tensor the new one must have, in the same shape (the graphs take those inputs).
   */
  private feedAdapters(tensors: ReadonlyMap<string, HostTensor>, like?: ReadonlyMap<string, ort.Tensor>): void {
    const all = withIdentityAdapters(tensors, this.cfg.adapter.nVisualTokens);
    const names = like ? [...like.keys()] : [...all.keys()].filter(isAdapterParam);
    const next = new Map<string, ort.Tensor>();
    for (const name of names) {
      const t = all.get(name);
      if (!t) throw new Error(`adapter set lacks ${name}`);
      const current = like?.get(name);
      const free = freeAdapterAxis(name)?.axis;
      const differs = current && (t.shape.length !== current.dims.length || t.shape.some((d, i) => i !== free && d !== current.dims[i]));
      if (differs) throw new Error(`adapter set: ${name} has shape [${t.shape}], this model needs [${current!.dims}]${free === undefined ? '' : ` (any size on axis ${free})`}`);
      next.set(name, f32(toFloat32(t), t.shape.slice()));
    }
    // A free axis is one size across the tensors that share it (the graphs' symbolic dimension).
    const sizes = new Map<string, { name: string; size: number }[]>();
    for (const [name, t] of next) {
      const free = freeAdapterAxis(name);
      if (free) sizes.set(free.dim, [...(sizes.get(free.dim) ?? []), { name, size: t.dims[free.axis] }]);
    }
    for (const [dim, seen] of sizes) {
      if (new Set(seen.map((x) => x.size)).size > 1) throw new Error(`adapter set: the ${dim} sizes disagree (${seen.map((x) => `${x.name}: ${x.size}`).join(', ')})`);
    }
    this.adapterFeeds.clear();
    for (const [name, t] of next) this.adapterFeeds.set(name, t);
    this.identityFeeds = new Set(names.filter((name) => !tensors.has(name)));
  }

  /** Adapter tensors in the layouts the graphs take (`<name>@<layout>` inputs), made once per set. */
  private readonly laidOutFeeds = new Map<string, ort.Tensor>();

  private withAdapters(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    for (const name of session.inputNames) {
      const t = this.adapterFeeds.get(name) ?? this.laidOutFeed(name);
      if (t) feeds[name] = t;
    }
    return feeds;
  }

  private laidOutFeed(inputName: string): ort.Tensor | undefined {
    let t = this.laidOutFeeds.get(inputName);
    if (t) return t;
    const laid = parseLaidOutName(inputName);
    const source = laid && this.adapterFeeds.get(laid.name);
    if (!laid || !source) return undefined;
    const data = source.data as Float32Array;
    const host = layOutHost({ dtype: 'float32', shape: source.dims.slice(), data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }, laid.layout, laid.name);
    t = f32(toFloat32(host), host.shape);
    this.laidOutFeeds.set(inputName, t);
    return t;
  }

  /**
   * Swap in another adapter set (same model: every adapter tensor with the same shape) without
   * touching the backbones or rebuilding sessions. Router tables are recomputed on next use.
   */
  setAdapters(tensors: ReadonlyMap<string, HostTensor>): void {
    this.feedAdapters(tensors, new Map(this.adapterFeeds));
    this.laidOutFeeds.clear();
    void this.dropDeviceAdapters();
    this.modalityEmbedding.set(this.adapterFeeds.get('adapter_modality_embedding.weight')!.data as Float32Array);
    this.routerTables.clear();
  }

  /**
   * Build both inference sessions from the merged parameter map (official names). `engine.weights`
   * is the format of the LLaMA linear layers (the ViT, adapters and norms stay float32);
   * `engine.kernels` picks plain ops or onnxruntime's fused attention and norms for the decoder.
   */
  static async create(
    cfg: LavinConfig,
    tensors: ReadonlyMap<string, HostTensor>,
    session: SessionConfig = {},
    engine: EngineOptions = {},
    /** A GGUF / Hugging Face backbone's quantised linears and embedding rows; also LLaMA linears already in MatMulNBits form (bench/checkGpu.ts: random codes, no quantising). */
    backbone: BackboneWeights = {},
  ): Promise<LavinRuntime> {
    for (const name of [...(backbone.embeddingRows ? [] : ['tok_embeddings.weight']), 'adapter_modality_embedding.weight']) {
      if (!tensors.has(name)) throw new Error(`missing parameter ${name}`);
    }
    // A language backbone without a vision adapter set has no ViT (encodeImage refuses, naming why).
    const built = <G>(what: string, build: () => G): G => {
      const b0 = performance.now();
      const g = build();
      if (session.phases) session.phases[`${what}.buildMs`] = performance.now() - b0;
      return g;
    };
    const vision = cfg.clip ? await createSession(built('lavin_vision', () => buildVisionGraph(cfg, inferenceParams(tensors, cfg.adapter.nVisualTokens))), session) : () => Promise.reject(new Error('no vision tower'));
    // GPU providers multiply the quantised/fp16 linears in float16 (graph/params.ts halfActivations).
    const policy = { ...llamaLinearPolicy(engine.weights ?? 'fp32'), halfActivations: (session.device ?? 'cpu') !== 'cpu' };
    const graph = built('lavin_decoder', () => buildDecoderGraph(cfg, inferenceParams(tensors, cfg.adapter.nVisualTokens, policy, backbone.prequantized), engine.kernels));
    const decoder = await createSession(graph, decoderSessionConfig(session, cfg.llama.nLayers));
    return new LavinRuntime(cfg, vision, decoder, tensors, undefined, session.device, backbone.embeddingRows, backbone.close, keepsKvOnDevice(session) ? session : undefined);
  }

  /**
   * Open a folder written by `convert` (no weights are converted or quantised here): see
   * convertedSessions.ts (the ViT on the first image; int8/int4 decoders on the CPU from their
   * checked packed copy).
   */
  static async open(dir: string, session: SessionConfig = {}, opts: OpenOptions = {}): Promise<LavinRuntime> {
    return openConvertedSessions(dir, session, opts, (cfg, vision, decoder, host, from) => new LavinRuntime(cfg, vision, decoder, host, from, session.device, undefined, undefined, keepsKvOnDevice(session) ? session : undefined));
  }

  /**
   * A fixed three-token step from an empty cache: logits, router probe and every layer's new keys
   * and values. Two decoder sessions of one model agree on these only if every weight agrees.
   */
  async checkOutputs(): Promise<Float32Array[]> {
    const { nLayers, vocab } = this.cfg.llama;
    const ids = [1, 2, 3].map((i) => i % vocab);
    const out = await this.step({ embeds: this.embed(ids), positions: [1, 2, 3], routerWeights: new Float32Array(2 * nLayers).fill(0.5), cache: KvCache.empty(this.cfg) });
    const rows: Float32Array[] = [out.logits.slice(), out.routerProbe.slice()];
    await out.cache.toHost();
    for (let l = 0; l < nLayers; l++) {
      const past = out.cache.past(l);
      rows.push((past.key.data as Float32Array).slice(), (past.value.data as Float32Array).slice());
    }
    out.cache.release();
    return rows;
  }

  async dispose(): Promise<void> {
    if (this.vision) await (await this.vision).release();
    // Device tensors before the sessions: freeing one after its provider is gone crashes onnxruntime.
    await this.dropDeviceAdapters();
    await this.mover?.release();
    await this.decoder.release();
    this.closeBackbone?.();
  }

  /** CLIP features and visual tokens of one preprocessed image [3, R, R]. */
  async encodeImage(pixels: Float32Array): Promise<VisionResult> {
    const r = visionOf(this.cfg).resolution;
    if (pixels.length !== 3 * r * r) throw new Error(`image tensor has ${pixels.length} values, expected 3x${r}x${r}`);
    this.vision ??= this.openVision();
    const vision = await this.vision;
    const out = await vision.run(this.withAdapters(vision, { [VISION_IO.pixels]: f32(pixels, [1, 3, r, r]) }));
    return {
      features: out[VISION_IO.features].data as Float32Array,
      visualTokens: out[VISION_IO.visualTokens].data as Float32Array,
      clipRouterWeights: out[VISION_IO.clipRouterWeights].data as Float32Array,
    };
  }

  /** Token embeddings [ids.length, D], rows copied from the (possibly fp16) table. */
  embed(ids: readonly number[]): Float32Array {
    const { dim, vocab } = this.cfg.llama;
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`token id ${id} outside the vocabulary (0..${vocab - 1})`);
    if (this.embeddingRows) return this.embeddingRows(ids);
    const out = new Float32Array(ids.length * dim);
    ids.forEach((id, i) => {
      const t = this.tokEmbeddings!;
      const bytes = t.dtype === 'float32' ? 4 : 2;
      const row: HostTensor = { dtype: t.dtype, shape: [dim], data: t.data.subarray(id * dim * bytes, (id + 1) * dim * bytes) };
      out.set(toFloat32(row), i * dim);
    });
    return out;
  }

  /** The modality token: row 0 = text only, row 1 = image. */
  modalityToken(m: Modality): Float32Array {
    const dim = this.cfg.llama.dim;
    const i = MODALITY_INDEX[m];
    return this.modalityEmbedding.slice(i * dim, (i + 1) * dim);
  }

  /**
   * Router weights [L, 2] of each LLM block for a modality. The modality token attends only to
   * itself, so its trajectory — and so every block's router weights — depends on the modality
   * alone: one pass of that token with each block routed by its own router's output
   * (`routeFromFirstToken`) gives the table. (Feeding the probe back instead took L passes: 6 s
   * per modality at 7B int4 on two cores.)
   */
  async routerTable(m: Modality): Promise<Float32Array> {
    const cached = this.routerTables.get(m);
    if (cached) return cached;
    const unused = new Float32Array(2 * this.cfg.llama.nLayers);
    const out = await this.step({ embeds: this.modalityToken(m), positions: [0], routerWeights: unused, cache: KvCache.empty(this.cfg), routeFromFirstToken: true });
    out.cache.release();
    const weights = out.routerProbe.slice();
    this.routerTables.set(m, weights);
    return weights;
  }

  /**
   * A prompt through the decoder in calls of at most `chunk` tokens, extending `input.cache`;
   * returns the last call's output (the logits of the prompt's last token), or undefined when
   * `signal` aborted it between two calls. Chunks bound the attention scores (H x T x (C+T)
   * floats per layer: 0.5 GB for a 2048-token prompt at 7B in one call) and let a long prompt be
   * stopped; 256 was also measured 3-6% faster than one 512-token call (`node out/bench/context.js`).
   */
  async prefill(input: Omit<StepInput, 'logitRows' | 'masked'>, signal?: AbortSignal, chunk = PREFILL_CHUNK): Promise<StepOutput | undefined> {
    const { dim } = this.cfg.llama;
    const T = input.positions.length;
    if (T === 0) throw new Error('prefill: empty prompt');
    if (input.embeds.length !== T * dim) throw new Error(`prefill: ${input.embeds.length} embedding values for ${T} tokens of dim ${dim}`);
    let out: StepOutput | undefined;
    for (let s = 0; s < T; s += chunk) {
      if (signal?.aborted) return undefined;
      const e = Math.min(T, s + chunk);
      out = await this.step({ embeds: input.embeds.subarray(s * dim, e * dim), positions: input.positions.slice(s, e), routerWeights: input.routerWeights, cache: input.cache });
    }
    return out;
  }

  /** One decoder call over T new tokens after `cache`. */
  async step(input: StepInput): Promise<StepOutput> {
    const t0 = performance.now();
    const { dim } = this.cfg.llama;
    const T = input.positions.length;
    if (input.embeds.length !== T * dim) throw new Error(`step: ${input.embeds.length} embedding values for ${T} tokens of dim ${dim}`);
    if (this.mover) return this.stepOnDevice(input, this.mover, t0);
    // onnxruntime 1.30's WebGPU provider crashes (SIGSEGV) on zero-sized inputs: a GPU step never
    // gets an empty past, but masked slots (the CPU keeps the exact empty shapes it was verified with).
    if (input.cache.slots === 0 && this.device !== 'cpu') input.cache.reserve(1);
    const P = input.cache.length;
    const feeds = this.stepFeeds(input, P, input.cache.slots); // the buffers fed (appending may grow them afterwards)
    for (let l = 0; l < this.cfg.llama.nLayers; l++) {
      const past = input.cache.past(l);
      feeds[DECODER_IO.pastKey(l)] = past.key;
      feeds[DECODER_IO.pastValue(l)] = past.value;
    }
    const out = await this.runDecoder(this.withAdapters(this.decoder, feeds), t0);
    const k0 = performance.now();
    const added = (name: (l: number) => string) => Array.from({ length: this.cfg.llama.nLayers }, (_, l) => out[name(l)].data as Float32Array);
    if (input.cache.length !== P) throw new Error('step: the KV cache was extended by another step while this one ran');
    input.cache.append(added(DECODER_IO.addedKey), added(DECODER_IO.addedValue), T);
    this.stats.kvMs += performance.now() - k0;
    return { logits: out[DECODER_IO.logits].data as Float32Array, cache: input.cache, routerProbe: out[DECODER_IO.probe].data as Float32Array };
  }

  /** The decoder's inputs but the cache and adapters: embeddings, positions, the attention bias over C slots + T. */
  private stepFeeds(input: StepInput, P: number, C: number): Record<string, ort.Tensor> {
    const { dim, nLayers } = this.cfg.llama;
    const T = input.positions.length;
    // Columns: the cache's C slots (filled: 0..P-1), then this step's T tokens; `masked` speaks of
    // the [T, P+T] matrix of real positions.
    const width = C + T;
    const bias = new Float32Array(T * width);
    for (let i = 0; i < T; i++) {
      const row = bias.subarray(i * width, (i + 1) * width);
      row.fill(-Infinity, P, C); // unfilled slots
      row.fill(-Infinity, C + i + 1); // later tokens of this step
      if (!input.masked) continue;
      for (let j = 0; j < width; j++) {
        if (j < C && j >= P) continue;
        if (input.masked(i, j < C ? j : P + (j - C))) row[j] = -Infinity;
      }
    }
    const rows = input.logitRows ?? [T - 1];
    return {
      [DECODER_IO.embeds]: f32(input.embeds, [1, T, dim]),
      [DECODER_IO.positions]: i64(input.positions),
      [DECODER_IO.bias]: f32(bias, [T, width]),
      [DECODER_IO.router]: f32(input.routerWeights, [nLayers, 2]),
      [DECODER_IO.routeSelf]: input.routeFromFirstToken ? ROUTE_SELF : ROUTE_FED,
      [DECODER_IO.logitPositions]: i64(rows),
    };
  }

  /** The decoder's run, counted in `stats` (prepare: since t0). */
  private async runDecoder(feeds: Record<string, ort.Tensor>, t0: number): Promise<ort.InferenceSession.ReturnType> {
    const r0 = performance.now();
    this.stats.prepareMs += r0 - t0;
    this.stats.hostInputBytes += hostBytes(Object.values(feeds));
    const out = await this.decoder.run(feeds);
    this.stats.runMs += performance.now() - r0;
    this.stats.hostOutputBytes += hostBytes(Object.values(out));
    this.stats.steps++;
    return out;
  }

  /**
   * A step on WebGPU: the cache's rows and the adapter feeds stay on the device; only the step's
   * own inputs go up and only logits and the router probe come down.
   */
  private async stepOnDevice(input: StepInput, mover: DeviceTensors, t0: number): Promise<StepOutput> {
    const { nLayers } = this.cfg.llama;
    const T = input.positions.length;
    const P = input.cache.length;
    const past = await input.cache.onDevice(mover);
    const feeds = this.stepFeeds(input, P, input.cache.slots);
    for (let l = 0; l < nLayers; l++) {
      feeds[DECODER_IO.pastKey(l)] = past[2 * l];
      feeds[DECODER_IO.pastValue(l)] = past[2 * l + 1];
    }
    for (const [name, t] of await this.adaptersOnDevice(mover)) feeds[name] = t;
    const out = await this.runDecoder(feeds, t0);
    const k0 = performance.now();
    const added = Array.from({ length: nLayers }, (_, l) => [out[DECODER_IO.addedKey(l)], out[DECODER_IO.addedValue(l)]]).flat();
    const bad = added.find((t) => t.location !== 'gpu-buffer');
    if (bad || input.cache.length !== P) {
      for (const t of added) if (t.location === 'gpu-buffer') t.dispose();
      throw new Error(bad ? `step: the decoder returned its added keys on the ${bad.location}, not the GPU` : 'step: the KV cache was extended by another step while this one ran');
    }
    const before = mover.traffic.uploadBytes;
    await input.cache.appendOnDevice(added, T);
    this.stats.hostInputBytes += mover.traffic.uploadBytes - before;
    this.stats.kvMs += performance.now() - k0;
    return { logits: out[DECODER_IO.logits].data as Float32Array, cache: input.cache, routerProbe: out[DECODER_IO.probe].data as Float32Array };
  }

  /** The decoder's adapter inputs as device tensors, uploaded once per adapter set. */
  private adaptersOnDevice(mover: DeviceTensors): Promise<Map<string, ort.Tensor>> {
    if (!this.deviceAdapters) {
      const host = new Map<string, ort.Tensor>();
      for (const name of this.decoder.inputNames) {
        const t = this.adapterFeeds.get(name) ?? this.laidOutFeed(name);
        if (t) host.set(name, t);
      }
      this.deviceAdapters = host.size ? mover.uploadNamed(host) : Promise.resolve(host);
    }
    return this.deviceAdapters;
  }

  private async dropDeviceAdapters(): Promise<void> {
    const d = this.deviceAdapters;
    this.deviceAdapters = undefined;
    const m = await d?.catch(() => undefined);
    m?.forEach((t) => t.dispose());
  }

  /**
   * Teacher-forced logits at every position of the training layout
   * [E_mod, tokens...] — the modality token is masked as a key for every later position.
   */
  async teacherForced(m: Modality, embeds: Float32Array): Promise<Float32Array> {
    const dim = this.cfg.llama.dim;
    const T = embeds.length / dim + 1;
    const seq = new Float32Array(T * dim);
    seq.set(this.modalityToken(m), 0);
    seq.set(embeds, dim);
    const out = await this.step({
      embeds: seq,
      positions: Array.from({ length: T }, (_, i) => i),
      routerWeights: await this.routerTable(m),
      cache: KvCache.empty(this.cfg),
      logitRows: Array.from({ length: T }, (_, i) => i),
      masked: (row, col) => col === 0 && row > 0,
    });
    out.cache.release();
    return out.logits;
  }
}
