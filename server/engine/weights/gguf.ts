// GGUF (llama.cpp's model file, v2/v3): header, metadata, tensor infos, then aligned tensor data.
// Only the header is read at open (files are many GB); tensor bytes are read one tensor (or one row
// range) at a time on demand. Layout, all little-endian:
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 value type, value)          string = u64 length + UTF-8 bytes
//   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset in data section)
//   padding to general.alignment (default 32), then the data section.
import * as fs from 'fs';
import { basename } from 'path';
import type { BackboneLlamaConfig, BackboneSpec, RopeScaling } from './backboneSpec';
import { CheckpointError } from './weightErrors';
import { GGML_TYPES, HeaderCursor, readFully, readValue, type GgufValue } from './ggufHeader';

export { ggmlTypeName, type GgufValue } from './ggufHeader';

/** The architectures the engine runs (mistral GGUFs say llama). */
export const GGUF_ARCHS: readonly string[] = ['llama', 'qwen2'];

export interface GgufTensorInfo {
  name: string;
  /** ggml_type id and its name (Q4_K, F32, ...). */
  type: number;
  typeName: string;
  /** ggml order: ne[0] is the contiguous (input) dimension. */
  ne: number[];
  /** PyTorch order (ne reversed): a linear weight is [out, in]. */
  shape: number[];
  nElements: number;
  nBytes: number;
  /** Absolute offset of the tensor's first byte in the file. */
  fileOffset: number;
}

const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;

