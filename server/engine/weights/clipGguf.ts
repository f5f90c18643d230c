// The CLIP vision tower inside a LLaVA `mmproj` GGUF (what llama.cpp's mtmd tools and Ollama's
// llava models keep as the projector), under the engine's OpenAI names, so the same model definition
// runs it. Names as llama.cpp's tools/mtmd/clip-impl.h spells them:
//   v.class_embd -> class_embedding          v.patch_embd.weight -> conv1.weight
//   v.position_embd.weight -> positional_embedding   v.pre_ln.* -> ln_pre.*   v.post_ln.* -> ln_post.*
//   v.blk.N.attn_{q,k,v}.* -> transformer.resblocks.N.attn.in_proj_* (stacked q, k, v)
//   v.blk.N.attn_out.* -> .attn.out_proj.*   v.blk.N.ln1/ln2.* -> .ln_1/.ln_2.*
//   v.blk.N.ffn_up/ffn_down.* -> .mlp.c_fc/.mlp.c_proj.* (told apart by shape: LLaVA's old converter
//   wrote fc1 as ffn_down, and llama.cpp swaps them back the same way)
// The mm.* tensors are LLaVA's own projector into its LLM: LaVIN has its own (adapter_proj), so they
// are ignored (listed in the notes). LLaVA's converter drops the last block (LLaVA reads the
// penultimate layer) and post_ln: the tower is used as stored, and the model definition taps its
// class token the same way for any depth (lavin.ts, clipVisual).
import type { DType, HostTensor } from '../tensor';
import { toFloat32 } from '../tensor';
import { GgufFile, type GgufTensorInfo } from './gguf';
import { dequantize, GGUF_FLOAT_TYPES, GGUF_QUANT_TYPES, isReadableType } from './ggufQuants';
import { ConcatBuilder } from './ops';
import { CheckpointError, formatShape } from './weightErrors';
import type { ClipConfig } from '../lavin';

/** What clip.ts's LoadedClip holds (declared here too: clip.ts imports this file, not the reverse). */
export interface GgufClip {
  config: ClipConfig & { mlpHidden: number; numPositions: number };
  tensors: Map<string, HostTensor>;
  source: 'mmproj';
  notes: string[];
}

const STORED_AS: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

const TOP: Record<string, string> = {
  class_embedding: 'v.class_embd', 'conv1.weight': 'v.patch_embd.weight', positional_embedding: 'v.position_embd.weight',
  'ln_pre.weight': 'v.pre_ln.weight', 'ln_pre.bias': 'v.pre_ln.bias', 'ln_post.weight': 'v.post_ln.weight', 'ln_post.bias': 'v.post_ln.bias',
};
const BLOCK: Record<string, string> = {
  'ln_1.weight': 'ln1.weight', 'ln_1.bias': 'ln1.bias', 'ln_2.weight': 'ln2.weight', 'ln_2.bias': 'ln2.bias',
  'attn.out_proj.weight': 'attn_out.weight', 'attn.out_proj.bias': 'attn_out.bias',
};
/** v.* tensors a CLIP ViT block has; anything else under v. belongs to another kind of tower. */
const KNOWN_BLOCK_PARTS = new Set(['attn_q', 'attn_k', 'attn_v', 'attn_out', 'ln1', 'ln2', 'ffn_up', 'ffn_down']);

/** True when the file at `path` starts with the GGUF magic. */
export function looksLikeGguf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46;
}

export function loadClipGguf(path: string): GgufClip {
  const f = GgufFile.open(path, { arrays: true });
  try {
    return loadFrom(f);
  } finally {
    f.close();
  }
}

