// A GGUF backbone as a LaVIN model: a fresh adapter set is the identity (the base model's logits,
// bit for bit, whatever its down-projections and router hold), and a trained-looking set is not.
// (That those base logits are llama.cpp's is backboneParity.test.ts.)

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { writeLlamaGguf } from '../../bench/gguf';
import { backboneRuntime, freshAdapterSet, isBackbonePath } from '../../server/engine/backboneModel';
import { KvCache, LavinRuntime } from '../../server/engine/runtime';
import { fromFloat32, HostTensor, toFloat32 } from '../../server/engine/tensor';
import { openBackbone } from '../../server/engine/weights/backbone';
import { LavinModel } from '../../server/engine/lavinModel';
import { writeSafetensors } from '../../server/engine/convertedCopy';
import { tempDir } from '../helpers/tempDir';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

describe('GGUF backbone with LaVIN adapters', () => {
  const dir = tempDir('lavin-backbone-');
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

// The same weights as a Hugging Face folder (q/k in rotate-half order, Llama 3 scaling as config.json
// parameters) and as a GGUF file (q/k permuted to Meta's pairs, the scaling as rope_freqs.weight):
// the NeoX and interleaved RoPE paths, GQA, and both RoPE-scaling sources must give the same logits.
describe('Hugging Face folder and GGUF file of the same llama weights', () => {
  const S = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 512, vocab: 320 };
  const hd = S.dim / S.nHeads;
  const kv = S.nKvHeads * hd;
  const dir = tempDir('lavin-hf-gguf-');
  const values = (name: string, shape: number[]) => {
    let h = 2166136261;
    for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    const r = randn(shape.reduce((a, d) => a * d, 1), h >>> 0);
    return name.endsWith('norm.weight') ? r.map((v) => 1 + 0.1 * v) : r.map((v) => v * (name === 'tok_embeddings.weight' || name === 'output.weight' ? 0.5 : 0.8 / Math.sqrt(shape[1])));
  };
  /** Meta's adjacent-pair rows of each head -> Hugging Face's halves (the inverse of llama.cpp's permute). */
  const toHf = (w: Float32Array, heads: number) => {
    const out = new Float32Array(w.length);
    const half = hd / 2;
    for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) out.set(w.subarray(((h * half + i) * 2 + j) * S.dim, ((h * half + i) * 2 + j + 1) * S.dim), ((h * 2 + j) * half + i) * S.dim);
    return out;
  };
  before(() => {
    writeLlamaGguf(path.join(dir, 'm.gguf'), { name: 'm', ...S, normEps: 1e-6, contextLength: 256, type: 'f32', ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 }, values });
    const names: string[] = [];
    const tensors: HostTensor[] = [];
    const put = (n: string, v: Float32Array, shape: number[]) => { names.push(n); tensors.push(fromFloat32(v, shape)); };
    put('model.embed_tokens.weight', values('tok_embeddings.weight', [S.vocab, S.dim]), [S.vocab, S.dim]);
    put('model.norm.weight', values('norm.weight', [S.dim]), [S.dim]);
    put('lm_head.weight', values('output.weight', [S.vocab, S.dim]), [S.vocab, S.dim]);
    for (let l = 0; l < S.nLayers; l++) {
      const [L, H] = [`layers.${l}`, `model.layers.${l}`];
      put(`${H}.input_layernorm.weight`, values(`${L}.attention_norm.weight`, [S.dim]), [S.dim]);
      put(`${H}.post_attention_layernorm.weight`, values(`${L}.ffn_norm.weight`, [S.dim]), [S.dim]);
      put(`${H}.self_attn.q_proj.weight`, toHf(values(`${L}.attention.wq.weight`, [S.dim, S.dim]), S.nHeads), [S.dim, S.dim]);
      put(`${H}.self_attn.k_proj.weight`, toHf(values(`${L}.attention.wk.weight`, [kv, S.dim]), S.nKvHeads), [kv, S.dim]);
      put(`${H}.self_attn.v_proj.weight`, values(`${L}.attention.wv.weight`, [kv, S.dim]), [kv, S.dim]);
      put(`${H}.self_attn.o_proj.weight`, values(`${L}.attention.wo.weight`, [S.dim, S.dim]), [S.dim, S.dim]);
      put(`${H}.mlp.gate_proj.weight`, values(`${L}.feed_forward.w1.weight`, [S.ffnHidden, S.dim]), [S.ffnHidden, S.dim]);
      put(`${H}.mlp.down_proj.weight`, values(`${L}.feed_forward.w2.weight`, [S.dim, S.ffnHidden]), [S.dim, S.ffnHidden]);
      put(`${H}.mlp.up_proj.weight`, values(`${L}.feed_forward.w3.weight`, [S.ffnHidden, S.dim]), [S.ffnHidden, S.dim]);
    }
    fs.mkdirSync(path.join(dir, 'hf'));
    writeSafetensors(path.join(dir, 'hf', 'model.safetensors'), names, tensors);
    fs.writeFileSync(path.join(dir, 'hf', 'config.json'), JSON.stringify({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: S.dim, num_hidden_layers: S.nLayers, num_attention_heads: S.nHeads, num_key_value_heads: S.nKvHeads,
      intermediate_size: S.ffnHidden, vocab_size: S.vocab, rms_norm_eps: 1e-6, rope_theta: 500000, max_position_embeddings: 256, tie_word_embeddings: false, torch_dtype: 'float32',
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    }));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('same logits at 10 positions from either file, fused and plain kernels (float32 rounding apart)', async () => {
    const ids = [1, 300, 301, 17, 290, 311, 5, 9, 12, 40];
    const runs: { label: string; style: string; logits: Float32Array }[] = [];
    for (const p of ['m.gguf', 'hf']) {
      for (const kernels of ['fused', 'plain'] as const) {
        const rt = await backboneRuntime(await openBackbone(path.join(dir, p)), { threads: 1 }, kernels, 64);
        try {
          const r = await rt.step({ embeds: rt.embed(ids), positions: ids.map((_, i) => i), routerWeights: new Float32Array(4).fill(0.5), cache: KvCache.empty(rt.cfg), logitRows: ids.map((_, i) => i) });
          runs.push({ label: `${p} ${kernels}`, style: rt.cfg.llama.ropeStyle, logits: r.logits.slice() });
        } finally {
          await rt.dispose();
        }
      }
    }
    assert.deepEqual(runs.map((r) => r.style), ['interleaved', 'interleaved', 'neox', 'neox']);
    const ref = runs[0].logits;
    let scale = 0;
    for (const v of ref) scale = Math.max(scale, Math.abs(v));
    for (const r of runs.slice(1)) {
      let d = 0;
      for (let i = 0; i < ref.length; i++) d = Math.max(d, Math.abs(r.logits[i] - ref[i]));
      assert.ok(d <= 1e-5 * scale + 1e-5, `${r.label}: max |logit difference| ${d} vs the GGUF file's fused run (max |logit| ${scale})`);
    }
  });
});
