// GGUF model files for tests and benchmarks that llama.cpp loads: arch llama or qwen2, grouped-query
// attention, q/k/v biases, tied embeddings, RoPE theta and scaling (linear metadata, or Llama 3's
// rope_freqs.weight), a generated SentencePiece-style vocabulary (or your own tokenizer metadata),
// and every tensor type the engine reads. Tensors are produced one at a time from a callback, so a
// model never sits in memory whole.
//
// API (the parity tests use it; keep it stable):
//   writeLlamaGguf(file, spec: LlamaGgufSpec, onProgress?)
//     spec.values(metaName, shape) gives a tensor's float32 values under its engine (Meta) name
//       (layers.N.attention.wq.weight, ..., rope_freqs.weight is written by the writer itself);
//     spec.type is the type of every 2-D weight; spec.typeOf(ggufName, shape) overrides it per
//       tensor (Q4_K_M-like mixes: see Q4_K_M_MIX); 1-D tensors are F32.
//     Q/K weights are written as given: for arch llama llama.cpp expects Meta's interleaved-pair
//       RoPE layout, for qwen2 rotate-half (HF) layout.
//   encodeTensor / decodeTensor / ggufBytes: one tensor's bytes (decode = the engine's dequantisation).
//   llamaTensors(spec): the tensor list, for callers that write their own file with ggufWriter.ts.

import { dequantize } from '../server/engine/weights/ggufQuants';
import { encodeTensor, ggufBytes, GgufType, TYPE_INFO } from './ggufEncode';
import { writeGgufFile, type MetaValue, type RawTensor } from './ggufWriter';

export { encodeTensor, ggufBytes, GGUF_TYPES, type GgufType } from './ggufEncode';
export type { MetaValue } from './ggufWriter';

/** general.file_type (llama_ftype) of a file whose 2-D weights are mostly of this type. */
const FILE_TYPE: Record<GgufType, number> = { f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7, q5_0: 8, q5_1: 9, q4_k: 15, q5_k: 17, q6_k: 18, bf16: 32 };
const ALIGN = 32;

/** The float values an encoded tensor stands for (exactly ggml's dequantize_row_*). */
export function decodeTensor(type: GgufType, enc: Uint8Array): Float32Array {
  const { block, bytes, ggml } = TYPE_INFO[type];
  return dequantize(ggml, enc, (enc.length / bytes) * block);
}

export interface GgufTensor {
  name: string;
  /** PyTorch order ([out, in]); written reversed, as ggml's ne[]. */
  shape: number[];
  type: GgufType;
  /** Produces the float32 values (row-major) when the tensor is written. */
  values: () => Float32Array;
}

export type GgufRopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalContext: number };

export interface LlamaGgufSpec {
  name: string;
  /** Default llama. */
  arch?: 'llama' | 'qwen2';
  dim: number;
  nLayers: number;
  nHeads: number;
  /** Default nHeads (no grouped-query attention). */
  nKvHeads?: number;
  ffnHidden: number;
  vocab: number;
  normEps: number;
  contextLength: number;
  /** Default 10000. */
  ropeTheta?: number;
  ropeScaling?: GgufRopeScaling;
  /** q/k/v biases (default: true for qwen2, false for llama). */
  qkvBias?: boolean;
  /** No output.weight: the head is token_embd.weight. */
  tiedEmbeddings?: boolean;
  /** Type of every 2-D weight (norms and biases stay F32). */
  type: GgufType;
  /** Per-tensor type override by GGUF name (e.g. Q4_K_M_MIX). */
  typeOf?: (ggufName: string, shape: number[]) => GgufType | undefined;
  /** general.file_type (default: from `type`). */
  fileType?: number;
  /** Float32 values of a tensor under its Meta name (e.g. layers.0.attention.wq.weight). */
  values: (metaName: string, shape: number[]) => Float32Array;
  /** Replaces the generated SentencePiece vocabulary's tokenizer.* metadata. */
  tokenizer?: Array<[string, MetaValue]>;
  /** More metadata, written last. */
  metadata?: Array<[string, MetaValue]>;
}