/** An open GGUF file: metadata and tensor infos in memory, tensor data read on demand. */
export class GgufFile {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    readonly version: number,
    readonly fileSize: number,
    readonly metadata: Map<string, GgufValue>,
    readonly tensors: Map<string, GgufTensorInfo>,
    readonly alignment: number,
    /** Absolute offset of the data section. */
    readonly dataOffset: number,
  ) {
    this.fd = fd;
  }

  /**
   * Reads the header. `arrays: false` steps over array-valued metadata (the tokenizer's vocabulary,
   * scores and merges), leaving those keys out: for callers that need the hyper-parameters only.
   */
  static open(path: string, opts: { arrays?: boolean } = {}): GgufFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CheckpointError(path, code === 'ENOENT' ? 'file not found' : `cannot open (${code ?? (e as Error).message})`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new CheckpointError(path, 'not a regular file');
      return GgufFile.parse(path, fd, st.size, opts.arrays ?? true);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  private static parse(path: string, fd: number, size: number, arrays: boolean): GgufFile {
    const c = new HeaderCursor(fd, path, size);
    if (size < 4) throw new CheckpointError(path, size === 0 ? 'file is empty: not a GGUF file' : 'not a GGUF file (too short)');
    const magic = c.bytes(4);
    if (Buffer.from(magic).toString('latin1') !== 'GGUF') throw new CheckpointError(path, `not a GGUF file (starts with ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')}, not "GGUF")`);
    const version = c.u32();
    if (version === 1) throw new CheckpointError(path, 'GGUF version 1 is not supported (only 2 and 3): convert the model again with a current llama.cpp');
    if ((version & 0xffff) === 0) throw new CheckpointError(path, 'big-endian GGUF is not supported');
    if (version !== 2 && version !== 3) throw new CheckpointError(path, `GGUF version ${version} is not supported (only 2 and 3)`);
    const nTensors = c.u64();
    const nKv = c.u64();
    c.fits(nKv, 12);

    const metadata = new Map<string, GgufValue>();
    const keys = new Set<string>();
    for (let i = 0; i < nKv; i++) {
      c.what = `metadata entry ${i}`;
      const key = c.str();
      c.what = `metadata key ${key}`;
      if (keys.has(key)) throw new CheckpointError(path, `duplicate metadata key ${key}`);
      keys.add(key);
      const value = readValue(c, c.u32(), path, arrays);
      if (value !== undefined) metadata.set(key, value);
    }

    const alignValue = metadata.get('general.alignment') ?? DEFAULT_ALIGNMENT;
    if (typeof alignValue !== 'number' || !Number.isInteger(alignValue) || alignValue <= 0 || (alignValue & (alignValue - 1)) !== 0) {
      throw new CheckpointError(path, `general.alignment ${String(alignValue)} is not a power of two`);
    }
    const alignment = alignValue;

    c.fits(nTensors, 24);
    const infos: Array<Omit<GgufTensorInfo, 'fileOffset'> & { offset: number }> = [];
    const seen = new Set<string>();
    for (let i = 0; i < nTensors; i++) {
      c.what = `tensor info ${i}`;
      const name = c.str();
      c.what = `tensor info ${i} (${name})`;
      if (seen.has(name)) throw new CheckpointError(path, 'duplicate tensor name', name);
      seen.add(name);
      const nDims = c.u32();
      if (nDims > MAX_DIMS) throw new CheckpointError(path, `${nDims} dimensions (ggml allows at most ${MAX_DIMS})`, name);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(c.u64());
      const type = c.u32();
      const offset = c.u64();
      const tt = GGML_TYPES[type];
      if (!tt) throw new CheckpointError(path, `unknown ggml tensor type ${type}`, name);
      const nElements = ne.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(nElements)) throw new CheckpointError(path, `shape [${ne}] is too large`, name);
      if ((ne[0] ?? 1) % tt.blockSize !== 0) throw new CheckpointError(path, `${tt.name} rows of ${ne[0]} elements are not a multiple of its block of ${tt.blockSize}`, name);
      if (offset % alignment !== 0) throw new CheckpointError(path, `data offset ${offset} is not a multiple of the alignment ${alignment}`, name);
      infos.push({ name, type, typeName: tt.name, ne, shape: ne.slice().reverse(), nElements, nBytes: (nElements / tt.blockSize) * tt.typeSize, offset });
    }
    c.what = 'the padding before the tensor data';
    const dataOffset = nTensors > 0 ? Math.ceil(c.pos / alignment) * alignment : c.pos;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const { offset, ...info } of infos) {
      const fileOffset = dataOffset + offset;
      if (fileOffset + info.nBytes > size) {
        throw new CheckpointError(path, `file is truncated: the ${info.typeName} data (bytes ${fileOffset}..${fileOffset + info.nBytes}) runs past the end of the ${size}-byte file`, info.name);
      }
      tensors.set(info.name, { ...info, fileOffset });
    }
    return new GgufFile(path, fd, version, size, metadata, tensors, alignment, dataOffset);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  tensor(name: string): GgufTensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(this.path, 'missing from the GGUF file', name);
    return info;
  }

  /** A tensor's raw bytes (its blocks as stored). */
  readTensor(name: string): Uint8Array {
    const info = this.tensor(name);
    return this.readBytes(name, 0, info.nBytes);
  }

  /** `length` bytes from `start` within a tensor's data (e.g. a few rows of a table). */
  readBytes(name: string, start: number, length: number): Uint8Array {
    const raw = Buffer.allocUnsafeSlow(length); // every byte is read over: no zero-fill
    const buf = new Uint8Array(raw.buffer, raw.byteOffset, length);
    this.readInto(name, start, buf);
    return buf;
  }

  /** `buf.length` bytes from `start` within a tensor's data, into `buf`. */
  readInto(name: string, start: number, buf: Uint8Array): void {
    const info = this.tensor(name);
    if (start < 0 || start + buf.length > info.nBytes) throw new RangeError(`${name}: bytes ${start}..${start + buf.length} are outside its ${info.nBytes}`);
    if (this.fd === null) throw new CheckpointError(this.path, 'file is closed', name);
    readFully(this.fd, this.path, buf, info.fileOffset + start, `tensor ${name}`);
  }

  /** Bytes of one row (ne[0] elements) of a tensor in its storage type. */
  rowBytes(name: string): number {
    const info = this.tensor(name);
    const tt = GGML_TYPES[info.type];
    return ((info.ne[0] ?? 1) / tt.blockSize) * tt.typeSize;
  }

  /** Metadata accessors that fail with the file and key named. */
  num(key: string): number {
    const v = this.metadata.get(key);
    if (v === undefined) throw new CheckpointError(this.path, `missing metadata ${key}`);
    if (typeof v !== 'number') throw new CheckpointError(this.path, `metadata ${key} is not a number`);
    return v;
  }

  optNum(key: string): number | undefined {
    return this.metadata.has(key) ? this.num(key) : undefined;
  }

  str(key: string): string {
    const v = this.metadata.get(key);
    if (v === undefined) throw new CheckpointError(this.path, `missing metadata ${key}`);
    if (typeof v !== 'string') throw new CheckpointError(this.path, `metadata ${key} is not a string`);
    return v;
  }

  optStr(key: string): string | undefined {
    return this.metadata.has(key) ? this.str(key) : undefined;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

// ---------------------------------------------------------------------------------------------
// The backbone's hyper-parameters from metadata alone (what model listings and tokenizers need).
// ---------------------------------------------------------------------------------------------

/** llama_ftype -> the name llama.cpp's quantize tool gives it. */
const FILE_TYPES: Readonly<Record<number, string>> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M',
  13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S',
  22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS',
  31: 'IQ1_M', 32: 'BF16', 36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE', 39: 'NVFP4', 40: 'Q1_0', 41: 'Q2_0',
};

