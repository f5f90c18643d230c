// The GGUF header's building blocks: the ggml tensor type table, and a cursor that reads the header's
// values sequentially through a sliding window, naming what was cut off when the file ends early.
import * as fs from 'fs';
import { CheckpointError } from './weightErrors';

/** A metadata value: numbers (u64/i64 beyond 2^53 stay bigint), strings, booleans, arrays. */
export type GgufValue =
  | number | bigint | boolean | string
  | string[] | boolean[]
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array
  | BigUint64Array | BigInt64Array
  | GgufValue[];

/** ggml tensor types by id: block of `blockSize` elements stored in `typeSize` bytes. */
export interface GgmlType { name: string; blockSize: number; typeSize: number }
const t = (name: string, blockSize: number, typeSize: number): GgmlType => ({ name, blockSize, typeSize });
export const GGML_TYPES: Readonly<Record<number, GgmlType>> = {
  0: t('F32', 1, 4), 1: t('F16', 1, 2), 2: t('Q4_0', 32, 18), 3: t('Q4_1', 32, 20), 6: t('Q5_0', 32, 22), 7: t('Q5_1', 32, 24),
  8: t('Q8_0', 32, 34), 9: t('Q8_1', 32, 36), 10: t('Q2_K', 256, 84), 11: t('Q3_K', 256, 110), 12: t('Q4_K', 256, 144),
  13: t('Q5_K', 256, 176), 14: t('Q6_K', 256, 210), 15: t('Q8_K', 256, 292), 16: t('IQ2_XXS', 256, 66), 17: t('IQ2_XS', 256, 74),
  18: t('IQ3_XXS', 256, 98), 19: t('IQ1_S', 256, 50), 20: t('IQ4_NL', 32, 18), 21: t('IQ3_S', 256, 110), 22: t('IQ2_S', 256, 82),
  23: t('IQ4_XS', 256, 136), 24: t('I8', 1, 1), 25: t('I16', 1, 2), 26: t('I32', 1, 4), 27: t('I64', 1, 8), 28: t('F64', 1, 8),
  29: t('IQ1_M', 256, 56), 30: t('BF16', 1, 2), 34: t('TQ1_0', 256, 54), 35: t('TQ2_0', 256, 66), 39: t('MXFP4', 32, 17),
  40: t('NVFP4', 64, 36), 41: t('Q1_0', 128, 18), 42: t('Q2_0', 64, 18),
};

/** The ggml type name of an id (e.g. 12 -> Q4_K), or `type N` for ids ggml does not define. */
export function ggmlTypeName(type: number): string {
  return GGML_TYPES[type]?.name ?? `type ${type}`;
}

/** Header bytes read per refill. */
const WINDOW = 1 << 20;
/** Node refuses single reads above 2 GiB. */
const READ_CHUNK = 1 << 30;

/** Reads the header sequentially through a sliding window, naming what was cut off when the file ends. */
export class HeaderCursor {
  private buf = Buffer.alloc(0);
  private bufPos = 0;
  pos = 0;
  /** What is being read (for the truncation message). */
  what = 'the header';

  constructor(private readonly fd: number, private readonly path: string, readonly size: number) {}

  /** Index into buf where `n` bytes from pos are available. */
  private take(n: number): number {
    if (this.pos + n > this.size) throw new CheckpointError(this.path, `file is truncated: ${this.what} is cut off (needs byte ${this.pos + n}, the file has ${this.size})`);
    if (this.pos < this.bufPos || this.pos + n > this.bufPos + this.buf.length) {
      const len = Math.min(Math.max(n, WINDOW), this.size - this.pos);
      this.buf = Buffer.allocUnsafe(len);
      readFully(this.fd, this.path, this.buf, this.pos, this.what);
      this.bufPos = this.pos;
    }
    const i = this.pos - this.bufPos;
    this.pos += n;
    return i;
  }

  /** `n` items of `size` bytes fit in what is left of the file (checked before allocating for them). */
  /** Steps over `n` bytes (they are not read). */
  skip(n: number): void {
    if (this.pos + n > this.size) throw new CheckpointError(this.path, `file is truncated: ${this.what} is cut off (needs byte ${this.pos + n}, the file has ${this.size})`);
    this.pos += n;
  }

  fits(n: number, size: number): void {
    if (n * size > this.size - this.pos) throw new CheckpointError(this.path, `file is truncated: ${this.what} declares ${n} items, more than the ${this.size - this.pos} bytes left`);
  }

