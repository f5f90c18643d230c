// Model folders: clear errors for every way a manifest can be wrong, and mismatched checkpoints.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModelDir, readManifest } from '../../server/engine/modelDir';
import { FIXTURE_DIR, fixtureModelDir } from '../golden/fixture';
import { tempDir } from '../helpers/tempDir';

function dirWith(manifest: unknown): string {
  const d = tempDir('lavin-manifest-');
  fs.writeFileSync(path.join(d, 'model.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return d;
}

const good = () => JSON.parse(fs.readFileSync(path.join(fixtureModelDir(), 'model.json'), 'utf8'));

test('a folder without model.json is named in the error', () => {
  const d = tempDir('lavin-empty-');
  assert.throws(() => readManifest(d), new RegExp(`model folder ${d.replace(/[/\\]/g, '.')}: no model.json`));
});

test('invalid JSON, wrong format, wrong version and missing fields are reported', () => {
  assert.throws(() => readManifest(dirWith('{ nope')), /model.json is not valid JSON/);
  assert.throws(() => readManifest(dirWith({ ...good(), format: 'other' })), /"format" must be "lavin-code-model"/);
  assert.throws(() => readManifest(dirWith({ ...good(), version: 7 })), /unsupported version 7/);
  const { adapter: _omit, ...noAdapter } = good();
  assert.throws(() => readManifest(dirWith(noAdapter)), /"adapter" must be a non-empty string/);
  assert.throws(() => readManifest(dirWith({ ...good(), positionMode: 'sideways' })), /"positionMode" must be/);
});

test('paths that do not exist are named', async () => {
  await assert.rejects(loadModelDir(dirWith({ ...good(), clip: '/nonexistent/clip.pth' })), /clip path \/nonexistent\/clip.pth does not exist/);
  await assert.rejects(loadModelDir(dirWith({ ...good(), tokenizer: 'missing.model' })), /tokenizer .*missing.model does not exist/);
});

test('an adapter checkpoint in place of the CLIP weights is rejected with the file named', async () => {
  await assert.rejects(loadModelDir(dirWith({ ...good(), clip: path.join(FIXTURE_DIR, 'adapter/checkpoint.pth') })), /checkpoint\.pth/);
});

test('the fixture folder loads with geometry read from the weights', async () => {
  const w = await loadModelDir(fixtureModelDir());
  const params = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, 'llama/params.json'), 'utf8'));
  assert.equal(w.cfg.llama.dim, params.dim);
  assert.equal(w.cfg.llama.nLayers, params.n_layers);
  assert.equal(w.cfg.llama.nHeads, params.n_heads);
  assert.equal(w.cfg.llama.vocab, w.tensors.get('tok_embeddings.weight')!.shape[0]);
});
