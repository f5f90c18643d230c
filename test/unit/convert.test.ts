// convert: a converted folder opens without re-quantising and computes exactly what the in-memory
// build computes; re-running keeps finished parts; bad input is named. Also the device choice.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { describe, test } from 'node:test';
import { convertModel, convertModelDir, ConvertProgress, GRAPH_VERSION, PART_VERSIONS, readConverted, sourceFingerprint } from '../../server/engine/convertedCopy';
import { chooseDevice } from '../../server/engine/device';
import { loadModelDir, openModelDir } from '../../server/engine/modelDir';
import { KvCache, LavinRuntime } from '../../server/engine/runtime';
import { assertClose, fixtureModelDir } from '../golden/fixture';
import { tempDir } from '../helpers/tempDir';

/** Logits of a 7-token prompt and of one token decoded after it. */
async function promptThenToken(rt: LavinRuntime): Promise<Float32Array[]> {
  const ids = [1, 30723, 18823, 28559, 17, 4051, 99];
  const router = await rt.routerTable('text');
  const first = await rt.step({ embeds: rt.embed(ids), positions: ids.map((_, i) => i + 1), routerWeights: router, cache: KvCache.empty(rt.cfg) });
  const next = await rt.step({ embeds: rt.embed([5]), positions: [ids.length], routerWeights: router, cache: first.cache });
  return [first.logits, next.logits];
}

