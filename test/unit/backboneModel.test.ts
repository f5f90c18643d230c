// A GGUF backbone as a LaVIN model: a fresh adapter set is the identity (the base model's logits,
// bit for bit, whatever its down-projections and router hold), and a trained-looking set is not.
// (That those base logits are llama.cpp's is backboneParity.test.ts.)

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { writeLlamaGguf } from '../../bench/gguf';
import { backboneRuntime, freshAdapterSet, isBackbonePath } from '../../server/engine/backboneModel';
import { KvCache, LavinRuntime } from '../../server/engine/runtime';
import { fromFloat32, HostTensor, toFloat32 } from '../../server/engine/tensor';
import { openBackbone } from '../../server/engine/weights/backbone';
import { LavinModel } from '../../server/engine/lavinModel';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('GGUF backbone with LaVIN adapters', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lavin-backbone-'));
  const file = path.join(dir, 'tiny-q4_0.gguf');
  let rt: LavinRuntime;
  const ids = [1, 300, 301, 17, 290];

  before(async () => {
    let k = 1;
    writeLlamaGguf(file, {
      name: 'tiny', arch: 'qwen2', dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 128, vocab: 320, normEps: 1e-6, contextLength: 128, type: 'q4_0',
      values: (name, shape) => randn(shape.reduce((a, d) => a * d, 1), k++).map((v) => (name.endsWith('norm.weight') ? 1 + 0.1 * v : 0.1 * v)),
    });
    rt = await backboneRuntime(await openBackbone(file), { threads: 1 }, 'fused', 64);
  });
  after(async () => {
    await rt.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const logits = async (routerWeights?: Float32Array) =>
    (await rt.step({ embeds: rt.embed(ids), positions: ids.map((_, i) => i), routerWeights: routerWeights ?? new Float32Array(2 * rt.cfg.llama.nLayers).fill(0.5), cache: KvCache.empty(rt.cfg), logitRows: ids.map((_, i) => i) })).logits.slice();

  /** The fresh set with every tensor but the up-projections randomised. */
  function perturbed(upProjections: boolean): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    let seed = 1000;
    for (const [name, t] of freshAdapterSet(rt.cfg.llama)) {
      const up = /conv_[BD]\.(weight|bias)$/.test(name);
      out.set(name, up && !upProjections ? t : fromFloat32(randn(toFloat32(t).length, seed++), t.shape.slice()));
    }
    return out;
  }

  test('a fresh adapter set leaves the logits bit for bit, whatever conv_A, the routers and the routing hold', async () => {
    const base = await logits();
    rt.setAdapters(perturbed(false));
    assert.deepEqual(await logits(new Float32Array([0.9, 0.1, 0.2, 0.8])), base);
    rt.setAdapters(freshAdapterSet(rt.cfg.llama));
  });

  test('adapters with non-zero up-projections do change them (the check above can fail)', async () => {
    const base = await logits();
    rt.setAdapters(perturbed(true));
    const moved = await logits();
    rt.setAdapters(freshAdapterSet(rt.cfg.llama));
    assert.ok(moved.some((v, i) => v !== base[i]));
  });

  test('LavinModel.load takes the GGUF file: no vision tower, no modality token, the backbone named', async () => {
    assert.ok(isBackbonePath(file));
    const model = await LavinModel.load(file, { device: 'cpu', threads: 1 });
    try {
      assert.equal(model.info.clip, undefined);
      assert.equal(model.info.backbone?.arch, 'qwen2');
      assert.equal(model.seesImages, false);
      const seq = model.promptIds('hello', false, true);
      assert.equal(seq.modality, undefined);
      assert.deepEqual(seq.ids, model.tokenizer.encodeRaw('hello'));
      const r = await model.generate({ prompt: 'hello', raw: true, maxNewTokens: 4, temperature: 0 });
      const withImage = await model.generate({ prompt: 'hello', raw: true, maxNewTokens: 4, temperature: 0, image: new Uint8Array([1, 2, 3]) });
      assert.deepEqual(withImage.tokens, r.tokens, 'an image is set aside, not fed as untrained visual tokens');
      assert.match(withImage.visionNote ?? '', /no vision adapter set/);
      assert.equal(r.visionNote, undefined);
    } finally {
      await model.dispose();
    }
  });
});
