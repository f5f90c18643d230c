// Random-weight CLIP vision towers written at test time: OpenAI-named weights, the same weights as
// a Hugging Face CLIPVisionModel folder and as a LLaVA mmproj GGUF (llama.cpp's names).
import * as fs from 'fs';
import * as path from 'path';
import { floatsToHalf, toFloat32 } from '../../server/engine/tensor';
import { GGML_TYPE_ID, writeGgufFile, type MetaValue, type RawTensor } from '../../bench/ggufWriter';
import { buildSafetensors, type StEntry } from '../unit/weights/helpers/safetensorsWriter';

export interface ClipGeometry {
  width: number;
  heads: number;
  patch: number;
  resolution: number;
  layers: number;
}

export type ClipWeights = Map<string, { shape: number[]; v: Float32Array }>;

let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296) * 2 - 1;
export const randn = (n: number, scale: number) => Float32Array.from({ length: n }, () => rand() * scale);

/** Random OpenAI-named CLIP weights (float32). */
export function randomClip(g: ClipGeometry): ClipWeights {
  const { W, PATCH, POS, LAYERS, MLP } = dims(g);
  const m: ClipWeights = new Map();
  const put = (name: string, shape: number[], scale: number, offset = 0) => m.set(name, { shape, v: randn(shape.reduce((a, b) => a * b, 1), scale).map((x) => x + offset) });
  put('class_embedding', [W], 0.5);
  put('conv1.weight', [W, 3, PATCH, PATCH], 0.05);
  put('positional_embedding', [POS, W], 0.2);
  put('ln_pre.weight', [W], 0.2, 1);
  put('ln_pre.bias', [W], 0.1);
  for (let l = 0; l < LAYERS; l++) {
    const b = `transformer.resblocks.${l}.`;
    put(`${b}ln_1.weight`, [W], 0.2, 1);
    put(`${b}ln_1.bias`, [W], 0.1);
    put(`${b}attn.in_proj_weight`, [3 * W, W], 0.3);
    put(`${b}attn.in_proj_bias`, [3 * W], 0.1);
    put(`${b}attn.out_proj.weight`, [W, W], 0.2);
    put(`${b}attn.out_proj.bias`, [W], 0.1);
    put(`${b}ln_2.weight`, [W], 0.2, 1);
    put(`${b}ln_2.bias`, [W], 0.1);
    put(`${b}mlp.c_fc.weight`, [MLP, W], 0.2);
    put(`${b}mlp.c_fc.bias`, [MLP], 0.1);
    put(`${b}mlp.c_proj.weight`, [W, MLP], 0.1);
    put(`${b}mlp.c_proj.bias`, [W], 0.1);
  }
  put('ln_post.weight', [W], 0.2, 1);
  put('ln_post.bias', [W], 0.1);
  return m;
}

function dims(g: ClipGeometry) {
  return { W: g.width, HEADS: g.heads, PATCH: g.patch, RES: g.resolution, LAYERS: g.layers, MLP: 4 * g.width, POS: (g.resolution / g.patch) ** 2 + 1 };
}

const rowsOf = (clip: ClipWeights, name: string, from: number, to: number): Float32Array => {
  const t = clip.get(name)!;
  const cols = t.shape.length > 1 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  return t.v.slice(from * cols, to * cols);
};
export const f32Bytes = (v: Float32Array) => new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
export const f16Bytes = (v: Float32Array) => new Uint8Array(floatsToHalf(v).buffer);
export const roundF16 = (v: Float32Array) => toFloat32({ dtype: 'float16', shape: [v.length], data: f16Bytes(v) });

