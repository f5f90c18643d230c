// A small GGUF (v3) writer for LLaMA models, enough for llama.cpp to load random-weight benchmark
// models: llama.* hyper-parameters, a generated SentencePiece-style vocabulary, and tensors in
// F32, F16, Q8_0 or Q4_0 (llama.cpp's reference quantisers, block 32). Tensors are written one at a
// time from a callback, so a model never has to sit in memory whole.

import * as fs from 'fs';
import { floatsToHalf, floatToHalf, halfToFloat } from '../server/engine/tensor';

export type GgufType = 'f32' | 'f16' | 'q8_0' | 'q4_0';

const GGML_TYPE: Record<GgufType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8 };
/** general.file_type (llama_ftype) of a model whose 2-D weights are in this type. */
const FILE_TYPE: Record<GgufType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 };
const ALIGN = 32;

export function ggufBytes(type: GgufType, n: number): number {
  switch (type) {
    case 'f32': return 4 * n;
    case 'f16': return 2 * n;
    case 'q8_0': return (n / 32) * 34;
    case 'q4_0': return (n / 32) * 18;
  }
}

/** Metadata values: numbers need their GGUF type, so they are tagged. */
export type GgufValue =
  | { u32: number }
  | { i32: number }
  | { f32: number }
  | { str: string }
  | { strs: string[] }
  | { f32s: Float32Array }
  | { i32s: Int32Array };

export interface GgufTensor {
  name: string;
  /** PyTorch order ([out, in]); written reversed, as ggml's ne[]. */
  shape: number[];
  type: GgufType;
  /** Produces the float32 values (row-major) when the tensor is written. */
  values: () => Float32Array;
}

class Out {
  private parts: Buffer[] = [];
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); }
  i32(v: number) { const b = Buffer.alloc(4); b.writeInt32LE(v); this.parts.push(b); }
  u64(v: number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); }
  f32(v: number) { const b = Buffer.alloc(4); b.writeFloatLE(v); this.parts.push(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.parts.push(b); }
  raw(b: Buffer) { this.parts.push(b); }
  bytes(): Buffer { return Buffer.concat(this.parts); }
}

function writeValue(o: Out, v: GgufValue): void {
  if ('u32' in v) { o.u32(4); o.u32(v.u32); }
  else if ('i32' in v) { o.u32(5); o.i32(v.i32); }
  else if ('f32' in v) { o.u32(6); o.f32(v.f32); }
  else if ('str' in v) { o.u32(8); o.str(v.str); }
  else if ('strs' in v) { o.u32(9); o.u32(8); o.u64(v.strs.length); for (const s of v.strs) o.str(s); }
  else if ('f32s' in v) { o.u32(9); o.u32(6); o.u64(v.f32s.length); o.raw(Buffer.from(v.f32s.buffer, v.f32s.byteOffset, v.f32s.byteLength)); }
  else { o.u32(9); o.u32(5); o.u64(v.i32s.length); o.raw(Buffer.from(v.i32s.buffer, v.i32s.byteOffset, v.i32s.byteLength)); }
}

export function encodeTensor(type: GgufType, x: Float32Array): Buffer {
  switch (type) {
    case 'f32': return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    case 'f16': return Buffer.from(floatsToHalf(x).buffer);
    case 'q8_0': return quantQ8_0(x);
    case 'q4_0': return quantQ4_0(x);
  }
}

/** The float values a q8_0/q4_0/f16/f32 tensor stands for (llama.cpp's dequantize_row_*). */
export function decodeTensor(type: GgufType, enc: Buffer): Float32Array {
  if (type === 'f32') return new Float32Array(enc.buffer.slice(enc.byteOffset, enc.byteOffset + enc.byteLength));
  if (type === 'f16') return Float32Array.from({ length: enc.length / 2 }, (_, i) => halfToFloat(enc.readUInt16LE(2 * i)));
  const size = type === 'q8_0' ? 34 : 18;
  const out = new Float32Array((enc.length / size) * 32);
  for (let blk = 0; blk < enc.length / size; blk++) {
    const d = halfToFloat(enc.readUInt16LE(blk * size));
    for (let j = 0; j < 32; j++) {
      const q = type === 'q8_0' ? enc.readInt8(blk * size + 2 + j) : ((enc[blk * size + 2 + (j % 16)] >> (j < 16 ? 0 : 4)) & 15) - 8;
      out[blk * 32 + j] = q * d;
    }
  }
  return out;
}

/** llama.cpp quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d). */
function quantQ8_0(x: Float32Array): Buffer {
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(floatToHalf(d), b * 34);
    for (let j = 0; j < 32; j++) out.writeInt8(Math.round(x[b * 32 + j] * id), b * 34 + 2 + j);
  }
  return out;
}