/**
 * Roughly llama.cpp's Q4_K_M choice: Q6_K for the output head, attn_v and ffn_down (llama.cpp gives
 * those Q6_K in half of the layers; all of them here), Q4_K elsewhere. Rows must be multiples of 256.
 */
export const Q4_K_M_MIX = (name: string): GgufType | undefined =>
  name === 'output.weight' || /\.(attn_v|ffn_down)\.weight$/.test(name) ? 'q6_k' : undefined;

/** Llama 3's per-frequency RoPE divisors (convert_hf_to_gguf.py's rope_freqs), float32. */
export function llama3RopeFreqs(s: Extract<GgufRopeScaling, { type: 'llama3' }>, theta: number, headDim: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const wavelen = (2 * Math.PI) / Math.fround(1 / theta ** ((2 * i) / headDim));
    if (wavelen < s.originalContext / s.highFreqFactor) out[i] = 1;
    else if (wavelen > s.originalContext / s.lowFreqFactor) out[i] = s.factor;
    else {
      const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Meta LLaMA names -> llama.cpp GGUF names, with shapes and types. */
export function llamaTensors(spec: LlamaGgufSpec): GgufTensor[] {
  const { dim, nLayers, ffnHidden, vocab, nHeads } = spec;
  const headDim = dim / nHeads;
  const kv = (spec.nKvHeads ?? nHeads) * headDim;
  const bias = spec.qkvBias ?? spec.arch === 'qwen2';
  const t = (name: string, meta: string, shape: number[]): GgufTensor => ({
    name, shape, type: shape.length === 1 ? 'f32' : spec.typeOf?.(name, shape) ?? spec.type, values: () => spec.values(meta, shape),
  });
  const out = [t('token_embd.weight', 'tok_embeddings.weight', [vocab, dim]), t('output_norm.weight', 'norm.weight', [dim])];
  if (!spec.tiedEmbeddings) out.push(t('output.weight', 'output.weight', [vocab, dim]));
  if (spec.ropeScaling?.type === 'llama3') {
    const freqs = llama3RopeFreqs(spec.ropeScaling, spec.ropeTheta ?? 10000, headDim);
    out.push({ name: 'rope_freqs.weight', shape: [headDim / 2], type: 'f32', values: () => freqs });
  }
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    out.push(
      t(`blk.${l}.attn_norm.weight`, `${L}.attention_norm.weight`, [dim]),
      t(`blk.${l}.attn_q.weight`, `${L}.attention.wq.weight`, [dim, dim]),
      t(`blk.${l}.attn_k.weight`, `${L}.attention.wk.weight`, [kv, dim]),
      t(`blk.${l}.attn_v.weight`, `${L}.attention.wv.weight`, [kv, dim]),
    );
    if (bias) {
      out.push(
        t(`blk.${l}.attn_q.bias`, `${L}.attention.wq.bias`, [dim]),
        t(`blk.${l}.attn_k.bias`, `${L}.attention.wk.bias`, [kv]),
        t(`blk.${l}.attn_v.bias`, `${L}.attention.wv.bias`, [kv]),
      );
    }
    out.push(
      t(`blk.${l}.attn_output.weight`, `${L}.attention.wo.weight`, [dim, dim]),
      t(`blk.${l}.ffn_norm.weight`, `${L}.ffn_norm.weight`, [dim]),
      t(`blk.${l}.ffn_gate.weight`, `${L}.feed_forward.w1.weight`, [ffnHidden, dim]),
      t(`blk.${l}.ffn_down.weight`, `${L}.feed_forward.w2.weight`, [dim, ffnHidden]),
      t(`blk.${l}.ffn_up.weight`, `${L}.feed_forward.w3.weight`, [ffnHidden, dim]),
    );
  }
  return out;
}

/** A SentencePiece-like vocabulary: <unk>, <s>, </s>, the 256 byte pieces, then plain pieces. */
export function generatedVocab(size: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
  if (size < 259 + 1) throw new Error(`vocabulary of ${size} is too small (needs the 3 special and 256 byte pieces)`);
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3]; // UNKNOWN, CONTROL, CONTROL
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); } // BYTE
  while (tokens.length < size) { tokens.push(`\u2581w${tokens.length}`); types.push(1); } // NORMAL
  const scores = Float32Array.from(tokens, (_, i) => -i);
  return { tokens, scores, types: Int32Array.from(types) };
}

