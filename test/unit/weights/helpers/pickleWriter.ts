// Test-only pickler: writes the protocol-2 opcodes torch.save emits, plus hooks to craft hostile pickles.
import type { DType } from '../../../../server/engine/tensor';

export class Tuple { constructor(readonly items: PyValue[]) {} }
/** A Python float even when the value is integral (10.0). */
export class Float { constructor(readonly value: number) {} }
export class Global { constructor(readonly module: string, readonly name: string) {} }
/** fn(*args) via REDUCE. */
export class Call { constructor(readonly fn: Global, readonly args: PyValue[]) {} }
/** cls.__new__(cls, *args) via NEWOBJ, then BUILD with `state` when given. */
export class NewObj { constructor(readonly cls: Global, readonly args: PyValue[], readonly state?: Map<string, PyValue>) {} }
export interface StorageSpec {
  key: string;
  dtype: DType;
  numel: number;
  /** Storage class written instead of the dtype's (e.g. ComplexFloatStorage). */
  typeName?: string;
}
export class TensorSpec {
  constructor(readonly storage: StorageSpec, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}
/** Opcodes spliced in verbatim. */
export class Raw { constructor(readonly bytes: Uint8Array) {} }

export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array | Float | PyValue[] | Tuple | Map<PyValue, PyValue>
  | Global | Call | NewObj | TensorSpec | Raw;

export const STORAGE_NAMES: Record<DType, string> = {
  float32: 'FloatStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage', float64: 'DoubleStorage', int64: 'LongStorage',
  int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

export class Pickler {
  private out: number[] = [];
  private memo = new Map<string, number>();
  private puts = 0;

  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  private u32(n: number): void {
    this.out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  private text(s: string): void {
    for (const ch of s) this.out.push(ch.charCodeAt(0));
  }
  private put(): void {
    const i = 10 + this.puts++; // dict memo ids; globals use 5000+
    if (i < 256) this.op(0x71, i);
    else if (i >= 5000) throw new Error('Pickler: too many dicts');
    else {
      this.op(0x72);
      this.u32(i);
    }
  }

  int(v: number | bigint): void {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) this.op(0x4b, v);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536) this.op(0x4d, v & 0xff, v >> 8);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
      this.op(0x4a);
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, minimal length.
      let x = BigInt(v);
      const bytes: number[] = [];
      for (;;) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
        const sign = bytes[bytes.length - 1] & 0x80;
        if ((x === 0n && !sign) || (x === -1n && sign)) break;
      }
      this.op(0x8a, bytes.length, ...bytes);
    }
  }

  global(g: Global): void {
    const key = `${g.module}.${g.name}`;
    const known = this.memo.get(key);
    if (known !== undefined) {
      this.op(0x6a);
      this.u32(known);
      return;
    }
    this.op(0x63);
    this.text(`${g.module}\n${g.name}\n`);
    const id = 5000 + this.memo.size;
    this.op(0x72);
    this.u32(id);
    this.memo.set(key, id);
  }

  value(v: PyValue): void {
    if (v === null) this.op(0x4e);
    else if (v === true) this.op(0x88);
    else if (v === false) this.op(0x89);
    else if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isInteger(v)) this.float(v);
      else this.int(v);
    } else if (v instanceof Float) this.float(v.value);
    else if (typeof v === 'string') {
      const b = new TextEncoder().encode(v);
      this.op(0x58);
      this.u32(b.length);
      this.out.push(...b);
    } else if (v instanceof Uint8Array) {
      this.op(0x42);
      this.u32(v.length);
      this.out.push(...v);
    } else if (v instanceof Raw) this.out.push(...v.bytes);
    else if (Array.isArray(v)) {
      this.op(0x5d);
      if (v.length) {
        this.op(0x28);
        for (const x of v) this.value(x);
        this.op(0x65);
      }
    } else if (v instanceof Tuple) {
      const n = v.items.length;
      if (n === 0) this.op(0x29);
      else if (n <= 3) {
        for (const x of v.items) this.value(x);
        this.op(0x84 + n);
      } else {
        this.op(0x28);
        for (const x of v.items) this.value(x);
        this.op(0x74);
      }
    } else if (v instanceof Map) {
      this.op(0x7d);
      this.put();
      if (v.size) {
        this.op(0x28);
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
        this.op(0x75);
      }
    } else if (v instanceof Global) this.global(v);
    else if (v instanceof Call) {
      this.global(v.fn);
      this.value(new Tuple(v.args));
      this.op(0x52);
    } else if (v instanceof NewObj) {
      this.global(v.cls);
      this.value(new Tuple(v.args));
      this.op(0x81);
      if (v.state) {
        this.value(v.state);
        this.op(0x62);
      }
    } else if (v instanceof TensorSpec) this.tensor(v);
    else throw new Error(`Pickler: cannot write ${String(v)}`);
  }

  private float(x: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    this.op(0x47, ...b);
  }

  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
  private tensor(t: TensorSpec): void {
    this.global(new Global('torch._utils', '_rebuild_tensor_v2'));
    this.op(0x28);
    this.value(new Tuple(['storage', new Global('torch', t.storage.typeName ?? STORAGE_NAMES[t.storage.dtype]), t.storage.key, 'cpu', t.storage.numel]));
    this.op(0x51); // BINPERSID
    this.int(t.offset);
    this.value(new Tuple(t.shape));
    this.value(new Tuple(t.stride));
    this.op(0x89);
    this.value(new Call(new Global('collections', 'OrderedDict'), []));
    this.op(0x74, 0x52);
  }

  /** PROTO 2, the value, STOP. */
  static dumps(v: PyValue): Uint8Array {
    const p = new Pickler();
    p.op(0x80, 2);
    p.value(v);
    p.op(0x2e);
    return Uint8Array.from(p.out);
  }
}
