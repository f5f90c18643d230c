// Tensors that stay on the GPU between decoder steps (WebGPU provider only): the KV cache and the
// adapter feeds. onnxruntime-node 1.30 returns an output as a 'gpu-buffer' tensor when the session
// asks for it (preferredOutputLocation) and accepts such tensors as inputs of any session on the
// same device, but it has no call that uploads or downloads one (Tensor.getData on it aborts the
// process: "not implemented"). So three tiny sessions do the moving: `upload` (host -> GPU, an
// Identity whose outputs stay there), `download` (GPU -> host, an Identity with host outputs) and
// `write`, which puts a step's new key/value rows into the cache at their slots.
// A GPU tensor is freed only by dispose() (no garbage collection reaches it): whoever replaces one
// disposes the old.

import * as ort from 'onnxruntime-node';
import { Builder } from './graph/builder';
import { Dim, Graph } from './graph/graph';
import { DECODER_IO } from './programs';
import type { ExecutionDevice, SessionConfig } from './session';
import { createSession } from './session';

/** Whether decoder steps keep the KV cache on the device: WebGPU, the only provider whose outputs onnxruntime-node can leave there ('gpu-buffer' tensors), unless `kvOnHost`. */
export function keepsKvOnDevice(session: SessionConfig): boolean {
  return session.device === 'webgpu' && !session.kvOnHost;
}

/** The decoder's session options: on WebGPU its added keys and values stay on the device. */
export function decoderSessionConfig(session: SessionConfig, nLayers: number): SessionConfig {
  if (!keepsKvOnDevice(session)) return session;
  const added = Array.from({ length: nLayers }, (_, l) => [DECODER_IO.addedKey(l), DECODER_IO.addedValue(l)]).flat();
  return { ...session, outputsOnDevice: added };
}

/** Byte counters of host<->device traffic (for bench/checkGpu.ts's per-phase breakdown). */
export interface Traffic {
  uploadBytes: number;
  downloadBytes: number;
}

const KEY = (l: number) => `key_t_${l}`;
const VALUE = (l: number) => `value_${l}`;
const ADDED_KEY = (l: number) => `added_key_t_${l}`;
const ADDED_VALUE = (l: number) => `added_value_${l}`;

/** An Identity per input (float32, these shapes): run on the provider, the outputs land where the session prefers. */
function identityGraph(name: string, shapes: Dim[][]): Graph {
  const g = new Graph(name);
  const b = new Builder(g);
  shapes.forEach((shape, i) => b.output(b.identity(b.input(`x${i}`, 'float32', shape)), `y${i}`));
  return g;
}

/** KV tensors: rank 4, any size. */
const kvShapes = (n: number): Dim[][] => Array.from({ length: n }, () => ['a', 'b', 'c', 'd']);

/**
 * present = Where(rows, Pad(added, at P), Pad(past, to C')) per layer: the past cache of C slots,
 * grown to C' (zeros), with this step's T rows at slots P..P+T-1 (keys transposed [1, H, hd, slots]:
 * slot axis 3; values [1, H, slots, hd]: axis 2). Pure data movement, so the decoder reads exactly
 * the values the host cache would hold. Nothing is zero-sized (onnxruntime 1.30's WebGPU provider
 * crashes on empty tensors): C >= 1 and T >= 1; a pad of 0 is no tensor.
 */
function writeGraph(nLayers: number, nHeads: number, headDim: number): Graph {
  const g = new Graph('lavin_kv_write');
  const b = new Builder(g);
  const pads = (name: string) => b.input(name, 'int64', [8]);
  const [keyGrow, valueGrow, keyPlace, valuePlace] = ['key_grow', 'value_grow', 'key_place', 'value_place'].map(pads);
  const keyRows = b.input('key_rows', 'bool', ['grown']);
  const valueRows = b.input('value_rows', 'bool', ['grown', 1]);
  const pad = (x: ReturnType<Builder['input']>, p: ReturnType<Builder['input']>, shape: (string | number)[]) => b.op('Pad', [x, p], [{ dtype: 'float32', shape }], { mode: { s: 'constant' } })[0];
  for (let l = 0; l < nLayers; l++) {
    const kShape = [1, nHeads, headDim, 'grown'];
    const vShape = [1, nHeads, 'grown', headDim];
    const pastK = b.input(KEY(l), 'float32', [1, nHeads, headDim, 'slots']);
    const pastV = b.input(VALUE(l), 'float32', [1, nHeads, 'slots', headDim]);
    const addK = b.input(ADDED_KEY(l), 'float32', [1, nHeads, headDim, 'seq']);
    const addV = b.input(ADDED_VALUE(l), 'float32', [1, nHeads, 'seq', headDim]);
    b.output(b.where(keyRows, pad(addK, keyPlace, kShape), pad(pastK, keyGrow, kShape)), `present_${KEY(l)}`);
    b.output(b.where(valueRows, pad(addV, valuePlace, vShape), pad(pastV, valueGrow, vShape)), `present_${VALUE(l)}`);
  }
  return g;
}

