// Graph -> ONNX ModelProto bytes. Initializers above a size threshold go to external data so that
// models over protobuf's 2 GB limit work and weight bytes are never copied into the protobuf.

import { DType, HostTensor } from '../tensor';
import { Attr, Dim, Graph, Node, Value } from './graph';
import { Message } from './protobuf';

const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

export interface OpsetImport { domain: string; version: number }

export const DEFAULT_OPSETS: OpsetImport[] = [
  { domain: '', version: 21 },
  { domain: 'com.microsoft', version: 1 },
];

export interface SerializeOptions {
  opsets?: OpsetImport[];
  /** Initializers with at least this many bytes are stored as external data (default: never). */
  externalThreshold?: number;
  /** Name of the external data "file" (a real file when written to disk, a key for in-memory sessions). */
  externalFile?: string;
  /** Byte alignment of external tensors (mmap-friendly); default 64. */
  externalAlign?: number;
  /**
   * Each external tensor in a "file" of its own (`<externalFile>.<n>`, offset 0), so an in-memory
   * session is handed the tensors' own buffers instead of one concatenated copy of them all.
   */
  externalPerTensor?: boolean;
}

/** An external tensor's bytes: in `file` (when per tensor) or at `offset` of the one external file. */
export interface ExternalChunk { offset: number; data: Uint8Array; file?: string }

export interface SerializedModel {
  model: Uint8Array;
  /** Contents of the external data file, as chunks at offsets (zero gaps between them). */
  external: { file: string; size: number; chunks: ExternalChunk[] } | undefined;
}

export function serializeModel(graph: Graph, opts: SerializeOptions = {}): SerializedModel {
  const threshold = opts.externalThreshold ?? Infinity;
  const file = opts.externalFile ?? `${graph.name}.onnx.data`;
  const align = opts.externalAlign ?? 64;
  const chunks: ExternalChunk[] = [];
  let size = 0;

  const g = new Message();
  for (const node of graph.nodes) g.message(1, nodeProto(node));
  g.string(2, graph.name);
  for (const [name, t] of graph.initializers) {
    if (t.data.byteLength >= threshold && opts.externalPerTensor) {
      const own = `${file}.${chunks.length}`;
      chunks.push({ offset: 0, data: t.data, file: own });
      g.message(5, tensorProto(name, t, { location: own, offset: 0, length: t.data.byteLength }));
    } else if (t.data.byteLength >= threshold) {
      const offset = Math.ceil(size / align) * align;
      chunks.push({ offset, data: t.data });
      size = offset + t.data.byteLength;
      g.message(5, tensorProto(name, t, { location: file, offset, length: t.data.byteLength }));
    } else {
      g.message(5, tensorProto(name, t));
    }
  }
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));

  const m = new Message();
  m.varint(1, 10); // IR version 10 (opset 21)
  m.string(2, 'lavin-code');
  for (const o of opts.opsets ?? DEFAULT_OPSETS) m.message(8, new Message().string(1, o.domain).varint(2, o.version));
  m.message(7, g);
  return { model: m.encode(), external: chunks.length ? { file, size, chunks } : undefined };
}

/** Concatenate external chunks into one buffer (for in-memory sessions of modest size). */
export function externalBytes(ext: NonNullable<SerializedModel['external']>): Uint8Array {
  if (ext.chunks.some((c) => c.file)) throw new Error('externalBytes: the tensors are in files of their own');
  const out = new Uint8Array(ext.size);
  for (const c of ext.chunks) out.set(c.data, c.offset);
  return out;
}

function nodeProto(n: Node): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name);
  m.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs)) m.message(5, attrProto(k, a));
  if (n.domain) m.string(7, n.domain);
  return m;
}

function attrProto(name: string, a: Attr): Message {
  const m = new Message().string(1, name);
  if ('i' in a) return m.varint(3, a.i).varint(20, 2);
  if ('f' in a) return m.float(2, a.f).varint(20, 1);
  if ('s' in a) return m.string(4, a.s).varint(20, 3);
  if ('ints' in a) return m.packedVarints(8, a.ints).varint(20, 7);
  if ('floats' in a) return m.packedFloats(7, a.floats).varint(20, 6);
  return m.message(5, tensorProto('', a.t)).varint(20, 4);
}

function tensorProto(name: string, t: HostTensor, external?: { location: string; offset: number; length: number }): Message {
  const m = new Message();
  if (t.shape.length) m.packedVarints(1, t.shape);
  m.varint(2, ONNX_DTYPE[t.dtype]);
  if (name) m.string(8, name);
  if (external) {
    const entry = (k: string, v: string) => new Message().string(1, k).string(2, v);
    m.message(13, entry('location', external.location));
    m.message(13, entry('offset', String(external.offset)));
    m.message(13, entry('length', String(external.length)));
    m.varint(14, 1);
  } else {
    m.bytes(9, t.data);
  }
  return m;
}

function valueInfo(v: Value): Message {
  const shape = new Message();
  for (const d of v.shape ?? []) shape.message(1, dimProto(d));
  const tensorType = new Message().varint(1, ONNX_DTYPE[v.dtype]);
  if (v.shape) tensorType.message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}

function dimProto(d: Dim): Message {
  return typeof d === 'number' ? new Message().varint(1, d) : new Message().string(2, d);
}
