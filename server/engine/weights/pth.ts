// PyTorch .pth (torch.save zip format, also TorchScript archives): the pickle is read once at open;
// each tensor's bytes are read from its storage member only when asked for.
import * as fs from 'fs/promises';
import { BYTES_PER_ELEMENT, numel, type HostTensor } from '../tensor';
import { CheckpointError } from './weightErrors';
import { PyObject, unpickle } from './pickle';
import { makeStorageLoader, resolveTorchGlobal, TensorRef } from './torchPickle';
import type { TensorFile, TensorInfo } from './types';
import { openOrThrow, readExactly } from './io';
import { ZipReader, type ZipEntry } from './zip';

/** data.pkl of a real model is kilobytes; refuse absurd ones rather than allocating them. */
const MAX_PICKLE_BYTES = 1 << 30;

export class PthFile implements TensorFile {
  /**
   * Strided views whose byte span is at most this much (or 2x the tensor) are read in one go; larger
   * spans (a small view of a huge storage) are read run by run. Tests lower it to cover both paths.
   */
  static spanReadLimitBytes = 64 << 20;
  private readonly storageRanges = new Map<string, Promise<{ offset: number; size: number }>>();

  private constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
    private readonly zip: ZipReader,
    /** Archive folder holding data.pkl, e.g. `consolidated.00`. */
    readonly prefix: string,
    private readonly bigEndian: boolean,
    readonly object: unknown,
    private readonly tensors: Map<string, TensorRef>,
    /** True for TorchScript archives (code/ + constants.pkl). */
    readonly isTorchScript: boolean,
  ) {}

  /** Opens an already-open handle; the PthFile owns it from here on. */
  static async fromHandle(path: string, fh: fs.FileHandle): Promise<PthFile> {
    const zip = await ZipReader.open(fh, path);
    const pickles = zip.entries().filter((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
    if (pickles.length === 0) throw new CheckpointError(path, 'zip archive has no data.pkl: not a PyTorch checkpoint');
    // The top-level one (TorchScript archives can nest others).
    const pkl = pickles.reduce((a, b) => (a.name.length <= b.name.length ? a : b));
    const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length).replace(/\/$/, '');
    const member = (rest: string): string => (prefix ? `${prefix}/${rest}` : rest);
    const isTorchScript = zip.get(member('constants.pkl')) !== undefined;
    let bigEndian = false;
    const byteorder = zip.get(member('byteorder'));
    if (byteorder) {
      const text = new TextDecoder().decode(await zip.readEntry(byteorder.name, 64)).trim();
      if (text !== 'little' && text !== 'big') throw new CheckpointError(path, `unknown byteorder ${JSON.stringify(text)}`);
      bigEndian = text === 'big';
    }
    const object = unpickle(await zip.readEntry(pkl.name, MAX_PICKLE_BYTES), {
      file: path,
      member: pkl.name,
      resolveGlobal: (module, name) => resolveTorchGlobal(module, name, { allowTorchScriptClasses: isTorchScript }),
      persistentLoad: makeStorageLoader(),
    });
    return new PthFile(path, fh, zip, prefix, bigEndian, object, collectTensors(object), isTorchScript);
  }

  static async open(path: string): Promise<PthFile> {
    const fh = await openOrThrow(path);
    try {
      return await PthFile.fromHandle(path, fh);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  ref(name: string): TensorRef {
    const ref = this.tensors.get(name);
    if (!ref) throw new CheckpointError(this.path, 'missing from the checkpoint', name);
    return ref;
  }

  info(name: string): TensorInfo {
    const ref = this.ref(name);
    if (!ref.dtype) throw new CheckpointError(this.path, `unsupported dtype ${ref.dtypeName}`, name);
    return { dtype: ref.dtype, shape: [...ref.shape] };
  }

  read(name: string): Promise<HostTensor> {
    return this.readRef(this.ref(name), name);
  }

  /** Reads a TensorRef found in `object`; `name` is only for messages. */
  async readRef(ref: TensorRef, name = '?'): Promise<HostTensor> {
    const dtype = ref.dtype;
    if (!dtype) throw new CheckpointError(this.path, `unsupported dtype ${ref.dtypeName}`, name);
    const es = BYTES_PER_ELEMENT[dtype];
    const shape = [...ref.shape];
    const n = numel(shape);
    const out = new Uint8Array(n * es);
    if (n === 0) return { dtype, shape, data: out };

    let spanElems = 1;
    for (let i = 0; i < shape.length; i++) spanElems += (shape[i] - 1) * ref.stride[i];
    const storageBytes = ref.storage.dtype ? ref.storage.numel * BYTES_PER_ELEMENT[ref.storage.dtype] : Infinity;
    const needEnd = (ref.offset + spanElems) * es;
    if (needEnd > storageBytes) {
      throw new CheckpointError(this.path, `view (offset ${ref.offset}, shape [${shape}], stride [${ref.stride}]) runs past its storage of ${ref.storage.numel} elements`, name);
    }
    const range = await this.storageRange(ref.storage.key, name);
    if (needEnd > range.size) {
      throw new CheckpointError(this.path, `storage data/${ref.storage.key} holds ${range.size} bytes, the tensor needs ${needEnd}`, name);
    }
    const base = range.offset + ref.offset * es;
    const plan = planStridedCopy(shape, ref.stride);
    if (plan.outer.length === 0) {
      // Contiguous: exactly the tensor's bytes.
      await readExactly(this.fh, this.path, out, base, `tensor ${name}`, name);
    } else if (spanElems * es <= Math.max(2 * out.length, PthFile.spanReadLimitBytes)) {
      const span = new Uint8Array(spanElems * es);
      await readExactly(this.fh, this.path, span, base, `tensor ${name}`, name);
      forEachRun(plan, (src, dst) => copyElements(span, src * es, out, dst * es, plan.run * es));
    } else {
      // A small view of a huge storage: read each contiguous run on its own.
      const runs: Array<[number, number]> = [];
      forEachRun(plan, (src, dst) => runs.push([src, dst]));
      for (const [src, dst] of runs) {
        await readExactly(this.fh, this.path, out.subarray(dst * es, (dst + plan.run) * es), base + src * es, `tensor ${name}`, name);
      }
    }
    if (this.bigEndian && es > 1) swapBytes(out, es);
    return { dtype, shape, data: out };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  private storageRange(key: string, tensor: string): Promise<{ offset: number; size: number }> {
    let range = this.storageRanges.get(key);
    if (!range) {
      const name = this.prefix ? `${this.prefix}/data/${key}` : `data/${key}`;
      const entry: ZipEntry | undefined = this.zip.get(name) ?? this.zip.get(this.prefix ? `${this.prefix}/${key}` : key);
      range = entry
        ? this.zip.dataRange(entry)
        : Promise.reject(new CheckpointError(this.path, `storage member ${name} is missing from the archive`, tensor));
      this.storageRanges.set(key, range);
      range.catch(() => this.storageRanges.delete(key));
    }
    return range;
  }
}

/** Every TensorRef reachable from the unpickled object, named by its dotted path (depth-first, in order). */
export function collectTensors(root: unknown): Map<string, TensorRef> {
  const found = new Map<string, TensorRef>();
  const seen = new Set<object>();
  // Explicit stack: a crafted pickle can nest deeper than the JS call stack.
  const todo: Array<[unknown, string]> = [[root, '']];
  const join = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);
  while (todo.length) {
    const [v, name] = todo.pop()!;
    if (v instanceof TensorRef) {
      if (!found.has(name)) found.set(name, v);
      continue;
    }
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    const children: Array<[unknown, string]> = [];
    if (v instanceof Map) {
      for (const [k, child] of v) {
        if (['string', 'number', 'bigint', 'boolean'].includes(typeof k)) children.push([child, join(name, String(k))]);
      }
    } else if (Array.isArray(v)) {
      v.forEach((child, i) => children.push([child, join(name, String(i))]));
    } else if (v instanceof PyObject) {
      for (const k of Object.keys(v.attrs)) children.push([v.attrs[k], join(name, k)]);
    }
    for (let i = children.length - 1; i >= 0; i--) todo.push(children[i]);
  }
  return found;
}

interface StridedPlan {
  /** Elements per contiguous run (the trailing dims that are already row-major). */
  run: number;
  /** Remaining dims, outermost first. */
  outer: Array<{ size: number; stride: number }>;
}

/** Splits a view into an odometer over `outer` dims and contiguous runs; no outer dims = contiguous. */
export function planStridedCopy(shape: readonly number[], stride: readonly number[]): StridedPlan {
  const dims = shape.map((size, i) => ({ size, stride: stride[i] })).filter((d) => d.size !== 1);
  let run = 1;
  let k = dims.length;
  while (k > 0 && dims[k - 1].stride === run) {
    run *= dims[k - 1].size;
    k--;
  }
  return { run, outer: dims.slice(0, k) };
}

/** Calls visit(sourceElement, destElement) for each run, in row-major destination order. */
function forEachRun(plan: StridedPlan, visit: (src: number, dst: number) => void): void {
  const { outer, run } = plan;
  const idx = new Array<number>(outer.length).fill(0);
  let src = 0;
  let dst = 0;
  for (;;) {
    visit(src, dst);
    dst += run;
    let d = outer.length - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      src += outer[d].stride;
      if (idx[d] < outer[d].size) break;
      src -= outer[d].stride * outer[d].size;
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

function copyElements(from: Uint8Array, src: number, to: Uint8Array, dst: number, bytes: number): void {
  if (bytes > 64) {
    to.set(from.subarray(src, src + bytes), dst);
    return;
  }
  for (let b = 0; b < bytes; b++) to[dst + b] = from[src + b];
}

function swapBytes(buf: Uint8Array, es: number): void {
  for (let i = 0; i < buf.length; i += es) {
    for (let a = i, b = i + es - 1; a < b; a++, b--) {
      const t = buf[a];
      buf[a] = buf[b];
      buf[b] = t;
    }
  }
}