function hfName(name: string): string[] {
  const top: Record<string, string> = {
    class_embedding: 'embeddings.class_embedding', 'conv1.weight': 'embeddings.patch_embedding.weight', positional_embedding: 'embeddings.position_embedding.weight',
    'ln_pre.weight': 'pre_layrnorm.weight', 'ln_pre.bias': 'pre_layrnorm.bias', 'ln_post.weight': 'post_layernorm.weight', 'ln_post.bias': 'post_layernorm.bias',
  };
  if (top[name]) return [`vision_model.${top[name]}`];
  const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(name)!;
  const p = `vision_model.encoder.layers.${m[1]}.`;
  const block: Record<string, string> = {
    'ln_1.weight': 'layer_norm1.weight', 'ln_1.bias': 'layer_norm1.bias', 'ln_2.weight': 'layer_norm2.weight', 'ln_2.bias': 'layer_norm2.bias',
    'attn.out_proj.weight': 'self_attn.out_proj.weight', 'attn.out_proj.bias': 'self_attn.out_proj.bias',
    'mlp.c_fc.weight': 'mlp.fc1.weight', 'mlp.c_fc.bias': 'mlp.fc1.bias', 'mlp.c_proj.weight': 'mlp.fc2.weight', 'mlp.c_proj.bias': 'mlp.fc2.bias',
  };
  if (m[2] === 'attn.in_proj_weight') return ['q', 'k', 'v'].map((x) => `${p}self_attn.${x}_proj.weight`);
  if (m[2] === 'attn.in_proj_bias') return ['q', 'k', 'v'].map((x) => `${p}self_attn.${x}_proj.bias`);
  return [p + block[m[2]]];
}

export function writeHfClipFolder(dir: string, clip: ClipWeights, g: ClipGeometry, config: Record<string, unknown> = {}): string {
  const { W, HEADS, PATCH, RES, LAYERS, MLP } = dims(g);
  const rows = (name: string, a: number, b: number) => rowsOf(clip, name, a, b);
  const entries: Array<[string, StEntry]> = [];
  for (const [name, t] of clip) {
    const parts = hfName(name);
    const n = t.shape[0] / parts.length;
    parts.forEach((p, i) => entries.push([p, { dtype: 'F32', shape: [n, ...t.shape.slice(1)], data: f32Bytes(rows(name, i * n, (i + 1) * n)) }]));
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'model.safetensors'), buildSafetensors(entries));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    model_type: 'clip_vision_model', hidden_size: W, num_attention_heads: HEADS, num_hidden_layers: LAYERS, patch_size: PATCH,
    image_size: RES, intermediate_size: MLP, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu', ...config,
  }));
  return dir;
}

export interface MmprojOptions {
  /** Blocks kept (LLaVA's converter drops the last). */
  blocks?: number;
  /** The old converter's names: fc1 written as ffn_down, fc2 as ffn_up. */
  swappedFfn?: boolean;
  postLn?: boolean;
  /** 2-D and 4-D weights in F16, as the converter writes them by default. */
  f16?: boolean;
  /** clip.use_gelu true (exact GELU). */
  gelu?: boolean;
  /** v.class_embd stored as I8, a type no reader here takes. */
  int8ClassEmbedding?: boolean;
}

