// LaVIN adapter checkpoints: `{'model': {'module.<name>': fp32}, 'optimizer', 'scaler', 'epoch',
// 'args': argparse.Namespace}` (spec section 5), or a bare state dict. The router temperature and other
// hyper-parameters no tensor stores come from `args`.
import type { HostTensor } from '../tensor';
import { CheckpointError } from './weightErrors';
import { FLOAT_DTYPES } from './ops';
import { describe, PyObject } from './pickle';
import { PthFile } from './pth';
import { openTensorFile } from './tensorFile';
import { TensorRef } from './torchPickle';
import type { TensorFile } from './types';

export interface AdapterArgs {
  /** Router softmax temperature (10 for 7B, 5 for 13B in the paper). */
  temperature: number;
  adapterDim: number;
  hiddenProj?: number;
  adapterScale: number;
  maxSeqLen?: number;
  nPrompt?: number;
  /** Every attribute of the pickled Namespace. */
  raw: Record<string, unknown>;
}

export interface LoadedAdapter {
  args: AdapterArgs;
  tensors: Map<string, HostTensor>;
  /** Parameter names in checkpoint order, `module.` stripped. */
  keys: string[];
  epoch?: number;
  /** Defaults taken and anything ignored. */
  notes: string[];
}

export const DEFAULT_TEMPERATURE = 10;
const MODULE_PREFIX = 'module.';

function stripModule(name: string): string {
  return name.startsWith(MODULE_PREFIX) ? name.slice(MODULE_PREFIX.length) : name;
}

/** Namespace / dict / nothing -> a plain record. */
function argsRecord(v: unknown, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (v === undefined || v === null) return out;
  if (v instanceof PyObject) {
    Object.assign(out, v.attrs);
    return out;
  }
  if (v instanceof Map) {
    for (const [k, x] of v) if (typeof k === 'string') out[k] = x;
    return out;
  }
  throw new CheckpointError(file, `'args' is ${describe(v)}, expected an argparse.Namespace`);
}

function parseArgs(raw: Record<string, unknown>, tensors: Map<string, HostTensor>, file: string, notes: string[]): AdapterArgs {
  const num = (key: string, opts: { int?: boolean; positive?: boolean } = {}): number | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.positive && n <= 0)) {
      throw new CheckpointError(file, `args.${key} must be a ${opts.positive ? 'positive ' : ''}${opts.int ? 'integer' : 'number'}, found ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`);
    }
    return n;
  };
  let temperature = num('temperature', { positive: true });
  if (temperature === undefined) {
    temperature = DEFAULT_TEMPERATURE;
    notes.push(`args.temperature absent: using ${DEFAULT_TEMPERATURE} (LaVIN-7B's value; 13B used 5)`);
  }
  let adapterDim = num('adapter_dim', { int: true, positive: true });
  const convA = tensors.get('layers.0.adapter_attn.conv_A.weight');
  if (adapterDim === undefined) {
    if (!convA) throw new CheckpointError(file, 'args.adapter_dim is absent and layers.0.adapter_attn.conv_A.weight is missing, so the adapter width is unknown');
    adapterDim = convA.shape[0];
    notes.push(`args.adapter_dim absent: ${adapterDim} from conv_A`);
  } else if (convA && convA.shape[0] !== adapterDim) {
    throw new CheckpointError(file, `args.adapter_dim ${adapterDim} disagrees with conv_A's ${convA.shape[0]} rows`, 'layers.0.adapter_attn.conv_A.weight');
  }
  let hiddenProj = num('hidden_proj', { int: true, positive: true });
  const proj = tensors.get('adapter_proj.conv_A.weight');
  if (hiddenProj === undefined && proj) hiddenProj = proj.shape[0];
  let adapterScale = num('adapter_scale');
  if (adapterScale === undefined) {
    adapterScale = 1;
    notes.push('args.adapter_scale absent: using 1');
  }
  return {
    temperature,
    adapterDim,
    hiddenProj,
    adapterScale,
    maxSeqLen: num('max_seq_len', { int: true, positive: true }),
    nPrompt: num('n_prompt', { int: true, positive: true }),
    raw,
  };
}