describe('convert', () => {
  test('int4 + fused: the converted folder gives the in-memory logits, and a re-run keeps every part', async () => {
    const dir = fixtureModelDir('openai');
    const parts: ConvertProgress[] = [];
    const out = await convertModelDir(dir, 'int4', { onProgress: (p) => parts.push(p) });
    assert.ok(parts.some((p) => p.part === 'decoder' && !p.skipped && p.done === p.total), 'decoder written with progress to 100%');
    const m = readConverted(out);
    assert.equal(m.weights, 'int4');
    assert.equal(m.kernels, 'fused');

    const weights = await loadModelDir(dir);
    const built = await LavinRuntime.create(weights.cfg, weights.tensors, { threads: 1 }, { weights: 'int4', kernels: 'fused' });
    const opened = await LavinRuntime.open(out, { threads: 1 });
    try {
      const [a, b] = [await promptThenToken(built), await promptThenToken(opened)];
      assert.deepEqual(b[0], a[0]);
      assert.deepEqual(b[1], a[1]);
    } finally {
      await built.dispose();
      await opened.dispose();
    }

    const again: ConvertProgress[] = [];
    await convertModelDir(dir, 'int4', { onProgress: (p) => again.push(p) });
    assert.deepEqual(again.map((p) => `${p.part}:${p.skipped === true}`), ['host:true', 'vision:true', 'decoder:true']);
  });

  test('fp32: the converted decoder, opened without repacking (its MatMuls read the mapped file), gives the in-memory logits', async () => {
    const dir = fixtureModelDir('openai');
    const out = await convertModelDir(dir, 'fp32');
    const weights = await loadModelDir(dir);
    const built = await LavinRuntime.create(weights.cfg, weights.tensors, { threads: 1 }, { weights: 'fp32', kernels: 'fused' });
    const opened = await LavinRuntime.open(out, { threads: 1 });
    try {
      const [a, b] = [await promptThenToken(built), await promptThenToken(opened)];
      for (const i of [0, 1]) assertClose(`call ${i} logits`, b[i], a[i], 1e-5, 0); // within 1e-5 of the largest logit
    } finally {
      await built.dispose();
      await opened.dispose();
    }
  });

  test('an interrupted conversion (a .partial file, no stamp) is redone', async () => {
    const dir = fixtureModelDir('openai');
    const out = await convertModelDir(dir, 'int8');
    const decoder = readConverted(out).files.decoder;
    fs.unlinkSync(path.join(out, `${decoder}.done`));
    fs.writeFileSync(path.join(out, `${decoder}.data.partial`), 'torn write');
    const parts: ConvertProgress[] = [];
    await convertModelDir(dir, 'int8', { onProgress: (p) => parts.push(p) });
    assert.ok(parts.some((p) => p.part === 'decoder' && !p.skipped), 'decoder re-written');
    assert.ok(!fs.existsSync(path.join(out, `${decoder}.data.partial`)), 'the partial file was replaced');
  });

  test('a decoder written by an older converter is redone; the host file and the ViT are kept', async () => {
    const dir = fixtureModelDir('openai');
    const out = await convertModelDir(dir, 'fp32');
    const m = readConverted(out);
    const stamp = path.join(out, `${m.files.decoder}.done`);
    // Each part is stamped with its own version, so a decoder bump leaves the others current.
    assert.ok(fs.readFileSync(path.join(out, `${m.files.vision}.done`), 'utf8').endsWith(`graphs v${PART_VERSIONS.vision}`));
    assert.ok(fs.readFileSync(path.join(out, `${m.files.host}.done`), 'utf8').endsWith(`graphs v${PART_VERSIONS.host}`));
    fs.writeFileSync(stamp, fs.readFileSync(stamp, 'utf8').replace(`graphs v${PART_VERSIONS.decoder}`, `graphs v${PART_VERSIONS.decoder - 1}`));
    const parts: ConvertProgress[] = [];
    await convertModelDir(dir, 'fp32', { onProgress: (p) => parts.push(p) });
    const skipped = (part: string) => parts.some((p) => p.part === part && p.skipped === true);
    assert.deepEqual(['host', 'vision', 'decoder'].map(skipped), [true, true, false]);
    assert.equal(readConverted(out).graphVersion, GRAPH_VERSION);
  });

  test("model.json edits that do not change the weights (name, precision, position mode) keep the copy current; a weights path does not", () => {
    const dir = fixtureModelDir('openai');
    const file = path.join(dir, 'model.json');
    const before = sourceFingerprint(dir);
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    // What a model's setup does after converting: record the precision (it used to make the copy stale at once).
    fs.writeFileSync(file, JSON.stringify({ ...m, name: 'renamed', precision: 'int8', positionMode: 'consistent', description: 'x' }, null, 4));
    assert.equal(sourceFingerprint(dir), before);
    fs.writeFileSync(file, JSON.stringify({ ...m, adapter: path.join(path.dirname(m.adapter), 'other.pth') }));
    assert.notEqual(sourceFingerprint(dir), before);
    fs.writeFileSync(file, JSON.stringify({ ...m, maxSeqLen: 64 }));
    assert.notEqual(sourceFingerprint(dir), before, 'maxSeqLen shapes the RoPE tables');
  });

  test('the checkpoint is read one linear weight at a time, and the files equal a conversion from fully loaded weights', async () => {
    const dir = fixtureModelDir('openai');
    const opened = await openModelDir(dir, { deferLinears: true });
    const loaded = await loadModelDir(dir);
    try {
      const wq = opened.tensors.get('layers.0.attention.wq.weight')!;
      assert.equal(wq.data.byteLength, 0, 'a deferred linear holds no data');
      assert.deepEqual(wq.shape, loaded.tensors.get('layers.0.attention.wq.weight')!.shape);
      assert.ok(opened.tensors.get('layers.0.attention_norm.weight')!.data.byteLength > 0, 'small tensors are read');
      assert.ok(opened.tensors.get('tok_embeddings.weight')!.data.byteLength > 0, 'the embedding is read (the host file needs it)');
      assert.deepEqual((await opened.read('layers.0.attention.wq.weight')).data, loaded.tensors.get('layers.0.attention.wq.weight')!.data);
    } finally {
      await opened.close();
    }
    for (const weights of ['int4', 'fp16'] as const) {
      const streamed = await convertModelDir(dir, weights, { force: true });
      const eager = tempDir('lavin-eager-');
      await convertModel(loaded.cfg, loaded.tensors, eager, { weights, source: 'eager' });
      const decoder = readConverted(streamed).files.decoder;
      for (const f of [decoder, `${decoder}.data`, 'vision.onnx', 'host.safetensors']) {
        assert.ok(fs.readFileSync(path.join(streamed, f)).equals(fs.readFileSync(path.join(eager, f))), `${weights}: ${f} differs from the fully loaded conversion`);
      }
    }
  });

  test('bad input is named', async () => {
    await assert.rejects(convertModelDir(fixtureModelDir('openai'), 'int3' as never), /unknown weight format "int3"/);
    await assert.rejects(LavinRuntime.open(tempDir('lavin-empty-')), /no converted\.json/);
  });
});

describe('device choice', () => {
  test('cpu and auto give cpu here; an unusable GPU request says why', async () => {
    assert.equal((await chooseDevice('cpu')).device, 'cpu');
    const skipped: string[] = [];
    assert.equal((await chooseDevice('auto', { log: (m) => skipped.push(m) })).device, 'cpu');
    assert.ok(skipped.some((m) => m.includes('cuda')), `auto logs why cuda was skipped: ${skipped}`);
    await assert.rejects(chooseDevice('cuda'), /device cuda is not usable: .+/);
  });
});