const pads8 = (axis: number, before: number, after: number) => {
  const p = new BigInt64Array(8);
  p[axis] = BigInt(before);
  p[4 + axis] = BigInt(after);
  return new ort.Tensor('int64', p, [8]);
};

const bytesOf = (t: ort.Tensor) => (t.location === 'cpu' || t.location === undefined ? (t.data as ArrayBufferView).byteLength : 0);

/** A cache that can leave the device (kvCache.ts). */
export interface Evictable {
  evict(): Promise<void>;
  /** Free the device copy now (the cache may become empty). */
  release(): void;
}

/**
 * Caches kept on the device at once per model. Dropped caches are freed when garbage collected,
 * which GPU memory does not trigger; beyond this many, the least recently used goes to the host.
 */
export const RESIDENT_CACHES = 3;

/** The moving sessions of one model's decoder on one GPU provider (created on first use). */
export class DeviceTensors {
  readonly traffic: Traffic = { uploadBytes: 0, downloadBytes: 0 };
  /** Caches on the device, least recently used first. */
  private resident: WeakRef<Evictable>[] = [];
  private sessions?: Promise<{ upload: ort.InferenceSession; download: ort.InferenceSession; write: ort.InferenceSession }>;

  private readonly device: ExecutionDevice;
  private readonly log?: (m: string) => void;

  constructor(
    session: SessionConfig,
    private readonly nLayers: number,
    private readonly nHeads: number,
    private readonly headDim: number,
  ) {
    this.device = session.device ?? 'cpu';
    this.log = session.log;
  }

  private open() {
    const { device, nLayers, log } = this;
    const onDevice = (outputs: string[]) => ({ device, log, outputsOnDevice: outputs });
    this.sessions ??= (async () => {
      const n = 2 * nLayers;
      const names = Array.from({ length: n }, (_, i) => `y${i}`);
      const upload = await createSession(identityGraph('lavin_kv_upload', kvShapes(n)), onDevice(names));
      const download = await createSession(identityGraph('lavin_kv_download', kvShapes(n)), { device, log });
      const outs = Array.from({ length: nLayers }, (_, l) => [`present_${KEY(l)}`, `present_${VALUE(l)}`]).flat();
      const write = await createSession(writeGraph(nLayers, this.nHeads, this.headDim), onDevice(outs));
      return { upload, download, write };
    })();
    return this.sessions;
  }

  /** A cache's host buffers onto the device: keys then values per layer ([k0, v0, k1, v1, ...], rank 4). */
  async uploadKv(tensors: ort.Tensor[]): Promise<ort.Tensor[]> {
    const { upload } = await this.open();
    const n = 2 * this.nLayers;
    if (tensors.length !== n) throw new Error(`KV upload: ${tensors.length} tensors for ${this.nLayers} layers`);
    const feeds: Record<string, ort.Tensor> = {};
    tensors.forEach((t, i) => {
      feeds[`x${i}`] = t;
      this.traffic.uploadBytes += bytesOf(t);
    });
    const r = await upload.run(feeds);
    return tensors.map((_, i) => r[`y${i}`]);
  }

  private namedUploads = new Map<string, Promise<ort.InferenceSession>>();

  /**
   * Host float32 tensors onto the device (the adapter feeds, once per set), through an upload
   * session made for exactly these shapes (cached: another adapter set of the model has the same).
   */
  async uploadNamed(tensors: ReadonlyMap<string, ort.Tensor>): Promise<Map<string, ort.Tensor>> {
    const entries = [...tensors];
    const signature = entries.map(([, t]) => t.dims.join('x')).join(',');
    let session = this.namedUploads.get(signature);
    if (!session) {
      const outs = entries.map((_, i) => `y${i}`);
      session = createSession(identityGraph('lavin_upload', entries.map(([, t]) => t.dims.slice())), { device: this.device, log: this.log, outputsOnDevice: outs });
      this.namedUploads.set(signature, session);
    }
    const feeds: Record<string, ort.Tensor> = {};
    entries.forEach(([, t], i) => {
      if (t.type !== 'float32') throw new Error(`upload: ${t.type} tensors are not supported (float32 only)`);
      feeds[`x${i}`] = t;
      this.traffic.uploadBytes += bytesOf(t);
    });
    const r = await (await session).run(feeds);
    return new Map(entries.map(([name], i) => [name, r[`y${i}`]]));
  }