function loadFrom(f: GgufFile): GgufClip {
  const path = f.path;
  const fail = (detail: string, tensor?: string): never => {
    throw new CheckpointError(path, detail, tensor);
  };
  const arch = f.optStr('general.architecture');
  if (arch !== undefined && arch !== 'clip') {
    fail(`this is a GGUF of architecture "${arch}", not a CLIP / LLaVA mmproj file (pass the language model as --model and its mmproj-*.gguf as --clip)`);
  }
  if (f.metadata.get('clip.has_vision_encoder') === false) fail('clip.has_vision_encoder is false: this projector file has no vision tower');
  if (!f.has('v.class_embd')) {
    const projector = f.optStr('clip.projector_type') ?? f.optStr('clip.vision.projector_type');
    fail(`no v.class_embd: not a CLIP ViT tower${projector ? ` (projector type "${projector}"; towers without a class token, such as SigLIP, are not supported)` : ''}`);
  }
  if (f.metadata.get('clip.use_gelu') === true) fail('clip.use_gelu is true: this tower uses exact GELU; only CLIP\'s quick GELU (OpenAI CLIP) is supported');
  if (f.metadata.get('clip.use_silu') === true) fail('clip.use_silu is true: this tower uses SiLU; only CLIP\'s quick GELU (OpenAI CLIP) is supported');

  const notes: string[] = [];
  const num = (key: string): number => {
    const v = f.num(key);
    if (!Number.isSafeInteger(v) || v <= 0) fail(`metadata ${key} must be a positive integer, found ${v}`);
    return v;
  };
  const width = num('clip.vision.embedding_length');
  const layers = num('clip.vision.block_count');
  const heads = num('clip.vision.attention.head_count');
  const patch = num('clip.vision.patch_size');
  const resolution = num('clip.vision.image_size');
  // An f32 in the file: its shortest decimal (1e-5, as config.json says it), the same float32 in the graph.
  const eps = Number((f.optNum('clip.vision.attention.layer_norm_epsilon') ?? 1e-5).toPrecision(7));
  if (!(eps > 0)) fail(`metadata clip.vision.attention.layer_norm_epsilon must be positive, found ${eps}`);
  if (width % heads !== 0) fail(`${heads} attention heads do not divide the width ${width}`);
  if (resolution % patch !== 0) fail(`image size ${resolution} is not a multiple of the patch size ${patch}`);
  const numPositions = (resolution / patch) ** 2 + 1;

  // Every v.* tensor must be one a CLIP ViT has; mm.* (LLaVA's projector) is set aside.
  const ignored: string[] = [];
  for (const name of f.tensors.keys()) {
    if (!name.startsWith('v.')) {
      ignored.push(name);
      continue;
    }
    const m = /^v\.blk\.(\d+)\.([a-z_0-9]+)\.(weight|bias)$/.exec(name);
    if (m) {
      if (!KNOWN_BLOCK_PARTS.has(m[2])) fail(`not part of a CLIP ViT block (this projector's tower is of another kind, not supported)`, name);
      if (Number(m[1]) >= layers) fail(`block ${m[1]} exists but clip.vision.block_count is ${layers}`, name);
    } else if (!Object.values(TOP).includes(name)) {
      fail('not part of a CLIP ViT tower (this projector\'s tower is of another kind, not supported)', name);
    }
  }
  if (ignored.length) notes.push(`ignored ${ignored.length} tensors outside the vision tower (LLaVA's own projector, not LaVIN's): ${ignored.slice(0, 4).join(', ')}${ignored.length > 4 ? ', ...' : ''}`);
  const featureLayer = f.metadata.get('clip.vision.feature_layer');
  if (featureLayer !== undefined) notes.push(`clip.vision.feature_layer ${JSON.stringify(featureLayer)} is LLaVA's choice; LaVIN taps the class token of the ${layers} stored blocks`);

  const info = (name: string, want: readonly number[]): GgufTensorInfo => {
    if (!f.has(name)) fail('missing from the GGUF file', name);
    const t = f.tensor(name);
    if (t.shape.join(',') !== want.join(',')) fail(`expected shape ${formatShape([...want])}, found ${formatShape(t.shape)}`, name);
    if (!isReadableType(t.typeName)) fail(`tensor type ${t.typeName} is not supported (supported: ${[...GGUF_FLOAT_TYPES, ...GGUF_QUANT_TYPES].join(', ')})`, name);
    return t;
  };
  /** A tensor as stored when it is a float type, else dequantised to float32. */
  const read = (name: string, want: readonly number[]): HostTensor => {
    const t = info(name, want);
    const data = f.readTensor(name);
    if (STORED_AS[t.typeName]) return { dtype: STORED_AS[t.typeName], shape: [...want], data };
    const v = dequantize(t.typeName as never, data, t.nElements);
    return { dtype: 'float32', shape: [...want], data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
  };
  const stack = (names: string[], rows: number, rest: number[]): HostTensor => {
    const parts = names.map((n) => read(n, [rows, ...rest]));
    const same = parts.every((p) => p.dtype === parts[0].dtype);
    const widened = same ? parts : parts.map((p) => ({ dtype: 'float32' as DType, shape: p.shape, data: new Uint8Array(toFloat32(p).buffer) }));
    const out = new ConcatBuilder(widened[0].dtype, [rows * names.length, ...rest], 0);
    for (const p of widened) out.add(p);
    return out.finish();
  };

  const W = width;
  const tensors = new Map<string, HostTensor>();
  tensors.set('class_embedding', read(TOP.class_embedding, [W]));
  tensors.set('conv1.weight', read(TOP['conv1.weight'], [W, 3, patch, patch]));
  tensors.set('positional_embedding', read(TOP.positional_embedding, [numPositions, W]));
  if (!f.has('v.pre_ln.weight')) fail('missing from the GGUF file (CLIP ViTs have a pre-layernorm)', 'v.pre_ln.weight');
  for (const n of ['ln_pre.weight', 'ln_pre.bias']) tensors.set(n, read(TOP[n], [W]));
  if (f.has('v.post_ln.weight')) for (const n of ['ln_post.weight', 'ln_post.bias']) tensors.set(n, read(TOP[n], [W]));
  else notes.push('no post_ln (LLaVA drops it; LaVIN does not use it)');

  let mlpHidden: number | undefined;
  for (let l = 0; l < layers; l++) {
    const v = `v.blk.${l}.`;
    const e = `transformer.resblocks.${l}.`;
    tensors.set(`${e}attn.in_proj_weight`, stack(['q', 'k', 'v'].map((x) => `${v}attn_${x}.weight`), W, [W]));
    tensors.set(`${e}attn.in_proj_bias`, stack(['q', 'k', 'v'].map((x) => `${v}attn_${x}.bias`), W, []));
    for (const [ours, theirs] of Object.entries(BLOCK)) tensors.set(e + ours, read(v + theirs, [W, ...(ours.endsWith('out_proj.weight') ? [W] : [])]));
    // The up-projection reads the width (ggml ne[0] = W): that one is c_fc, whatever it is called.
    for (const n of [`${v}ffn_up.weight`, `${v}ffn_down.weight`]) if (!f.has(n)) fail('missing from the GGUF file', n);
    const up = f.tensor(`${v}ffn_up.weight`);
    const down = f.tensor(`${v}ffn_down.weight`);
    const swapped = down.shape.length === 2 && down.shape[1] === W && !(up.shape[1] === W && up.shape[0] === W && !legacyNaming(f));
    const [fc, proj] = swapped ? ['ffn_down', 'ffn_up'] : ['ffn_up', 'ffn_down'];
    const hidden = f.tensor(`${v}${fc}.weight`).shape[0];
    if (mlpHidden === undefined) mlpHidden = hidden;
    if (l === 0 && swapped) notes.push('ffn_up/ffn_down named the other way round (LLaVA\'s old converter): told apart by shape');
    tensors.set(`${e}mlp.c_fc.weight`, read(`${v}${fc}.weight`, [mlpHidden, W]));
    tensors.set(`${e}mlp.c_fc.bias`, read(`${v}${fc}.bias`, [mlpHidden]));
    tensors.set(`${e}mlp.c_proj.weight`, read(`${v}${proj}.weight`, [W, mlpHidden]));
    tensors.set(`${e}mlp.c_proj.bias`, read(`${v}${proj}.bias`, [W]));
  }
  const ff = f.optNum('clip.vision.feed_forward_length');
  if (ff !== undefined && ff !== mlpHidden) fail(`clip.vision.feed_forward_length is ${ff} but the blocks' MLP has ${mlpHidden}`);
  notes.push(`heads ${heads}, image size ${resolution}, patch ${patch} from the GGUF metadata`);
  return {
    config: { width, layers, heads, patch, resolution, layerNormEps: eps, mlpHidden: mlpHidden!, numPositions },
    tensors,
    source: 'mmproj',
    notes,
  };
}

/** Projector types whose files llama.cpp checks for the old (swapped) ffn naming. */
function legacyNaming(f: GgufFile): boolean {
  const t = f.optStr('clip.projector_type') ?? '';
  return ['mlp', 'mlp_norm', 'ldp', 'ldpv2'].includes(t);
}