/** The BackboneSpec of a GGUF file, from its metadata and tensor infos (no tensor data except rope_freqs). */
export function readBackboneSpec(path: string): BackboneSpec {
  const f = GgufFile.open(path, { arrays: false });
  try {
    return backboneSpecOf(f);
  } finally {
    f.close();
  }
}

export function backboneSpecOf(f: GgufFile): BackboneSpec {
  const arch = f.str('general.architecture');
  if (!GGUF_ARCHS.includes(arch)) throw new CheckpointError(f.path, `unsupported architecture ${arch} (this engine runs ${GGUF_ARCHS.join(' and ')})`);
  const key = (k: string) => `${arch}.${k}`;
  const fail = (msg: string): never => {
    throw new CheckpointError(f.path, msg);
  };
  const dim = f.num(key('embedding_length'));
  const nLayers = f.num(key('block_count'));
  const nHeads = f.num(key('attention.head_count'));
  const nKvHeads = f.optNum(key('attention.head_count_kv')) ?? nHeads;
  const headDim = f.optNum(key('attention.key_length')) ?? dim / nHeads;
  const valueDim = f.optNum(key('attention.value_length')) ?? headDim;
  const ropeDims = f.optNum(key('rope.dimension_count')) ?? headDim;
  if (!Number.isInteger(headDim) || nHeads % nKvHeads !== 0) fail(`${nHeads} heads, ${nKvHeads} kv heads and width ${dim} do not fit together`);
  if (valueDim !== headDim) fail(`key length ${headDim} differs from value length ${valueDim} (not supported)`);
  if (ropeDims !== headDim) fail(`RoPE on ${ropeDims} of ${headDim} head dimensions (partial rotary) is not supported`);

  const embd = f.tensor('token_embd.weight');
  if (embd.shape.length !== 2 || embd.shape[1] !== dim) fail(`token_embd.weight is [${embd.shape}], expected [vocab, ${dim}]`);
  const tiedEmbeddings = !f.has('output.weight');
  const qkvBias = f.has('blk.0.attn_q.bias');
  const llama: BackboneLlamaConfig = {
    dim, nLayers, nHeads, nKvHeads, headDim,
    ffnHidden: f.num(key('feed_forward_length')),
    vocab: embd.shape[0],
    normEps: f.num(key('attention.layer_norm_rms_epsilon')),
    ropeTheta: f.optNum(key('rope.freq_base')) ?? 10000,
    ropeStyle: arch === 'qwen2' ? 'neox' : 'interleaved',
    ropeScaling: ropeScalingOf(f, arch, headDim),
    qkvBias, tiedEmbeddings,
  };
  if (llama.ropeScaling === undefined) delete llama.ropeScaling;
  const fileTypeId = f.optNum('general.file_type');
  let nParams = 0;
  for (const info of f.tensors.values()) nParams += info.nElements;
  return {
    arch: arch as BackboneSpec['arch'],
    name: f.optStr('general.name') ?? basename(f.path).replace(/\.gguf$/i, ''),
    llama,
    contextLength: f.num(key('context_length')),
    ...(fileTypeId !== undefined ? { fileType: FILE_TYPES[fileTypeId] ?? `file type ${fileTypeId}` } : {}),
    nParams,
    source: { kind: 'gguf', path: f.path },
  };
}

/**
 * RoPE scaling as llama.cpp reads it: `rope.scaling.type` (default linear) with `rope.scaling.factor`
 * (or the old `rope.scale_linear`); Llama 3's scaling is stored as per-frequency divisors in the
 * `rope_freqs.weight` tensor, whose parameters are recovered here (and checked to reproduce it).
 */
