// safetensors writer: u64 header length, JSON header (8-byte aligned with spaces), raw tensors.

import { BYTES_PER_ELEMENT, HostTensor, numel } from '../engine/tensor';

const NAMES: Partial<Record<HostTensor['dtype'], string>> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** The file's bytes as chunks (header, then each tensor), for writeFileAtomic. */
export function safetensorsChunks(tensors: Iterable<[string, HostTensor]>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const expected = numel(t.shape) * BYTES_PER_ELEMENT[t.dtype];
    if (t.data.byteLength !== expected) throw new Error(`safetensors: ${name} has ${t.data.byteLength} bytes for ${t.dtype}[${t.shape}]`);
    header[name] = { dtype: NAMES[t.dtype], shape: t.shape, data_offsets: [offset, offset + expected] };
    data.push(t.data);
    offset += expected;
  }
  const raw = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(Math.ceil(raw.length / 8) * 8).fill(0x20);
  headerBytes.set(raw);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  return [len, headerBytes, ...data];
}

export function f32Tensor(values: Float32Array, shape: number[]): HostTensor {
  return { dtype: 'float32', shape: shape.slice(), data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}