function spmTokenizer(vocab: number): Array<[string, MetaValue]> {
  const v = generatedVocab(vocab);
  return [
    ['tokenizer.ggml.model', { str: 'llama' }],
    ['tokenizer.ggml.tokens', { strs: v.tokens }],
    ['tokenizer.ggml.scores', { f32s: v.scores }],
    ['tokenizer.ggml.token_type', { i32s: v.types }],
    ['tokenizer.ggml.bos_token_id', { u32: 1 }],
    ['tokenizer.ggml.eos_token_id', { u32: 2 }],
    ['tokenizer.ggml.unknown_token_id', { u32: 0 }],
  ];
}

/** The metadata llama.cpp reads for these hyper-parameters. */
export function llamaMetadata(spec: LlamaGgufSpec): Array<[string, MetaValue]> {
  const a = spec.arch ?? 'llama';
  const kv: Array<[string, MetaValue]> = [
    ['general.architecture', { str: a }],
    ['general.name', { str: spec.name }],
    ['general.file_type', { u32: spec.fileType ?? FILE_TYPE[spec.type] }],
    ['general.alignment', { u32: ALIGN }],
    [`${a}.context_length`, { u32: spec.contextLength }],
    [`${a}.embedding_length`, { u32: spec.dim }],
    [`${a}.block_count`, { u32: spec.nLayers }],
    [`${a}.feed_forward_length`, { u32: spec.ffnHidden }],
    [`${a}.rope.dimension_count`, { u32: spec.dim / spec.nHeads }],
    [`${a}.rope.freq_base`, { f32: spec.ropeTheta ?? 10000 }],
    [`${a}.attention.head_count`, { u32: spec.nHeads }],
    [`${a}.attention.head_count_kv`, { u32: spec.nKvHeads ?? spec.nHeads }],
    [`${a}.attention.layer_norm_rms_epsilon`, { f32: spec.normEps }],
    [`${a}.vocab_size`, { u32: spec.vocab }],
  ];
  if (spec.ropeScaling?.type === 'linear') kv.push([`${a}.rope.scaling.type`, { str: 'linear' }], [`${a}.rope.scaling.factor`, { f32: spec.ropeScaling.factor }]);
  return [...kv, ...(spec.tokenizer ?? spmTokenizer(spec.vocab)), ...(spec.metadata ?? [])];
}

/** Write a LLaMA/Qwen2 GGUF file (atomically: `.partial`, then rename). */
export function writeLlamaGguf(file: string, spec: LlamaGgufSpec, onProgress?: (done: number, total: number) => void): void {
  const tensors: RawTensor[] = llamaTensors(spec).map((t) => {
    const n = t.shape.reduce((a, d) => a * d, 1);
    const row = t.shape[t.shape.length - 1];
    if (row % TYPE_INFO[t.type].block) throw new Error(`${t.name}: row of ${row} is not a multiple of ${TYPE_INFO[t.type].block} for ${t.type}`);
    return { name: t.name, shape: t.shape, type: TYPE_INFO[t.type].id, byteLength: ggufBytes(t.type, n), data: () => encodeTensor(t.type, t.values()) };
  });
  writeGgufFile(file, { metadata: llamaMetadata(spec), tensors }, onProgress);
}