function ropeScalingOf(f: GgufFile, arch: string, headDim: number): RopeScaling | undefined {
  const type = f.optStr(`${arch}.rope.scaling.type`) ?? 'linear';
  const factor = f.optNum(`${arch}.rope.scaling.factor`) ?? f.optNum(`${arch}.rope.scale_linear`) ?? 0;
  if (type !== 'linear' && type !== 'none') throw new CheckpointError(f.path, `RoPE scaling ${type} is not supported (linear and Llama 3's are)`);
  const linear = type === 'linear' && factor !== 0 && factor !== 1 ? factor : undefined;
  if (!f.has('rope_freqs.weight')) return linear === undefined ? undefined : { type: 'linear', factor: linear };
  if (linear !== undefined) throw new CheckpointError(f.path, 'both linear RoPE scaling and rope_freqs.weight: not supported');
  const info = f.tensor('rope_freqs.weight');
  if (info.typeName !== 'F32' || info.nElements !== headDim / 2) throw new CheckpointError(f.path, `${info.typeName} [${info.shape}] rope factors, expected F32 [${headDim / 2}]`, info.name);
  const bytes = f.readTensor(info.name);
  const factors = new Float32Array(bytes.buffer, bytes.byteOffset, headDim / 2);
  const theta = f.optNum(`${arch}.rope.freq_base`) ?? 10000;
  const originalContext = f.optNum(`${arch}.rope.scaling.original_context_length`) ?? 8192;
  const fit = fitLlama3Scaling(factors, theta, headDim, originalContext);
  if (!fit) throw new CheckpointError(f.path, 'rope_freqs.weight does not follow Llama 3 RoPE scaling (not supported)', info.name);
  return fit;
}

/** Llama 3's per-frequency factors for these parameters (as convert_hf_to_gguf.py computes them). */
export function llama3RopeFactors(s: Extract<RopeScaling, { type: 'llama3' }>, theta: number, headDim: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  const lowWavelen = s.originalContext / s.lowFreqFactor;
  const highWavelen = s.originalContext / s.highFreqFactor;
  for (let i = 0; i < out.length; i++) {
    const wavelen = (2 * Math.PI) / (1 / theta ** ((2 * i) / headDim));
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/**
 * The llama3 parameters that reproduce `factors` (to 1e-4 relative). Only the ratios of the original
 * context to the low/high factors are determined, so the original context is taken as given.
 */
function fitLlama3Scaling(factors: Float32Array, theta: number, headDim: number, originalContext: number): RopeScaling | undefined {
  const factor = Math.max(...factors);
  if (factor === 1 && Math.min(...factors) === 1) return undefined;
  const candidates = [{ lowFreqFactor: 1, highFreqFactor: 4 }];
  // smooth_i = (1/f_i - 1/factor) / (1 - 1/factor) = (orig/wavelen_i - low) / (high - low): linear in (low, high).
  const rows: Array<[number, number]> = [];
  factors.forEach((fi, i) => {
    if (fi > 1 + 1e-6 && fi < factor * (1 - 1e-6)) {
      const smooth = (1 / fi - 1 / factor) / (1 - 1 / factor);
      rows.push([smooth, originalContext / ((2 * Math.PI) * theta ** ((2 * i) / headDim))]);
    }
  });
  if (rows.length >= 2) {
    // smooth*high + (1 - smooth)*low = orig/wavelen: least squares over (high, low).
    let a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
    for (const [s, y] of rows) { a11 += s * s; a12 += s * (1 - s); a22 += (1 - s) * (1 - s); b1 += s * y; b2 += (1 - s) * y; }
    const det = a11 * a22 - a12 * a12;
    if (det !== 0) candidates.push({ highFreqFactor: (b1 * a22 - b2 * a12) / det, lowFreqFactor: (a11 * b2 - a12 * b1) / det });
  }
  for (const c of candidates) {
    const s = { type: 'llama3' as const, factor, ...c, originalContext };
    const again = llama3RopeFactors(s, theta, headDim);
    if (again.every((v, i) => Math.abs(v - factors[i]) <= 1e-4 * factors[i])) return s;
  }
  return undefined;
}
