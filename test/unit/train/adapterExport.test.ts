// Adapter sets know the model they were trained on (content fingerprint of backbone and CLIP) and
// travel as one safetensors file: fingerprints, the fit check, export -> import round trip (bit
// for bit), and the refusals that must leave the store as it was.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { FIXTURE_DIR } from '../../golden/fixture';
import { loadAdapter, openTensorFile } from '../../../server/engine/weights';
import {
  AdapterSet, backboneIdentity, checkAdapterSetFits, importLavinPth, loadAdapterSet, modelFingerprint, readMeta, saveAdapterSet,
} from '../../../server/train/adapterStore';
import { exportAdapterSet, importAdapterSet } from '../../../server/train/adapterExport';
import { safetensorsChunks } from '../../../server/train/safetensorsWriter';
import { fileListing } from '../../helpers/fileListing';
import { tempDir } from '../../helpers/tempDir';

const CHECKPOINT = path.join(FIXTURE_DIR, 'adapter/checkpoint.pth');

function tmp(): string {
  return tempDir('lavin-adapter-export-');
}

/** A file of `bytes` pseudo-random bytes (different for each seed). */
function randomFile(file: string, bytes: number, seed: number): string {
  const b = Buffer.alloc(bytes);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  fs.writeFileSync(file, b);
  return file;
}

/** Changes one byte in place and moves the modification time on (the fingerprint cache keys on it). */
function flipByte(file: string, at: number): void {
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] ^= 0xff;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  const t = fs.statSync(file).mtime.getTime() / 1000 + 5;
  fs.utimesSync(file, t, t);
}

test('modelFingerprint: content, not names; a changed byte in the header or a sampled slice changes it; folders hash every weight file', () => {
  const dir = tmp();
  const size = 12 << 20; // past the sampled size: head, slices and tail only
  const a = randomFile(path.join(dir, 'model.gguf'), size, 1);
  const copy = path.join(dir, 'sha256-abc');
  fs.copyFileSync(a, copy);
  const clip = randomFile(path.join(dir, 'mmproj.gguf'), 1 << 20, 2);
  const fa = modelFingerprint({ backbone: a, clip });
  assert.match(fa.backbone, /^[0-9a-f]{64}$/);
  assert.deepEqual(modelFingerprint({ backbone: copy, clip }), fa, 'the same bytes under another name');
  assert.equal(modelFingerprint({ backbone: a }).clip, undefined);
  assert.notEqual(fa.clip, fa.backbone);

  flipByte(copy, 100); // header
  const headChanged = modelFingerprint({ backbone: copy }).backbone;
  assert.notEqual(headChanged, fa.backbone);
  flipByte(copy, 100);
  assert.equal(modelFingerprint({ backbone: copy }).backbone, fa.backbone, 'back to the same bytes');
  // The 11th of the 64 slices spread between the 4 MiB head and the 1 MiB tail.
  const slice = (4 << 20) + Math.floor(((size - (5 << 20) - (16 << 10)) * 10) / 63) + 5;
  flipByte(copy, slice);
  assert.notEqual(modelFingerprint({ backbone: copy }).backbone, fa.backbone, 'a sampled slice');
  flipByte(copy, slice);
  flipByte(copy, size - 10); // tail
  assert.notEqual(modelFingerprint({ backbone: copy }).backbone, fa.backbone);

  // A folder: every weight file counts, other files do not.
  const folder = path.join(dir, 'llama');
  fs.mkdirSync(folder);
  randomFile(path.join(folder, 'consolidated.00.pth'), 4096, 3);
  fs.writeFileSync(path.join(folder, 'params.json'), '{"dim": 64}');
  const f1 = modelFingerprint({ backbone: folder }).backbone;
  fs.writeFileSync(path.join(folder, 'README.md'), 'notes');
  assert.equal(modelFingerprint({ backbone: folder }).backbone, f1, 'a non-weight file is ignored');
  randomFile(path.join(folder, 'consolidated.01.pth'), 4096, 4);
  assert.notEqual(modelFingerprint({ backbone: folder }).backbone, f1, 'a second shard counts');
  assert.throws(() => modelFingerprint({ backbone: path.join(dir, 'missing.gguf') }), /cannot fingerprint .*missing\.gguf: no such file/);
});

