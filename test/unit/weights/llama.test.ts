// LLaMA folders: the fixture, shard merges against the 1-shard original, and every validation error.
import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import type { HostTensor } from '../../../server/engine/tensor';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { llamaShardRule, loadLlama } from '../../../server/engine/weights/llama';
import { fixture, readGolden, scratchDir, writeFile } from './helpers/fixture';
import type { PyValue } from './helpers/pickleWriter';
import { buildPth, stateDictPth, storage, view } from './helpers/pthWriter';
import { copyFile, readAllPth, slicePiece } from './helpers/tensors';

const tmp = scratchDir('llama');
after(tmp.cleanup);
let original: Array<[string, HostTensor]>;
let paramsJson: string;
before(async () => {
  paramsJson = fs.readFileSync(fixture('llama', 'params.json'), 'utf8');
  original = await readAllPth(fixture('llama', 'consolidated.00.pth'));
});

/** A LLaMA folder at <tmp>/<case>/llama with the given shards (each a list of tensors). */
function writeLlama(caseName: string, shards: Array<Array<[string, HostTensor]>>, params?: string): string {
  const dir = path.join(tmp.dir, caseName, 'llama');
  writeFile(dir, 'params.json', params ?? paramsJson);
  shards.forEach((entries, i) => {
    const n = String(i).padStart(2, '0');
    writeFile(dir, `consolidated.${n}.pth`, stateDictPth(entries, { prefix: `consolidated.${n}` }));
  });
  return dir;
}

/** Splits the fixture per the spec: concat dims from the rule, replicated tensors copied. */
function split(n: number): Array<Array<[string, HostTensor]>> {
  return Array.from({ length: n }, (_, i) =>
    original.map(([name, t]): [string, HostTensor] => {
      const rule = llamaShardRule(name);
      return [name, rule.kind === 'concat' ? slicePiece(t, rule.dim, i, n) : t];
    }),
  );
}

const withTensor = (name: string, t: HostTensor): Array<[string, HostTensor]> => original.map(([n, x]) => [n, n === name ? t : x]);

test('fixture folder: params from params.json and the shapes, fp16 kept, rope.freqs skipped', async () => {
  const g = readGolden().config;
  const p = g['params.json'];
  const { params, tensors, ignored } = await loadLlama(fixture('llama'));
  assert.deepEqual(params, {
    dim: p.dim, nLayers: p.n_layers, nHeads: p.n_heads, headDim: p.dim / p.n_heads, normEps: p.norm_eps,
    vocabSize: g['vocab_size (tokenizer n_words)'], ffnHidden: g.ffn_hidden, multipleOf: p.multiple_of, nShards: g.n_shards,
  });
  assert.deepEqual(ignored, ['layers.0.attention.inner_attention.rope.freqs']);
  assert.equal(tensors.size, 3 + 9 * p.n_layers);
  const V = params.vocabSize;
  const D = p.dim;
  for (const [name, t] of tensors) {
    assert.equal(t.dtype, 'float16', name);
    const want = /tok_embeddings|output/.test(name) ? [V, D]
      : /norm/.test(name) ? [D]
      : /w[13]\.weight/.test(name) ? [g.ffn_hidden, D]
      : /w2\.weight/.test(name) ? [D, g.ffn_hidden]
      : [D, D];
    assert.deepEqual(t.shape, want, name);
  }
  // One shard: the bytes are the file's bytes.
  for (const [name, t] of original) if (tensors.has(name)) assert.deepEqual(tensors.get(name)!.data, t.data, name);
});