export async function loadAdapter(filePath: string): Promise<LoadedAdapter> {
  const file = await openTensorFile(filePath);
  try {
    return file instanceof PthFile ? await fromPth(file) : await fromFlat(file);
  } finally {
    await file.close();
  }
}

async function fromPth(file: PthFile): Promise<LoadedAdapter> {
  const notes: string[] = [];
  const top = file.object;
  if (!(top instanceof Map)) throw new CheckpointError(file.path, `top-level object is ${describe(top)}, expected a dict`);
  let stateDict: Map<unknown, unknown> = top;
  let rawArgs: unknown;
  let epoch: number | undefined;
  const wrapped = top.get('model') ?? top.get('state_dict');
  if (wrapped !== undefined) {
    if (!(wrapped instanceof Map)) throw new CheckpointError(file.path, `'model' is ${describe(wrapped)}, expected a state dict`);
    stateDict = wrapped;
    rawArgs = top.get('args');
    const e = top.get('epoch');
    if (typeof e === 'number') epoch = e;
    const ignored = [...top.keys()].filter((k) => !['model', 'state_dict', 'args', 'epoch'].includes(String(k)));
    if (ignored.length) notes.push(`ignored entries: ${ignored.join(', ')}`);
  }
  if (rawArgs === undefined) notes.push("no 'args' in the checkpoint");

  const tensors = new Map<string, HostTensor>();
  const keys: string[] = [];
  for (const [key, value] of stateDict) {
    if (typeof key !== 'string') throw new CheckpointError(file.path, `state dict key ${describe(key)} is not a string`);
    if (!(value instanceof TensorRef)) throw new CheckpointError(file.path, `is ${describe(value)}, expected a tensor`, key);
    const t = await file.readRef(value, key);
    if (!FLOAT_DTYPES.has(t.dtype)) throw new CheckpointError(file.path, `unsupported dtype ${t.dtype} (adapter weights are floating point)`, key);
    const name = stripModule(key);
    if (tensors.has(name)) throw new CheckpointError(file.path, `appears twice once 'module.' is stripped`, key);
    tensors.set(name, t);
    keys.push(name);
  }
  if (keys.length === 0) throw new CheckpointError(file.path, 'no tensors: not an adapter checkpoint');
  const args = parseArgs(argsRecord(rawArgs, file.path), tensors, file.path, notes);
  return { args, tensors, keys, epoch, notes };
}

/** safetensors adapters: tensors by name; hyper-parameters from `__metadata__` (an `args` JSON or flat keys). */
async function fromFlat(file: TensorFile): Promise<LoadedAdapter> {
  const notes: string[] = [];
  const tensors = new Map<string, HostTensor>();
  const keys: string[] = [];
  for (const key of file.names()) {
    const { dtype } = file.info(key);
    if (!FLOAT_DTYPES.has(dtype)) throw new CheckpointError(file.path, `unsupported dtype ${dtype} (adapter weights are floating point)`, key);
    const name = stripModule(key);
    tensors.set(name, await file.read(key));
    keys.push(name);
  }
  if (keys.length === 0) throw new CheckpointError(file.path, 'no tensors: not an adapter checkpoint');
  const raw: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const meta = file.metadata ?? {};
  if (meta.args !== undefined) {
    try {
      Object.assign(raw, JSON.parse(meta.args) as Record<string, unknown>);
    } catch (e) {
      throw new CheckpointError(file.path, `__metadata__.args is not valid JSON (${(e as Error).message})`);
    }
  } else {
    for (const [k, v] of Object.entries(meta)) raw[k] = v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  const args = parseArgs(raw, tensors, file.path, notes);
  return { args, tensors, keys, notes };
}
