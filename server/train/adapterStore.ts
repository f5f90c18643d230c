// Adapter sets on disk. A set is a folder:
//   adapter.json                 metadata + the names of the current tensor files (written last)
//   adapter-<step>.safetensors   fp32 adapter tensors (official names, `module.` stripped); its
//                                __metadata__.args holds the LaVIN args, so engine/weights loadAdapter
//                                reads it directly
//   optimizer-<step>.safetensors AdamW moments (m.<name>, v.<name>); __metadata__.state holds the
//                                optimizer step, RNG state and trainer cursor, for exact resume
// Every file is written atomically (temp + fsync + rename) and adapter.json only ever names files
// that are complete, so a kill at any moment leaves the previous or the new set, never a torn one.
// Export / import to the official LaVIN .pth layout: {'model': {'module.'+name: fp32}, 'epoch', 'args'}.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { LavinConfig } from '../engine/lavin';
import { LoadedWeights } from '../engine/modelDir';
import { HostTensor, numel, toFloat32 } from '../engine/tensor';
import { loadAdapter, openTensorFile } from '../engine/weights';
import { removeStaleTemps, writeFileAtomic } from './atomicFile';
import { PyFloat, PyObject, PyTensor, PyValue, torchSave } from './pthWriter';
import { RngState } from './rng';
import { f32Tensor, safetensorsChunks } from './safetensorsWriter';

export const ADAPTER_META_FILE = 'adapter.json';
export const MODULE_PREFIX = 'module.';

export interface BaseModelIdentity {
  /** sha256 over the backbone files' names and sizes. */
  id: string;
  name: string;
}

export interface AdapterSetMeta {
  format: 'lavin-code-adapter';
  version: 1;
  name: string;
  baseModel: BaseModelIdentity;
  /** Router softmax temperature. */
  temperature: number;
  /** LaVIN args written into exports (adapter_dim, hidden_proj, max_seq_len, n_prompt, ...). */
  args: Record<string, number | string | boolean>;
  step: number;
  epoch?: number;
  /** Training loss of the last step before this save (absent for imported sets and older files). */
  loss?: number;
  createdAt: string;
  updatedAt: string;
  /** What it was trained on (counts, sources), free-form. */
  data?: Record<string, unknown>;
  /** Parameter names in checkpoint order. */
  keys: string[];
  files: { tensors: string; optimizer?: string };
}

export interface OptimizerSnapshot {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  rng: RngState;
  /** Trainer position (epoch order, cursor, ...), JSON-serialisable. */
  trainer?: Record<string, unknown>;
}

export interface AdapterSet {
  meta: AdapterSetMeta;
  tensors: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  optimizer?: OptimizerSnapshot;
}

export class AdapterStoreError extends Error {
  constructor(where: string, detail: string) {
    super(`adapter set ${where}: ${detail}`);
    this.name = 'AdapterStoreError';
  }
}

/** Identity of the frozen backbones: names and sizes of the LLaMA and CLIP files. */
export function baseModelIdentity(weights: Pick<LoadedWeights, 'manifest' | 'dir'>): BaseModelIdentity {
  const resolve = (p: string) => (path.isAbsolute(p) ? p : path.join(weights.dir, p));
  const entries: [string, number][] = [];
  const llama = resolve(weights.manifest.llama);
  for (const f of fs.readdirSync(llama).sort()) {
    if (f === 'params.json' || f.endsWith('.pth')) entries.push([`llama/${f}`, fs.statSync(path.join(llama, f)).size]);
  }
  const clip = resolve(weights.manifest.clip);
  entries.push([`clip/${path.basename(clip)}`, fs.statSync(clip).size]);
  return { id: createHash('sha256').update(JSON.stringify(entries)).digest('hex'), name: weights.manifest.name };
}

