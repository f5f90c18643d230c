// Files that are not (whole) checkpoints: every case must be a CheckpointError naming the file.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadAdapter } from '../../../server/engine/weights/adapter';
import { loadClip } from '../../../server/engine/weights/clip';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { loadLlama } from '../../../server/engine/weights/llama';
import { openTensorFile, sniffFormat } from '../../../server/engine/weights/tensorFile';
import { fixture, scratchDir, writeFile } from './helpers/fixture';
import { copyFile } from './helpers/tensors';

const tmp = scratchDir('errors');
after(tmp.cleanup);

/** A copy of `src` cut to `fraction` of its size. */
function truncated(src: string, dir: string, fraction: number, name = path.basename(src)): string {
  const bytes = fs.readFileSync(src);
  return writeFile(path.join(tmp.dir, dir), name, bytes.subarray(0, Math.floor(bytes.length * fraction)));
}

const isCheckpointError = (file: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
  assert.equal(e.file, file);
  assert.match(e.message, re);
  return true;
};

test('truncated files (cut in half) of every kind', async () => {
  const pth = truncated(fixture('adapter', 'checkpoint.pth'), 'half-adapter', 0.5);
  await assert.rejects(loadAdapter(pth), isCheckpointError(pth, /^half-adapter\/checkpoint\.pth: zip end-of-central-directory record not found \(file truncated or not a zip archive\)$/));

  const clip = truncated(fixture('clip', 'visual.pth'), 'half-clip', 0.5);
  await assert.rejects(loadClip(clip, { heads: 4 }), isCheckpointError(clip, /file truncated/));

  const st = truncated(fixture('clip', 'model.safetensors'), 'half-st', 0.5);
  await assert.rejects(loadClip(st, { heads: 4 }), isCheckpointError(st, /^half-st\/model\.safetensors: tensor vision_model\.\S+: file is truncated: data_offsets end \d+ is past the \d+ data bytes$/));

  const dir = path.join(tmp.dir, 'half-llama', 'llama');
  copyFile(fixture('llama', 'params.json'), dir);
  const shard = truncated(fixture('llama', 'consolidated.00.pth'), 'half-llama/llama', 0.5);
  await assert.rejects(loadLlama(dir), isCheckpointError(shard, /^llama\/consolidated\.00\.pth: zip end-of-central-directory/));

  // Only the last bytes missing.
  const tail = truncated(fixture('adapter', 'checkpoint.pth'), 'tail-adapter', 0.9999);
  await assert.rejects(loadAdapter(tail), isCheckpointError(tail, /file truncated/));
});

test('files that are not checkpoints', async () => {
  const png = copyFile(fixture('inputs', 'image.png'), path.join(tmp.dir, 'png'));
  await assert.rejects(openTensorFile(png), isCheckpointError(png, /^png\/image\.png: not a checkpoint \(neither a PyTorch zip \.pth nor safetensors\)$/));
  const json = copyFile(fixture('golden.json'), path.join(tmp.dir, 'json'));
  await assert.rejects(loadClip(json), isCheckpointError(json, /not a checkpoint/));
  const empty = writeFile(tmp.dir, 'empty/model.pth', new Uint8Array(0));
  await assert.rejects(loadAdapter(empty), isCheckpointError(empty, /file is empty: not a checkpoint/));
  const missing = path.join(tmp.dir, 'nowhere', 'model.pth');
  await assert.rejects(loadAdapter(missing), isCheckpointError(missing, /^nowhere\/model\.pth: file not found$/));
  const folder = path.join(tmp.dir, 'folder');
  fs.mkdirSync(folder, { recursive: true });
  await assert.rejects(openTensorFile(folder), isCheckpointError(folder, /not a regular file/));
  // Pre-1.6 torch.save: pickle protocol 2 + LONG1 magic number.
  const legacy = writeFile(tmp.dir, 'legacy/model.pth', Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
  await assert.rejects(openTensorFile(legacy), isCheckpointError(legacy, /legacy \(pre-1\.6, non-zip\) torch\.save format/));
  const llamaDir = path.join(tmp.dir, 'fake-llama', 'llama');
  copyFile(fixture('llama', 'params.json'), llamaDir);
  const fake = copyFile(fixture('inputs', 'image.png'), llamaDir, 'consolidated.00.pth');
  await assert.rejects(loadLlama(llamaDir), isCheckpointError(fake, /^llama\/consolidated\.00\.pth: not a checkpoint/));
});

test('format sniffing looks at bytes, not names', () => {
  assert.equal(sniffFormat(Uint8Array.from([0x50, 0x4b, 0x03, 0x04])), 'pth');
  assert.equal(sniffFormat(Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 0x7b])), 'safetensors');
  assert.equal(sniffFormat(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])), 'unknown');
  assert.equal(sniffFormat(new Uint8Array(0)), 'unknown');
});
