// The KV cache's bookkeeping when its rows live on a device (kvCache.ts + deviceKv.ts), without a
// GPU: a DeviceTensors whose upload/write/download run on host arrays with the write graph's
// semantics, so slots, growth, deferred reserve, release and eviction are checked on any machine.
// (The real sessions are checked on WebGPU through lavapipe: test/golden/webgpu.test.ts.)

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DeviceTensors, RESIDENT_CACHES } from '../../server/engine/deviceKv';
import { KvCache } from '../../server/engine/kvCache';
import { LavinConfig } from '../../server/engine/lavin';

const [L, H, hd] = [2, 2, 3];
const cfg = { llama: { nLayers: L, nHeads: H, nKvHeads: H, headDim: hd, dim: H * hd }, maxSeqLen: 512 } as unknown as LavinConfig;

/** Host stand-in for the device: "device tensors" are host tensors it made, counted until disposed. */
class HostDevice extends DeviceTensors {
  live = new Set<ort.Tensor>();
  constructor() {
    super({ device: 'webgpu' }, L, H, hd);
  }
  private own(data: Float32Array, dims: number[]): ort.Tensor {
    const t = new ort.Tensor('float32', data, dims);
    const dispose = t.dispose.bind(t);
    t.dispose = () => {
      assert.ok(this.live.delete(t), 'a device tensor is disposed once');
      dispose();
    };
    this.live.add(t);
    return t;
  }
  override async uploadKv(tensors: ort.Tensor[]): Promise<ort.Tensor[]> {
    return tensors.map((t) => this.own((t.data as Float32Array).slice(), t.dims.slice()));
  }
  override async download(tensors: ort.Tensor[]): Promise<Float32Array[]> {
    return tensors.map((t) => {
      assert.ok(this.live.has(t), 'downloads a live tensor');
      return (t.data as Float32Array).slice();
    });
  }
  /** lavin_kv_write on the host: past grown to `grown` slots (zeros), the T added rows at P.. */
  override async write(past: ort.Tensor[], added: ort.Tensor[], P: number, T: number, C: number, grown: number): Promise<ort.Tensor[]> {
    return past.map((p, i) => {
      const keys = i % 2 === 0; // keys [1, H, hd, slots], values [1, H, slots, hd]
      const src = p.data as Float32Array;
      const add = added[i].data as Float32Array;
      const out = new Float32Array(H * hd * grown);
      for (let h = 0; h < H; h++) {
        for (let d = 0; d < hd; d++) {
          for (let s = 0; s < grown; s++) {
            const at = keys ? (h * hd + d) * grown + s : (h * grown + s) * hd + d;
            if (s >= P && s < P + T) out[at] = keys ? add[(h * hd + d) * T + (s - P)] : add[(h * T + (s - P)) * hd + d];
            else if (s < C) out[at] = keys ? src[(h * hd + d) * C + s] : src[(h * C + s) * hd + d];
          }
        }
      }
      return this.own(out, keys ? [1, H, hd, grown] : [1, H, grown, hd]);
    });
  }
}

/** A step's added rows, value v(l, kind, token, h, i) unique: keys [H, hd, T], values [H, T, hd]. */
const val = (l: number, kind: number, t: number, h: number, i: number) => l * 1e6 + kind * 1e5 + t * 100 + h * 10 + i;
function addedRows(from: number, T: number): { keys: Float32Array[]; values: Float32Array[] } {
  const keys = Array.from({ length: L }, (_, l) => Float32Array.from({ length: T * H * hd }, (_, j) => val(l, 0, from + (j % T), Math.floor(j / (hd * T)), Math.floor(j / T) % hd)));
  const values = Array.from({ length: L }, (_, l) => Float32Array.from({ length: T * H * hd }, (_, j) => val(l, 1, from + (Math.floor(j / hd) % T), Math.floor(j / (T * hd)), j % hd)));
  return { keys, values };
}

