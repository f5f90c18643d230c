// A GGUF backbone gets its CLIP and learns to see, through the CLI contracts: `lavin ask --model
// FILE.gguf --clip PATH` answers an image question text-only (no untrained visual tokens, the
// badge says so); `lavin train --model FILE.gguf --clip PATH --data DIR` trains the CLIP adapters,
// the visual projection sized to the backbone and the LLM adapters, and records both fingerprints;
// `lavin ask ... --adapters DIR --image X` then feeds visual tokens; a set is refused with another
// CLIP, and an mmproj beside the GGUF (or Ollama's projector layer) is found without --clip.

import * as assert from 'assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, describe, it } from 'node:test';
import { writeSyntheticSet } from '../../server/train/data/synthetic';
import { findVisionTower } from '../../server/host/models/visionTower';
import { randomClip, writeHfClipFolder, writeMmproj, type ClipGeometry } from '../helpers/clipFiles';
import { writeTinyBackboneGguf } from '../helpers/tinyBackbone';
import { lavin, tempDir } from './runLavin';

const CLIP: ClipGeometry = { width: 32, heads: 2, patch: 14, resolution: 56, layers: 6 };

describe('a GGUF backbone with a CLIP (--clip, mmproj)', () => {
  const dir = tempDir('lavin-backbone-vision-');
  const home = tempDir('lavin-home-');
  const gguf = path.join(dir, 'tiny-q4_0.gguf');
  const mmproj = path.join(dir, 'towers', 'mmproj-tiny-f32.gguf');
  const otherClip = path.join(dir, 'towers', 'other-hf-clip');
  const data = path.join(dir, 'shapes');
  const set = path.join(dir, 'vision-set');
  let image: string;

  before(async () => {
    writeTinyBackboneGguf(gguf);
    writeMmproj(mmproj, randomClip(CLIP), CLIP);
    writeHfClipFolder(otherClip, randomClip(CLIP), CLIP);
    await writeSyntheticSet(data, { trainSize: 8, testSize: 2, questions: ['colour'], size: 64 });
    image = path.join(data, 'test', 'images', 'test-00000.png');
  });

  it('ask --clip without a trained set: the image is not fed, the answer says so', async () => {
    const r = await lavin(['ask', '--model', gguf, '--clip', mmproj, '--image', image, '--max-new-tokens', '4', '--json', 'What colour is the shape?'], { home });
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.event, 'done');
    assert.equal(done.route, 'text');
    assert.match(String(done.visionNote), /no vision adapter set is trained for this backbone/);
  });

  it('train --clip --data: CLIP adapters, a projection sized to the backbone, both fingerprints recorded', async () => {
    const r = await lavin(['train', '--model', gguf, '--clip', mmproj, '--data', path.join(data, 'train'), '--steps', '2', '--out', set, '--json'], { home, timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const saved = r.events.find((e) => e.event === 'saved')!;
    assert.equal(saved.steps, 2);
    const meta = JSON.parse(fs.readFileSync(path.join(set, 'adapter.json'), 'utf8'));
    const fp = meta.baseModel.fingerprint;
    assert.match(fp.backbone, /^[0-9a-f]{64}$/);
    assert.match(fp.clip, /^[0-9a-f]{64}$/);
    assert.notEqual(fp.backbone, fp.clip);
    assert.deepEqual(meta.baseModel.files, { backbone: path.basename(gguf), clip: path.basename(mmproj) });
    assert.ok(meta.data.image > 0, 'trained on image samples');
    for (const key of ['backbone.visual.transformer.resblocks.5.adapter_attn.conv_A.weight', 'adapter_proj.conv_B.weight', 'layers.1.adapter_attn.conv_A.weight']) {
      assert.ok(meta.keys.includes(key), key);
    }
  });

  it('ask --clip --adapters SET --image: visual tokens are fed (image route, no note)', async () => {
    const r = await lavin(['ask', '--model', gguf, '--clip', mmproj, '--adapters', set, '--temperature', '0', '--image', image, '--max-new-tokens', '4', '--json', 'What colour is the shape?'], { home });
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.route, 'image');
    assert.equal(done.visionNote, undefined);
  });

  it('ask --raw --image with the set: a raw prompt has no place for visual tokens, the note says so', async () => {
    const r = await lavin(['ask', '--model', gguf, '--clip', mmproj, '--adapters', set, '--raw', '--image', image, '--max-new-tokens', '2', '--json', 'hello'], { home });
    assert.equal(r.code, 0, r.stderr);
    const done = r.events.at(-1)!;
    assert.equal(done.route, 'text');
    assert.match(String(done.visionNote), /raw prompt has no place for visual tokens/);
  });

  it('the set is refused with another CLIP, or with none', async () => {
    const other = await lavin(['ask', '--model', gguf, '--clip', otherClip, '--adapters', set, '--image', image, '--json', 'q'], { home });
    assert.notEqual(other.code, 0);
    assert.match(other.stderr + other.stdout, /was trained with the CLIP of .* not with the loaded/);
    const none = await lavin(['ask', '--model', gguf, '--adapters', set, '--json', 'q'], { home });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr + none.stdout, /was trained with the CLIP of .*has no CLIP/);
  });

  it('resuming the set with another CLIP is refused before any step', async () => {
    const r = await lavin(['train', '--model', gguf, '--clip', otherClip, '--data', path.join(data, 'train'), '--steps', '3', '--out', set, '--resume', '--json'], { home });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /was trained with the CLIP of .* not with the loaded/);
    assert.equal(JSON.parse(fs.readFileSync(path.join(set, 'adapter.json'), 'utf8')).step, 2, 'the set is untouched');
  });

  it('--clip is for backbones; a missing or broken CLIP file is one line naming it', async () => {
    const folder = await lavin(['ask', '--clip', mmproj, '--json', 'q'], { home });
    assert.equal(folder.code, 2);
    assert.match(folder.stderr + folder.stdout, /--clip gives a GGUF or Hugging Face backbone/);
    const broken = path.join(dir, 'towers', 'broken-mmproj.gguf');
    fs.writeFileSync(broken, fs.readFileSync(mmproj).subarray(0, 2000));
    const r = await lavin(['ask', '--model', gguf, '--clip', broken, '--json', 'q'], { home });
    assert.notEqual(r.code, 0);
    const error = r.events.find((e) => e.event === 'error')!;
    assert.match(String(error.message), /broken-mmproj\.gguf.*truncated/);
  });

  it('vision training without a CLIP says what to give', async () => {
    const r = await lavin(['train', '--model', gguf, '--data', path.join(data, 'train'), '--steps', '1', '--out', path.join(dir, 'no-clip'), '--json'], { home });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /needs its CLIP: give --clip PATH/);
  });

  it('an mmproj beside the GGUF is its CLIP without --clip', async () => {
    const beside = tempDir('lavin-beside-');
    fs.copyFileSync(gguf, path.join(beside, 'model.gguf'));
    fs.copyFileSync(mmproj, path.join(beside, 'mmproj-model-f32.gguf'));
    assert.equal(findVisionTower(path.join(beside, 'model.gguf')), path.join(beside, 'mmproj-model-f32.gguf'));
    const r = await lavin(['ask', '--model', path.join(beside, 'model.gguf'), '--adapters', set, '--image', image, '--max-new-tokens', '2', '--json', 'What colour is the shape?'], { home });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.events.at(-1)!.route, 'image');
  });

  it("Ollama: the projector layer of the manifest whose model layer is the blob", () => {
    const store = tempDir('lavin-ollama-');
    const hex = (c: string) => c.repeat(64);
    fs.mkdirSync(path.join(store, 'blobs'));
    fs.copyFileSync(gguf, path.join(store, 'blobs', `sha256-${hex('a')}`));
    fs.copyFileSync(mmproj, path.join(store, 'blobs', `sha256-${hex('b')}`));
    fs.copyFileSync(gguf, path.join(store, 'blobs', `sha256-${hex('c')}`));
    const manifests = path.join(store, 'manifests', 'registry.ollama.ai', 'library', 'llava');
    fs.mkdirSync(manifests, { recursive: true });
    const media = 'application/vnd.ollama.image.';
    fs.writeFileSync(path.join(manifests, '7b'), JSON.stringify({ layers: [{ mediaType: `${media}model`, digest: `sha256:${hex('a')}` }, { mediaType: `${media}projector`, digest: `sha256:${hex('b')}` }] }));
    fs.writeFileSync(path.join(manifests, 'text'), JSON.stringify({ layers: [{ mediaType: `${media}model`, digest: `sha256:${hex('c')}` }] }));
    assert.equal(findVisionTower(path.join(store, 'blobs', `sha256-${hex('a')}`)), path.join(store, 'blobs', `sha256-${hex('b')}`));
    assert.equal(findVisionTower(path.join(store, 'blobs', `sha256-${hex('c')}`)), undefined);
  });
});
