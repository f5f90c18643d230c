// A safe unpickler: a small stack machine over Python pickle opcodes (protocols 0..5) that never runs
// code. Every GLOBAL goes through a resolver that returns an inert JS stand-in or refuses; REDUCE and
// NEWOBJ can only "call" stand-ins that opt in. Unknown globals fail at GLOBAL time, before any call.
//
// Python values map to: None -> null, bool -> boolean, int -> number (bigint past 2^53), float -> number,
// str -> string, bytes -> Uint8Array, list -> array, tuple -> frozen array, dict -> Map, set -> Set,
// instances -> PyObject.
import { CheckpointError } from './weightErrors';

/** A global the resolver allows: what REDUCE (`call`) or NEWOBJ (`construct`) may do with it. */
export interface SafeCallable {
  readonly qualifiedName: string;
  call?(args: readonly unknown[]): unknown;
  construct?(args: readonly unknown[]): unknown;
}

/** An inert record standing in for a Python object (argparse.Namespace, TorchScript modules). */
export class PyObject {
  /** Attributes set through BUILD; null prototype so no key can reach Object.prototype. */
  readonly attrs: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  /** BUILD state that is not an attribute dict (objects with __getstate__). */
  state?: unknown;
  constructor(readonly className: string, readonly args: readonly unknown[] = []) {}
}

export interface UnpickleOptions {
  /** Named in every error message (e.g. the .pth path). */
  file: string;
  /** Member inside the archive, for messages (e.g. `consolidated.00/data.pkl`). */
  member?: string;
  /** GLOBAL module.name -> stand-in; undefined = forbidden. */
  resolveGlobal(module: string, name: string): unknown;
  /** BINPERSID / PERSID. */
  persistentLoad?(pid: unknown): unknown;
}

export function isSafeCallable(v: unknown): v is SafeCallable {
  return typeof v === 'object' && v !== null && typeof (v as SafeCallable).qualifiedName === 'string' &&
    (typeof (v as SafeCallable).call === 'function' || typeof (v as SafeCallable).construct === 'function');
}

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, private readonly fail: (msg: string) => never) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): number {
    if (n < 0 || this.pos + n > this.bytes.length) this.fail(`pickle ends early at byte ${this.pos} (wanted ${n} more)`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number { return this.bytes[this.need(1)]; }
  u16(): number { return this.view.getUint16(this.need(2), true); }
  u32(): number { return this.view.getUint32(this.need(4), true); }
  i32(): number { return this.view.getInt32(this.need(4), true); }
  u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(this.bytes.length)) this.fail(`pickle length field ${v} exceeds the pickle size`);
    return Number(v);
  }
  f64be(): number { return this.view.getFloat64(this.need(8), false); }
  bytesN(n: number): Uint8Array { const at = this.need(n); return this.bytes.slice(at, at + n); }
  line(): string {
    const start = this.pos;
    while (this.pos < this.bytes.length && this.bytes[this.pos] !== 0x0a) this.pos++;
    if (this.pos >= this.bytes.length) this.fail('pickle ends inside a text line');
    const s = latin1(this.bytes.subarray(start, this.pos));
    this.pos++;
    return s;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Little-endian two's-complement integer (LONG1 / LONG4). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return normalizeInt(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseTextInt(s: string, fail: (m: string) => never): number | bigint | boolean {
  if (s === '00') return false;
  if (s === '01') return true;
  const t = s.endsWith('L') ? s.slice(0, -1) : s;
  if (!/^[+-]?\d+$/.test(t)) fail(`bad text integer ${JSON.stringify(s)}`);
  return normalizeInt(BigInt(t));
}

/** Python repr-style quoted string (protocol 0 STRING) without escape processing beyond the basics. */
function unquote(s: string, fail: (m: string) => never): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) fail(`bad quoted string ${s.slice(0, 40)}`);
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt])/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e;
  });
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a?: string, b?: string) => String.fromCodePoint(parseInt((a ?? b)!, 16)));
}

