// The decoder's KV cache: host buffers the decoder reads in place and each step extends.

import type * as ort from 'onnxruntime-node';
import type { LavinConfig } from './lavin';
import { f32 } from './session';

/**
 * Keys and values of every layer for the tokens seen so far, in host buffers of `slots` rows that
 * the decoder reads in place (its past inputs) and that each step extends by its own T rows: keys
 * transposed [H, hd, slots] (so q.K^T is a plain row-times-matrix product), values [H, slots, hd],
 * H being the key/value heads (nKvHeads).
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
    const { nLayers, nKvHeads, headDim } = cfg.llama;
    return new KvCache(nLayers, nKvHeads, headDim, cfg.maxSeqLen);
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

  /** Room for `rows` tokens (unfilled slots are masked). */
  reserve(rows: number): void {
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