for (const n of [2, 4]) {
  test(`${n} shards split per the spec merge back to the 1-shard tensors`, async () => {
    const dir = writeLlama(`split${n}`, split(n));
    const merged = await loadLlama(dir);
    const single = await loadLlama(fixture('llama'));
    assert.deepEqual({ ...merged.params, nShards: 1 }, single.params);
    assert.equal(merged.params.nShards, n);
    assert.deepEqual([...merged.tensors.keys()].sort(), [...single.tensors.keys()].sort());
    for (const [name, t] of single.tensors) {
      const m = merged.tensors.get(name)!;
      assert.equal(m.dtype, t.dtype, name);
      assert.deepEqual(m.shape, t.shape, name);
      assert.ok(Buffer.from(m.data).equals(Buffer.from(t.data)), `${name} differs after the merge`);
    }
  });
}

test('a piece split on the wrong dim is caught with the shard and tensor named', async () => {
  const shards = split(2);
  const wq = original.find(([n]) => n === 'layers.1.attention.wq.weight')![1];
  shards[1] = shards[1].map(([n, t]) => [n, n === 'layers.1.attention.wq.weight' ? slicePiece(wq, 1, 1, 2) : t]);
  const dir = writeLlama('wrong-split', shards);
  await assert.rejects(loadLlama(dir), (e: unknown) =>
    e instanceof CheckpointError && e.message === `llama/consolidated.01.pth: tensor layers.1.attention.wq.weight: expected shape [${wq.shape[0] / 2},${wq.shape[1]}], found [${wq.shape[0]},${wq.shape[1] / 2}]`);
});

test('wrong shape', async () => {
  const wq = original.find(([n]) => n === 'layers.0.attention.wq.weight')![1];
  const dir = writeLlama('wrong-shape', [withTensor('layers.0.attention.wq.weight', slicePiece(wq, 1, 0, 2))]);
  await assert.rejects(loadLlama(dir), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    const [d] = wq.shape;
    assert.equal(e.message, `llama/consolidated.00.pth: tensor layers.0.attention.wq.weight: expected shape [${d},${d}], found [${d},${d / 2}]`);
    assert.equal(e.file, path.join(dir, 'consolidated.00.pth'));
    assert.equal(e.tensor, 'layers.0.attention.wq.weight');
    return true;
  });
});

test('missing key', async () => {
  const dir = writeLlama('missing', [original.filter(([n]) => n !== 'layers.1.ffn_norm.weight')]);
  await assert.rejects(loadLlama(dir), (e: unknown) =>
    e instanceof CheckpointError && e.message === 'llama/consolidated.00.pth: tensor layers.1.ffn_norm.weight: missing from the checkpoint');
});

test('unsupported dtypes: integer weights and storage kinds the reader cannot decode', async () => {
  const norm = original.find(([n]) => n === 'norm.weight')![1];
  const asInt: HostTensor = { dtype: 'int16', shape: norm.shape, data: norm.data };
  const dir = writeLlama('int-weight', [withTensor('norm.weight', asInt)]);
  await assert.rejects(loadLlama(dir), /llama\/consolidated\.00\.pth: tensor norm\.weight: unsupported dtype int16/);

  // torch.ComplexFloatStorage: recognised as a storage kind, refused as a dtype when used.
  const st = { ...storage('0', 'float32', new Uint8Array(8)), typeName: 'ComplexFloatStorage' };
  const dir2 = path.join(tmp.dir, 'complex', 'llama');
  writeFile(dir2, 'params.json', paramsJson);
  writeFile(dir2, 'consolidated.00.pth', buildPth(new Map<PyValue, PyValue>([['tok_embeddings.weight', view(st, [1])]]), [st], { prefix: 'consolidated.00' }));
  await assert.rejects(loadLlama(dir2), /llama\/consolidated\.00\.pth: tensor tok_embeddings\.weight: unsupported dtype ComplexFloatStorage/);
});

test('replicated norms that differ between shards are refused', async () => {
  const shards = split(2);
  const norm = original.find(([n]) => n === 'layers.0.attention_norm.weight')![1];
  const changed = { ...norm, data: Uint8Array.from(norm.data) };
  changed.data[0] ^= 1;
  shards[1] = shards[1].map(([n, t]) => [n, n === 'layers.0.attention_norm.weight' ? changed : t]);
  const dir = writeLlama('norms-differ', shards);
  await assert.rejects(loadLlama(dir), (e: unknown) =>
    e instanceof CheckpointError && e.tensor === 'layers.0.attention_norm.weight' && e.message.startsWith('llama/consolidated.01.pth: ') && /identical in every shard/.test(e.message));
});

