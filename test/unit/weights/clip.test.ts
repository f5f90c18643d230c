// CLIP: OpenAI .pth vs Hugging Face safetensors (value-identical), full CLIP state dicts, a TorchScript-style
// archive, CLIPModel safetensors, and validation errors.
import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import { toFloat32, type HostTensor } from '../../../server/engine/tensor';
import { loadClip, type LoadedClip } from '../../../server/engine/weights/clip';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { SafetensorsFile } from '../../../server/engine/weights/safetensors';
import { fixture, readGolden, scratchDir, writeFile } from './helpers/fixture';
import { Global, NewObj, type PyValue } from './helpers/pickleWriter';
import { buildPth, stateDictPth, storage, view, type Storage } from './helpers/pthWriter';
import { buildSafetensors, type StEntry } from './helpers/safetensorsWriter';
import { copyFile, f32Of, readAllPth } from './helpers/tensors';

const tmp = scratchDir('clip');
after(tmp.cleanup);

let openai: LoadedClip;
let visualRaw: Array<[string, HostTensor]>;
let hfRaw: Array<[string, HostTensor]>;
before(async () => {
  openai = await loadClip(fixture('clip', 'visual.pth'));
  visualRaw = await readAllPth(fixture('clip', 'visual.pth'));
  const st = await SafetensorsFile.open(fixture('clip', 'model.safetensors'));
  hfRaw = [];
  for (const n of st.names()) hfRaw.push([n, await st.read(n)]);
  await st.close();
});

const FP16_IN_OPENAI = /^(conv1\.weight|proj|.*\.attn\.(in_proj_weight|in_proj_bias|out_proj\.(weight|bias))|.*\.mlp\.c_(fc|proj)\.(weight|bias))$/;

function assertSameValues(a: Map<string, HostTensor>, b: Map<string, HostTensor>, label: string): void {
  for (const [name, t] of b) {
    const o = a.get(name);
    assert.ok(o, `${label}: ${name} missing`);
    assert.deepEqual(o.shape, t.shape, `${label}: ${name} shape`);
    const x = toFloat32(o);
    const y = toFloat32(t);
    assert.ok(Buffer.from(x.buffer).equals(Buffer.from(y.buffer)), `${label}: ${name} values differ`);
  }
}

test('OpenAI visual.pth: geometry from shapes matches golden.json, dtypes as stored', () => {
  const g = readGolden().config;
  const W = g.vit.width;
  assert.deepEqual(openai.config, {
    width: W, layers: g.vit.layers, heads: g.vit.heads, patch: g.vit.patch, resolution: g.vit.resolution,
    layerNormEps: g.clip_layernorm_eps, mlpHidden: 4 * W, numPositions: (g.vit.resolution / g.vit.patch) ** 2 + 1,
  });
  assert.equal(openai.source, 'openai');
  assert.deepEqual(openai.tensors.get('proj')!.shape, [W, g.vit.embed_dim]);
  assert.deepEqual(openai.tensors.get(`transformer.resblocks.${g.vit.layers - 1}.attn.in_proj_weight`)!.shape, [3 * W, W]);
  // Every tensor of the file comes through, unchanged in dtype.
  assert.equal(openai.tensors.size, visualRaw.length);
  for (const [name, t] of visualRaw) {
    assert.equal(openai.tensors.get(name)!.dtype, FP16_IN_OPENAI.test(name) ? 'float16' : 'float32', name);
    assert.ok(Buffer.from(openai.tensors.get(name)!.data).equals(Buffer.from(t.data)), name);
  }
});

test('HF safetensors give the same values as the OpenAI .pth for every tensor (after fp16 -> f32)', async () => {
  const hf = await loadClip(fixture('clip', 'model.safetensors'));
  assert.equal(hf.source, 'huggingface');
  assert.deepEqual(hf.config, openai.config);
  assert.deepEqual([...hf.tensors.keys()].sort(), [...openai.tensors.keys()].filter((k) => k !== 'proj').sort());
  for (const t of hf.tensors.values()) assert.equal(t.dtype, 'float32');
  assertSameValues(openai.tensors, hf.tensors, 'hf');
  // The stacking is [q; k; v]: check one block by hand against the raw HF tensors.
  const W = hf.config.width;
  const inProj = f32Of(hf.tensors.get('transformer.resblocks.7.attn.in_proj_weight')!);
  const raw = new Map(hfRaw);
  ['q', 'k', 'v'].forEach((x, i) => {
    const part = f32Of(raw.get(`vision_model.encoder.layers.7.self_attn.${x}_proj.weight`)!);
    assert.deepEqual(inProj.subarray(i * W * W, (i + 1) * W * W), part, x);
  });
});

