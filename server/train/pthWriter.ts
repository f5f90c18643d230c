// A minimal torch.save writer: the zip layout PyTorch writes (STORED members, data 64-byte aligned,
// `archive/data.pkl`, `archive/data/<key>`, `archive/version`) with a protocol-2 pickle that
// rebuilds tensors through torch._utils._rebuild_tensor_v2 and objects such as argparse.Namespace
// through GLOBAL + NEWOBJ + BUILD. Enough for LaVIN adapter checkpoints that `torch.load` reads.

import { BYTES_PER_ELEMENT, DType, HostTensor, numel } from '../engine/tensor';

/** A Python float even when integral (10.0). */
export class PyFloat { constructor(readonly value: number) {} }
export class PyTuple { constructor(readonly items: PyValue[]) {} }
/** cls.__new__(cls) then __dict__ update: argparse.Namespace and friends. */
export class PyObject { constructor(readonly module: string, readonly name: string, readonly attrs: Map<string, PyValue>) {} }
export class PyTensor { constructor(readonly tensor: HostTensor) {} }

export type PyValue = null | boolean | number | bigint | string | PyFloat | PyTuple | PyObject | PyTensor | PyValue[] | Map<string | number, PyValue>;

const STORAGE: Partial<Record<DType, string>> = {
  float32: 'FloatStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage', float64: 'DoubleStorage', int64: 'LongStorage',
  int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

class Pickler {
  private out: number[] = [];
  private globals = new Map<string, number>();
  private memoCount = 0;
  readonly storages: Uint8Array[] = [];

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
  op(...b: number[]): void {
    for (const x of b) this.out.push(x);
  }
  private u32(n: number): void {
    this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  private memoize(): number {
    const id = this.memoCount++;
    if (id < 256) this.op(0x71, id); // BINPUT
    else {
      this.op(0x72); // LONG_BINPUT
      this.u32(id);
    }
    return id;
  }
  private global(module: string, name: string): void {
    const key = `${module}\n${name}\n`;
    const known = this.globals.get(key);
    if (known !== undefined) {
      this.op(0x6a); // LONG_BINGET
      this.u32(known);
      return;
    }
    this.op(0x63); // GLOBAL
    for (const ch of key) this.op(ch.charCodeAt(0));
    this.globals.set(key, this.memoize());
  }
  private int(v: number | bigint): void {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) this.op(0x4b, v);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536) this.op(0x4d, v & 0xff, v >> 8);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      this.op(0x4a);
      this.u32(v >>> 0);
    } else {
      let x = BigInt(v);
      const b: number[] = [];
      for (;;) {
        b.push(Number(x & 0xffn));
        x >>= 8n;
        const sign = b[b.length - 1] & 0x80;
        if ((x === 0n && !sign) || (x === -1n && sign)) break;
      }
      this.op(0x8a, b.length, ...b); // LONG1
    }
  }
  private float(x: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    this.op(0x47, ...b); // BINFLOAT
  }
  private string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.op(0x58); // BINUNICODE
    this.u32(b.length);
    for (const x of b) this.op(x);
  }
  private tuple(items: PyValue[]): void {
    if (items.length === 0) return this.op(0x29);
    if (items.length <= 3) {
      for (const x of items) this.value(x);
      return this.op(0x84 + items.length); // TUPLE1..3
    }
    this.op(0x28); // MARK
    for (const x of items) this.value(x);
    this.op(0x74); // TUPLE
  }

  value(v: PyValue): void {
    if (v === null) this.op(0x4e);
    else if (v === true) this.op(0x88);
    else if (v === false) this.op(0x89);
    else if (typeof v === 'number') Number.isInteger(v) ? this.int(v) : this.float(v);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'string') this.string(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (v instanceof PyTuple) this.tuple(v.items);
    else if (Array.isArray(v)) {
      this.op(0x5d); // EMPTY_LIST
      this.memoize();
      if (v.length) {
        this.op(0x28);
        for (const x of v) this.value(x);
        this.op(0x65); // APPENDS
      }
    } else if (v instanceof Map) {
      this.op(0x7d); // EMPTY_DICT
      this.memoize();
      if (v.size) {
        this.op(0x28);
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
        this.op(0x75); // SETITEMS
      }
    } else if (v instanceof PyObject) {
      this.global(v.module, v.name);
      this.op(0x29, 0x81); // EMPTY_TUPLE NEWOBJ
      this.memoize();
      this.value(v.attrs);
      this.op(0x62); // BUILD
    } else if (v instanceof PyTensor) this.tensor(v.tensor);
    else throw new Error(`pth writer: cannot pickle ${String(v)}`);
  }

  /** torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) */
  private tensor(t: HostTensor): void {
    const storageName = STORAGE[t.dtype];
    if (!storageName) throw new Error(`pth writer: no torch storage for dtype ${t.dtype}`);
    const n = numel(t.shape);
    if (t.data.byteLength !== n * BYTES_PER_ELEMENT[t.dtype]) throw new Error(`pth writer: tensor has ${t.data.byteLength} bytes for ${t.dtype}[${t.shape}]`);
    const key = String(this.storages.length);
    this.storages.push(t.data);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.op(0x28); // MARK (args tuple)
    this.op(0x28); // persistent id tuple: ('storage', torch.XStorage, key, 'cpu', numel)
    this.string('storage');
    this.global('torch', storageName);
    this.string(key);
    this.string('cpu');
    this.int(n);
    this.op(0x74, 0x51); // TUPLE BINPERSID
    this.int(0);
    this.tuple(t.shape);
    const stride: number[] = new Array(t.shape.length);
    let acc = 1;
    for (let i = t.shape.length - 1; i >= 0; i--) {
      stride[i] = acc;
      acc *= t.shape[i];
    }
    this.tuple(stride);
    this.op(0x89); // requires_grad False
    this.global('collections', 'OrderedDict');
    this.op(0x29, 0x52); // () REDUCE -> OrderedDict()
    this.op(0x74, 0x52); // TUPLE REDUCE
  }
}