test('shards that disagree on dtype are refused', async () => {
  const shards = split(2);
  shards[1] = shards[1].map(([n, t]) => [n, n === 'norm.weight' ? { dtype: 'bfloat16', shape: t.shape, data: t.data } : t]);
  await assert.rejects(loadLlama(writeLlama('dtype-differs', shards)), /consolidated\.01\.pth: tensor norm\.weight: dtype bfloat16 differs from shard 0 \(float16\)/);
});

test('params.json problems are named', async () => {
  // Numbers come from the fixture's own params.json and shard 0 (this file reads the fixture's
  // first shard as a whole model: a single-shard set, as Meta ships 7B).
  const P = JSON.parse(paramsJson);
  const [V, D] = original.find(([n]) => n === 'tok_embeddings.weight')![1].shape;
  const cases: Array<[string, string, RegExp]> = [
    ['heads', JSON.stringify({ ...P, n_heads: D + 1 }), new RegExp(`llama/params\\.json: n_heads ${D + 1} does not divide dim ${D}`)],
    ['vocab', JSON.stringify({ ...P, vocab_size: V + 1 }), new RegExp(`llama/params\\.json: vocab_size ${V + 1} disagrees with tok_embeddings\\.weight \\(${V} rows\\)`)],
    ['dim', JSON.stringify({ ...P, dim: 2 * D }), new RegExp(`tensor tok_embeddings\\.weight: expected shape \\[${V},${2 * D}\\], found \\[${V},${D}\\]`)],
    ['json', `{"dim": ${D},`, /llama\/params\.json: not valid JSON/],
    ['layers', JSON.stringify({ ...P, n_layers: 0 }), /"n_layers" must be a positive integer/],
  ];
  for (const [name, params, re] of cases) {
    const dir = path.join(tmp.dir, `params-${name}`, 'llama');
    copyFile(fixture('llama', 'consolidated.00.pth'), dir);
    writeFile(dir, 'params.json', params);
    await assert.rejects(loadLlama(dir), (e: unknown) => e instanceof CheckpointError && re.test(e.message), name);
  }
  // A layer count beyond the stored layers: the first missing block is named.
  const more = path.join(tmp.dir, 'params-more', 'llama');
  copyFile(fixture('llama', 'consolidated.00.pth'), more);
  writeFile(more, 'params.json', JSON.stringify({ ...JSON.parse(paramsJson), n_layers: 3 }));
  await assert.rejects(loadLlama(more), /tensor layers\.2\.attention\.wq\.weight: missing from the checkpoint/);
});

test('folder problems: no params.json, no shards, numbering gaps', async () => {
  const noParams = path.join(tmp.dir, 'no-params', 'llama');
  copyFile(fixture('llama', 'consolidated.00.pth'), noParams);
  await assert.rejects(loadLlama(noParams), /llama\/params\.json: file not found/);
  const noShards = path.join(tmp.dir, 'no-shards', 'llama');
  writeFile(noShards, 'params.json', paramsJson);
  await assert.rejects(loadLlama(noShards), /no consolidated\.NN\.pth shards/);
  const gap = path.join(tmp.dir, 'gap', 'llama');
  writeFile(gap, 'params.json', paramsJson);
  copyFile(fixture('llama', 'consolidated.00.pth'), gap);
  copyFile(fixture('llama', 'consolidated.00.pth'), gap, 'consolidated.02.pth');
  await assert.rejects(loadLlama(gap), /llama\/consolidated\.02\.pth: shard numbering has a gap: expected consolidated\.01\.pth/);
});
