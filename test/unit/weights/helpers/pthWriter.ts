// Test-only torch.save look-alike: pickle + storages in a zip laid out like PyTorch's.
import { BYTES_PER_ELEMENT, numel, type DType, type HostTensor } from '../../../../server/engine/tensor';
import { Pickler, TensorSpec, type PyValue, type StorageSpec } from './pickleWriter';
import { buildZip, type ZipMember } from './zipWriter';

export interface Storage extends StorageSpec { data: Uint8Array }

export function storage(key: string, dtype: DType, data: Uint8Array): Storage {
  return { key, dtype, data, numel: data.length / BYTES_PER_ELEMENT[dtype] };
}

export function rowMajorStride(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function view(st: Storage, shape: number[], opts: { offset?: number; stride?: number[] } = {}): TensorSpec {
  return new TensorSpec(st, opts.offset ?? 0, shape, opts.stride ?? rowMajorStride(shape));
}

export interface PthOptions {
  prefix?: string;
  byteorder?: 'little' | 'big';
  zip64?: boolean;
  /** More members (e.g. constants.pkl, code/) */
  extra?: ZipMember[];
  /** Replace the pickle bytes entirely (hostile-pickle tests). */
  pickle?: Uint8Array;
}

export function buildPth(root: PyValue, storages: Storage[], opts: PthOptions = {}): Uint8Array {
  const prefix = opts.prefix ?? 'archive';
  const members: ZipMember[] = [{ name: `${prefix}/data.pkl`, data: opts.pickle ?? Pickler.dumps(root) }];
  if (opts.byteorder) members.push({ name: `${prefix}/byteorder`, data: new TextEncoder().encode(opts.byteorder) });
  for (const s of storages) members.push({ name: `${prefix}/data/${s.key}`, data: s.data });
  members.push(...(opts.extra ?? []));
  members.push({ name: `${prefix}/version`, data: new TextEncoder().encode('3\n') });
  return buildZip(members, { zip64: opts.zip64 });
}

/** torch.save({name: tensor}) with one contiguous storage per tensor. */
export function stateDictPth(entries: Iterable<[string, HostTensor]>, opts: PthOptions = {}): Uint8Array {
  const dict = new Map<PyValue, PyValue>();
  const storages: Storage[] = [];
  for (const [name, t] of entries) {
    const st = storage(String(storages.length), t.dtype, t.data);
    if (st.numel !== numel(t.shape)) throw new Error(`stateDictPth: ${name} has ${st.numel} elements for shape [${t.shape}]`);
    storages.push(st);
    dict.set(name, view(st, t.shape));
  }
  return buildPth(dict, storages, opts);
}
