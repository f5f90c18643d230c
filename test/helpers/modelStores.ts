// Synthetic model stores built at test time in a temp folder: an Ollama store (manifests + blobs),
// an LM Studio models folder and a Hugging Face hub cache, each with working and broken models.
// The GGUF files are tiny random-weight LLaMA models from the bench's GGUF writer.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { writeLlamaGguf } from '../../bench/gguf';
import { GGML_TYPE_ID, writeGgufFile } from '../../bench/ggufWriter';
import { buildSafetensors } from '../unit/weights/helpers/safetensorsWriter';
import { tempDir } from './tempDir';

/** The tiny GGUF's geometry (64 wide, 2 layers, 300 words, Q8_0 linears). */
export const TINY = { dim: 64, nLayers: 2, nHeads: 4, ffnHidden: 128, vocab: 300 };
/** Its parameters: embeddings + output + per block (4 attention, 3 FFN, 2 norms) + final norm. */
export const TINY_PARAMETERS = 2 * TINY.vocab * TINY.dim + TINY.nLayers * (4 * TINY.dim * TINY.dim + 3 * TINY.dim * TINY.ffnHidden + 2 * TINY.dim) + TINY.dim;

export { tempDir };

/** A tiny LLaMA GGUF (Q8_0), written once per process and copied. */
let tinyCache: Buffer | undefined;
export function tinyGguf(): Buffer {
  if (!tinyCache) {
    const dir = tempDir('lavin-gguf-');
    const file = path.join(dir, 'tiny.gguf');
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.1;
    writeLlamaGguf(file, { name: 'tiny', ...TINY, normEps: 1e-5, contextLength: 256, type: 'q8_0', values: (_n, shape) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand) });
    tinyCache = fs.readFileSync(file);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return tinyCache;
}

/** A GGUF file of an architecture the engine does not run (one small F32 tensor, Q4_K_M file type). */
export function ggufWithArchitecture(arch: string): Buffer {
  const dir = tempDir('lavin-gguf-');
  const file = path.join(dir, 'other.gguf');
  writeGgufFile(file, {
    metadata: [['general.architecture', { str: arch }], ['general.name', { str: arch }], ['general.file_type', { u32: 15 }], [`${arch}.block_count`, { u32: 1 }]],
    tensors: [{ name: 'token_embd.weight', shape: [4, 8], type: GGML_TYPE_ID.F32, byteLength: 128, data: () => new Uint8Array(128) }],
  });
  const bytes = fs.readFileSync(file);
  fs.rmSync(dir, { recursive: true, force: true });
  return bytes;
}

/**
 * A Q4_0 LLaMA GGUF whose blk.0.attn_q.weight claims IQ4_NL (ggml type 20, the same 18 bytes per 32
 * weights), a type the engine does not read: the file stays well-formed.
 */
