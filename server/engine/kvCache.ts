// The decoder's KV cache: host buffers the decoder reads in place and each step extends, or, on a
// GPU provider that keeps outputs on the device (WebGPU), device tensors that never leave it
// (deviceKv.ts): uploading the whole cache every step cost more than the step itself there.

import type * as ort from 'onnxruntime-node';
import type { DeviceTensors } from './deviceKv';
import type { LavinConfig } from './lavin';
import { f32 } from './session';

/** The rows on the device: keys then values per layer ([k0, v0, k1, v1, ...]) and who moves them. */
interface OnDevice {
  mover: DeviceTensors;
  tensors: ort.Tensor[];
}

/** Frees the device tensors of a cache that was dropped without release() (garbage collected). */
const reclaim = new FinalizationRegistry<OnDevice>((d) => {
  if (d.mover.closed) return; // its model was closed, and with it every device copy it held
  d.mover.forgetCollected();
  for (const t of d.tensors) t.dispose();
});

/** Slots for `rows` tokens from `capacity`: grow by 64 or an eighth, up to the context length. */
export function grownCapacity(capacity: number, rows: number, maxLength: number): number {
  if (rows <= capacity) return capacity;
  // Small steps: every step attends over all slots (the unfilled ones masked), so slack costs time
  // on each token; regrowing copies the cache once per 64+ tokens.
  return Math.max(rows, Math.min(capacity + Math.max(64, capacity >> 3), Math.max(maxLength, rows)));
}

/**
 * Keys and values of every layer for the tokens seen so far, in host buffers of `slots` rows that
 * the decoder reads in place (its past inputs) and that each step extends by its own T rows: keys
 * transposed [H, hd, slots] (so q.K^T is a plain row-times-matrix product), values [H, slots, hd],
 * H being the key/value heads (nKvHeads).
 * A step extends the cache it is given: that object then holds the longer sequence, and the step
 * returns it. The buffers grow by 64 slots or an eighth, up to the context length.
 * On the device the same layouts and slots live in GPU tensors; the host buffers are then emptied
 * (`toHost` brings them back), and `release` frees the device copy.
 */
export class KvCache {
  private keyBuffers: Float32Array[];
  private valueBuffers: Float32Array[];
  private capacity = 0;
  private filled = 0;
  /** Set while the rows live on the device (then the host buffers are empty unless `hostCurrent`). */
  private device?: OnDevice;
  private hostCurrent = true;
  /** Rows asked for by reserve() while the rows live only on the device: the next device write makes room. */
  private reservedOnDevice = 0;

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
    this.needHost();
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
    this.needHost();
    this.dropDevice(); // the device copy would miss these rows
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
    if (!this.hostCurrent) {
      this.reservedOnDevice = Math.max(this.reservedOnDevice, rows);
      return;
    }
    this.dropDevice(); // a grown host cache goes up whole on the next GPU step
    const C = grownCapacity(this.capacity, rows, this.maxLength);
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

  // ---- on the device (runtime.ts's GPU steps) ----------------------------------------------------

  /** Whether the rows live on the device of `mover` now. */
  isOn(mover: DeviceTensors): boolean {
    return this.device?.mover === mover;
  }

  /**
   * The past inputs on the device of `mover` ([k0, v0, k1, v1, ...], all `slots`), uploading the
   * host buffers once when the rows are not there yet (at least one slot: see runtime.ts step).
   */
  async onDevice(mover: DeviceTensors): Promise<ort.Tensor[]> {
    if (this.device?.mover === mover) {
      mover.touch(this);
      return this.device.tensors;
    }
    if (this.device) await this.toHost(); // another model's device: through the host
    this.dropDevice();
    await mover.admit(this);
    if (this.capacity === 0) this.reserve(1);
    const host = Array.from({ length: this.nLayers }, (_, l) => this.past(l)).flatMap((p) => [p.key, p.value]);
    this.attach(mover, await mover.uploadKv(host));
    return this.device!.tensors;
  }

  /**
   * Extend the device copy by a step's T rows (`added`: [k0, v0, ...], device tensors this cache
   * takes over and frees), growing its slots as the host buffers would grow.
   */
  async appendOnDevice(added: ort.Tensor[], T: number): Promise<void> {
    const d = this.device;
    if (!d) throw new Error('KV cache: appendOnDevice without a device copy');
    if (added.length !== 2 * this.nLayers) throw new Error(`KV cache: ${added.length} added tensors for ${this.nLayers} layers`);
    const grown = grownCapacity(this.capacity, Math.max(this.filled + T, this.reservedOnDevice), this.maxLength);
    let next: ort.Tensor[];
    try {
      next = await d.mover.write(d.tensors, added, this.filled, T, this.capacity, grown);
    } finally {
      for (const t of added) t.dispose();
    }
    for (const t of d.tensors) t.dispose();
    d.tensors = next;
    this.capacity = grown;
    this.reservedOnDevice = 0;
    this.filled += T;
    this.hostCurrent = false;
    this.keyBuffers = this.keyBuffers.map(() => new Float32Array(0)); // stale: the device holds the rows
    this.valueBuffers = this.valueBuffers.map(() => new Float32Array(0));
  }

  /** Bring the rows back into the host buffers (the device copy stays). */
  async toHost(): Promise<void> {
    if (this.hostCurrent || !this.device) return;
    const rows = await this.device.mover.download(this.device.tensors);
    this.keyBuffers = rows.filter((_, i) => i % 2 === 0);
    this.valueBuffers = rows.filter((_, i) => i % 2 === 1);
    this.hostCurrent = true;
  }

  /** Move the rows to the host and free the device copy (DeviceTensors keeps few caches there). */
  async evict(): Promise<void> {
    await this.toHost();
    this.dropDevice();
  }

  /** Free the device copy now (GPU memory); a cache whose rows lived only there is empty afterwards. */
  release(): void {
    if (this.device && !this.hostCurrent) {
      this.filled = 0;
      this.capacity = 0;
      this.keyBuffers = this.keyBuffers.map(() => new Float32Array(0));
      this.valueBuffers = this.valueBuffers.map(() => new Float32Array(0));
      this.hostCurrent = true;
    }
    this.dropDevice();
  }

  private attach(mover: DeviceTensors, tensors: ort.Tensor[]): void {
    this.device = { mover, tensors };
    reclaim.register(this, this.device, this);
  }

  private dropDevice(): void {
    if (!this.device) return;
    reclaim.unregister(this);
    this.device.mover.forget(this);
    for (const t of this.device.tensors) t.dispose();
    this.device = undefined;
  }

  private needHost(): void {
    if (!this.hostCurrent) throw new Error('KV cache: its rows are on the GPU (await toHost() first)');
  }
}