/** llama.cpp quantize_row_q4_0_ref: d = x_m / -8; low nibbles hold elements 0..15, high 16..31. */
function quantQ4_0(x: Float32Array): Buffer {
  const out = Buffer.alloc((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
    }
    const d = max / -8;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(floatToHalf(d), b * 18);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(x[b * 32 + j] * id + 8.5));
      const q1 = Math.min(15, Math.trunc(x[b * 32 + 16 + j] * id + 8.5));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

export interface LlamaGgufSpec {
  name: string;
  dim: number;
  nLayers: number;
  nHeads: number;
  ffnHidden: number;
  vocab: number;
  normEps: number;
  contextLength: number;
  /** Type of every 2-D weight (norms stay F32). */
  type: GgufType;
  /** Float32 values of a tensor under its Meta name (e.g. layers.0.attention.wq.weight). */
  values: (metaName: string, shape: number[]) => Float32Array;
}

/** Meta LLaMA names -> llama.cpp GGUF names. Meta's q/k layout (adjacent RoPE pairs) is llama.cpp's. */
export function llamaTensors(spec: LlamaGgufSpec): GgufTensor[] {
  const { dim, nLayers, ffnHidden, vocab, type } = spec;
  const t = (name: string, meta: string, shape: number[], ty: GgufType = type): GgufTensor => ({ name, shape, type: ty, values: () => spec.values(meta, shape) });
  const out = [t('token_embd.weight', 'tok_embeddings.weight', [vocab, dim]), t('output_norm.weight', 'norm.weight', [dim], 'f32'), t('output.weight', 'output.weight', [vocab, dim])];
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    out.push(
      t(`blk.${l}.attn_norm.weight`, `${L}.attention_norm.weight`, [dim], 'f32'),
      t(`blk.${l}.attn_q.weight`, `${L}.attention.wq.weight`, [dim, dim]),
      t(`blk.${l}.attn_k.weight`, `${L}.attention.wk.weight`, [dim, dim]),
      t(`blk.${l}.attn_v.weight`, `${L}.attention.wv.weight`, [dim, dim]),
      t(`blk.${l}.attn_output.weight`, `${L}.attention.wo.weight`, [dim, dim]),
      t(`blk.${l}.ffn_norm.weight`, `${L}.ffn_norm.weight`, [dim], 'f32'),
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

/** Write a LLaMA GGUF file (atomically: `.partial`, then rename). */
export function writeLlamaGguf(file: string, spec: LlamaGgufSpec, onProgress?: (done: number, total: number) => void): void {
  const tensors = llamaTensors(spec);
  const vocab = generatedVocab(spec.vocab);
  const kv: [string, GgufValue][] = [
    ['general.architecture', { str: 'llama' }],
    ['general.name', { str: spec.name }],
    ['general.file_type', { u32: FILE_TYPE[spec.type] }],
    ['general.alignment', { u32: ALIGN }],
    ['llama.context_length', { u32: spec.contextLength }],
    ['llama.embedding_length', { u32: spec.dim }],
    ['llama.block_count', { u32: spec.nLayers }],
    ['llama.feed_forward_length', { u32: spec.ffnHidden }],
    ['llama.rope.dimension_count', { u32: spec.dim / spec.nHeads }],
    ['llama.rope.freq_base', { f32: 10000 }],
    ['llama.attention.head_count', { u32: spec.nHeads }],
    ['llama.attention.head_count_kv', { u32: spec.nHeads }],
    ['llama.attention.layer_norm_rms_epsilon', { f32: spec.normEps }],
    ['llama.vocab_size', { u32: spec.vocab }],
    ['tokenizer.ggml.model', { str: 'llama' }],
    ['tokenizer.ggml.tokens', { strs: vocab.tokens }],
    ['tokenizer.ggml.scores', { f32s: vocab.scores }],
    ['tokenizer.ggml.token_type', { i32s: vocab.types }],
    ['tokenizer.ggml.bos_token_id', { u32: 1 }],
    ['tokenizer.ggml.eos_token_id', { u32: 2 }],
    ['tokenizer.ggml.unknown_token_id', { u32: 0 }],
  ];
  const o = new Out();
  o.raw(Buffer.from('GGUF', 'ascii'));
  o.u32(3);
  o.u64(tensors.length);
  o.u64(kv.length);
  for (const [k, v] of kv) { o.str(k); writeValue(o, v); }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.type !== 'f32' && t.type !== 'f16' && t.shape[t.shape.length - 1] % 32) throw new Error(`${t.name}: row of ${t.shape[t.shape.length - 1]} is not a multiple of 32 for ${t.type}`);
    offset = Math.ceil(offset / ALIGN) * ALIGN;
    offsets.push(offset);
    o.str(t.name);
    o.u32(t.shape.length);
    for (const d of t.shape.slice().reverse()) o.u64(d);
    o.u32(GGML_TYPE[t.type]);
    o.u64(offset);
    offset += ggufBytes(t.type, n);
  }
  let header = o.bytes();
  header = Buffer.concat([header, Buffer.alloc((ALIGN - (header.length % ALIGN)) % ALIGN)]);
  const partial = `${file}.partial`;
  const fd = fs.openSync(partial, 'w');
  try {
    fs.writeSync(fd, header);
    tensors.forEach((t, i) => {
      const data = encodeTensor(t.type, t.values());
      fs.writeSync(fd, data, 0, data.length, header.length + offsets[i]);
      onProgress?.(offsets[i] + data.length, offset);
    });
    if (fs.fstatSync(fd).size < header.length + offset) fs.ftruncateSync(fd, header.length + offset);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}
