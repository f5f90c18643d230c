// A language-model backbone from the files users have (a GGUF file, a Hugging Face folder): its
// hyper-parameters (BackboneSpec) and, once opened, its tensors under the engine's (Meta) names.
import * as fs from 'fs';
import type { QuantizedWeight } from '../quant';
import type { DType, HostTensor } from '../tensor';
import type { BackboneSpec, OpenedBackbone } from './backboneSpec';
import { CheckpointError } from './weightErrors';
import { backboneSpecOf, GgufFile, type GgufTensorInfo, type GgufValue } from './gguf';
import { dequantize, dequantizeInto, GGUF_FLOAT_TYPES, GGUF_QUANT_TYPES, isReadableType, reblock, type GgufQuantType, type GgufReadableType } from './ggufQuants';
import { expectedBackboneShapes } from './backboneShapes';
import { openHfFolder } from './hfFolder';

export { expectedBackboneShapes };

export type { BackboneLlamaConfig, BackboneSpec, OpenedBackbone, RopeScaling } from './backboneSpec';

/** A GGUF file or a Hugging Face folder (config.json + safetensors). */
export async function openBackbone(path: string): Promise<OpenedBackbone> {
  let isDir: boolean;
  try {
    isDir = fs.statSync(path).isDirectory();
  } catch {
    throw new CheckpointError(path, 'not found');
  }
  return isDir ? openHfFolder(path) : openGgufBackbone(path);
}

/** llama.cpp's tensor names -> the engine's (Meta) names, per block and global. */
const GGUF_BLOCK_NAMES: Record<string, string> = {
  attn_norm: 'attention_norm', attn_q: 'attention.wq', attn_k: 'attention.wk', attn_v: 'attention.wv', attn_output: 'attention.wo',
  ffn_norm: 'ffn_norm', ffn_gate: 'feed_forward.w1', ffn_down: 'feed_forward.w2', ffn_up: 'feed_forward.w3',
};
const GGUF_GLOBAL_NAMES: Record<string, string> = {
  'token_embd.weight': 'tok_embeddings.weight', 'output_norm.weight': 'norm.weight', 'output.weight': 'output.weight', 'rope_freqs.weight': 'rope_freqs.weight',
};

export function engineNameOfGguf(name: string): string | undefined {
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(name);
  if (m) {
    const base = GGUF_BLOCK_NAMES[m[2]];
    return base ? `layers.${m[1]}.${base}.${m[3]}` : undefined;
  }
  return GGUF_GLOBAL_NAMES[name];
}

/** The GGUF name of an engine tensor name (for messages). */
function ggufNameOf(engineName: string): string {
  const global = Object.entries(GGUF_GLOBAL_NAMES).find(([, e]) => e === engineName);
  if (global) return global[0];
  const m = /^layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(engineName);
  const block = m && Object.entries(GGUF_BLOCK_NAMES).find(([, e]) => e === m[2]);
  return m && block ? `blk.${m[1]}.${block[0]}.${m[3]}` : engineName;
}

const FLOAT_DTYPES: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

async function openGgufBackbone(path: string): Promise<OpenedBackbone> {
  const f = GgufFile.open(path);
  try {
    const spec = backboneSpecOf(f);
    const expected = expectedBackboneShapes(spec);
    const byEngine = new Map<string, GgufTensorInfo>();
    const ignored: string[] = [];
    for (const info of f.tensors.values()) {
      const name = engineNameOfGguf(info.name);
      if (name && (expected.has(name) || name === 'rope_freqs.weight')) byEngine.set(name, info);
      else ignored.push(info.name);
    }
    for (const [name, shape] of expected) {
      const info = byEngine.get(name);
      if (!info) throw new CheckpointError(path, 'missing from the GGUF file', ggufNameOf(name));
      if (info.shape.join(',') !== shape.join(',')) throw new CheckpointError(path, `shape [${info.shape}] does not match the metadata's [${shape}]`, info.name);
      if (!isReadableType(info.typeName)) {
        throw new CheckpointError(path, `tensor type ${info.typeName} is not supported (supported: ${[...GGUF_FLOAT_TYPES, ...GGUF_QUANT_TYPES].join(', ')})`, info.name);
      }
    }

    // An untied table is served row by row by embeddingRows (never loaded whole).
    if (!spec.llama.tiedEmbeddings) byEngine.delete('tok_embeddings.weight');
    const { tensors, quantized } = readGgufTensors(f, byEngine);
    const embedding = f.tensor('token_embd.weight');
    const dim = spec.llama.dim;
    const rowBytes = f.rowBytes(embedding.name);
    const tableType = embedding.typeName as GgufReadableType;
    return {
      spec, tensors, quantized, metadata: f.metadata, ignored,
      embeddingRows(ids) {
        const out = new Float32Array(ids.length * dim);
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i];
          if (!Number.isInteger(id) || id < 0 || id >= spec.llama.vocab) throw new RangeError(`token id ${id} is outside the vocabulary of ${spec.llama.vocab}`);
          dequantizeInto(tableType, f.readBytes(embedding.name, id * rowBytes, rowBytes), 0, dim, out, i * dim);
        }
        return out;
      },
      close: () => f.close(),
    };
  } catch (e) {
    f.close();
    throw e;
  }
}

/** Bytes of raw blocks read per step when re-blocking (a 7B head is ~400 MB; one row is read at least). */
const READ_STEP_BYTES = 4 << 20;

/**
 * The tensors by engine name: floats as stored, quantised linears re-blocked (ggufQuants.ts) from
 * one small scratch buffer, a few rows at a time. (A fresh buffer per tensor cost the largest
 * tensor's size at peak, and its freeing made glibc raise its mmap threshold: the weights' buffers,
 * allocated after, stayed resident when freed.) A function of its own so that the scratch is not
 * kept alive by the opened backbone's closures.
 */
function readGgufTensors(f: GgufFile, byEngine: ReadonlyMap<string, GgufTensorInfo>): Pick<OpenedBackbone, 'tensors' | 'quantized'> {
  const tensors = new Map<string, HostTensor>();
  const quantized = new Map<string, QuantizedWeight>();
  const isFloat = (info: GgufTensorInfo) => info.typeName in FLOAT_DTYPES;
  const quant = [...byEngine.values()].filter((i) => !isFloat(i));
  const scratch = new Uint8Array(Math.max(0, ...quant.map((i) => Math.min(i.nBytes, Math.max(READ_STEP_BYTES, f.rowBytes(i.name))))));
  for (const [name, info] of byEngine) {
    const type = info.typeName as GgufReadableType;
    if (isFloat(info)) {
      tensors.set(name, { dtype: FLOAT_DTYPES[type], shape: info.shape.slice(), data: f.readTensor(info.name) });
    } else if (info.shape.length === 2) {
      const rowBytes = f.rowBytes(info.name);
      const rows = (first: number, count: number) => {
        const buf = scratch.subarray(0, count * rowBytes);
        f.readInto(info.name, first * rowBytes, buf);
        return buf;
      };
      quantized.set(name, reblock(type as GgufQuantType, rows, info.shape[0], info.shape[1], info.name, Math.floor(scratch.length / rowBytes)));
    } else {
      // A quantised 1-D tensor (not written by llama.cpp's converters): widen it, it is small.
      const v = dequantize(type, f.readTensor(info.name), info.nElements);
      tensors.set(name, { dtype: 'float32', shape: info.shape.slice(), data: new Uint8Array(v.buffer) });
    }
  }
  return { tensors, quantized };
}
