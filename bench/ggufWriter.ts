// The GGUF container, written: header, metadata of every value type, tensor infos and aligned tensor
// data. Knows nothing about models or quantisation (bench/gguf.ts builds LLaMA/Qwen2 files on it;
// the reader's tests use it directly, also to make deliberately broken files).
//
// API (shared with the parity tests, keep it stable):
//   writeGgufFile(file, { metadata, tensors, version?, alignment? })
//     metadata: [key, MetaValue][] in file order. MetaValue is tagged with its GGUF type:
//       { u8 } { i8 } { u16 } { i16 } { u32 } { i32 } { f32 } { bool } { str } { u64 } { i64 } { f64 }
//       { strs: string[] } { f32s: Float32Array } { i32s: Int32Array }          (common arrays)
//       { arr: 'u8'|'i8'|...|'str'|'bool', values: [...] }                      (any other array)
//       { arrs: MetaValue[] }                                                    (array of arrays)
//     tensors: RawTensor[] in file order: { name, shape (PyTorch order, written reversed as ne[]),
//       type (ggml type id, see GGML_TYPE_ID), byteLength, data: () => bytes } — data is produced
//       when the tensor is written, so a model never sits in memory whole.
//     alignment defaults to general.alignment from the metadata, else 32. Written via `.partial`.
//   ggufHeaderBytes(...) the same header as a Buffer (for tests that splice files).

import * as fs from 'fs';

/** ggml_type ids of the types the writers produce. */
export const GGML_TYPE_ID = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;

export type ScalarTag = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'u64' | 'i64' | 'f64';
const TYPE_CODE: Record<ScalarTag, number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, u64: 10, i64: 11, f64: 12 };

export type MetaValue =
  | { u8: number } | { i8: number } | { u16: number } | { i16: number } | { u32: number } | { i32: number }
  | { f32: number } | { bool: boolean } | { str: string } | { u64: number | bigint } | { i64: number | bigint } | { f64: number }
  | { strs: string[] } | { f32s: Float32Array } | { i32s: Int32Array }
  | { arr: ScalarTag; values: ReadonlyArray<number | bigint | boolean | string> }
  | { arrs: MetaValue[] };

export interface RawTensor {
  name: string;
  /** PyTorch order ([out, in]); ggml's ne[] is this reversed. */
  shape: number[];
  /** ggml_type id. */
  type: number;
  byteLength: number;
  data: () => Uint8Array;
}

export interface GgufFileSpec {
  metadata: Array<[string, MetaValue]>;
  tensors: RawTensor[];
  /** 3 unless told (2 has the same layout). */
  version?: number;
  alignment?: number;
}

/** A growing byte buffer (one allocation per doubling, not one per value: vocabularies have 150k strings). */
class Out {
  // put() may replace this.buf: call it before touching this.buf.
  private buf = Buffer.alloc(1 << 16);
  private n = 0;
  private put(k: number): number {
    if (this.n + k > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.n + k));
      this.buf.copy(next, 0, 0, this.n);
      this.buf = next;
    }
    const at = this.n;
    this.n += k;
    return at;
  }
  u8(v: number) { const at = this.put(1); this.buf.writeUInt8(v, at); }
  i8(v: number) { const at = this.put(1); this.buf.writeInt8(v, at); }
  u16(v: number) { const at = this.put(2); this.buf.writeUInt16LE(v, at); }
  i16(v: number) { const at = this.put(2); this.buf.writeInt16LE(v, at); }
  u32(v: number) { const at = this.put(4); this.buf.writeUInt32LE(v >>> 0, at); }
  i32(v: number) { const at = this.put(4); this.buf.writeInt32LE(v, at); }
  f32(v: number) { const at = this.put(4); this.buf.writeFloatLE(v, at); }
  f64(v: number) { const at = this.put(8); this.buf.writeDoubleLE(v, at); }
  u64(v: number | bigint) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) { const at = this.put(8); this.buf.writeUInt32LE(v % 0x100000000, at); this.buf.writeUInt32LE(Math.floor(v / 0x100000000), at + 4); }
    else { const at = this.put(8); this.buf.writeBigUInt64LE(BigInt(v), at); }
  }
  i64(v: number | bigint) { const at = this.put(8); this.buf.writeBigInt64LE(BigInt(v), at); }
  str(s: string) { const len = Buffer.byteLength(s, 'utf8'); this.u64(len); const at = this.put(len); this.buf.write(s, at, 'utf8'); }
  raw(b: Uint8Array) { const at = this.put(b.byteLength); this.buf.set(b, at); }
  bytes(): Buffer { return this.buf.subarray(0, this.n); }
}

