// Runs the inference graphs: vision pass, embedding lookup, the router table, and decoder steps over
// a KV cache. Token-level only: text, prompts and sampling live in generate.ts.

import * as fs from 'fs';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { HOST_TENSORS, readConverted } from './convertedCopy';
import { LavinConfig, llamaLinearPolicy } from './lavin';
import { bitsOf, WeightFormat } from './quant';
import { buildDecoderGraph, buildVisionGraph, DECODER_IO, inferenceParams, isAdapterParam, Kernels, VISION_IO } from './programs';
import { createSession, createSessionFromFile, f32, i64, SessionConfig } from './session';
import { parseLaidOutName, layOutHost } from './graph/layouts';
import { HostTensor, toFloat32 } from './tensor';
import { openTensorFile } from './weights';
import { commitPacked, discardPacked, freeBytes, newPackedWrite, packedIdentity, packedPaths, packedState } from './packedWeights';

import type { Modality } from './sequence';
export type { Modality };

/** How the decoder is built: weight format of the LLaMA linears and plain or fused kernels. */
export interface OpenOptions {
  /**
   * int8/int4 on the CPU: 'use' (default) opens a current packed copy of the decoder when there is
   * one; 'write' also makes and checks one when there is none; 'ignore' opens the source decoder.
   */
  packed?: 'use' | 'write' | 'ignore';
  log?: (message: string) => void;
}

/** The largest absolute difference between two lists of arrays (NaN where any value is NaN). */
function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) return Infinity;
    for (let j = 0; j < a[i].length; j++) {
      const x = Math.abs(a[i][j] - b[i][j]);
      if (Number.isNaN(x)) return NaN;
      if (x > d) d = x;
    }
  }
  return d;
}

export interface EngineOptions {
  weights?: WeightFormat;
  kernels?: Kernels;
}
export const MODALITY_INDEX: Record<Modality, number> = { text: 0, image: 1 };

export interface VisionResult {
  features: Float32Array; // [n, W]
  visualTokens: Float32Array; // [n, D]
  clipRouterWeights: Float32Array; // [layers, T, 2]
}

/**
 * Keys and values of every layer for the tokens seen so far, in host buffers of `slots` rows that
 * the decoder reads in place (its past inputs) and that each step extends by its own T rows: keys
 * transposed [H, hd, slots] (so q.K^T is a plain row-times-matrix product), values [H, slots, hd].
 * A step extends the cache it is given: that object then holds the longer sequence, and the step
 * returns it. The buffers grow by 64 slots or an eighth, up to the context length.
 */
export class KvCache {
  private keyBuffers: Float32Array[];
  private valueBuffers: Float32Array[];
  private capacity = 0;
  private filled = 0;

  private constructor(
    private readonly nLayers: number,
    private readonly nHeads: number,
    private readonly headDim: number,
    private readonly maxLength: number,
  ) {
    this.keyBuffers = Array.from({ length: nLayers }, () => new Float32Array(0));
    this.valueBuffers = Array.from({ length: nLayers }, () => new Float32Array(0));
  }

  static empty(cfg: LavinConfig): KvCache {
    const { nLayers, nHeads, headDim } = cfg.llama;
    return new KvCache(nLayers, nHeads, headDim, cfg.maxSeqLen);
  }

  /** Tokens cached. */
  get length(): number {
    return this.filled;
  }

  /** Rows the buffers hold (filled or not): the decoder attends over all, masking the unfilled. */
  get slots(): number {
    return this.capacity;
  }

  /** The decoder's past inputs for layer l: the whole buffers (slots past `length` are masked). */
  past(l: number): { key: ort.Tensor; value: ort.Tensor } {
    const { nHeads: H, headDim: hd, capacity: C } = this;
    return { key: f32(this.keyBuffers[l], [1, H, hd, C]), value: f32(this.valueBuffers[l], [1, H, C, hd]) };
  }

