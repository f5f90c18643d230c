// CLIP vision tower under OpenAI names (`conv1.weight`, `transformer.resblocks.N.attn.in_proj_weight`, ...)
// from any of: an OpenAI visual state dict, a full OpenAI CLIP state dict or TorchScript archive
// (`visual.` prefix, text tower ignored), or Hugging Face CLIPVisionModel / CLIPModel safetensors
// (renamed, q/k/v stacked into in_proj). Geometry comes from the tensor shapes. loadClipSource also
// takes a Hugging Face CLIP folder and the tower inside a LLaVA mmproj GGUF (clipGguf.ts).
import * as fs from 'fs/promises';
import * as fsSync from 'fs';
import * as path from 'path';
import type { DType, HostTensor } from '../tensor';
import { CheckpointError, formatShape } from './weightErrors';
import { ConcatBuilder, FLOAT_DTYPES, transpose2d } from './ops';
import { openTensorFile } from './tensorFile';
import type { TensorFile } from './types';
import type { ClipConfig as ModelClipConfig } from '../lavin';
import { loadClipGguf, looksLikeGguf } from './clipGguf';

/** The model definition's ViT geometry, plus what the checkpoint also tells. */
export interface ClipConfig extends ModelClipConfig {
  mlpHidden: number;
  numPositions: number;
}

export type ClipSourceKind = 'openai' | 'huggingface' | 'mmproj';

export interface LoadedClip {
  config: ClipConfig;
  tensors: Map<string, HostTensor>;
  source: ClipSourceKind;
  /** How heads / eps were decided, and anything ignored. */
  notes: string[];
}

/** One OpenAI tensor = one or more file tensors (concatenated on dim 0), optionally transposed. */
interface Part { name: string; transpose?: boolean }

const BLOCK_TENSORS = [
  'ln_1.weight', 'ln_1.bias', 'attn.in_proj_weight', 'attn.in_proj_bias', 'attn.out_proj.weight', 'attn.out_proj.bias',
  'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias',
] as const;

const HF_BLOCK: Record<string, string> = {
  'ln_1.weight': 'layer_norm1.weight', 'ln_1.bias': 'layer_norm1.bias',
  'attn.out_proj.weight': 'self_attn.out_proj.weight', 'attn.out_proj.bias': 'self_attn.out_proj.bias',
  'ln_2.weight': 'layer_norm2.weight', 'ln_2.bias': 'layer_norm2.bias',
  'mlp.c_fc.weight': 'mlp.fc1.weight', 'mlp.c_fc.bias': 'mlp.fc1.bias',
  'mlp.c_proj.weight': 'mlp.fc2.weight', 'mlp.c_proj.bias': 'mlp.fc2.bias',
};

const HF_TOP: Record<string, string> = {
  class_embedding: 'embeddings.class_embedding', 'conv1.weight': 'embeddings.patch_embedding.weight',
  positional_embedding: 'embeddings.position_embedding.weight', 'ln_pre.weight': 'pre_layrnorm.weight',
  'ln_pre.bias': 'pre_layrnorm.bias', 'ln_post.weight': 'post_layernorm.weight', 'ln_post.bias': 'post_layernorm.bias',
};

/** Maps OpenAI visual names to the names stored in the file. */
interface Layout {
  kind: ClipSourceKind;
  parts(openaiName: string): Part[];
  /** Number of blocks stored (consecutive from 0). */
  countBlocks(): number;
}

function openaiLayout(file: TensorFile, prefix: string): Layout {
  return {
    kind: 'openai',
    parts: (name) => [{ name: prefix + name }],
    countBlocks: () => countConsecutive(file, (i) => `${prefix}transformer.resblocks.${i}.ln_1.weight`, new RegExp(`^${escape(prefix)}transformer\\.resblocks\\.(\\d+)\\.`)),
  };
}

