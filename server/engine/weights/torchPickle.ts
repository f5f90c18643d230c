// The allow-list of globals a torch.save / TorchScript pickle may name, and the inert stand-ins they
// become. Tensors come out as lazy TensorRefs (storage key + view geometry); no bytes are read here.
import type { DType } from '../tensor';
import { PyObject, type SafeCallable } from './pickle';

/** `torch.HalfStorage` etc. `dtype` is null for storage kinds this reader cannot decode. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: DType | null) {}
}

/** `torch.float16` etc. */
export class TorchDType {
  constructor(readonly name: string, readonly dtype: DType | null) {}
}

/** A storage named by a persistent id: the bytes of zip member `data/<key>`. */
export class StorageRef {
  constructor(
    readonly typeName: string,
    /** Element type of the storage; `uint8` for UntypedStorage, null when unsupported. */
    readonly dtype: DType | null,
    readonly key: string,
    readonly location: string,
    /** Storage length in its own elements. */
    readonly numel: number,
  ) {}
}

/** A tensor view over a storage, not yet read. Offsets and strides count tensor elements. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    /** null when the element type is not one this reader supports. */
    readonly dtype: DType | null,
    readonly dtypeName: string,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16', DoubleStorage: 'float64',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8',
  BoolStorage: 'bool', UntypedStorage: 'uint8',
};

const TORCH_DTYPES: Record<string, DType> = {
  float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', bfloat16: 'bfloat16',
  float64: 'float64', double: 'float64', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32',
  int16: 'int16', short: 'int16', int8: 'int8', uint8: 'uint8', bool: 'bool',
};
/** Real torch dtypes this reader cannot decode: recognised so the error says "unsupported dtype". */
const UNSUPPORTED_DTYPES = /^(complex\d*|cfloat|cdouble|chalf|uint16|uint32|uint64|float8_\w+|qint8|quint8|qint32|quint4x2|quint2x4|bits\w+)$/;

function callable(qualifiedName: string, call: (args: readonly unknown[]) => unknown): SafeCallable {
  return { qualifiedName, call };
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`${what} must be a tuple of non-negative integers`);
  }
  return v as number[];
}

function rebuildTensor(args: readonly unknown[], explicitDType?: unknown): TensorRef {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new Error('first argument is not a storage');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error('bad storage offset');
  const shape = intList(size, 'size');
  const strides = intList(stride, 'stride');
  if (shape.length !== strides.length) throw new Error(`size [${shape}] and stride [${strides}] differ in rank`);
  let dtype = storage.dtype;
  let dtypeName = storage.typeName;
  if (explicitDType !== undefined) {
    if (!(explicitDType instanceof TorchDType)) throw new Error('dtype argument is not a torch dtype');
    dtype = explicitDType.dtype;
    dtypeName = explicitDType.name;
  }
  return new TensorRef(storage, dtype, dtypeName, offset, Object.freeze([...shape]), Object.freeze([...strides]), requiresGrad === true);
}

const REBUILD: Record<string, SafeCallable> = {
  _rebuild_tensor: callable('torch._utils._rebuild_tensor', (a) => rebuildTensor(a)),
  _rebuild_tensor_v2: callable('torch._utils._rebuild_tensor_v2', (a) => rebuildTensor(a)),
  // v3(storage, offset, size, stride, requires_grad, hooks, dtype, metadata?)
  _rebuild_tensor_v3: callable('torch._utils._rebuild_tensor_v3', (a) => rebuildTensor(a, a[6])),
  _rebuild_parameter: callable('torch._utils._rebuild_parameter', (a) => parameterData(a[0])),
  _rebuild_parameter_with_state: callable('torch._utils._rebuild_parameter_with_state', (a) => parameterData(a[0])),
};

function parameterData(data: unknown): TensorRef {
  if (!(data instanceof TensorRef)) throw new Error('parameter data is not a tensor');
  return data;
}

const ORDERED_DICT: SafeCallable = {
  qualifiedName: 'collections.OrderedDict',
  // OrderedDict() or OrderedDict([(k, v), ...])
  call(args) {
    const m = new Map<unknown, unknown>();
    if (args.length > 1) throw new Error('expects at most one argument');
    if (args.length === 1 && args[0] !== null) {
      if (!Array.isArray(args[0])) throw new Error('argument is not a list of pairs');
      for (const pair of args[0] as unknown[]) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new Error('argument is not a list of pairs');
        m.set(pair[0], pair[1]);
      }
    }
    return m;
  },
};

