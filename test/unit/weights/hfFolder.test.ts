// Hugging Face folders: config.json -> BackboneSpec (llama / mistral / qwen2, GQA, rope scaling, tied
// embeddings), single-file and sharded safetensors with HF -> engine names, and one-line errors.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { toFloat32 } from '../../../server/engine/tensor';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { openBackbone } from '../../../server/engine/weights/backbone';
import { scratchDir } from './helpers/fixture';
import { buildSafetensors, type StEntry } from './helpers/safetensorsWriter';

const tmp = scratchDir('hf');
after(tmp.cleanup);
let serial = 0;

interface Cfg { arch: string; dim: number; layers: number; heads: number; kvHeads: number; ffn: number; vocab: number; tied?: boolean; extra?: Record<string, unknown> }

/** bf16 bytes of deterministic values (value i of tensor `name`). */
function bf16(name: string, n: number): Uint8Array {
  const f = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + name.length));
  const u = new Uint32Array(f.buffer);
  const out = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) { out[2 * i] = (u[i] >>> 16) & 255; out[2 * i + 1] = u[i] >>> 24; }
  return out;
}

function hfTensors(c: Cfg): Array<[string, StEntry]> {
  const hd = c.dim / c.heads;
  const e = (name: string, shape: number[]): [string, StEntry] => [name, { dtype: 'BF16', shape, data: bf16(name, shape.reduce((a, b) => a * b, 1)) }];
  const out = [e('model.embed_tokens.weight', [c.vocab, c.dim]), e('model.norm.weight', [c.dim])];
  if (!c.tied) out.push(e('lm_head.weight', [c.vocab, c.dim]));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    out.push(e(`${p}.input_layernorm.weight`, [c.dim]), e(`${p}.post_attention_layernorm.weight`, [c.dim]),
      e(`${p}.self_attn.q_proj.weight`, [c.dim, c.dim]), e(`${p}.self_attn.k_proj.weight`, [c.kvHeads * hd, c.dim]), e(`${p}.self_attn.v_proj.weight`, [c.kvHeads * hd, c.dim]),
      e(`${p}.self_attn.o_proj.weight`, [c.dim, c.dim]), e(`${p}.mlp.gate_proj.weight`, [c.ffn, c.dim]), e(`${p}.mlp.up_proj.weight`, [c.ffn, c.dim]), e(`${p}.mlp.down_proj.weight`, [c.dim, c.ffn]));
    if (c.arch === 'Qwen2ForCausalLM') out.push(e(`${p}.self_attn.q_proj.bias`, [c.dim]), e(`${p}.self_attn.k_proj.bias`, [c.kvHeads * hd]), e(`${p}.self_attn.v_proj.bias`, [c.kvHeads * hd]));
  }
  out.push(e('model.layers.0.self_attn.rotary_emb.inv_freq', [hd / 2]));
  return out;
}