function hfLayout(file: TensorFile, prefix: string): Layout {
  return {
    kind: 'huggingface',
    parts: (name) => {
      if (name === 'proj') return [{ name: 'visual_projection.weight', transpose: true }];
      if (HF_TOP[name]) return [{ name: prefix + HF_TOP[name] }];
      const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(name);
      if (!m) throw new Error(`no Hugging Face name for ${name}`);
      const base = `${prefix}encoder.layers.${m[1]}.`;
      if (m[2] === 'attn.in_proj_weight') return ['q', 'k', 'v'].map((x) => ({ name: `${base}self_attn.${x}_proj.weight` }));
      if (m[2] === 'attn.in_proj_bias') return ['q', 'k', 'v'].map((x) => ({ name: `${base}self_attn.${x}_proj.bias` }));
      return [{ name: base + HF_BLOCK[m[2]] }];
    },
    countBlocks: () => countConsecutive(file, (i) => `${prefix}encoder.layers.${i}.layer_norm1.weight`, new RegExp(`^${escape(prefix)}encoder\\.layers\\.(\\d+)\\.`)),
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function countConsecutive(file: TensorFile, nameOf: (i: number) => string, any: RegExp): number {
  let n = 0;
  while (file.has(nameOf(n))) n++;
  for (const name of file.names()) {
    const m = any.exec(name);
    if (m && Number(m[1]) >= n) throw new CheckpointError(file.path, `block ${m[1]} exists but block ${n} is incomplete or missing (${nameOf(n)})`, name);
  }
  return n;
}

function detectLayout(file: TensorFile): Layout {
  if (file.has('class_embedding')) return openaiLayout(file, '');
  if (file.has('visual.class_embedding')) return openaiLayout(file, 'visual.');
  if (file.has('vision_model.embeddings.class_embedding')) return hfLayout(file, 'vision_model.');
  if (file.has('embeddings.class_embedding')) return hfLayout(file, '');
  if (file.names().some((n) => /^(visual\.)?layer1\./.test(n))) {
    throw new CheckpointError(file.path, 'this is a ResNet CLIP; only ViT CLIP models are supported');
  }
  throw new CheckpointError(file.path, 'not a CLIP vision checkpoint: none of class_embedding, visual.class_embedding, vision_model.embeddings.class_embedding is present');
}

interface HfVisionConfig { hidden_act?: unknown; num_attention_heads?: unknown; hidden_size?: unknown; num_hidden_layers?: unknown; patch_size?: unknown; image_size?: unknown; layer_norm_eps?: unknown; intermediate_size?: unknown }

/** The vision part of a Hugging Face config.json beside the weights, if there is one. */
async function readHfConfig(weightsPath: string): Promise<{ file: string; cfg: HfVisionConfig } | undefined> {
  const file = path.join(path.dirname(weightsPath), 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
  const vision = (typeof raw.vision_config === 'object' && raw.vision_config !== null ? raw.vision_config : raw) as HfVisionConfig;
  return vision.num_attention_heads !== undefined || vision.hidden_size !== undefined ? { file, cfg: vision } : undefined;
}

/**
 * A CLIP vision tower from any source a user may have: OpenAI .pt/.pth, Hugging Face CLIP
 * safetensors (a file, or the folder holding model.safetensors and config.json), or a LLaVA mmproj
 * GGUF. The reader is chosen by content, not by name.
 */
export async function loadClipSource(p: string, opts: { heads?: number } = {}): Promise<LoadedClip> {
  let stat: fsSync.Stats;
  try {
    stat = fsSync.statSync(p);
  } catch {
    throw new CheckpointError(p, 'CLIP file or folder not found');
  }
  if (stat.isDirectory()) {
    const file = ['model.safetensors', 'pytorch_model.safetensors'].map((n) => path.join(p, n)).find((f) => fsSync.existsSync(f));
    if (!file) {
      const sharded = fsSync.existsSync(path.join(p, 'model.safetensors.index.json'));
      throw new CheckpointError(p, sharded ? 'a sharded CLIP checkpoint is not supported (CLIP vision towers fit in one model.safetensors)' : 'no model.safetensors in this folder: not a Hugging Face CLIP folder');
    }
    return loadClip(file, opts);
  }
  const head = Buffer.alloc(4);
  const fd = fsSync.openSync(p, 'r');
  try {
    fsSync.readSync(fd, head, 0, 4, 0);
  } finally {
    fsSync.closeSync(fd);
  }
  if (looksLikeGguf(head)) {
    const clip = loadClipGguf(p);
    if (opts.heads !== undefined && opts.heads !== clip.config.heads) throw new CheckpointError(p, `clip.vision.attention.head_count ${clip.config.heads} contradicts the configured CLIP heads ${opts.heads}`);
    return clip;
  }
  return loadClip(p, opts);
}

export async function loadClip(filePath: string, opts: { heads?: number } = {}): Promise<LoadedClip> {
  const file = await openTensorFile(filePath);
  try {
    return await loadFrom(file, filePath, opts);
  } finally {
    await file.close();
  }
}

async function loadFrom(file: TensorFile, filePath: string, opts: { heads?: number }): Promise<LoadedClip> {
  const layout = detectLayout(file);
  const notes: string[] = [];
  const dtypes = new Map<string, DType>();

  /** Checks a stored tensor's dtype; all parts of one OpenAI tensor must share it. */
  const checkDType = (name: string, part: string, dtype: DType): void => {
    if (!FLOAT_DTYPES.has(dtype)) throw new CheckpointError(file.path, `unsupported dtype ${dtype} (CLIP weights are floating point)`, part);
    const first = dtypes.get(name);
    if (first && first !== dtype) throw new CheckpointError(file.path, `dtype ${dtype} differs from ${layout.parts(name)[0].name} (${first})`, part);
    dtypes.set(name, dtype);
  };
  /** Shape of an optional single-part tensor (after transposing), or undefined when absent. */
  const shapeOf = (name: string): number[] | undefined => {
    const [part, ...more] = layout.parts(name);
    if (more.length) throw new Error(`shapeOf(${name}): stacked tensor`);
    if (!file.has(part.name)) return undefined;
    const { dtype, shape } = file.info(part.name);
    checkDType(name, part.name, dtype);
    if (part.transpose && shape.length !== 2) throw new CheckpointError(file.path, `expected a matrix, found ${formatShape(shape)}`, part.name);
    return part.transpose ? [...shape].reverse() : shape;
  };
  /** Each stored part against its share of `want`, reported under the file's own names. */
  const requireShape = (name: string, want: readonly number[]): void => {
    const parts = layout.parts(name);
    const k = parts.length;
    for (const part of parts) {
      if (!file.has(part.name)) throw new CheckpointError(file.path, 'missing from the checkpoint', part.name);
      const { dtype, shape } = file.info(part.name);
      const partWant = k > 1 ? [want[0] / k, ...want.slice(1)] : part.transpose ? [...want].reverse() : [...want];
      if (shape.join(',') !== partWant.join(',')) {
        throw new CheckpointError(file.path, `expected shape ${formatShape(partWant)}, found ${formatShape(shape)}`, part.name);
      }
      checkDType(name, part.name, dtype);
    }
  };
  const rankOf = (name: string, rank: number): number[] => {
    const s = shapeOf(name);
    if (!s) throw new CheckpointError(file.path, 'missing from the checkpoint', layout.parts(name)[0].name);
    if (s.length !== rank) throw new CheckpointError(file.path, `expected rank ${rank}, found shape ${formatShape(s)}`, layout.parts(name)[0].name);
    return s;
  };

  // Geometry from the shapes.
  const width = rankOf('class_embedding', 1)[0];
  const conv = rankOf('conv1.weight', 4);
  const patch = conv[2];
  requireShape('conv1.weight', [width, 3, patch, patch]);
  const numPositions = rankOf('positional_embedding', 2)[0];
  requireShape('positional_embedding', [numPositions, width]);
  const grid = Math.round(Math.sqrt(numPositions - 1));
  if (grid * grid !== numPositions - 1) {
    throw new CheckpointError(file.path, `${numPositions} positions is not 1 + a square grid of patches`, layout.parts('positional_embedding')[0].name);
  }
  const resolution = grid * patch;
  const layers = layout.countBlocks();
  if (layers === 0) throw new CheckpointError(file.path, 'no transformer blocks found', layout.parts('transformer.resblocks.0.ln_1.weight')[0].name);
  const mlpHidden = rankOf('transformer.resblocks.0.mlp.c_fc.weight', 2)[0];

  // Heads and eps are not in the tensors.
  let heads: number | undefined;
  let layerNormEps = 1e-5;
  const hf = await readHfConfig(filePath);
  if (hf) {
    const c = hf.cfg;
    const check = (key: keyof HfVisionConfig, actual: number): void => {
      if (c[key] !== undefined && c[key] !== actual) throw new CheckpointError(hf.file, `${key} is ${JSON.stringify(c[key])} but ${path.basename(filePath)} has ${actual}`);
    };
    check('hidden_size', width);
    check('num_hidden_layers', layers);
    check('patch_size', patch);
    check('image_size', resolution);
    check('intermediate_size', mlpHidden);
    // The model definition's MLP is CLIP's quick GELU (OpenAI CLIP, and every openai/clip-* on the hub).
    if (c.hidden_act !== undefined && c.hidden_act !== 'quick_gelu') {
      throw new CheckpointError(hf.file, `hidden_act is ${JSON.stringify(c.hidden_act)}; only CLIP's "quick_gelu" (OpenAI CLIP) is supported`);
    }
    if (c.num_attention_heads !== undefined) {
      if (typeof c.num_attention_heads !== 'number' || !Number.isSafeInteger(c.num_attention_heads) || c.num_attention_heads <= 0) {
        throw new CheckpointError(hf.file, `num_attention_heads must be a positive integer, found ${JSON.stringify(c.num_attention_heads)}`);
      }
      heads = c.num_attention_heads;
      notes.push(`heads ${heads} from ${hf.file}`);
      if (opts.heads !== undefined && opts.heads !== heads) {
        throw new CheckpointError(hf.file, `num_attention_heads ${heads} contradicts the configured CLIP heads ${opts.heads}`);
      }
    }
    if (typeof c.layer_norm_eps === 'number' && c.layer_norm_eps > 0) layerNormEps = c.layer_norm_eps;
  }
  if (heads === undefined && opts.heads !== undefined) {
    heads = opts.heads;
    notes.push(`heads ${heads} from the caller`);
  }
  if (heads === undefined) {
    heads = width / 64;
    notes.push(`heads ${heads} = width / 64 (OpenAI's rule; no config.json beside the weights)`);
  }
  if (!Number.isSafeInteger(heads) || heads <= 0 || width % heads !== 0) {
    throw new CheckpointError(file.path, `${heads} attention heads do not divide width ${width}${hf ? '' : ' (give the head count: there is no config.json beside the weights)'}`);
  }

  // Every tensor against the geometry.
  const W = width;
  const required = new Map<string, number[]>([
    ['class_embedding', [W]], ['conv1.weight', [W, 3, patch, patch]], ['positional_embedding', [numPositions, W]],
    ['ln_pre.weight', [W]], ['ln_pre.bias', [W]],
  ]);
  for (let l = 0; l < layers; l++) {
    const shapes: Record<string, number[]> = {
      'ln_1.weight': [W], 'ln_1.bias': [W], 'attn.in_proj_weight': [3 * W, W], 'attn.in_proj_bias': [3 * W],
      'attn.out_proj.weight': [W, W], 'attn.out_proj.bias': [W], 'ln_2.weight': [W], 'ln_2.bias': [W],
      'mlp.c_fc.weight': [mlpHidden, W], 'mlp.c_fc.bias': [mlpHidden], 'mlp.c_proj.weight': [W, mlpHidden], 'mlp.c_proj.bias': [W],
    };
    for (const t of BLOCK_TENSORS) required.set(`transformer.resblocks.${l}.${t}`, shapes[t]);
  }
  for (const [name, want] of required) requireShape(name, want);
  // Unused by LaVIN, kept when present.
  for (const name of ['ln_post.weight', 'ln_post.bias']) {
    if (!shapeOf(name)) continue;
    requireShape(name, [W]);
    required.set(name, [W]);
  }
  const proj = shapeOf('proj');
  if (proj) {
    if (proj.length !== 2 || proj[0] !== W) throw new CheckpointError(file.path, `expected shape [${W},E], found ${formatShape(proj)}`, layout.parts('proj')[0].name);
    required.set('proj', proj);
  }

  const tensors = new Map<string, HostTensor>();
  for (const [name, shape] of required) {
    const parts = layout.parts(name);
    if (parts.length === 1) {
      const t = await file.read(parts[0].name);
      tensors.set(name, parts[0].transpose ? transpose2d(t) : t);
      continue;
    }
    const stacked = new ConcatBuilder(dtypes.get(name)!, shape, 0);
    for (const p of parts) stacked.add(await file.read(p.name));
    tensors.set(name, stacked.finish());
  }
  return {
    config: { width, layers, heads, patch, resolution, layerNormEps, mlpHidden, numPositions },
    tensors,
    source: layout.kind,
    notes,
  };
}