  // take() may move the window: it must run before this.buf is read.
  u8() { const i = this.take(1); return this.buf.readUInt8(i); }
  i8() { const i = this.take(1); return this.buf.readInt8(i); }
  u16() { const i = this.take(2); return this.buf.readUInt16LE(i); }
  i16() { const i = this.take(2); return this.buf.readInt16LE(i); }
  u32() { const i = this.take(4); return this.buf.readUInt32LE(i); }
  i32() { const i = this.take(4); return this.buf.readInt32LE(i); }
  f32() { const i = this.take(4); return this.buf.readFloatLE(i); }
  f64() { const i = this.take(8); return this.buf.readDoubleLE(i); }
  u64big() { const i = this.take(8); return this.buf.readBigUInt64LE(i); }
  i64big() { const i = this.take(8); return this.buf.readBigInt64LE(i); }
  /** A u64 that must be a usable count/offset (read as two u32s: no BigInt on the vocabulary's hot path). */
  u64(): number {
    const i = this.take(8);
    const lo = this.buf.readUInt32LE(i);
    const hi = this.buf.readUInt32LE(i + 4);
    if (hi >= 0x200000) throw new CheckpointError(this.path, `${this.what}: value ${this.buf.readBigUInt64LE(i)} is not plausible`);
    return hi * 0x100000000 + lo;
  }
  str(): string {
    const n = this.u64();
    this.fits(n, 1);
    const i = this.take(n);
    return this.buf.toString('utf8', i, i + n);
  }
  /** `n` raw bytes, copied (so typed arrays over them are aligned and outlive the window). */
  bytes(n: number): Uint8Array {
    const i = this.take(n);
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(i, i + n));
    return out;
  }
}

export function readFully(fd: number, path: string, buf: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, Math.min(READ_CHUNK, buf.length - done), position + done);
    if (n === 0) throw new CheckpointError(path, `file is truncated: ${what} ends at byte ${position + done}`);
    done += n;
  }
}

const NUMERIC_ARRAY: Record<number, [number, (b: ArrayBuffer) => GgufValue]> = {
  0: [1, (b) => new Uint8Array(b)], 1: [1, (b) => new Int8Array(b)], 2: [2, (b) => new Uint16Array(b)], 3: [2, (b) => new Int16Array(b)],
  4: [4, (b) => new Uint32Array(b)], 5: [4, (b) => new Int32Array(b)], 6: [4, (b) => new Float32Array(b)],
  10: [8, (b) => new BigUint64Array(b)], 11: [8, (b) => new BigInt64Array(b)], 12: [8, (b) => new Float64Array(b)],
};

/** A metadata value; with `arrays` false an array is stepped over and comes back as undefined. */
export function readValue(c: HeaderCursor, type: number, path: string, arrays = true): GgufValue | undefined {
  switch (type) {
    case 0: return c.u8();
    case 1: return c.i8();
    case 2: return c.u16();
    case 3: return c.i16();
    case 4: return c.u32();
    case 5: return c.i32();
    case 6: return c.f32();
    case 7: return c.u8() !== 0;
    case 8: return c.str();
    case 9: return readArray(c, path, arrays);
    case 10: { const v = c.u64big(); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 11: { const v = c.i64big(); return Number.isSafeInteger(Number(v)) ? Number(v) : v; }
    case 12: return c.f64();
    default: throw new CheckpointError(path, `${c.what} has unknown GGUF value type ${type}`);
  }
}

function readArray(c: HeaderCursor, path: string, keep = true): GgufValue | undefined {
  const type = c.u32();
  const n = c.u64();
  const numeric = NUMERIC_ARRAY[type];
  if (numeric) {
    c.fits(n, numeric[0]);
    if (!keep) { c.skip(n * numeric[0]); return undefined; }
    return numeric[1](c.bytes(n * numeric[0]).buffer as ArrayBuffer);
  }
  if (type === 8) {
    c.fits(n, 8);
    if (!keep) {
      for (let i = 0; i < n; i++) c.skip(c.u64());
      return undefined;
    }
    const out: string[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = c.str();
    return out;
  }
  if (type === 7) {
    c.fits(n, 1);
    if (!keep) { c.skip(n); return undefined; }
    return Array.from(c.bytes(n), (b) => b !== 0);
  }
  if (type === 9) {
    c.fits(n, 12);
    const out: GgufValue[] = [];
    for (let i = 0; i < n; i++) out.push(readArray(c, path, keep)!);
    return keep ? out : undefined;
  }
  throw new CheckpointError(path, `${c.what} is an array of unknown GGUF value type ${type}`);
}