function writeFolder(c: Cfg, shards = 1, mutate?: (tensors: Array<[string, StEntry]>) => Array<[string, StEntry]>): string {
  const dir = path.join(tmp.dir, `m${serial++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: [c.arch], hidden_size: c.dim, num_hidden_layers: c.layers, num_attention_heads: c.heads, num_key_value_heads: c.kvHeads,
    intermediate_size: c.ffn, rms_norm_eps: 1e-5, vocab_size: c.vocab, max_position_embeddings: 2048, tie_word_embeddings: !!c.tied, torch_dtype: 'bfloat16', ...c.extra,
  }));
  let tensors = hfTensors(c);
  if (mutate) tensors = mutate(tensors);
  if (shards === 1) {
    fs.writeFileSync(path.join(dir, 'model.safetensors'), buildSafetensors(tensors));
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-0000${s + 1}-of-0000${shards}.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      for (const [name] of part) weightMap[name] = file;
      fs.writeFileSync(path.join(dir, file), buildSafetensors(part));
    }
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  return dir;
}

const llama: Cfg = { arch: 'LlamaForCausalLM', dim: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 64, vocab: 50 };

test('a sharded llama folder: spec from config.json, tensors under engine names in bf16', async () => {
  const dir = writeFolder({ ...llama, extra: { rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } } }, 3);
  const bb = await openBackbone(dir);
  try {
    const expectedParams = hfTensors(llama).reduce((a, [, e]) => a + e.shape.reduce((x, y) => x * y, 1), 0);
    assert.deepEqual(bb.spec, {
      arch: 'llama', name: path.basename(dir), contextLength: 2048, fileType: 'BF16', nParams: expectedParams, source: { kind: 'hf', path: dir },
      llama: { dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 8, ffnHidden: 64, vocab: 50, normEps: 1e-5, ropeTheta: 500000, ropeStyle: 'neox', qkvBias: false, tiedEmbeddings: false, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 } },
    });
    const wk = bb.tensors.get('layers.1.attention.wk.weight')!;
    assert.deepEqual([wk.dtype, wk.shape], ['bfloat16', [16, 32]]);
    assert.deepEqual(wk.data, bf16('model.layers.1.self_attn.k_proj.weight', 16 * 32));
    for (const n of ['output.weight', 'norm.weight', 'layers.0.feed_forward.w1.weight', 'layers.0.feed_forward.w2.weight', 'layers.0.feed_forward.w3.weight', 'layers.1.ffn_norm.weight', 'layers.1.attention_norm.weight']) assert.ok(bb.tensors.has(n), n);
    assert.deepEqual(bb.ignored, ['model.layers.0.self_attn.rotary_emb.inv_freq']);
    const table = toFloat32(bb.tensors.get('tok_embeddings.weight')!);
    assert.deepEqual(bb.embeddingRows([49, 3]), Float32Array.from([...table.subarray(49 * 32, 50 * 32), ...table.subarray(3 * 32, 4 * 32)]));
  } finally {
    bb.close();
  }
});

test('qwen2 (biases, tied) and mistral folders', async () => {
  const q = await openBackbone(writeFolder({ ...llama, arch: 'Qwen2ForCausalLM', tied: true, extra: { rope_theta: 1000000 } }));
  assert.equal(q.spec.arch, 'qwen2');
  assert.ok(q.spec.llama.qkvBias && q.spec.llama.tiedEmbeddings && !q.tensors.has('output.weight'));
  assert.deepEqual(q.tensors.get('layers.0.attention.wv.bias')!.shape, [16]);
  const untold = await openBackbone(writeFolder({ ...llama, tied: true, extra: { tie_word_embeddings: undefined } }));
  assert.ok(untold.spec.llama.tiedEmbeddings, 'no lm_head and no tie_word_embeddings: tied, as transformers defaults');
  await rejectsWith(writeFolder({ ...llama, tied: true, extra: { tie_word_embeddings: false } }), /lm_head\.weight is missing and tie_word_embeddings is false$/);
  const m = await openBackbone(writeFolder({ ...llama, arch: 'MistralForCausalLM', extra: { head_dim: 8, rope_scaling: { type: 'linear', factor: 2 } } }));
  assert.equal(m.spec.arch, 'llama');
  assert.deepEqual(m.spec.llama.ropeScaling, { type: 'linear', factor: 2 });
});

async function rejectsWith(dir: string, message: RegExp) {
  await assert.rejects(openBackbone(dir), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('broken folders: one line naming the file', async () => {
  await rejectsWith(writeFolder({ ...llama, arch: 'GemmaForCausalLM' }), /config\.json: unknown architecture GemmaForCausalLM \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM\)$/);
  await rejectsWith(writeFolder({ ...llama, extra: { rope_scaling: { rope_type: 'yarn', factor: 4 } } }), /config\.json: rope_scaling type yarn is not supported/);
  const sharded = writeFolder(llama, 2);
  fs.rmSync(path.join(sharded, 'model-00002-of-00002.safetensors'));
  await rejectsWith(sharded, /model-00002-of-00002\.safetensors: shard named in model\.safetensors\.index\.json is missing$/);
  await rejectsWith(writeFolder({ ...llama, ffn: 64 }, 1, (ts) => ts.map(([n, e]) => [n, n.endsWith('up_proj.weight') ? { ...e, shape: [48, 32], data: e.data.subarray(0, 48 * 32 * 2) } : e])),
    /model\.safetensors: tensor model\.layers\.0\.mlp\.up_proj\.weight: shape \[48,32\] does not match config\.json's \[64,32\]$/);
  await rejectsWith(writeFolder(llama, 1, (ts) => ts.filter(([n]) => n !== 'model.layers.1.self_attn.o_proj.weight')), /tensor model\.layers\.1\.self_attn\.o_proj\.weight: missing from the safetensors files/);
  const bare = path.join(tmp.dir, 'bare');
  fs.mkdirSync(bare);
  await rejectsWith(bare, /bare\/config\.json: config\.json not found$/);
  const noWeights = writeFolder(llama);
  fs.rmSync(path.join(noWeights, 'model.safetensors'));
  await rejectsWith(noWeights, /config\.json: no model\.safetensors or model\.safetensors\.index\.json beside it$/);
});