  /** Append T rows per layer from the step's added keys [1, H, hd, T] and values [1, H, T, hd]. */
  append(keysT: Float32Array[], values: Float32Array[], T: number): void {
    const { nHeads: H, headDim: hd } = this;
    if (keysT.length !== this.nLayers || values.length !== this.nLayers) throw new Error(`KV cache: ${keysT.length} layers of keys for ${this.nLayers} layers`);
    for (let l = 0; l < this.nLayers; l++) {
      for (const src of [keysT[l], values[l]]) {
        if (src.length !== T * H * hd) throw new Error(`KV cache: layer ${l} added ${src.length} values for ${T} tokens`);
      }
    }
    this.reserve(this.filled + T);
    const C = this.capacity;
    const at = this.filled;
    for (let l = 0; l < this.nLayers; l++) {
      const [k, kt, v, vt] = [keysT[l], this.keyBuffers[l], values[l], this.valueBuffers[l]];
      if (T >= 16) for (let r = 0; r < H * hd; r++) kt.set(k.subarray(r * T, (r + 1) * T), r * C + at); // one feature of one head
      else for (let r = 0; r < H * hd; r++) for (let t = 0; t < T; t++) kt[r * C + at + t] = k[r * T + t]; // (a subarray per row cost 10% of a decode step)
      for (let h = 0; h < H; h++) vt.set(v.subarray(h * T * hd, (h + 1) * T * hd), (h * C + at) * hd); // one head's rows
    }
    this.filled += T;
  }

  /** Keep only the first `rows` tokens (a later prompt that shares them starts from here). */
  truncate(rows: number): void {
    if (!Number.isInteger(rows) || rows < 0 || rows > this.filled) throw new Error(`KV cache: cannot keep ${rows} of ${this.filled} rows`);
    this.filled = rows; // rows past `filled` are masked by every step, so they need no clearing
  }

  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    // Grow in small steps: every step attends over all slots (the unfilled ones masked), so slack
    // costs time on each token; regrowing copies the cache once per 64+ tokens.
    const C = Math.max(rows, Math.min(this.capacity + Math.max(64, this.capacity >> 3), Math.max(this.maxLength, rows)));
    const { nHeads: H, headDim: hd, capacity: old, filled } = this;
    const growValues = (buf: Float32Array) => {
      const next = new Float32Array(H * C * hd);
      if (filled) for (let h = 0; h < H; h++) next.set(buf.subarray(h * old * hd, (h * old + filled) * hd), h * C * hd);
      return next;
    };
    const growKeys = (buf: Float32Array) => {
      const next = new Float32Array(H * hd * C);
      if (filled) for (let r = 0; r < H * hd; r++) next.set(buf.subarray(r * old, r * old + filled), r * C);
      return next;
    };
    this.keyBuffers = this.keyBuffers.map(growKeys);
    this.valueBuffers = this.valueBuffers.map(growValues);
    this.capacity = C;
  }
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

export interface StepOutput {
  logits: Float32Array; // [n, V]
  /** The input cache, now extended by this step's tokens. */
  cache: KvCache;
  routerProbe: Float32Array; // [L, 2]
}

export class LavinRuntime {
  private routerTables = new Map<Modality, Float32Array>();
  private readonly tokEmbeddings: HostTensor;
  private readonly modalityEmbedding: Float32Array;

  private vision?: Promise<ort.InferenceSession>;
  private readonly openVision: () => Promise<ort.InferenceSession>;

  private constructor(
    readonly cfg: LavinConfig,
    /** The ViT session, or how to create it on the first image (text-only use never loads it). */
    vision: ort.InferenceSession | (() => Promise<ort.InferenceSession>),
    private readonly decoder: ort.InferenceSession,
    tensors: ReadonlyMap<string, HostTensor>,
    /** The ONNX file the decoder session came from (undefined: built in memory). */
    readonly decoderFile?: string,
  ) {
    this.openVision = typeof vision === 'function' ? vision : async () => vision;
    if (typeof vision !== 'function') this.vision = Promise.resolve(vision);
    this.tokEmbeddings = tensors.get('tok_embeddings.weight')!;
    this.modalityEmbedding = toFloat32(tensors.get('adapter_modality_embedding.weight')!);
    for (const [name, t] of tensors) if (isAdapterParam(name)) this.adapterFeeds.set(name, f32(toFloat32(t), t.shape.slice()));
  }