function writeScalar(o: Out, tag: ScalarTag, v: number | bigint | boolean | string): void {
  switch (tag) {
    case 'u8': return o.u8(v as number);
    case 'i8': return o.i8(v as number);
    case 'u16': return o.u16(v as number);
    case 'i16': return o.i16(v as number);
    case 'u32': return o.u32(v as number);
    case 'i32': return o.i32(v as number);
    case 'f32': return o.f32(v as number);
    case 'bool': return o.u8(v ? 1 : 0);
    case 'str': return o.str(v as string);
    case 'u64': return o.u64(v as number | bigint);
    case 'i64': return o.i64(v as number | bigint);
    case 'f64': return o.f64(v as number);
  }
}

/** The value's type code followed by its payload. */
function writeValue(o: Out, v: MetaValue): void {
  if ('strs' in v) { o.u32(9); o.u32(8); o.u64(v.strs.length); for (const s of v.strs) o.str(s); return; }
  if ('f32s' in v) { o.u32(9); o.u32(6); o.u64(v.f32s.length); o.raw(new Uint8Array(v.f32s.buffer, v.f32s.byteOffset, v.f32s.byteLength)); return; }
  if ('i32s' in v) { o.u32(9); o.u32(5); o.u64(v.i32s.length); o.raw(new Uint8Array(v.i32s.buffer, v.i32s.byteOffset, v.i32s.byteLength)); return; }
  if ('arr' in v) { o.u32(9); o.u32(TYPE_CODE[v.arr]); o.u64(v.values.length); for (const x of v.values) writeScalar(o, v.arr, x); return; }
  if ('arrs' in v) {
    o.u32(9); o.u32(9); o.u64(v.arrs.length);
    for (const inner of v.arrs) { const w = new Out(); writeValue(w, inner); o.raw(w.bytes().subarray(4)); } // element type is the array's
    return;
  }
  const tag = Object.keys(v)[0] as ScalarTag;
  o.u32(TYPE_CODE[tag]);
  writeScalar(o, tag, (v as Record<string, number | bigint | boolean | string>)[tag]);
}

function alignmentOf(spec: GgufFileSpec): number {
  if (spec.alignment !== undefined) return spec.alignment;
  const kv = spec.metadata.find(([k]) => k === 'general.alignment');
  return kv && 'u32' in kv[1] ? kv[1].u32 : 32;
}

const pad = (n: number, a: number) => Math.ceil(n / a) * a;

/** Header + metadata + tensor infos, padded to the alignment; and each tensor's offset in the data section. */
export function ggufHeaderBytes(spec: GgufFileSpec): { header: Buffer; offsets: number[]; dataBytes: number } {
  const align = alignmentOf(spec);
  const o = new Out();
  o.raw(Buffer.from('GGUF', 'ascii'));
  o.u32(spec.version ?? 3);
  o.u64(spec.tensors.length);
  o.u64(spec.metadata.length);
  for (const [k, v] of spec.metadata) { o.str(k); writeValue(o, v); }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of spec.tensors) {
    offset = pad(offset, align);
    offsets.push(offset);
    o.str(t.name);
    o.u32(t.shape.length);
    for (const d of t.shape.slice().reverse()) o.u64(d);
    o.u32(t.type);
    o.u64(offset);
    offset += t.byteLength;
  }
  const head = o.bytes();
  return { header: Buffer.concat([head, Buffer.alloc(pad(head.length, align) - head.length)]), offsets, dataBytes: offset };
}

/** Writes the file atomically (`.partial`, then rename). */
export function writeGgufFile(file: string, spec: GgufFileSpec, onProgress?: (done: number, total: number) => void): void {
  const { header, offsets, dataBytes } = ggufHeaderBytes(spec);
  const partial = `${file}.partial`;
  const fd = fs.openSync(partial, 'w');
  try {
    fs.writeSync(fd, header);
    spec.tensors.forEach((t, i) => {
      const data = t.data();
      if (data.byteLength !== t.byteLength) throw new Error(`${t.name}: produced ${data.byteLength} bytes, declared ${t.byteLength}`);
      fs.writeSync(fd, data, 0, data.byteLength, header.length + offsets[i]);
      onProgress?.(offsets[i] + data.byteLength, dataBytes);
    });
    if (fs.fstatSync(fd).size < header.length + dataBytes) fs.ftruncateSync(fd, header.length + dataBytes);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, file);
}
