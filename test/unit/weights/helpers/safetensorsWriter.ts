// Test-only safetensors writer; `header` can be overridden to produce broken files.
export interface StEntry { dtype: string; shape: number[]; data: Uint8Array }

export function buildSafetensors(entries: Array<[string, StEntry]>, opts: { metadata?: Record<string, string>; header?: (h: Record<string, unknown>) => unknown } = {}): Uint8Array {
  let header: Record<string, unknown> = {};
  if (opts.metadata) header.__metadata__ = opts.metadata;
  let offset = 0;
  for (const [name, e] of entries) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.data.length] };
    offset += e.data.length;
  }
  if (opts.header) header = opts.header(header) as Record<string, unknown>;
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  json = padded;
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, e] of entries) {
    out.set(e.data, at);
    at += e.data.length;
  }
  return out;
}
