// safetensors: u64 header length, a JSON header, then raw little-endian tensor bytes. The header is
// checked in full at open; tensors are read one at a time on demand.
import type { FileHandle } from 'fs/promises';
import { BYTES_PER_ELEMENT, numel, type DType, type HostTensor } from '../tensor';
import { CheckpointError, formatShape } from './weightErrors';
import type { TensorFile, TensorInfo } from './types';
import { openOrThrow, readExactly } from './io';

export const SAFETENSORS_DTYPES: Record<string, DType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32',
  I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
/** A header this large is not a real safetensors file (the format itself caps it at 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

interface Entry {
  dtypeName: string;
  dtype: DType | null;
  shape: number[];
  begin: number;
  end: number;
}

export class SafetensorsFile implements TensorFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly dataStart: number,
    private readonly entries: Map<string, Entry>,
    readonly metadata: Record<string, string>,
  ) {}

  static async fromHandle(path: string, fh: FileHandle): Promise<SafetensorsFile> {
    const fileSize = (await fh.stat()).size;
    const fail = (msg: string, tensor?: string): never => {
      throw new CheckpointError(path, msg, tensor);
    };
    if (fileSize < 8) fail(`not a safetensors file (${fileSize} bytes)`);
    const lenBuf = new Uint8Array(8);
    await readExactly(fh, path, lenBuf, 0, 'safetensors header length');
    const headerLen = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (headerLen < 2n || headerLen > BigInt(MAX_HEADER_BYTES)) fail(`safetensors header length ${headerLen} is not plausible`);
    const dataStart = 8 + Number(headerLen);
    if (dataStart > fileSize) fail(`file is truncated: safetensors header needs ${dataStart} bytes, file has ${fileSize}`);
    const headerBytes = new Uint8Array(Number(headerLen));
    await readExactly(fh, path, headerBytes, 8, 'safetensors header');
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      fail(`safetensors header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('safetensors header is not a JSON object');

    const dataSize = fileSize - dataStart;
    const entries = new Map<string, Entry>();
    const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
        for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
          if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
          metadata[k] = v as string;
        }
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e !== 'object' || e === null) fail('header entry is not an object', name);
      if (typeof e.dtype !== 'string') fail('header entry has no dtype', name);
      const shape = e.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail('shape is not a list of non-negative integers', name);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
        fail('data_offsets is not a [begin, end] pair', name);
      }
      const [begin, end] = off as number[];
      if (end > dataSize) fail(`file is truncated: data_offsets end ${end} is past the ${dataSize} data bytes`, name);
      const dtypeName = e.dtype as string;
      const dtype = SAFETENSORS_DTYPES[dtypeName] ?? null;
      if (dtype) {
        const want = numel(shape as number[]) * BYTES_PER_ELEMENT[dtype];
        if (end - begin !== want) fail(`${dtypeName} ${formatShape(shape as number[])} needs ${want} bytes, data_offsets span ${end - begin}`, name);
      }
      entries.set(name, { dtypeName, dtype, shape: shape as number[], begin, end });
    }
    return new SafetensorsFile(path, fh, dataStart, entries, metadata);
  }

  static async open(path: string): Promise<SafetensorsFile> {
    const fh = await openOrThrow(path);
    try {
      return await SafetensorsFile.fromHandle(path, fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  private entry(name: string): Entry & { dtype: DType } {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(this.path, 'missing from the checkpoint', name);
    if (!e.dtype) throw new CheckpointError(this.path, `unsupported dtype ${e.dtypeName}`, name);
    return e as Entry & { dtype: DType };
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: [...e.shape] };
  }

  async read(name: string): Promise<HostTensor> {
    const e = this.entry(name);
    const data = new Uint8Array(e.end - e.begin);
    await readExactly(this.fh, this.path, data, this.dataStart + e.begin, `tensor ${name}`, name);
    return { dtype: e.dtype, shape: [...e.shape], data };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