test('full OpenAI CLIP state dict: visual. prefix stripped, text tower ignored; heads from the caller', async () => {
  const dir = path.join(tmp.dir, 'full');
  const entries: Array<[string, HostTensor]> = visualRaw.map(([n, t]) => [`visual.${n}`, t]);
  const someText = visualRaw.find(([n]) => n === 'transformer.resblocks.0.attn.in_proj_weight')![1];
  entries.push(['transformer.resblocks.0.attn.in_proj_weight', { ...someText, data: new Uint8Array(someText.data.length) }]);
  entries.push(['token_embedding.weight', { dtype: 'float16', shape: [10, 48], data: new Uint8Array(960) }]);
  const p = writeFile(dir, 'clip_full.pth', stateDictPth(entries));
  const full = await loadClip(p, { heads: 4 });
  assert.deepEqual(full.config, openai.config);
  assert.deepEqual([...full.tensors.keys()], [...openai.tensors.keys()]);
  assertSameValues(full.tensors, openai.tensors, 'full');
  assert.match(full.notes.join('\n'), /heads 4 from the caller/);
  // No config.json and no heads: width / 64 does not divide 48.
  await assert.rejects(loadClip(p), (e: unknown) => e instanceof CheckpointError && /0\.75 attention heads do not divide width 48 \(give the head count/.test(e.message));
});

/** Nested modules as TorchScript pickles them: GLOBAL __torch__.<module> <Class>, (), NEWOBJ, {attrs}, BUILD. */
function tsModule(cls: string, attrs: Record<string, PyValue>): NewObj {
  const dot = cls.lastIndexOf('.');
  return new NewObj(new Global(`__torch__.${cls.slice(0, dot)}`, cls.slice(dot + 1)), [], new Map<string, PyValue>([['training', false], ...Object.entries(attrs)]));
}

test('TorchScript-style archive (OpenAI ViT-L-14.pt layout): tensors collected from module attributes', async () => {
  const storages: Storage[] = [];
  const raw = new Map(visualRaw);
  const T = (name: string): PyValue => {
    const t = raw.get(name)!;
    const st = storage(String(storages.length), t.dtype, t.data);
    storages.push(st);
    return view(st, t.shape);
  };
  const linear = (p: string) => tsModule('torch.nn.modules.linear.Linear', { weight: T(`${p}.weight`), bias: T(`${p}.bias`) });
  const ln = (p: string) => tsModule('torch.nn.modules.normalization.LayerNorm', { weight: T(`${p}.weight`), bias: T(`${p}.bias`) });
  const blocks: Record<string, PyValue> = {};
  for (let l = 0; l < openai.config.layers; l++) {
    const b = `transformer.resblocks.${l}`;
    blocks[String(l)] = tsModule('multimodal.model.multimodal_transformer.ResidualAttentionBlock', {
      attn: tsModule('torch.nn.modules.activation.MultiheadAttention', {
        in_proj_weight: T(`${b}.attn.in_proj_weight`), in_proj_bias: T(`${b}.attn.in_proj_bias`),
        out_proj: linear(`${b}.attn.out_proj`), _qkv_same_embed_dim: true,
      }),
      ln_1: ln(`${b}.ln_1`),
      mlp: tsModule('torch.nn.modules.container.Sequential', { c_fc: linear(`${b}.mlp.c_fc`), gelu: tsModule('multimodal.model.multimodal_transformer.QuickGELU', {}), c_proj: linear(`${b}.mlp.c_proj`) }),
      ln_2: ln(`${b}.ln_2`),
    });
  }
  const visual = tsModule('multimodal.model.multimodal_transformer.VisualTransformer', {
    input_resolution: 224, output_dim: 32,
    conv1: tsModule('torch.nn.modules.conv.Conv2d', { weight: T('conv1.weight') }),
    class_embedding: T('class_embedding'), positional_embedding: T('positional_embedding'),
    ln_pre: ln('ln_pre'),
    transformer: tsModule('multimodal.model.multimodal_transformer.Transformer', { resblocks: tsModule('torch.nn.modules.container.Sequential', blocks) }),
    ln_post: ln('ln_post'), proj: T('proj'),
  });
  const top = tsModule('multimodal.model.multimodal_transformer.Multimodal', { visual, logit_scale: T('class_embedding') });
  const prefix = 'ViT-L-14';
  const bytes = buildPth(top, storages, {
    prefix,
    extra: [
      { name: `${prefix}/constants.pkl`, data: Uint8Array.from([0x80, 2, 0x29, 0x2e]) },
      { name: `${prefix}/code/__torch__/multimodal/model/multimodal_transformer.py`, data: new TextEncoder().encode('class Multimodal(Module):\n  pass\n') },
    ],
  });
  const p = writeFile(path.join(tmp.dir, 'torchscript'), 'ViT-L-14.pt', bytes);
  const ts = await loadClip(p, { heads: 4 });
  assert.deepEqual(ts.config, openai.config);
  assert.deepEqual([...ts.tensors.keys()].sort(), [...openai.tensors.keys()].sort());
  assertSameValues(ts.tensors, openai.tensors, 'torchscript');
  // The same pickle outside a TorchScript archive (no constants.pkl) is refused.
  const plain = writeFile(path.join(tmp.dir, 'torchscript-plain'), 'model.pth', buildPth(top, storages, { prefix }));
  await assert.rejects(loadClip(plain, { heads: 4 }), /forbidden pickle global __torch__\.multimodal/);
});

function hfFile(entries: Array<[string, HostTensor]>): Uint8Array {
  return buildSafetensors(entries.map(([n, t]): [string, StEntry] => [n, { dtype: t.dtype === 'float32' ? 'F32' : 'F16', shape: t.shape, data: t.data }]), { metadata: { format: 'pt' } });
}

test('HF CLIPModel layout: visual_projection.weight becomes proj (transposed), text_model ignored', async () => {
  const proj = openai.tensors.get('proj')!;
  const [W, E] = proj.shape;
  const projF32 = toFloat32(proj);
  const vp = new Float32Array(W * E);
  for (let i = 0; i < W; i++) for (let j = 0; j < E; j++) vp[j * W + i] = projF32[i * E + j];
  const entries: Array<[string, HostTensor]> = [...hfRaw, ['visual_projection.weight', { dtype: 'float32', shape: [E, W], data: new Uint8Array(vp.buffer) }], ['text_model.embeddings.token_embedding.weight', { dtype: 'float32', shape: [3, 4], data: new Uint8Array(48) }]];
  const dir = path.join(tmp.dir, 'clipmodel');
  const p = writeFile(dir, 'model.safetensors', hfFile(entries));
  writeFile(dir, 'config.json', JSON.stringify({ architectures: ['CLIPModel'], text_config: { num_attention_heads: 8 }, vision_config: { num_attention_heads: 4, hidden_size: W, patch_size: 14, image_size: 224, num_hidden_layers: 24 } }));
  const m = await loadClip(p);
  assert.equal(m.config.heads, 4);
  assert.deepEqual([...m.tensors.keys()].sort(), [...openai.tensors.keys()].sort());
  assertSameValues(m.tensors, openai.tensors, 'clipmodel');
});

test('HF errors are reported under the file\'s own tensor names', async () => {
  const dir = path.join(tmp.dir, 'hf-errors');
  copyFile(fixture('clip', 'config.json'), dir);
  const variant = async (name: string, entries: Array<[string, HostTensor]>): Promise<string> => writeFile(dir, `${name}.safetensors`, hfFile(entries));

  const missing = await variant('missing', hfRaw.filter(([n]) => n !== 'vision_model.encoder.layers.5.self_attn.k_proj.bias'));
  await assert.rejects(loadClip(missing), (e: unknown) => e instanceof CheckpointError && e.message === 'hf-errors/missing.safetensors: tensor vision_model.encoder.layers.5.self_attn.k_proj.bias: missing from the checkpoint');

  const q = hfRaw.find(([n]) => n === 'vision_model.encoder.layers.2.self_attn.q_proj.weight')![1];
  const bad = await variant('shape', hfRaw.map(([n, t]) => [n, n.endsWith('layers.2.self_attn.q_proj.weight') ? { dtype: t.dtype, shape: [48, 47], data: q.data.subarray(0, 48 * 47 * 4) } : t]));
  await assert.rejects(loadClip(bad), /tensor vision_model\.encoder\.layers\.2\.self_attn\.q_proj\.weight: expected shape \[48,48\], found \[48,47\]/);

  const fc1 = await variant('fc1', hfRaw.map(([n, t]) => [n, n.endsWith('layers.3.mlp.fc1.weight') ? { dtype: t.dtype, shape: [96, 96], data: t.data.subarray(0, 96 * 96 * 4) } : t]));
  await assert.rejects(loadClip(fc1), /tensor vision_model\.encoder\.layers\.3\.mlp\.fc1\.weight: expected shape \[192,48\], found \[96,96\]/);

  const gap = await variant('gap', hfRaw.filter(([n]) => !n.includes('encoder.layers.9.layer_norm1')));
  await assert.rejects(loadClip(gap), /block 10 exists but block 9 is incomplete or missing/);

  const p = await variant('ok', hfRaw);
  await assert.rejects(loadClip(p, { heads: 8 }), /hf-errors\/config\.json: num_attention_heads 4 contradicts the configured CLIP heads 8/);
  const dir2 = path.join(tmp.dir, 'hf-config-mismatch');
  copyFile(p, dir2, 'model.safetensors');
  writeFile(dir2, 'config.json', JSON.stringify({ hidden_size: 64, num_attention_heads: 4 }));
  await assert.rejects(loadClip(path.join(dir2, 'model.safetensors')), /hf-config-mismatch\/config\.json: hidden_size is 64 but model\.safetensors has 48/);
});

test('a checkpoint that is not CLIP is refused', async () => {
  await assert.rejects(loadClip(fixture('llama', 'consolidated.00.pth')), /llama\/consolidated\.00\.pth: not a CLIP vision checkpoint/);
});