/** argparse.Namespace: an inert record; BUILD fills its attributes. */
const NAMESPACE: SafeCallable = {
  qualifiedName: 'argparse.Namespace',
  construct: (args) => new PyObject('argparse.Namespace', args),
};

const TORCH_SIZE = callable('torch.Size', (args) => [...intList(args[0] ?? [], 'torch.Size')]);
const TORCH_DEVICE = callable('torch.device', (args) => args.map(String).join(':'));
const IDENTITY = (name: string): SafeCallable => callable(name, (args) => args[0]);
const PY_SET = callable('builtins.set', (args) => new Set(Array.isArray(args[0]) ? (args[0] as unknown[]) : []));
// Protocol-2 pickles of Python 3 bytes: _codecs.encode(text, 'latin1').
const CODECS_ENCODE = callable('_codecs.encode', (args) => {
  const [text, enc] = args;
  if (typeof text !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new Error('only latin1 text is supported');
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
});

export interface TorchGlobalOptions {
  /** Build `__torch__.*` classes (TorchScript modules) as inert PyObjects. */
  allowTorchScriptClasses?: boolean;
}

/** Resolve a GLOBAL for torch pickles; undefined means forbidden. */
export function resolveTorchGlobal(module: string, name: string, opts: TorchGlobalOptions = {}): unknown {
  switch (module) {
    case 'torch._utils':
      return Object.prototype.hasOwnProperty.call(REBUILD, name) ? REBUILD[name] : undefined;
    case 'torch':
      if (/^[A-Z][A-Za-z0-9]*Storage$/.test(name)) return new StorageType(name, STORAGE_DTYPES[name] ?? null);
      if (Object.prototype.hasOwnProperty.call(TORCH_DTYPES, name)) return new TorchDType(name, TORCH_DTYPES[name]);
      if (UNSUPPORTED_DTYPES.test(name)) return new TorchDType(name, null);
      if (name === 'Size') return TORCH_SIZE;
      if (name === 'device') return TORCH_DEVICE;
      return undefined;
    case 'collections':
      return name === 'OrderedDict' ? ORDERED_DICT : undefined;
    case 'argparse':
      return name === 'Namespace' ? NAMESPACE : undefined;
    case 'torch.jit._pickle':
      // TorchScript's typed-list markers: the value itself is all we need.
      return /^(build_(intlist|doublelist|boollist|tensorlist)|restore_type_tag)$/.test(name) ? IDENTITY(`${module}.${name}`) : undefined;
    case 'builtins':
    case '__builtin__':
      return name === 'set' || name === 'frozenset' ? PY_SET : undefined;
    case '_codecs':
      return name === 'encode' ? CODECS_ENCODE : undefined;
    default:
      if (opts.allowTorchScriptClasses && (module === '__torch__' || module.startsWith('__torch__.'))) {
        const className = `${module}.${name}`;
        return { qualifiedName: className, construct: (args) => new PyObject(className, args) } satisfies SafeCallable;
      }
      return undefined;
  }
}

/**
 * Persistent ids torch writes for storages: ('storage', StorageType, key, location, numel).
 * One StorageRef per key so views of a shared storage share it.
 */
export function makeStorageLoader(): (pid: unknown) => StorageRef {
  const byKey = new Map<string, StorageRef>();
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new Error(`unsupported persistent id (expected a ('storage', type, key, location, numel) tuple)`);
    const [, type, key, location, numel] = pid as unknown[];
    if (!(type instanceof StorageType)) throw new Error('persistent id: storage type is not a torch storage class');
    if (typeof key !== 'string' || !/^[\w.\-/]+$/.test(key) || key.includes('..')) throw new Error(`persistent id: bad storage key ${String(key)}`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error('persistent id: bad storage size');
    const known = byKey.get(key);
    if (known) return known;
    const ref = new StorageRef(type.name, type.dtype, key, String(location), numel);
    byKey.set(key, ref);
    return ref;
  };
}
