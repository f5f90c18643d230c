// .pth reading: the fixture files, strided views, byte order, ZIP64, and archive-level failures.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { numel } from '../../../server/engine/tensor';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { PthFile } from '../../../server/engine/weights/pth';
import { openTensorFile } from '../../../server/engine/weights/tensorFile';
import { TensorRef } from '../../../server/engine/weights/torchPickle';
import { ZipReader } from '../../../server/engine/weights/zip';
import { fixture, readGolden, scratchDir, writeFile } from './helpers/fixture';
import { Global, NewObj, Tuple, type PyValue } from './helpers/pickleWriter';
import { buildPth, storage, view } from './helpers/pthWriter';
import { buildZip } from './helpers/zipWriter';

const tmp = scratchDir('pth');
after(tmp.cleanup);

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const floats = (data: Uint8Array): number[] => [...new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4)];
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Reference strided gather, written the obvious way. */
function gather(base: number[], offset: number, shape: number[], stride: number[]): number[] {
  const out: number[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  for (let n = 0; n < numel(shape); n++) {
    out.push(base[offset + idx.reduce((s, x, d) => s + x * stride[d], 0)]);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

test('fixture LLaMA shard: every tensor listed with its stored dtype and shape', async () => {
  const g = readGolden().config;
  const D = g['params.json'].dim;
  const file = await openTensorFile(fixture('llama', 'consolidated.00.pth'));
  try {
    assert.ok(file instanceof PthFile);
    assert.equal(file.prefix, 'consolidated.00');
    assert.deepEqual(file.info('tok_embeddings.weight'), { dtype: 'float16', shape: [g['vocab_size (tokenizer n_words)'], D] });
    assert.deepEqual(file.info('layers.1.feed_forward.w2.weight'), { dtype: 'float16', shape: [D, g.ffn_hidden] });
    const freqs = file.info('layers.0.attention.inner_attention.rope.freqs');
    assert.deepEqual(freqs, { dtype: 'float32', shape: [D / g['params.json'].n_heads / 2] });
    // RoPE inverse frequencies are 10000^(-2i/head_dim): a real value check of the bytes read.
    const rope = floats((await file.read('layers.0.attention.inner_attention.rope.freqs')).data);
    const headDim = D / g['params.json'].n_heads;
    rope.forEach((v, i) => assert.ok(Math.abs(v - 10000 ** (-(2 * i) / headDim)) < 1e-6, `freq ${i}`));
    const t = await file.read('norm.weight');
    assert.equal(t.data.length, D * 2);
  } finally {
    await file.close();
  }
});

test('non-contiguous strides are gathered into row-major order', async () => {
  const base = range(60).map((i) => i * 1.5 - 7);
  const st = storage('0', 'float32', f32(base));
  const views: Record<string, { offset: number; shape: number[]; stride: number[] }> = {
    contiguous: { offset: 0, shape: [5, 12], stride: [12, 1] },
    transposed: { offset: 0, shape: [12, 5], stride: [1, 12] },
    slice: { offset: 13, shape: [3, 4], stride: [12, 2] }, // a[1:4, 1:9:2]
    broadcast: { offset: 5, shape: [3, 4], stride: [0, 1] },
    permuted3d: { offset: 0, shape: [3, 4, 5], stride: [1, 15, 3] },
    rowsOnly: { offset: 24, shape: [2, 12], stride: [24, 1] }, // every other row: runs of 12
    scalar: { offset: 59, shape: [], stride: [] },
    empty: { offset: 0, shape: [0, 4], stride: [4, 1] },
  };
  const dict = new Map<PyValue, PyValue>(Object.entries(views).map(([k, v]) => [k, view(st, v.shape, v)]));
  const p = writeFile(tmp.dir, 'strided/views.pth', buildPth(dict, [st]));
  const file = await PthFile.open(p);
  const limit = PthFile.spanReadLimitBytes;
  try {
    // Both strategies: one read of the whole span, and one read per contiguous run.
    for (const spanLimit of [limit, 0]) {
      PthFile.spanReadLimitBytes = spanLimit;
      for (const [name, v] of Object.entries(views)) {
        const t = await file.read(name);
        assert.deepEqual(t.shape, v.shape, name);
        assert.deepEqual(floats(t.data), gather(base, v.offset, v.shape, v.stride), `${name} (span limit ${spanLimit})`);
      }
    }
    // Views of one storage share it.
    const refs = file.names().map((n) => file.ref(n));
    assert.ok(refs.every((r) => r.storage === refs[0].storage));
  } finally {
    PthFile.spanReadLimitBytes = limit;
    await file.close();
  }
});

test('a view running past its storage is reported with the tensor name', async () => {
  const st = storage('0', 'float32', f32(range(10)));
  const p = writeFile(tmp.dir, 'strided/overrun.pth', buildPth(new Map([['bad', view(st, [3, 4])]]), [st]));
  const file = await PthFile.open(p);
  try {
    await assert.rejects(file.read('bad'), (e: unknown) => e instanceof CheckpointError && e.tensor === 'bad' && /runs past its storage of 10 elements/.test(e.message));
  } finally {
    await file.close();
  }
});

test('byteorder "big" archives are byte-swapped on read', async () => {
  const values = [1.25, -3, 65504, 1e-3];
  const be = new Uint8Array(16);
  values.forEach((v, i) => new DataView(be.buffer).setFloat32(i * 4, v, false));
  const st = storage('0', 'float32', be);
  const p = writeFile(tmp.dir, 'order/big.pth', buildPth(new Map([['t', view(st, [4])]]), [st], { byteorder: 'big' }));
  const file = await PthFile.open(p);
  try {
    assert.deepEqual(floats((await file.read('t')).data), values.map((v) => Math.fround(v)));
  } finally {
    await file.close();
  }
});

test('ZIP64 end records and extra fields are followed', async () => {
  const st = storage('7', 'float16', new Uint8Array([0x00, 0x3c, 0x00, 0xc0])); // 1.0, -2.0
  const bytes = buildPth(new Map([['h', view(st, [2])]]), [st], { zip64: true, prefix: 'big_model' });
  const p = writeFile(tmp.dir, 'zip64/model.pth', bytes);
  const file = await PthFile.open(p);
  try {
    assert.deepEqual([...(await file.read('h')).data], [0x00, 0x3c, 0x00, 0xc0]);
  } finally {
    await file.close();
  }
  const fh = await fs.promises.open(p, 'r');
  try {
    const zip = await ZipReader.open(fh, p);
    assert.deepEqual(zip.entries().map((e) => e.name), ['big_model/data.pkl', 'big_model/data/7', 'big_model/version']);
    const r = await zip.dataRange(zip.get('big_model/data/7')!);
    assert.equal(r.offset % 64, 0, 'torch-style 64-byte alignment via the local extra field');
    assert.equal(r.size, 4);
  } finally {
    await fh.close();
  }
});

test('compressed members are refused with a clear error', async () => {
  const bytes = buildZip([{ name: 'archive/data.pkl', data: Uint8Array.from([0x80, 2, 0x7d, 0x2e]), fakeMethod: 8 }]);
  const p = writeFile(tmp.dir, 'deflate/model.pth', bytes);
  await assert.rejects(PthFile.open(p), (e: unknown) => e instanceof CheckpointError && /compressed \(method 8\)/.test(e.message) && e.message.startsWith('deflate/model.pth: '));
});

test('a zip without data.pkl is not a checkpoint', async () => {
  const p = writeFile(tmp.dir, 'plainzip/docs.zip', buildZip([{ name: 'readme.txt', data: new TextEncoder().encode('hi') }]));
  await assert.rejects(openTensorFile(p), /plainzip\/docs\.zip: zip archive has no data\.pkl/);
});

test('nested objects: tensors are found by dotted path, object keeps lazy refs', async () => {
  const st = storage('0', 'float32', f32([1, 2, 3, 4]));
  const root = new Map<PyValue, PyValue>([
    ['model', new Map<PyValue, PyValue>([['module.a', view(st, [2], { offset: 0 })], ['module.b', view(st, [2], { offset: 2 })]])],
    ['optimizer', new Map<PyValue, PyValue>([['state', new Map<PyValue, PyValue>([[0, new Map<PyValue, PyValue>([['exp_avg', view(st, [4])]])]])]])],
    ['epoch', 3],
    ['args', new NewObj(new Global('argparse', 'Namespace'), [], new Map<string, PyValue>([['lr', 0.5], ['sizes', new Tuple([1, 2])]]))],
  ]);
  const p = writeFile(tmp.dir, 'nested/ckpt.pth', buildPth(root, [st]));
  const file = await PthFile.open(p);
  try {
    assert.deepEqual(file.names(), ['model.module.a', 'model.module.b', 'optimizer.state.0.exp_avg']);
    assert.deepEqual(floats((await file.read('model.module.b')).data), [3, 4]);
    const model = (file.object as Map<string, unknown>).get('model') as Map<string, unknown>;
    assert.ok(model.get('module.a') instanceof TensorRef);
  } finally {
    await file.close();
  }
});
