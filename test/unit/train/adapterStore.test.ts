// Adapter sets: save/load with optimizer state, export to the official LaVIN .pth and read it back
// with the engine's own adapter reader, crash safety of saves, and LaVIN's initialisation.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { toFloat32 } from '../../../server/engine/tensor';
import { FIXTURE_DIR } from '../../golden/fixture';
import { loadAdapter } from '../../../server/engine/weights';
import { ADAPTER_META_FILE, AdapterSet, exportLavinPth, importLavinPth, loadAdapterSet, readMeta, saveAdapterSet } from '../../../server/train/adapterStore';
import { initAdapterTensors } from '../../../server/train/init';
import { Rng } from '../../../server/train/rng';
import { tempDir } from '../../helpers/tempDir';

const CHECKPOINT = path.join(FIXTURE_DIR, 'adapter/checkpoint.pth');
const base = { id: 'test-base', name: 'fixture' };

function tmp(): string {
  return tempDir('lavin-adapter-store-');
}

async function imported(): Promise<AdapterSet> {
  return importLavinPth(CHECKPOINT, { name: 'fixture adapter', baseModel: base });
}

test('export to the official .pth layout reads back identically through engine/weights loadAdapter', async () => {
  const set = await imported();
  const original = await loadAdapter(CHECKPOINT);
  const file = path.join(tmp(), 'exported.pth');
  set.meta.epoch = 3;
  exportLavinPth(set, file);
  const back = await loadAdapter(file);
  assert.deepEqual(back.keys, original.keys);
  assert.equal(back.args.temperature, original.args.temperature);
  assert.equal(back.args.adapterDim, original.args.adapterDim);
  assert.equal(back.args.hiddenProj, original.args.hiddenProj);
  assert.equal(back.epoch, 3);
  for (const k of original.keys) {
    const a = original.tensors.get(k)!;
    const b = back.tensors.get(k)!;
    assert.deepEqual(b.shape, a.shape, k);
    assert.equal(b.dtype, 'float32', k);
    assert.deepEqual(Buffer.from(b.data), Buffer.from(a.data), `${k} bytes differ`);
  }
  // The Namespace carries the float temperature as a Python float.
  assert.equal(typeof back.args.raw.temperature, 'number');
  assert.equal(back.args.raw.adapter_type, 'attn');
});

test('save / load keeps tensors, metadata and optimizer state exactly; our safetensors load as an adapter too', async () => {
  const set = await imported();
  const dir = tmp();
  const m = new Map([...set.tensors].map(([k, v]) => [k, v.map((x) => x * 0.5)]));
  const v = new Map([...set.tensors].map(([k, x]) => [k, x.map((y) => y * y)]));
  set.meta.step = 7;
  saveAdapterSet(dir, { ...set, optimizer: { step: 7, m, v, rng: new Rng(5).state, trainer: { epoch: 1, cursor: 3 } } });
  const back = await loadAdapterSet(dir);
  assert.equal(back.meta.step, 7);
  assert.equal(back.meta.temperature, set.meta.temperature);
  for (const k of set.meta.keys) {
    assert.deepEqual(back.tensors.get(k), set.tensors.get(k), k);
    assert.deepEqual(back.optimizer!.m.get(k), m.get(k), k);
    assert.deepEqual(back.optimizer!.v.get(k), v.get(k), k);
  }
  assert.deepEqual(back.optimizer!.rng, new Rng(5).state);
  assert.deepEqual(back.optimizer!.trainer, { epoch: 1, cursor: 3 });
  const asAdapter = await loadAdapter(path.join(dir, back.meta.files.tensors));
  assert.equal(asAdapter.args.temperature, set.meta.temperature);
  assert.deepEqual(toFloat32(asAdapter.tensors.get(set.meta.keys[0])!), set.tensors.get(set.meta.keys[0]));
});

test('a later save replaces the files; a save killed before adapter.json leaves the previous set loadable', async () => {
  const set = await imported();
  const dir = tmp();
  set.meta.step = 1;
  saveAdapterSet(dir, set);
  set.meta.step = 2;
  const key = set.meta.keys[0];
  set.tensors.get(key)![0] += 1;
  saveAdapterSet(dir, set);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter-2.safetensors', ADAPTER_META_FILE]);
  // Simulate a kill mid-save: a torn temp file and a tensor file of a step adapter.json never named.
  fs.writeFileSync(path.join(dir, '.adapter-3.safetensors.123.abc.tmp'), 'torn');
  fs.writeFileSync(path.join(dir, 'adapter-3.safetensors'), new Uint8Array(10));
  const back = await loadAdapterSet(dir);
  assert.equal(back.meta.step, 2);
  assert.equal(back.tensors.get(key)![0], set.tensors.get(key)![0]);
  // The next save clears the leftovers.
  set.meta.step = 4;
  saveAdapterSet(dir, set);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['adapter-4.safetensors', ADAPTER_META_FILE]);
});

test('clear errors for a missing or broken set', async () => {
  const dir = tmp();
  await assert.rejects(loadAdapterSet(dir), /no adapter\.json/);
  fs.writeFileSync(path.join(dir, ADAPTER_META_FILE), '{');
  assert.throws(() => readMeta(dir), /not valid JSON/);
  fs.writeFileSync(path.join(dir, ADAPTER_META_FILE), JSON.stringify({ format: 'lavin-code-adapter', version: 1, keys: ['a'], files: { tensors: 'adapter-9.safetensors' } }));
  await assert.rejects(loadAdapterSet(dir), /adapter-9\.safetensors .* is missing/);
});

test('LaVIN init: adapters start as the identity (B, D, biases zero), A Xavier-bounded', async () => {
  const set = await imported();
  const init = initAdapterTensors(set.shapes, new Rng(1));
  const a = init.get('layers.0.adapter_attn.conv_A.weight')!;
  const [h, c] = set.shapes.get('layers.0.adapter_attn.conv_A.weight')!;
  const bound = Math.sqrt(6 / (h + c));
  assert.ok(a.every((x) => Math.abs(x) <= bound) && a.some((x) => x !== 0));
  for (const k of ['layers.1.adapter_attn.conv_B.weight', 'layers.1.adapter_attn.conv_D.weight', 'layers.1.adapter_attn.conv_B.bias', 'adapter_proj.conv_A.bias']) {
    assert.ok(init.get(k)!.every((x) => x === 0), k);
  }
  assert.ok(init.get('adapter_modality_embedding.weight')!.some((x) => Math.abs(x) > 0.5));
  assert.deepEqual(initAdapterTensors(set.shapes, new Rng(1)).get('layers.0.adapter_attn.conv_A.weight'), a);
});
