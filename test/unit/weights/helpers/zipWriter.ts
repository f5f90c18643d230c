// Test-only ZIP writer producing what torch.save writes: STORED entries, data 64-byte aligned through a
// padding extra field, optionally ZIP64 records (to exercise the >4 GB code path on small files).
export interface ZipMember {
  name: string;
  data: Uint8Array;
  /** Write a deflate method id instead of stored (data is left as is): for the "compressed" error test. */
  fakeMethod?: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  fields(spec: Array<[number, number | bigint]>): void {
    const size = spec.reduce((s, [n]) => s + n, 0);
    const b = new Uint8Array(size);
    const v = new DataView(b.buffer);
    let at = 0;
    for (const [n, x] of spec) {
      if (n === 2) v.setUint16(at, Number(x), true);
      else if (n === 4) v.setUint32(at, Number(x), true);
      else v.setBigUint64(at, BigInt(x), true);
      at += n;
    }
    this.push(b);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export function buildZip(members: ZipMember[], opts: { zip64?: boolean } = {}): Uint8Array {
  const enc = new TextEncoder();
  const out = new Bytes();
  const central = new Bytes();
  const z64 = opts.zip64 === true;
  for (const m of members) {
    const name = enc.encode(m.name);
    const crc = crc32(m.data);
    const offset = out.length;
    // Pad the local extra field so the data starts on a 64-byte boundary, as torch does.
    const base = offset + 30 + name.length + 4;
    const pad = (64 - (base % 64)) % 64;
    const extra = new Uint8Array(4 + pad);
    new DataView(extra.buffer).setUint16(0, 0x4246, true); // 'FB', torch's padding id
    new DataView(extra.buffer).setUint16(2, pad, true);
    const method = m.fakeMethod ?? 0;
    out.fields([[4, 0x04034b50], [2, 20], [2, 0], [2, method], [2, 0], [2, 0x21], [4, crc], [4, m.data.length], [4, m.data.length], [2, name.length], [2, extra.length]]);
    out.push(name);
    out.push(extra);
    out.push(m.data);
    const cExtra = new Bytes();
    if (z64) cExtra.fields([[2, 0x0001], [2, 24], [8, m.data.length], [8, m.data.length], [8, offset]]);
    const ce = cExtra.concat();
    const sat = (v: number): number => (z64 ? 0xffffffff : v);
    central.fields([[4, 0x02014b50], [2, 45], [2, z64 ? 45 : 20], [2, 0], [2, method], [2, 0], [2, 0x21], [4, crc], [4, sat(m.data.length)], [4, sat(m.data.length)], [2, name.length], [2, ce.length], [2, 0], [2, 0], [2, 0], [4, 0], [4, sat(offset)]]);
    central.push(name);
    central.push(ce);
  }
  const cdOffset = out.length;
  const cd = central.concat();
  out.push(cd);
  if (z64) {
    const recordOffset = out.length;
    out.fields([[4, 0x06064b50], [8, 44], [2, 45], [2, 45], [4, 0], [4, 0], [8, members.length], [8, members.length], [8, cd.length], [8, cdOffset]]);
    out.fields([[4, 0x07064b50], [4, 0], [8, recordOffset], [4, 1]]);
    out.fields([[4, 0x06054b50], [2, 0], [2, 0], [2, 0xffff], [2, 0xffff], [4, 0xffffffff], [4, 0xffffffff], [2, 0]]);
  } else {
    out.fields([[4, 0x06054b50], [2, 0], [2, 0], [2, members.length], [2, members.length], [4, cd.length], [4, cdOffset], [2, 0]]);
  }
  return out.concat();
}