/** LaVIN args for an adapter of this model (what train.py would have recorded). */
export function lavinArgs(cfg: LavinConfig, shapes: ReadonlyMap<string, number[]>): Record<string, number | string | boolean> {
  const proj = shapes.get('adapter_proj.conv_A.weight');
  return {
    temperature: cfg.adapter.temperature,
    adapter_dim: cfg.adapter.hidden,
    adapter_scale: cfg.adapter.scale,
    ...(proj ? { hidden_proj: proj[0] } : {}),
    max_seq_len: cfg.maxSeqLen,
    n_prompt: cfg.adapter.nVisualTokens,
    adapter_type: 'attn',
    visual_adapter_type: 'router',
    llm_model: 'llama',
  };
}

const FLOAT_ARGS = new Set(['temperature', 'adapter_scale', 'lr', 'blr', 'min_lr', 'weight_decay', 'drop_path']);

// ---- save / load --------------------------------------------------------------------------------

export function saveAdapterSet(dir: string, set: AdapterSet): AdapterSetMeta {
  fs.mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir);
  const { meta, tensors, shapes, optimizer } = set;
  for (const k of meta.keys) {
    const t = tensors.get(k);
    const s = shapes.get(k);
    if (!t || !s) throw new AdapterStoreError(dir, `no ${!t ? 'values' : 'shape'} for ${k}`);
    if (t.length !== numel(s)) throw new AdapterStoreError(dir, `${k} has ${t.length} values for shape [${s}]`);
  }
  const files = { tensors: `adapter-${meta.step}.safetensors`, optimizer: optimizer ? `optimizer-${meta.step}.safetensors` : undefined };
  writeFileAtomic(path.join(dir, files.tensors), safetensorsChunks(meta.keys.map((k) => [k, f32Tensor(tensors.get(k)!, shapes.get(k)!)] as [string, HostTensor]), { args: JSON.stringify(meta.args), format: 'lavin-code-adapter' }));
  if (optimizer) {
    const entries: [string, HostTensor][] = [];
    for (const k of meta.keys) {
      entries.push([`m.${k}`, f32Tensor(optimizer.m.get(k)!, shapes.get(k)!)], [`v.${k}`, f32Tensor(optimizer.v.get(k)!, shapes.get(k)!)]);
    }
    const state = JSON.stringify({ step: optimizer.step, rng: optimizer.rng, trainer: optimizer.trainer ?? {} });
    writeFileAtomic(path.join(dir, files.optimizer!), safetensorsChunks(entries, { state }));
  }
  const finalMeta: AdapterSetMeta = { ...meta, files, updatedAt: new Date().toISOString() };
  writeFileAtomic(path.join(dir, ADAPTER_META_FILE), new TextEncoder().encode(JSON.stringify(finalMeta, null, 2) + '\n'));
  // Only now are the old files unreferenced.
  const keep = new Set([files.tensors, files.optimizer, ADAPTER_META_FILE]);
  for (const f of fs.readdirSync(dir)) {
    if (!keep.has(f) && /^(adapter|optimizer)-\d+\.safetensors$/.test(f)) fs.rmSync(path.join(dir, f), { force: true });
  }
  return finalMeta;
}

