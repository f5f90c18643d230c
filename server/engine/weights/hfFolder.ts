// A Hugging Face model folder: config.json + model.safetensors (or a sharded
// model.safetensors.index.json), bf16/fp16/fp32, for LlamaForCausalLM / MistralForCausalLM /
// Qwen2ForCausalLM. HF keeps q/k in rotate-half order (its conversion from Meta permuted them), so
// the spec says ropeStyle 'neox' and no weight is permuted here.
import * as fs from 'fs';
import * as path from 'path';
import { BYTES_PER_ELEMENT, numel, toFloat32, type HostTensor } from '../tensor';
import type { BackboneLlamaConfig, BackboneSpec, OpenedBackbone, RopeScaling } from './backboneSpec';
import { expectedBackboneShapes } from './backboneShapes';
import { CheckpointError } from './weightErrors';
import { SafetensorsFile } from './safetensors';

const ARCHS: Record<string, BackboneSpec['arch']> = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2' };

/** HF parameter names -> the engine's (Meta) names. */
export function engineNameOfHf(name: string): string | undefined {
  const global: Record<string, string> = { 'model.embed_tokens.weight': 'tok_embeddings.weight', 'model.norm.weight': 'norm.weight', 'lm_head.weight': 'output.weight' };
  if (global[name]) return global[name];
  const m = /^model\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return undefined;
  const block: Record<string, string> = {
    'self_attn.q_proj': 'attention.wq', 'self_attn.k_proj': 'attention.wk', 'self_attn.v_proj': 'attention.wv', 'self_attn.o_proj': 'attention.wo',
    'mlp.gate_proj': 'feed_forward.w1', 'mlp.down_proj': 'feed_forward.w2', 'mlp.up_proj': 'feed_forward.w3',
    input_layernorm: 'attention_norm', post_attention_layernorm: 'ffn_norm',
  };
  return block[m[2]] ? `layers.${m[1]}.${block[m[2]]}.${m[3]}` : undefined;
}

type Json = Record<string, unknown>;

function readJson(file: string, what: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CheckpointError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${what} not found` : `cannot read ${what} (${(e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new CheckpointError(file, `${what} is not valid JSON (${(e as Error).message})`);
  }
}

/** The spec from config.json alone (nParams and fileType filled from the weights by the caller). */
export function hfSpecOf(dir: string, config: Json): Omit<BackboneSpec, 'nParams'> {
  const file = path.join(dir, 'config.json');
  const fail = (msg: string): never => {
    throw new CheckpointError(file, msg);
  };
  const archName = Array.isArray(config.architectures) ? String(config.architectures[0]) : undefined;
  const arch = archName ? ARCHS[archName] : undefined;
  if (!arch) fail(`unknown architecture ${archName ?? '(no "architectures")'} (supported: ${Object.keys(ARCHS).join(', ')})`);
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(`${key} is ${JSON.stringify(v)}, expected a positive integer`);
    return v as number;
  };
  const num = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) fail(`${key} is ${JSON.stringify(v)}, expected a positive number`);
    return v as number;
  };
  if (arch === 'llama' && (config.attention_bias === true || config.mlp_bias === true)) fail('attention_bias / mlp_bias are not supported');
  const dim = int('hidden_size');
  const nHeads = int('num_attention_heads');
  const headDim = config.head_dim == null ? dim / nHeads : int('head_dim');
  if (!Number.isInteger(headDim)) fail(`hidden_size ${dim} is not a multiple of num_attention_heads ${nHeads}`);
  const llama: BackboneLlamaConfig = {
    dim, nLayers: int('num_hidden_layers'), nHeads, nKvHeads: int('num_key_value_heads', nHeads), headDim,
    ffnHidden: int('intermediate_size'), vocab: int('vocab_size'), normEps: num('rms_norm_eps'), ropeTheta: num('rope_theta', 10000),
    ropeStyle: 'neox', qkvBias: arch === 'qwen2', tiedEmbeddings: config.tie_word_embeddings === true,
  };
  const scaling = ropeScalingOf(config.rope_scaling, fail);
  if (scaling) llama.ropeScaling = scaling;
  const dtype = typeof config.torch_dtype === 'string' ? ({ bfloat16: 'BF16', float16: 'F16', float32: 'F32' } as Record<string, string>)[config.torch_dtype] : undefined;
  return {
    arch: arch!, name: path.basename(path.resolve(dir)), llama, contextLength: int('max_position_embeddings', 2048),
    ...(dtype ? { fileType: dtype } : {}), source: { kind: 'hf', path: dir },
  };
}

function ropeScalingOf(raw: unknown, fail: (msg: string) => never): RopeScaling | undefined {
  if (raw == null) return undefined;
  if (typeof raw !== 'object') fail('rope_scaling is not an object');
  const r = raw as Json;
  const type = String(r.rope_type ?? r.type ?? '');
  const n = (key: string, fallback?: number): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) fail(`rope_scaling.${key} is ${JSON.stringify(v)}, expected a positive number`);
    return v as number;
  };
  if (type === 'default') return undefined;
  if (type === 'linear') return { type: 'linear', factor: n('factor') };
  if (type === 'llama3') {
    return { type: 'llama3', factor: n('factor'), lowFreqFactor: n('low_freq_factor', 1), highFreqFactor: n('high_freq_factor', 4), originalContext: n('original_max_position_embeddings', 8192) };
  }
  return fail(`rope_scaling type ${type || '(none)'} is not supported (linear and llama3 are)`);
}