/** The bytes of `torch.save(root)` as chunks (pickle and tensor data are not copied into one buffer). */
export function torchSave(root: PyValue, archiveName = 'archive'): Uint8Array[] {
  const p = new Pickler();
  p.op(0x80, 2); // PROTO 2
  p.value(root);
  p.op(0x2e); // STOP
  const members: { name: string; data: Uint8Array }[] = [
    { name: `${archiveName}/data.pkl`, data: p.bytes() },
    { name: `${archiveName}/byteorder`, data: new TextEncoder().encode('little') },
    ...p.storages.map((data, i) => ({ name: `${archiveName}/data/${i}`, data })),
    { name: `${archiveName}/version`, data: new TextEncoder().encode('3\n') },
  ];
  return zipStored(members);
}

// ---- ZIP (stored, 64-byte aligned data like PyTorch's writer) -----------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function le(fields: [2 | 4, number][]): Uint8Array {
  const b = new Uint8Array(fields.reduce((s, [n]) => s + n, 0));
  const v = new DataView(b.buffer);
  let at = 0;
  for (const [n, x] of fields) {
    if (n === 2) v.setUint16(at, x, true);
    else v.setUint32(at, x >>> 0, true);
    at += n;
  }
  return b;
}

function zipStored(members: { name: string; data: Uint8Array }[]): Uint8Array[] {
  const enc = new TextEncoder();
  const out: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const emit = (b: Uint8Array) => {
    out.push(b);
    offset += b.length;
  };
  for (const m of members) {
    const name = enc.encode(m.name);
    const crc = crc32(m.data);
    const local = offset;
    if (local + m.data.length > 0xfffffff0) throw new Error('pth writer: archives over 4 GB (ZIP64) are not supported');
    const pad = (64 - ((local + 30 + name.length + 4) % 64)) % 64;
    const extra = le([[2, 0x4246], [2, pad]]); // 'FB' padding record, as torch writes
    emit(le([[4, 0x04034b50], [2, 20], [2, 0], [2, 0], [2, 0], [2, 0x21], [4, crc], [4, m.data.length], [4, m.data.length], [2, name.length], [2, 4 + pad]]));
    emit(name);
    emit(extra);
    emit(new Uint8Array(pad));
    emit(m.data);
    central.push(le([[4, 0x02014b50], [2, 20], [2, 20], [2, 0], [2, 0], [2, 0], [2, 0x21], [4, crc], [4, m.data.length], [4, m.data.length], [2, name.length], [2, 0], [2, 0], [2, 0], [2, 0], [4, 0], [4, local]]), name);
  }
  const cdStart = offset;
  let cdSize = 0;
  for (const c of central) {
    emit(c);
    cdSize += c.length;
  }
  emit(le([[4, 0x06054b50], [2, 0], [2, 0], [2, members.length], [2, members.length], [4, cdSize], [4, cdStart], [2, 0]]));
  return out;
}
