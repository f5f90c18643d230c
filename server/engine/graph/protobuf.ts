// A minimal protobuf wire-format writer: just what ONNX's ModelProto needs.
// Messages are built as trees of fields, sized bottom-up, then written into one buffer. Large byte
// payloads (tensor raw_data) are referenced, not copied, until the final write.

type Field =
  | { kind: 'varint'; no: number; value: number | bigint }
  | { kind: 'fixed32f'; no: number; value: number }
  | { kind: 'bytes'; no: number; value: Uint8Array }
  | { kind: 'message'; no: number; value: Message }
  | { kind: 'packedVarint'; no: number; value: (number | bigint)[] }
  | { kind: 'packedFloat'; no: number; value: number[] };

const utf8 = new TextEncoder();

export class Message {
  private readonly fields: Field[] = [];
  private cachedSize = -1;

  varint(no: number, value: number | bigint): this {
    this.fields.push({ kind: 'varint', no, value });
    return this;
  }
  float(no: number, value: number): this {
    this.fields.push({ kind: 'fixed32f', no, value });
    return this;
  }
  string(no: number, value: string): this {
    return this.bytes(no, utf8.encode(value));
  }
  bytes(no: number, value: Uint8Array): this {
    this.fields.push({ kind: 'bytes', no, value });
    return this;
  }
  message(no: number, value: Message): this {
    this.fields.push({ kind: 'message', no, value });
    return this;
  }
  packedVarints(no: number, value: (number | bigint)[]): this {
    this.fields.push({ kind: 'packedVarint', no, value });
    return this;
  }
  packedFloats(no: number, value: number[]): this {
    this.fields.push({ kind: 'packedFloat', no, value });
    return this;
  }

  size(): number {
    if (this.cachedSize >= 0) return this.cachedSize;
    let n = 0;
    for (const f of this.fields) {
      n += varintSize((f.no << 3) >>> 0);
      switch (f.kind) {
        case 'varint': n += varintSize(f.value); break;
        case 'fixed32f': n += 4; break;
        case 'bytes': n += varintSize(f.value.length) + f.value.length; break;
        case 'message': { const s = f.value.size(); n += varintSize(s) + s; break; }
        case 'packedVarint': { const s = packedVarintSize(f.value); n += varintSize(s) + s; break; }
        case 'packedFloat': { const s = f.value.length * 4; n += varintSize(s) + s; break; }
      }
    }
    this.cachedSize = n;
    return n;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(this.size());
    const end = this.writeTo(out, 0);
    if (end !== out.length) throw new Error(`protobuf: wrote ${end} of ${out.length} bytes`);
    return out;
  }

  private writeTo(out: Uint8Array, pos: number): number {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const f of this.fields) {
      const wire = f.kind === 'varint' ? 0 : f.kind === 'fixed32f' ? 5 : 2;
      pos = writeVarint(out, pos, ((f.no << 3) | wire) >>> 0);
      switch (f.kind) {
        case 'varint': pos = writeVarint(out, pos, f.value); break;
        case 'fixed32f': view.setFloat32(pos, f.value, true); pos += 4; break;
        case 'bytes': pos = writeVarint(out, pos, f.value.length); out.set(f.value, pos); pos += f.value.length; break;
        case 'message': pos = writeVarint(out, pos, f.value.size()); pos = f.value.writeTo(out, pos); break;
        case 'packedVarint':
          pos = writeVarint(out, pos, packedVarintSize(f.value));
          for (const v of f.value) pos = writeVarint(out, pos, v);
          break;
        case 'packedFloat':
          pos = writeVarint(out, pos, f.value.length * 4);
          for (const v of f.value) { view.setFloat32(pos, v, true); pos += 4; }
          break;
      }
    }
    return pos;
  }
}

function packedVarintSize(values: (number | bigint)[]): number {
  let n = 0;
  for (const v of values) n += varintSize(v);
  return n;
}

/** Negative int64 values take 10 bytes (two's complement), as protobuf specifies. */
function toUint64(v: number | bigint): bigint {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  return b < 0n ? b + (1n << 64n) : b;
}

function varintSize(v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
    let n = 1;
    while (v >= 128) { v = Math.floor(v / 128); n++; }
    return n;
  }
  let b = toUint64(v);
  let n = 1;
  while (b >= 128n) { b >>= 7n; n++; }
  return n;
}

function writeVarint(out: Uint8Array, pos: number, v: number | bigint): number {
  if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
    while (v >= 128) { out[pos++] = (v & 127) | 128; v >>>= 7; }
    out[pos++] = v;
    return pos;
  }
  let b = toUint64(v);
  while (b >= 128n) { out[pos++] = Number(b & 127n) | 128; b >>= 7n; }
  out[pos++] = Number(b);
  return pos;
}