export function writeMmproj(file: string, clip: ClipWeights, g: ClipGeometry, o: MmprojOptions = {}): string {
  const { W, HEADS, PATCH, RES, LAYERS, MLP, POS } = dims(g);
  const get = (name: string) => clip.get(name)!;
  const rows = (name: string, a: number, b: number) => rowsOf(clip, name, a, b);
  const blocks = o.blocks ?? LAYERS;
  const tensors: RawTensor[] = [];
  const add = (name: string, v: Float32Array, shape: number[]) => {
    const half = o.f16 === true && shape.length >= 2;
    const data = half ? f16Bytes(v) : f32Bytes(v);
    tensors.push({ name, shape, type: half ? GGML_TYPE_ID.F16 : GGML_TYPE_ID.F32, byteLength: data.length, data: () => data });
  };
  // LLaVA's projector (mm.0 / mm.2), ignored by the reader.
  add('mm.0.weight', randn(16 * W, 0.1), [16, W]);
  add('mm.0.bias', randn(16, 0.1), [16]);
  add('mm.2.weight', randn(16 * 16, 0.1), [16, 16]);
  add('mm.2.bias', randn(16, 0.1), [16]);
  if (o.int8ClassEmbedding) {
    const data = new Uint8Array(W);
    tensors.push({ name: 'v.class_embd', shape: [W], type: 24, byteLength: W, data: () => data });
  } else add('v.class_embd', get('class_embedding').v, [W]);
  add('v.patch_embd.weight', get('conv1.weight').v, [W, 3, PATCH, PATCH]);
  add('v.position_embd.weight', get('positional_embedding').v, [POS, W]);
  add('v.pre_ln.weight', get('ln_pre.weight').v, [W]);
  add('v.pre_ln.bias', get('ln_pre.bias').v, [W]);
  for (let l = 0; l < blocks; l++) {
    const e = `transformer.resblocks.${l}.`;
    const v = `v.blk.${l}.`;
    ['q', 'k', 'v'].forEach((x, i) => {
      add(`${v}attn_${x}.weight`, rows(`${e}attn.in_proj_weight`, i * W, (i + 1) * W), [W, W]);
      add(`${v}attn_${x}.bias`, rows(`${e}attn.in_proj_bias`, i * W, (i + 1) * W), [W]);
    });
    add(`${v}attn_out.weight`, get(`${e}attn.out_proj.weight`).v, [W, W]);
    add(`${v}attn_out.bias`, get(`${e}attn.out_proj.bias`).v, [W]);
    add(`${v}ln1.weight`, get(`${e}ln_1.weight`).v, [W]);
    add(`${v}ln1.bias`, get(`${e}ln_1.bias`).v, [W]);
    add(`${v}ln2.weight`, get(`${e}ln_2.weight`).v, [W]);
    add(`${v}ln2.bias`, get(`${e}ln_2.bias`).v, [W]);
    const [up, down] = o.swappedFfn ? ['ffn_down', 'ffn_up'] : ['ffn_up', 'ffn_down'];
    add(`${v}${up}.weight`, get(`${e}mlp.c_fc.weight`).v, [MLP, W]);
    add(`${v}${up}.bias`, get(`${e}mlp.c_fc.bias`).v, [MLP]);
    add(`${v}${down}.weight`, get(`${e}mlp.c_proj.weight`).v, [W, MLP]);
    add(`${v}${down}.bias`, get(`${e}mlp.c_proj.bias`).v, [W]);
  }
  if (o.postLn ?? true) {
    add('v.post_ln.weight', get('ln_post.weight').v, [W]);
    add('v.post_ln.bias', get('ln_post.bias').v, [W]);
  }
  const metadata: Array<[string, MetaValue]> = [
    ['general.architecture', { str: 'clip' }], ['clip.has_vision_encoder', { bool: true }], ['clip.has_text_encoder', { bool: false }],
    ['clip.projector_type', { str: 'mlp' }], ['clip.use_gelu', { bool: o.gelu === true }],
    ['clip.vision.image_size', { u32: RES }], ['clip.vision.patch_size', { u32: PATCH }], ['clip.vision.embedding_length', { u32: W }],
    ['clip.vision.feed_forward_length', { u32: MLP }], ['clip.vision.projection_dim', { u32: 16 }], ['clip.vision.block_count', { u32: blocks }],
    ['clip.vision.attention.head_count', { u32: HEADS }], ['clip.vision.attention.layer_norm_epsilon', { f32: 1e-5 }],
    ['clip.vision.image_mean', { f32s: Float32Array.of(0.48145466, 0.4578275, 0.40821073) }], ['clip.vision.image_std', { f32s: Float32Array.of(0.26862954, 0.26130258, 0.27577711) }],
  ];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeGgufFile(file, { metadata, tensors });
  return file;
}