test('checkAdapterSetFits: same model passes; another backbone or CLIP is refused naming both; sets without a fingerprint pass with a note', () => {
  const dir = tmp();
  const bbA = randomFile(path.join(dir, 'a.gguf'), 8192, 1);
  const bbB = randomFile(path.join(dir, 'b.gguf'), 8192, 2);
  const clipA = randomFile(path.join(dir, 'clip-a.pth'), 4096, 3);
  const clipB = randomFile(path.join(dir, 'clip-b.pth'), 4096, 4);
  const trainedOn = backboneIdentity('Model A', { backbone: bbA, clip: clipA });
  const meta = { baseModel: trainedOn };
  assert.deepEqual(checkAdapterSetFits('s', meta, backboneIdentity('Model A again', { backbone: bbA, clip: clipA })), {});
  assert.throws(() => checkAdapterSetFits('s', meta, backboneIdentity('Model B', { backbone: bbB, clip: clipA })),
    (e: Error) => /adapter set s: was trained on the backbone of Model A a\.gguf \(fingerprint [0-9a-f]{12}\), not on the loaded Model B b\.gguf/.test(e.message) && !e.message.includes('\n'));
  assert.throws(() => checkAdapterSetFits('s', meta, backboneIdentity('Model A2', { backbone: bbA, clip: clipB })),
    /trained with the CLIP of Model A clip-a\.pth .*not with the loaded Model A2's clip-b\.pth/);
  assert.throws(() => checkAdapterSetFits('s', meta, backboneIdentity('Model A text', { backbone: bbA })), /the loaded Model A text has no CLIP/);
  // A docs set trained without a CLIP fits the same backbone with any CLIP.
  assert.deepEqual(checkAdapterSetFits('s', { baseModel: backboneIdentity('A', { backbone: bbA }) }, trainedOn), {});

  const legacy = { baseModel: { id: 'names-and-sizes', name: 'old model' } };
  const r = checkAdapterSetFits('old', legacy, { ...trainedOn, id: 'names-and-sizes' });
  assert.match(r.note ?? '', /adapter set old was saved before adapter sets recorded the model's fingerprint/);
  assert.throws(() => checkAdapterSetFits('old', legacy, trainedOn), /adapter set old: was trained on old model, not on the loaded Model A/);
});

/** A saved set in `store` under `name`, trained (as far as its meta says) on a fingerprinted model. */
async function savedSet(store: string, name: string, kindData: Record<string, unknown>): Promise<AdapterSet> {
  const dir = tmp();
  const baseModel = backboneIdentity('fixture', { backbone: randomFile(path.join(dir, 'bb.gguf'), 8192, 7), clip: randomFile(path.join(dir, 'clip.pth'), 4096, 8) });
  const set = await importLavinPth(CHECKPOINT, { name, baseModel });
  // Values that are not the fixture's own (the round trip must carry every bit, denormals included).
  let i = 0;
  for (const v of set.tensors.values()) for (let j = 0; j < v.length; j++) v[j] = v[j] * 1.5 + (i++ % 7 === 0 ? 1e-40 : 0);
  set.meta.step = 42;
  set.meta.loss = 0.25;
  set.meta.data = kindData;
  saveAdapterSet(path.join(store, name), set);
  return set;
}

test('export -> import round trip: one safetensors file with a manifest, tensors bit-identical, fingerprint and kind kept', async () => {
  const store = tmp();
  const set = await savedSet(store, 'shapes', { data: '/data/shapes', format: 'llava', records: 16 });
  const file = path.join(tmp(), 'shapes.safetensors');
  const r = await exportAdapterSet(path.join(store, 'shapes'), file);
  assert.equal(r.manifest.kind, 'vision');
  assert.equal(r.manifest.shape.tensors, set.meta.keys.length);

  const f = await openTensorFile(file);
  try {
    const m = f.metadata!;
    assert.equal(m.format, 'lavin-code-adapter-export');
    assert.equal(m.format_version, '1');
    assert.equal(m.name, 'shapes');
    assert.equal(m.kind, 'vision');
    assert.deepEqual(JSON.parse(m.fingerprint), set.meta.baseModel.fingerprint);
    assert.match(JSON.parse(m.fingerprint).backbone, /^[0-9a-f]{64}$/);
    assert.equal(JSON.parse(m.training).steps, 42);
    assert.deepEqual(f.names().sort(), [...set.meta.keys].sort());
  } finally {
    await f.close();
  }
  // The file is also an adapter checkpoint the engine reads directly (args in __metadata__).
  const asAdapter = await loadAdapter(file);
  assert.equal(asAdapter.args.temperature, set.meta.temperature);

  const other = tmp();
  const imp = await importAdapterSet(file, other, { name: 'shapes-copy' });
  assert.equal(imp.dir, path.join(other, 'shapes-copy'));
  const back = await loadAdapterSet(imp.dir);
  assert.deepEqual(back.meta.keys, set.meta.keys);
  for (const k of set.meta.keys) {
    const a = set.tensors.get(k)!;
    const b = back.tensors.get(k)!;
    assert.deepEqual(back.shapes.get(k), set.shapes.get(k), k);
    assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${k} bytes differ`);
  }
  assert.equal(back.meta.name, 'shapes-copy');
  assert.equal(back.meta.kind, 'vision');
  assert.equal(back.meta.step, 42);
  assert.equal(back.meta.loss, 0.25);
  assert.equal(back.meta.temperature, set.meta.temperature);
  assert.deepEqual(back.meta.args, set.meta.args);
  assert.deepEqual(back.meta.baseModel, set.meta.baseModel);
  assert.equal(back.optimizer, undefined, 'optimizer state is not exported');
  assert.equal((back.meta.data as Record<string, unknown>).importedFrom, 'shapes.safetensors');
  // An imported set is checked like any other.
  assert.deepEqual(checkAdapterSetFits('shapes-copy', back.meta, set.meta.baseModel), {});
  // Without --name the manifest's name is used; a docs set says docs.
  await savedSet(store, 'guide', { docs: '/docs', files: 3 });
  const docsFile = path.join(tmp(), 'guide.safetensors');
  assert.equal((await exportAdapterSet(path.join(store, 'guide'), docsFile)).manifest.kind, 'docs');
  assert.equal((await importAdapterSet(docsFile, other)).name, 'guide');
  assert.equal(readMeta(path.join(other, 'guide')).kind, 'docs');
  // A backbone's set records its fingerprint at the top of its meta: that travels too.
  const fp = { backbone: 'a'.repeat(64), clip: 'b'.repeat(64) };
  const bb = await savedSet(store, 'backbone-set', { data: '/d', format: 'llava' });
  saveAdapterSet(path.join(store, 'backbone-set'), { ...bb, meta: { ...readMeta(path.join(store, 'backbone-set')), baseModel: { id: 'x', name: 'Qwen2 0.5B' }, fingerprint: fp } });
  const bbFile = path.join(tmp(), 'bb.safetensors');
  assert.deepEqual((await exportAdapterSet(path.join(store, 'backbone-set'), bbFile)).manifest.fingerprint, fp);
  const bbBack = readMeta((await importAdapterSet(bbFile, other)).dir);
  assert.deepEqual(bbBack.fingerprint, fp);
  assert.throws(() => checkAdapterSetFits('backbone-set', bbBack, set.meta.baseModel), /was trained on the backbone of Qwen2 0\.5B \(fingerprint aaaaaaaaaaaa\)/);
});

test('refusals: existing name, existing export file, truncated, damaged, not an export, mismatched manifest; the store is untouched', async () => {
  const store = tmp();
  await savedSet(store, 'set1', { docs: '/docs' });
  const out = tmp();
  const file = path.join(out, 'set1.safetensors');
  await exportAdapterSet(path.join(store, 'set1'), file);
  await assert.rejects(exportAdapterSet(path.join(store, 'set1'), file), /set1\.safetensors already exists: choose another file name/);

  const before = fileListing(store);
  const oneLine = (re: RegExp) => (e: Error) => re.test(e.message) && !e.message.includes('\n');
  await assert.rejects(importAdapterSet(file, store), oneLine(/cannot import .*set1\.safetensors: an adapter set named "set1" already exists in .*; choose another name \(--name\)/));
  await assert.rejects(importAdapterSet(file, store, { name: '../escape' }), oneLine(/"\.\.\/escape" is not a usable set name/));

  const bytes = fs.readFileSync(file);
  const truncated = path.join(out, 'truncated.safetensors');
  fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(importAdapterSet(truncated, store, { name: 'x1' }), oneLine(/cannot import .*truncated\.safetensors: .*truncated/));

  const damaged = path.join(out, 'damaged.safetensors');
  const d = Buffer.from(bytes);
  d[d.length - 5] ^= 0x01;
  fs.writeFileSync(damaged, d);
  await assert.rejects(importAdapterSet(damaged, store, { name: 'x2' }), oneLine(/cannot import .*damaged\.safetensors: its tensor bytes do not match the checksum/));

  const notExport = path.join(store, 'set1', readMeta(path.join(store, 'set1')).files.tensors);
  await assert.rejects(importAdapterSet(notExport, store, { name: 'x3' }), oneLine(/not an exported LaVIN Code adapter set/));
  const garbage = path.join(out, 'garbage.safetensors');
  fs.writeFileSync(garbage, 'this is not a safetensors file at all');
  await assert.rejects(importAdapterSet(garbage, store, { name: 'x4' }), oneLine(/cannot import .*garbage\.safetensors: /));
  await assert.rejects(importAdapterSet(path.join(out, 'missing.safetensors'), store), oneLine(/cannot import .*missing\.safetensors: no such file/));

  // A manifest that lists a tensor the file lacks.
  const f = await openTensorFile(file);
  const meta = { ...f.metadata! };
  const names = f.names();
  const kept: [string, Awaited<ReturnType<typeof f.read>>][] = [];
  for (const n of names.slice(1)) kept.push([n, await f.read(n)]);
  await f.close();
  const mismatched = path.join(out, 'mismatched.safetensors');
  fs.writeFileSync(mismatched, Buffer.concat(safetensorsChunks(kept, meta)));
  await assert.rejects(importAdapterSet(mismatched, store, { name: 'x5' }), oneLine(/the manifest lists tensor .* which the file lacks/));
  // A newer format version.
  const newer = path.join(out, 'newer.safetensors');
  fs.writeFileSync(newer, Buffer.concat(safetensorsChunks(kept, { ...meta, format_version: '2' })));
  await assert.rejects(importAdapterSet(newer, store, { name: 'x6' }), oneLine(/format version 2; this LaVIN Code reads version 1/));

  assert.deepEqual(fileListing(store), before, 'the store is exactly as it was');
});