export function readMeta(dir: string): AdapterSetMeta {
  const f = path.join(dir, ADAPTER_META_FILE);
  if (!fs.existsSync(f)) throw new AdapterStoreError(dir, `no ${ADAPTER_META_FILE}`);
  let meta: AdapterSetMeta;
  try {
    meta = JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    throw new AdapterStoreError(dir, `${ADAPTER_META_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  if (meta.format !== 'lavin-code-adapter' || meta.version !== 1) throw new AdapterStoreError(dir, `${ADAPTER_META_FILE}: not a lavin-code-adapter version 1 file`);
  if (!meta.files?.tensors || !Array.isArray(meta.keys)) throw new AdapterStoreError(dir, `${ADAPTER_META_FILE}: "files.tensors" and "keys" are required`);
  return meta;
}

export async function loadAdapterSet(dir: string, opts: { optimizer?: boolean } = {}): Promise<AdapterSet> {
  const meta = readMeta(dir);
  const tensors = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  const tf = path.join(dir, meta.files.tensors);
  if (!fs.existsSync(tf)) throw new AdapterStoreError(dir, `${meta.files.tensors} (named by ${ADAPTER_META_FILE}) is missing`);
  const file = await openTensorFile(tf);
  try {
    for (const k of meta.keys) {
      if (!file.has(k)) throw new AdapterStoreError(dir, `${meta.files.tensors} lacks ${k}`);
      const t = await file.read(k);
      tensors.set(k, toFloat32(t).slice());
      shapes.set(k, t.shape.slice());
    }
  } finally {
    await file.close();
  }
  let optimizer: OptimizerSnapshot | undefined;
  if (opts.optimizer !== false && meta.files.optimizer) {
    const of = path.join(dir, meta.files.optimizer);
    if (!fs.existsSync(of)) throw new AdapterStoreError(dir, `${meta.files.optimizer} (named by ${ADAPTER_META_FILE}) is missing`);
    const o = await openTensorFile(of);
    try {
      const state = JSON.parse(o.metadata?.state ?? 'null');
      if (!state || typeof state.step !== 'number' || !Array.isArray(state.rng)) throw new AdapterStoreError(dir, `${meta.files.optimizer}: no optimizer state in its metadata`);
      const m = new Map<string, Float32Array>();
      const v = new Map<string, Float32Array>();
      for (const k of meta.keys) {
        m.set(k, toFloat32(await o.read(`m.${k}`)).slice());
        v.set(k, toFloat32(await o.read(`v.${k}`)).slice());
      }
      optimizer = { step: state.step, m, v, rng: state.rng, trainer: state.trainer };
    } finally {
      await o.close();
    }
  }
  return { meta, tensors, shapes, optimizer };
}

// ---- official LaVIN .pth ------------------------------------------------------------------------

/** Write the set as a LaVIN checkpoint: {'model': {'module.'+name: fp32}, 'epoch', 'args': Namespace}. */
export function exportLavinPth(set: Pick<AdapterSet, 'meta' | 'tensors' | 'shapes'>, file: string): void {
  const model = new Map<string, PyValue>();
  for (const k of set.meta.keys) model.set(MODULE_PREFIX + k, new PyTensor(f32Tensor(set.tensors.get(k)!, set.shapes.get(k)!)));
  const args = new Map<string, PyValue>();
  for (const [k, v] of Object.entries({ ...set.meta.args, temperature: set.meta.temperature })) args.set(k, typeof v === 'number' && FLOAT_ARGS.has(k) ? new PyFloat(v) : v);
  const root = new Map<string, PyValue>([
    ['model', model],
    ['epoch', set.meta.epoch ?? 0],
    ['args', new PyObject('argparse', 'Namespace', args)],
  ]);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, torchSave(root));
}

/** Read a LaVIN adapter checkpoint (.pth or safetensors) into an adapter set (no optimizer state). */
export async function importLavinPth(file: string, opts: { name: string; baseModel: BaseModelIdentity }): Promise<AdapterSet> {
  const a = await loadAdapter(file);
  const tensors = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const k of a.keys) {
    const t = a.tensors.get(k)!;
    tensors.set(k, toFloat32(t).slice());
    shapes.set(k, t.shape.slice());
  }
  const args: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(a.args.raw)) {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') args[k] = v;
    else if (typeof v === 'bigint') args[k] = Number(v);
  }
  const now = new Date().toISOString();
  return {
    meta: { format: 'lavin-code-adapter', version: 1, name: opts.name, baseModel: opts.baseModel, temperature: a.args.temperature, args, step: 0, epoch: a.epoch, createdAt: now, updatedAt: now, data: { importedFrom: path.basename(file) }, keys: a.keys, files: { tensors: '' } },
    tensors,
    shapes,
  };
}