/** What the decoder would hand over on the device: the added rows as device tensors [k0, v0, ...]. */
function onDeviceRows(dev: HostDevice, from: number, T: number): Promise<ort.Tensor[]> {
  const { keys, values } = addedRows(from, T);
  return dev.uploadKv(Array.from({ length: L }, (_, l) => [new ort.Tensor('float32', keys[l], [1, H, hd, T]), new ort.Tensor('float32', values[l], [1, H, T, hd])]).flat());
}

function assertRows(cache: KvCache, n: number): void {
  for (let l = 0; l < L; l++) {
    const { key, value } = cache.past(l);
    const C = cache.slots;
    for (let t = 0; t < n; t++) for (let h = 0; h < H; h++) for (let i = 0; i < hd; i++) {
      assert.equal((key.data as Float32Array)[(h * hd + i) * C + t], val(l, 0, t, h, i), `layer ${l} key of token ${t}`);
      assert.equal((value.data as Float32Array)[(h * C + t) * hd + i], val(l, 1, t, h, i), `layer ${l} value of token ${t}`);
    }
  }
}

describe('KvCache on a device (host stand-in)', () => {
  test('rows written on the device land where the host cache puts them, across growth; host rows come back with toHost', async () => {
    const dev = new HostDevice();
    const cache = KvCache.empty(cfg);
    const { keys, values } = addedRows(0, 3);
    cache.append(keys, values, 3); // host rows first, then the device takes over
    await cache.onDevice(dev);
    assert.ok(cache.isOn(dev));
    let t = 3;
    for (const T of [1, 70, 1, 1]) {
      await cache.onDevice(dev);
      await cache.appendOnDevice(await onDeviceRows(dev, t, T), T);
      t += T;
    }
    assert.equal(cache.length, t);
    assert.ok(cache.slots >= t);
    assert.throws(() => cache.past(0), /on the GPU/, 'stale host buffers are not read');
    await cache.toHost();
    assertRows(cache, t);
    assert.equal(dev.live.size, 2 * L, 'only the current cache tensors are alive (the added rows and old copies were freed)');
    cache.release();
    assert.equal(dev.live.size, 0);
    assertRows(cache, t); // the host copy was current: release keeps it
  });

  test('reserve while the rows are only on the device takes effect at the next write; truncate keeps the first rows', async () => {
    const dev = new HostDevice();
    const cache = KvCache.empty(cfg);
    await cache.onDevice(dev);
    await cache.appendOnDevice(await onDeviceRows(dev, 0, 5), 5);
    const slots = cache.slots;
    cache.reserve(slots + 100);
    assert.equal(cache.slots, slots, 'nothing moves yet');
    cache.truncate(4);
    await cache.appendOnDevice(await onDeviceRows(dev, 4, 2), 2);
    assert.ok(cache.slots >= slots + 100, `${cache.slots} slots after reserving ${slots + 100}`);
    assert.equal(cache.length, 6);
    await cache.toHost();
    assertRows(cache, 6);
    cache.release();
  });

  test('a cache whose rows lived only on the device is empty after release; beyond RESIDENT_CACHES the least recently used goes to the host', async () => {
    const dev = new HostDevice();
    const lost = KvCache.empty(cfg);
    await lost.onDevice(dev);
    await lost.appendOnDevice(await onDeviceRows(dev, 0, 2), 2);
    lost.release();
    assert.equal(lost.length, 0);
    assert.equal(dev.live.size, 0);

    const caches = Array.from({ length: RESIDENT_CACHES + 1 }, () => KvCache.empty(cfg));
    for (const c of caches) {
      await c.onDevice(dev);
      await c.appendOnDevice(await onDeviceRows(dev, 0, 3), 3);
    }
    assert.ok(!caches[0].isOn(dev), 'the oldest was evicted');
    assertRows(caches[0], 3); // ... with its rows on the host
    for (const c of caches.slice(1)) assert.ok(c.isOn(dev));
    assert.equal(dev.live.size, 2 * L * RESIDENT_CACHES);
    await dev.release(); // closing the model frees every device copy
    assert.equal(dev.live.size, 0);
  });
});