  /** The adapter tensors the graphs take as inputs (fed on every run; swapped by setAdapters). */
  private readonly adapterFeeds = new Map<string, ort.Tensor>();

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
    const next = new Map<string, ort.Tensor>();
    for (const [name, current] of this.adapterFeeds) {
      const t = tensors.get(name);
      if (!t) throw new Error(`adapter set lacks ${name}`);
      if (t.shape.join(',') !== current.dims.join(',')) throw new Error(`adapter set: ${name} has shape [${t.shape}], this model needs [${current.dims}]`);
      next.set(name, f32(toFloat32(t), t.shape.slice()));
    }
    for (const [name, t] of next) this.adapterFeeds.set(name, t);
    this.laidOutFeeds.clear();
    this.modalityEmbedding.set(this.adapterFeeds.get('adapter_modality_embedding.weight')!.data as Float32Array);
    this.routerTables.clear();
  }

  /**
   * Build both inference sessions from the merged parameter map (official names). `engine.weights`
   * is the format of the LLaMA linear layers (the ViT, adapters and norms stay float32);
   * `engine.kernels` picks plain ops or onnxruntime's fused attention and norms for the decoder.
   */
  static async create(cfg: LavinConfig, tensors: ReadonlyMap<string, HostTensor>, session: SessionConfig = {}, engine: EngineOptions = {}): Promise<LavinRuntime> {
    for (const name of ['tok_embeddings.weight', 'adapter_modality_embedding.weight']) {
      if (!tensors.has(name)) throw new Error(`missing parameter ${name}`);
    }
    const vision = await createSession(buildVisionGraph(cfg, inferenceParams(tensors)), session);
    const decoder = await createSession(buildDecoderGraph(cfg, inferenceParams(tensors, llamaLinearPolicy(engine.weights ?? 'fp32')), engine.kernels), session);
    return new LavinRuntime(cfg, vision, decoder, tensors);
  }

  /**
   * Open a folder written by `convert` (no weights are converted or quantised here). The ViT
   * session is created on the first image. int8/int4 decoders on the CPU open from their packed
   * copy when it is current (packedWeights.ts); `packed: 'write'` makes and checks one when it is not.
   */
  static async open(dir: string, session: SessionConfig = {}, opts: OpenOptions = {}): Promise<LavinRuntime> {
    const m = readConverted(dir);
    const host = new Map<string, HostTensor>();
    const file = await openTensorFile(path.join(dir, m.files.host));
    try {
      for (const name of file.names()) host.set(name, await file.read(name));
      for (const name of HOST_TENSORS) if (!host.has(name)) throw new Error(`converted folder ${dir}: ${m.files.host} lacks ${name} (convert again)`);
    } finally {
      await file.close();
    }
    const vision = () => createSessionFromFile(path.join(dir, m.files.vision), session);
    const make = (decoder: ort.InferenceSession, from: string) => new LavinRuntime(m.cfg, vision, decoder, host, from);
    const source = path.join(dir, m.files.decoder);
    const fromSource = async () => make(await createSessionFromFile(source, session), source);
    const cpu = (session.device ?? 'cpu') === 'cpu';
    // float32 weights on the CPU: no repacking, so the MatMuls read the memory-mapped data file, as
    // llama.cpp does. 1b, alternating runs: the session opens in 0.4 s instead of 9-11 s (7B: about
    // a minute), decode equal, a 512-token prompt 12-15% slower. (The ViT keeps repacking: unpacked,
    // its first image came 1 s sooner but every image took 25% longer.)
    if (m.weights === 'fp32' && cpu) return make(await createSessionFromFile(source, { prepack: false, ...session }), source);
    const packed = opts.packed ?? 'use';
    if (!cpu || !bitsOf(m.weights) || packed === 'ignore') return fromSource();
    const log = opts.log ?? (() => {});
    const state = packedState(dir, m.files.decoder);
    if (state.state === 'usable') {
      try {
        return make(await createSessionFromFile(state.model, session), state.model);
      } catch (e) {
        log(`the packed weights ${state.model} did not open (${(e as Error).message.split('\n')[0]}); opening ${source}`);
      }
    } else if (packed === 'write' && state.state !== 'inexact') {
      return LavinRuntime.openWritingPacked(dir, m.files.decoder, session, make, fromSource, log);
    }
    return fromSource();
  }

  /**
   * Open the source decoder while onnxruntime saves its repacked weights, then open that copy and
   * keep it only when it gives the source's outputs bit for bit (the verdict is stamped either way).
   * One session at a time: at 7B two would not fit in 8 GB.
   */
  private static async openWritingPacked(
    dir: string,
    decoderFile: string,
    session: SessionConfig,
    make: (d: ort.InferenceSession, from: string) => LavinRuntime,
    fromSource: () => Promise<LavinRuntime>,
    log: (m: string) => void,
  ): Promise<LavinRuntime> {
    const source = path.join(dir, decoderFile);
    const need = 2 * fs.statSync(`${source}.data`).size + (1 << 30);
    if (freeBytes(dir) < need) {
      log(`not saving packed weights beside ${source}: ${(need / 1e9).toFixed(1)} GB of free disk needed`);
      return fromSource();
    }
    const identity = packedIdentity(dir, decoderFile);
    const written = newPackedWrite(dir, decoderFile);
    let writer: LavinRuntime;
    try {
      writer = make(await createSessionFromFile(source, { ...session, savePacked: written }), source);
    } catch (e) {
      discardPacked(dir, written);
      log(`could not save packed weights (${(e as Error).message.split('\n')[0]}); opening ${source}`);
      return fromSource();
    }
    const expected = await writer.checkOutputs();
    await writer.dispose();
    let copy: ort.InferenceSession | undefined;
    let detail: string;
    let exact = false;
    try {
      copy = await createSessionFromFile(written.model, session);
      const diff = maxDifference(expected, await make(copy, written.model).checkOutputs());
      exact = diff === 0;
      detail = exact ? 'outputs bit-identical to the source decoder' : `outputs differ from the source decoder's (max difference ${diff})`;
    } catch (e) {
      detail = `did not open: ${(e as Error).message.split('\n')[0]}`;
    }
    try {
      commitPacked(dir, decoderFile, written, identity, exact, detail);
    } catch (e) {
      // e.g. a file system that will not rename an open file: keep nothing, run from the source
      await copy?.release();
      discardPacked(dir, written);
      log(`could not record packed weights beside ${source} (${(e as Error).message.split('\n')[0]}); opening the source`);
      return fromSource();
    }
    if (exact) {
      const { model } = packedPaths(dir, decoderFile);
      log(`saved onnxruntime's packed weights as ${model} (${detail}): later starts skip repacking`);
      return make(copy!, model);
    }
    await copy?.release();
    log(`onnxruntime's packed weights are not used for ${source}: ${detail}`);
    return fromSource();
  }

  /**
   * A fixed three-token step from an empty cache: logits, router probe and every layer's new keys
   * and values. Two decoder sessions of one model agree on these only if every weight agrees.
   */
  private async checkOutputs(): Promise<Float32Array[]> {
    const { nLayers, vocab } = this.cfg.llama;
    const ids = [1, 2, 3].map((i) => i % vocab);
    const out = await this.step({ embeds: this.embed(ids), positions: [1, 2, 3], routerWeights: new Float32Array(2 * nLayers).fill(0.5), cache: KvCache.empty(this.cfg) });
    const rows: Float32Array[] = [out.logits.slice(), out.routerProbe.slice()];
    for (let l = 0; l < nLayers; l++) {
      const past = out.cache.past(l);
      rows.push((past.key.data as Float32Array).slice(), (past.value.data as Float32Array).slice());
    }
    return rows;
  }

  async dispose(): Promise<void> {
    if (this.vision) await (await this.vision).release();
    await this.decoder.release();
  }

  /** CLIP features and visual tokens of one preprocessed image [3, R, R]. */
  async encodeImage(pixels: Float32Array): Promise<VisionResult> {
    const r = this.cfg.clip.resolution;
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
    const out = new Float32Array(ids.length * dim);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new Error(`token id ${id} outside the vocabulary (0..${vocab - 1})`);
      const t = this.tokEmbeddings;
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
    const { dim, nLayers } = this.cfg.llama;
    const T = input.positions.length;
    if (input.embeds.length !== T * dim) throw new Error(`step: ${input.embeds.length} embedding values for ${T} tokens of dim ${dim}`);
    const P = input.cache.length;
    const C = input.cache.slots; // the buffers fed below (appending may grow them afterwards)
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
    const feeds: Record<string, ort.Tensor> = {
      [DECODER_IO.embeds]: f32(input.embeds, [1, T, dim]),
      [DECODER_IO.positions]: i64(input.positions),
      [DECODER_IO.bias]: f32(bias, [T, width]),
      [DECODER_IO.router]: f32(input.routerWeights, [nLayers, 2]),
      [DECODER_IO.routeSelf]: input.routeFromFirstToken ? ROUTE_SELF : ROUTE_FED,
      [DECODER_IO.logitPositions]: i64(rows),
    };
    for (let l = 0; l < nLayers; l++) {
      const past = input.cache.past(l);
      feeds[DECODER_IO.pastKey(l)] = past.key;
      feeds[DECODER_IO.pastValue(l)] = past.value;
    }
    const out = await this.decoder.run(this.withAdapters(this.decoder, feeds));
    const added = (name: (l: number) => string) => Array.from({ length: nLayers }, (_, l) => out[name(l)].data as Float32Array);
    if (input.cache.length !== P) throw new Error('step: the KV cache was extended by another step while this one ran');
    input.cache.append(added(DECODER_IO.addedKey), added(DECODER_IO.addedValue), T);
    return {
      logits: out[DECODER_IO.logits].data as Float32Array,
      cache: input.cache,
      routerProbe: out[DECODER_IO.probe].data as Float32Array,
    };
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
    return out.logits;
  }
}