/** Run the pickle in `bytes`; return the value STOP leaves. Never executes anything. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  try {
    return run(bytes, opts);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    // A JS-level failure (e.g. out of memory on a crafted pickle) is still a bad checkpoint.
    throw new CheckpointError(opts.file, `${opts.member ? `${opts.member}: ` : ''}malformed pickle (${(e as Error).message})`);
  }
}

function run(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const where = opts.member ? `${opts.member}: ` : '';
  const fail = (msg: string): never => {
    throw new CheckpointError(opts.file, `${where}${msg}`);
  };
  const r = new Reader(bytes, fail);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) fail(`pickle stack underflow at byte ${r.pos}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail(`pickle stack empty at byte ${r.pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail(`pickle MARK missing at byte ${r.pos}`);
    return stack.splice(m!);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`pickle memo ${i} is not set`);
    return memo.get(i);
  };
  const global = (module: string, name: string): unknown => {
    const v = opts.resolveGlobal(module, name);
    if (v === undefined) {
      fail(`forbidden pickle global ${module}.${name} (only torch tensor/storage rebuild functions, collections.OrderedDict, argparse.Namespace and torch.Size are allowed; nothing was executed)`);
    }
    return v;
  };
  const callable = (f: unknown, how: 'call' | 'construct'): SafeCallable => {
    if (!isSafeCallable(f) || typeof f[how] !== 'function') {
      const name = isSafeCallable(f) ? f.qualifiedName : describe(f);
      fail(`pickle tries to ${how === 'call' ? 'call' : 'instantiate'} ${name}, which is not allowed`);
    }
    return f as SafeCallable;
  };
  /** Stand-ins validate their arguments with plain Errors; give those the file name. */
  const invoke = (f: unknown, how: 'call' | 'construct', args: readonly unknown[]): unknown => {
    const c = callable(f, how);
    try {
      return c[how]!(args);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      return fail(`${c.qualifiedName}: ${(e as Error).message}`);
    }
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) return fail('pickle has a persistent id but this file type allows none');
    try {
      return opts.persistentLoad(pid);
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      return fail((e as Error).message);
    }
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const setItems = (target: unknown, items: unknown[]): void => {
    if (items.length % 2) fail('pickle SETITEMS with an odd number of items');
    if (!(target instanceof Map)) fail(`pickle SETITEM(S) on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail(`pickle APPEND(S) on ${describe(target)}`);
    for (const it of items) (target as unknown[]).push(it);
  };
  const build = (obj: unknown, state: unknown): void => {
    if (obj instanceof PyObject) {
      const isDictish = (x: unknown): boolean => x === null || x instanceof Map;
      const pair = Array.isArray(state) && Object.isFrozen(state) && state.length === 2 && isDictish(state[0]) && isDictish(state[1]);
      if (!(state instanceof Map) && !pair) {
        // __setstate__-style state (TorchScript classes with __getstate__): keep it as inert data.
        obj.state = state;
        return;
      }
      for (const part of pair ? (state as unknown[]) : [state]) {
        if (part === null) continue;
        for (const [k, v] of part as Map<unknown, unknown>) {
          if (typeof k !== 'string') fail(`pickle BUILD of ${obj.className}: attribute name ${describe(k)}`);
          obj.attrs[k as string] = v;
        }
      }
      return;
    }
    // OrderedDict carries `_metadata` (module versions) this way; nothing here needs it.
    if (obj instanceof Map) return;
    fail(`pickle BUILD on ${describe(obj)}`);
  };

  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x80: { // PROTO
        const p = r.u8();
        if (p > 5) fail(`pickle protocol ${p} is newer than 5`);
        break;
      }
      case 0x95: r.u64(); break; // FRAME: the whole pickle is in memory already
      case 0x2e: { // STOP
        if (stack.length !== 1) fail(`pickle STOP with ${stack.length} values on the stack`);
        return stack[0];
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      // --- constants
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(r.i32()); break; // BININT
      case 0x4b: stack.push(r.u8()); break; // BININT1
      case 0x4d: stack.push(r.u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(r.bytesN(r.u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = r.i32();
        if (n < 0) fail('pickle LONG4 with negative length');
        stack.push(decodeLong(r.bytesN(n)));
        break;
      }
      case 0x49: stack.push(parseTextInt(r.line(), fail)); break; // INT
      case 0x4c: stack.push(parseTextInt(r.line(), fail)); break; // LONG
      case 0x46: { // FLOAT
        const s = r.line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad text float ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }
      case 0x47: stack.push(r.f64be()); break; // BINFLOAT
      // --- strings and bytes
      case 0x58: stack.push(decodeUtf8(r.bytesN(r.u32()), fail)); break; // BINUNICODE
      case 0x8c: stack.push(decodeUtf8(r.bytesN(r.u8()), fail)); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(decodeUtf8(r.bytesN(r.u64()), fail)); break; // BINUNICODE8
      case 0x56: stack.push(rawUnicodeEscape(r.line())); break; // UNICODE
      case 0x55: stack.push(latin1(r.bytesN(r.u8()))); break; // SHORT_BINSTRING (py2 str)
      case 0x54: { // BINSTRING
        const n = r.i32();
        if (n < 0) fail('pickle BINSTRING with negative length');
        stack.push(latin1(r.bytesN(n)));
        break;
      }
      case 0x53: stack.push(unquote(r.line(), fail)); break; // STRING
      case 0x43: stack.push(r.bytesN(r.u8())); break; // SHORT_BINBYTES
      case 0x42: stack.push(r.bytesN(r.u32())); break; // BINBYTES
      case 0x8e: stack.push(r.bytesN(r.u64())); break; // BINBYTES8
      case 0x96: stack.push(r.bytesN(r.u64())); break; // BYTEARRAY8
      // --- containers
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x85: stack.push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const items = popMark(); const m = new Map(); setItems(m, items); stack.push(m); break; } // DICT
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`pickle ADDITEMS on ${describe(s)}`);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      // --- memo
      case 0x71: memo.set(r.u8(), top()); break; // BINPUT
      case 0x72: memo.set(r.u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x70: memo.set(Number(r.line()), top()); break; // PUT
      case 0x68: stack.push(memoGet(r.u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(r.u32())); break; // LONG_BINGET
      case 0x67: stack.push(memoGet(Number(r.line()))); break; // GET
      // --- globals and objects
      case 0x63: { // GLOBAL
        const module = r.line();
        const name = r.line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('pickle STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const f = pop();
        if (!Array.isArray(args)) fail(`pickle REDUCE with ${describe(args)} arguments`);
        stack.push(invoke(f, 'call', args as unknown[]));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail(`pickle NEWOBJ with ${describe(args)} arguments`);
        stack.push(invoke(cls, 'construct', args as unknown[]));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!Array.isArray(args)) fail(`pickle NEWOBJ_EX with ${describe(args)} arguments`);
        if (kwargs instanceof Map && kwargs.size) fail('pickle NEWOBJ_EX with keyword arguments is not supported');
        stack.push(invoke(cls, 'construct', args as unknown[]));
        break;
      }
      case 0x69: { // INST module\nname\n, args from MARK
        const module = r.line();
        const name = r.line();
        const args = popMark();
        stack.push(invoke(global(module, name), 'construct', args));
        break;
      }
      case 0x6f: { // OBJ: MARK cls args...
        const items = popMark();
        if (items.length === 0) fail('pickle OBJ without a class');
        stack.push(invoke(items[0], 'construct', items.slice(1)));
        break;
      }
      case 0x62: { const state = pop(); build(top(), state); break; } // BUILD
      case 0x51: { // BINPERSID
        stack.push(persistent(pop()));
        break;
      }
      case 0x50: { // PERSID
        stack.push(persistent(r.line()));
        break;
      }
      case 0x82: case 0x83: case 0x84:
        fail('pickle extension registry codes (EXT1/2/4) are not supported');
        break;
      case 0x97: case 0x98:
        fail('pickle out-of-band buffers (protocol 5) are not supported');
        break;
      default:
        fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${r.pos - 1}`);
    }
  }
}

function decodeUtf8(b: Uint8Array, fail: (m: string) => never): string {
  try {
    return utf8.decode(b);
  } catch {
    return fail('pickle string is not valid UTF-8');
  }
}

/** Short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyObject) return `a ${v.className} object`;
  if (v instanceof Map) return 'a dict';
  if (v instanceof Set) return 'a set';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (isSafeCallable(v)) return v.qualifiedName;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