export function ggufWithIq4nlTensor(): Buffer {
  const dir = tempDir('lavin-gguf-');
  const file = path.join(dir, 'iq4nl.gguf');
  writeLlamaGguf(file, { name: 'iq4nl', ...TINY, normEps: 1e-5, contextLength: 64, type: 'q4_0', values: (_n, shape) => new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const b = fs.readFileSync(file);
  fs.rmSync(dir, { recursive: true, force: true });
  const name = Buffer.from('blk.0.attn_q.weight');
  const at = b.indexOf(name) + name.length; // then u32 n_dims = 2, u64 ne[2], u32 type
  if (b.readUInt32LE(at) !== 2 || b.readUInt32LE(at + 20) !== 2) throw new Error('unexpected tensor info layout');
  b.writeUInt32LE(20, at + 20);
  return b;
}

/** A qwen2 GGUF (q/k/v biases, 2 KV heads, tied embeddings) and its parameter count. */
export function qwen2Gguf(): { bytes: Buffer; parameters: number } {
  const dir = tempDir('lavin-gguf-');
  const file = path.join(dir, 'qwen2.gguf');
  writeLlamaGguf(file, { name: 'tiny-qwen2', arch: 'qwen2', ...TINY, nKvHeads: 2, tiedEmbeddings: true, normEps: 1e-6, contextLength: 512, type: 'q8_0', values: (_n, shape) => new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const bytes = fs.readFileSync(file);
  fs.rmSync(dir, { recursive: true, force: true });
  const { dim, nLayers, vocab, ffnHidden } = TINY;
  const kv = 2 * (dim / TINY.nHeads);
  const block = dim * dim + dim + 2 * (dim * kv + kv) + dim * dim + 3 * dim * ffnHidden + 2 * dim;
  return { bytes, parameters: vocab * dim + nLayers * block + dim };
}

export const truncated = (b: Buffer) => b.subarray(0, Math.floor(b.length / 2));

export function write(file: string, data: string | Uint8Array): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
  return file;
}

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Builds an Ollama store: `add` writes blobs and a manifest per tag. */
export class OllamaStore {
  constructor(readonly root: string) {
    fs.mkdirSync(path.join(root, 'blobs'), { recursive: true });
  }

  blob(data: string | Uint8Array): { digest: string; size: number; file: string } {
    const hex = sha(data);
    const file = write(path.join(this.root, 'blobs', `sha256-${hex}`), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data as string), file };
  }

  manifest(name: string, layers: { mediaType: string; digest: string; size: number }[], config?: object): string {
    const [ns, model, tag] = name.includes('/') ? [name.split('/')[0], ...name.split('/')[1].split(':')] : ['library', ...name.split(':')];
    const cfg = this.blob(JSON.stringify(config ?? { model_format: 'gguf', model_family: 'llama', file_type: 'Q8_0' }));
    const body = { schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cfg.digest, size: cfg.size }, layers };
    return write(path.join(this.root, 'manifests', 'registry.ollama.ai', ns, model, tag), JSON.stringify(body));
  }

  /** A model whose model layer is `gguf`, plus optional projector and template layers. */
  model(name: string, gguf: Uint8Array, extra: { projector?: Uint8Array; template?: string } = {}): { model: string; projector?: string } {
    const m = this.blob(gguf);
    const layers = [{ mediaType: 'application/vnd.ollama.image.model', digest: m.digest, size: m.size }];
    let projector: string | undefined;
    if (extra.projector) {
      const p = this.blob(extra.projector);
      projector = p.file;
      layers.push({ mediaType: 'application/vnd.ollama.image.projector', digest: p.digest, size: p.size });
    }
    if (extra.template) {
      const t = this.blob(extra.template);
      layers.push({ mediaType: 'application/vnd.ollama.image.template', digest: t.digest, size: t.size });
    }
    this.manifest(name, layers);
    return { model: m.file, projector };
  }
}

/** A safetensors file of zero float32 tensors with these shapes. */
export function safetensors(names: Record<string, number[]>): Uint8Array {
  return buildSafetensors(Object.entries(names).map(([name, shape]) => [name, { dtype: 'F32', shape, data: new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)) }]));
}

export const HF_CONFIG = { model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 128, vocab_size: 300, rms_norm_eps: 1e-5, rope_theta: 10000, torch_dtype: 'bfloat16', max_position_embeddings: 2048 };

/** Every tensor of HF_CONFIG's model under its Hugging Face name (tied head: no lm_head). */
export function hfLlamaShapes(): Record<string, number[]> {
  const { hidden_size: d, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads, intermediate_size: ffn, vocab_size: vocab } = HF_CONFIG;
  const kv = (d / heads) * kvHeads;
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [vocab, d], 'model.norm.weight': [d] };
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(shapes, {
      [`${p}self_attn.q_proj.weight`]: [d, d], [`${p}self_attn.k_proj.weight`]: [kv, d], [`${p}self_attn.v_proj.weight`]: [kv, d], [`${p}self_attn.o_proj.weight`]: [d, d],
      [`${p}mlp.gate_proj.weight`]: [ffn, d], [`${p}mlp.up_proj.weight`]: [ffn, d], [`${p}mlp.down_proj.weight`]: [d, ffn],
      [`${p}input_layernorm.weight`]: [d], [`${p}post_attention_layernorm.weight`]: [d],
    });
  }
  return shapes;
}

/**
 * A Hugging Face cache repository: files go to blobs/ and the snapshot holds relative symlinks to
 * them, as huggingface_hub lays it out; `missing` names files whose blob is absent (dangling link).
 */
export function hfRepo(cache: string, repo: string, files: Record<string, string | Uint8Array>, opts: { missing?: string[]; ref?: boolean } = {}): string {
  const dir = path.join(cache, `models--${repo.replace('/', '--')}`);
  const rev = sha(repo).slice(0, 40);
  const snapshot = path.join(dir, 'snapshots', rev);
  fs.mkdirSync(snapshot, { recursive: true });
  if (opts.ref !== false) write(path.join(dir, 'refs', 'main'), rev);
  for (const [name, data] of Object.entries(files)) {
    const hex = sha(`${repo}/${name}`);
    if (!opts.missing?.includes(name)) write(path.join(dir, 'blobs', hex), data);
    fs.symlinkSync(path.join('..', '..', 'blobs', hex), path.join(snapshot, name));
  }
  for (const name of opts.missing ?? []) {
    if (!(name in files)) fs.symlinkSync(path.join('..', '..', 'blobs', sha(`${repo}/${name}`)), path.join(snapshot, name));
  }
  return snapshot;
}