/** The shard file of every tensor: model.safetensors, or the index's weight_map. */
function shardMap(dir: string): Map<string, string[]> {
  const index = path.join(dir, 'model.safetensors.index.json');
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(index)) {
    const map = readJson(index, 'shard index').weight_map;
    if (typeof map !== 'object' || map === null) throw new CheckpointError(index, 'has no weight_map');
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(map as Json)) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) throw new CheckpointError(index, `weight_map entry ${name} is not a file name`);
      const file = path.join(dir, shard);
      if (!byShard.has(file)) byShard.set(file, []);
      byShard.get(file)!.push(name);
    }
    for (const file of byShard.keys()) if (!fs.existsSync(file)) throw new CheckpointError(file, `shard named in model.safetensors.index.json is missing`);
    return byShard;
  }
  if (fs.existsSync(single)) return new Map([[single, []]]); // names come from the file's header
  throw new CheckpointError(path.join(dir, 'config.json'), 'no model.safetensors or model.safetensors.index.json beside it');
}

export async function openHfFolder(dir: string): Promise<OpenedBackbone> {
  const config = readJson(path.join(dir, 'config.json'), 'config.json');
  const partial = hfSpecOf(dir, config);
  const files: SafetensorsFile[] = [];
  try {
    const where = new Map<string, { file: SafetensorsFile; hfName: string }>();
    const ignored: string[] = [];
    let nParams = 0;
    for (const [shard, names] of shardMap(dir)) {
      const st = await SafetensorsFile.open(shard);
      files.push(st);
      for (const hfName of st.names()) {
        if (names.length && !names.includes(hfName)) continue;
        const info = st.info(hfName);
        nParams += numel(info.shape);
        const name = engineNameOfHf(hfName);
        if (name) where.set(name, { file: st, hfName });
        else ignored.push(hfName);
      }
    }
    const spec: BackboneSpec = { ...partial, nParams };
    // transformers' own default ties the head when config.json does not say (no lm_head then).
    if (config.tie_word_embeddings === undefined && !where.has('output.weight')) spec.llama = { ...spec.llama, tiedEmbeddings: true };
    if (!spec.llama.tiedEmbeddings && !where.has('output.weight')) throw new CheckpointError(dir, 'lm_head.weight is missing and tie_word_embeddings is false');
    const tensors = new Map<string, HostTensor>();
    for (const [name, shape] of expectedBackboneShapes(spec)) {
      const at = where.get(name);
      if (!at) throw new CheckpointError(dir, `missing from the safetensors files (${name})`, hfNameOf(name));
      const info = at.file.info(at.hfName);
      if (!['float32', 'float16', 'bfloat16'].includes(info.dtype)) throw new CheckpointError(at.file.path, `dtype ${info.dtype} is not supported (bf16, fp16, fp32 are)`, at.hfName);
      if (info.shape.join(',') !== shape.join(',')) throw new CheckpointError(at.file.path, `shape [${info.shape}] does not match config.json's [${shape}]`, at.hfName);
      tensors.set(name, await at.file.read(at.hfName));
    }
    if (spec.llama.tiedEmbeddings && where.has('output.weight')) ignored.push('lm_head.weight');
    const table = tensors.get('tok_embeddings.weight')!;
    const { dim, vocab } = spec.llama;
    const rowBytes = dim * BYTES_PER_ELEMENT[table.dtype];
    return {
      spec, tensors, quantized: new Map(), metadata: new Map(), ignored,
      embeddingRows(ids) {
        const out = new Float32Array(ids.length * dim);
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i];
          if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary of ${vocab}`);
          out.set(toFloat32({ dtype: table.dtype, shape: [dim], data: table.data.subarray(id * rowBytes, (id + 1) * rowBytes) }), i * dim);
        }
        return out;
      },
      close: () => undefined,
    };
  } finally {
    for (const f of files) await f.close();
  }
}

function hfNameOf(engineName: string): string {
  const global: Record<string, string> = { 'tok_embeddings.weight': 'model.embed_tokens.weight', 'norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight' };
  if (global[engineName]) return global[engineName];
  const m = /^layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(engineName);
  const block: Record<string, string> = {
    'attention.wq': 'self_attn.q_proj', 'attention.wk': 'self_attn.k_proj', 'attention.wv': 'self_attn.v_proj', 'attention.wo': 'self_attn.o_proj',
    'feed_forward.w1': 'mlp.gate_proj', 'feed_forward.w2': 'mlp.down_proj', 'feed_forward.w3': 'mlp.up_proj', attention_norm: 'input_layernorm', ffn_norm: 'post_attention_layernorm',
  };
  return m && block[m[2]] ? `model.layers.${m[1]}.${block[m[2]]}.${m[3]}` : engineName;
}