  /** Device tensors back to the host (2L at most per call), as Float32Arrays. */
  async download(tensors: ort.Tensor[]): Promise<Float32Array[]> {
    const { download } = await this.open();
    const n = 2 * this.nLayers;
    if (tensors.length > n) throw new Error(`download: ${tensors.length} tensors, at most ${n}`);
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < n; i++) feeds[`x${i}`] = tensors[i] ?? new ort.Tensor('float32', new Float32Array(1), [1, 1, 1, 1]);
    const r = await download.run(feeds);
    const out = tensors.map((_, i) => r[`y${i}`].data as Float32Array);
    for (const a of out) this.traffic.downloadBytes += a.byteLength;
    return out;
  }

  /**
   * The cache after a step: `past` (keys then values per layer: [k0, v0, k1, v1, ...], C slots)
   * with the step's rows `added` (same order, T rows each) at slots P..P+T-1, in C' >= P + T slots.
   */
  async write(past: ort.Tensor[], added: ort.Tensor[], P: number, T: number, C: number, grown: number): Promise<ort.Tensor[]> {
    const { write } = await this.open();
    if (grown < P + T || grown < C) throw new Error(`KV write: ${grown} slots cannot hold ${P} + ${T} rows of a ${C}-slot cache`);
    const rows = new Uint8Array(grown);
    rows.fill(1, P, P + T);
    const feeds: Record<string, ort.Tensor> = {
      key_grow: pads8(3, 0, grown - C),
      value_grow: pads8(2, 0, grown - C),
      key_place: pads8(3, P, grown - P - T),
      value_place: pads8(2, P, grown - P - T),
      key_rows: new ort.Tensor('bool', rows, [grown]),
      value_rows: new ort.Tensor('bool', rows, [grown, 1]),
    };
    for (let l = 0; l < this.nLayers; l++) {
      feeds[KEY(l)] = past[2 * l];
      feeds[VALUE(l)] = past[2 * l + 1];
      feeds[ADDED_KEY(l)] = added[2 * l];
      feeds[ADDED_VALUE(l)] = added[2 * l + 1];
    }
    for (const t of Object.values(feeds)) this.traffic.uploadBytes += bytesOf(t);
    const r = await write.run(feeds);
    return Array.from({ length: this.nLayers }, (_, l) => [r[`present_${KEY(l)}`], r[`present_${VALUE(l)}`]]).flat();
  }

  /** A cache was used: it becomes the most recent. */
  touch(cache: Evictable): void {
    this.forget(cache);
    this.resident.push(new WeakRef(cache));
  }

  /** Drop the entries of collected caches. */
  forgetCollected(): void {
    this.resident = this.resident.filter((r) => r.deref() !== undefined);
  }

  /** A cache left the device. */
  forget(cache: Evictable): void {
    this.resident = this.resident.filter((r) => r.deref() !== undefined && r.deref() !== cache);
  }

  /** A cache is about to go onto the device: evict the least recently used beyond RESIDENT_CACHES. */
  async admit(cache: Evictable): Promise<void> {
    this.touch(cache);
    while (this.resident.length > RESIDENT_CACHES) await this.resident.shift()!.deref()?.evict();
  }

  /** Whether release() ran: device tensors must not be freed after their sessions (onnxruntime crashes). */
  closed = false;

  /**
   * Free every cache's device copy, then the sessions. Caches still on the device lose their rows:
   * this model is being closed. Run it before releasing the decoder.
   */
  async release(): Promise<void> {
    for (const r of this.resident.splice(0)) r.deref()?.release();
    this.closed = true;
    const s = await this.sessions;
    this.sessions = undefined;
    if (s) for (const x of [s.upload, s.download, s.write]) await x.release();
    for (const u of this.namedUploads.values()) await (await u).release();
    this.namedUploads.clear();
  }
}
