// Adapter sets on disk. A set is a folder:
//   adapter.json                 metadata + the names of the current tensor files (written last)
//   adapter-<step>.safetensors   fp32 adapter tensors (official names, `module.` stripped); its
//                                __metadata__.args holds the LaVIN args, so engine/weights loadAdapter
//                                reads it directly
//   optimizer-<step>.safetensors AdamW moments (m.<name>, v.<name>); __metadata__.state holds the
//                                optimizer step, RNG state and trainer cursor, for exact resume
// Every file is written atomically (temp + fsync + rename) and adapter.json only ever names files
// that are complete, so a kill at any moment leaves the previous or the new set, never a torn one.
// Export / import to the official LaVIN .pth layout: {'model': {'module.'+name: fp32}, 'epoch', 'args'};
// to one portable safetensors file with a manifest: adapterExport.ts.
// A set records the content fingerprint of the backbone and CLIP it was trained on (`fingerprint`;
// a LaVIN model folder's reaches the meta through baseModel.fingerprint, which baseModelIdentity
// fills; setFingerprint reads either); using it on another model is refused (checkAdapterSetFits).
// Past 400 lines on purpose: the folder's writer and its readers (whole, or a saved run's headers for
// resume) share one format and stay together; the .pth round trip at the end is that format's other face.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { isFfnAdapter, LavinConfig } from '../engine/lavin';
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
  /** sha256 over the backbone files' names and sizes (sets from before fingerprints are checked by this alone). */
  id: string;
  name: string;
  /** Content fingerprint of the frozen backbone and CLIP (absent in sets saved before it was recorded). */
  fingerprint?: ModelFingerprint;
  /** File or folder names of the two, for messages. */
  files?: { backbone: string; clip?: string };
}

/** Content hashes (hex sha256) of the backbone's weights and of its CLIP's; no clip for a model without a vision tower. */
export interface ModelFingerprint {
  backbone: string;
  clip?: string;
}

/** What modelFingerprint reads: weight files, or folders of them (a LLaMA checkpoint or Hugging Face folder). */
export interface FingerprintSources {
  backbone: string | readonly string[];
  clip?: string | readonly string[];
}

export type AdapterSetKind = 'docs' | 'vision';

export interface AdapterSetMeta {
  format: 'lavin-code-adapter';
  version: 1;
  name: string;
  baseModel: BaseModelIdentity;
  /** Content fingerprint of the backbone and CLIP it was trained on (modelFingerprint); read it with setFingerprint. */
  fingerprint?: ModelFingerprint;
  /** What it was trained on; absent: derived from `data` (adapterSetKind). */
  kind?: AdapterSetKind;
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
  /** Other float32 tensors the trainer resumes from (projection whitening: its statistics and the optimizer's own values). */
  extra?: Map<string, { values: Float32Array; shape: number[] }>;
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

/** Identity of the frozen backbones of a LaVIN model folder: names and sizes of the LLaMA and CLIP files, and their content fingerprint. */
export function baseModelIdentity(weights: Pick<LoadedWeights, 'manifest' | 'dir'>): BaseModelIdentity {
  const resolve = (p: string) => (path.isAbsolute(p) ? p : path.join(weights.dir, p));
  const entries: [string, number][] = [];
  const llama = resolve(weights.manifest.llama);
  for (const f of fs.readdirSync(llama).sort()) {
    if (f === 'params.json' || f.endsWith('.pth')) entries.push([`llama/${f}`, fs.statSync(path.join(llama, f)).size]);
  }
  const clip = resolve(weights.manifest.clip);
  entries.push([`clip/${path.basename(clip)}`, fs.statSync(clip).size]);
  return {
    id: createHash('sha256').update(JSON.stringify(entries)).digest('hex'),
    name: weights.manifest.name,
    fingerprint: modelFingerprint({ backbone: llama, clip }),
    files: { backbone: path.basename(llama), clip: path.basename(clip) },
  };
}

/** Identity of a backbone opened from a GGUF file or Hugging Face folder (with the CLIP it is given, if any). */
export function backboneIdentity(name: string, sources: { backbone: string; clip?: string }): BaseModelIdentity {
  const fingerprint = modelFingerprint(sources);
  return { id: fingerprint.backbone, name, fingerprint, files: { backbone: path.basename(sources.backbone), ...(sources.clip ? { clip: path.basename(sources.clip) } : {}) } };
}

// ---- fingerprint ------------------------------------------------------------------------------
//
// sha256 over, per weight file: its size, its first 4 MiB (the header: GGUF metadata and tensor
// infos, the safetensors JSON index, the .pth zip's pickle), its last 1 MiB (the zip central
// directory) and 64 slices of 16 KiB spread evenly over the rest; for a folder also each file's
// name (shard order). About 6 MiB read per file whatever its size, so an 8 GB GGUF costs ~70 reads,
// not 8 GB. Why that is enough: the question is "is this the model the set was trained on", not
// "was it tampered with". Another architecture, size, quantisation or vocabulary changes the header;
// a fine-tune or re-quantisation of the same shape changes practically every weight block, so 64
// slices across the data all matching by chance does not happen. A file edited in a few bytes
// between the slices would pass; that is out of scope (no weight file here is trusted input anyway).

const HEAD_BYTES = 4 << 20;
const TAIL_BYTES = 1 << 20;
const SLICES = 64;
const SLICE_BYTES = 16 << 10;
const WEIGHT_FILE = /\.(gguf|safetensors|pth|pt|bin)$|^(params|config)\.json$/;

const fingerprintCache = new Map<string, string>();

/**
 * The content fingerprint of a model: one hash of the backbone's weight files, one of the CLIP's.
 * A source is a file, a folder (its weight files: *.gguf, *.safetensors, *.pth, *.pt, *.bin,
 * params.json, config.json) or a list of files. The same bytes under another file name (an Ollama
 * blob and the same GGUF in LM Studio) give the same fingerprint.
 */
export function modelFingerprint(sources: FingerprintSources): ModelFingerprint {
  const backbone = sourceHash(sources.backbone);
  return sources.clip === undefined ? { backbone } : { backbone, clip: sourceHash(sources.clip) };
}

function sourceHash(source: string | readonly string[]): string {
  const files = typeof source === 'string' ? weightFilesOf(source) : source.map((f) => ({ file: f, name: path.basename(f) }));
  if (files.length === 0) throw new Error(`cannot fingerprint ${String(source)}: no weight files in it`);
  const h = createHash('sha256');
  const named = files.length > 1 || typeof source !== 'string' || fs.statSync(source).isDirectory();
  for (const { file, name } of files) {
    if (named) h.update(`${name}\0`);
    h.update(fileHash(file));
  }
  return h.digest('hex');
}

function weightFilesOf(source: string): { file: string; name: string }[] {
  if (!fs.existsSync(source)) throw new Error(`cannot fingerprint ${source}: no such file or folder`);
  if (!fs.statSync(source).isDirectory()) return [{ file: source, name: path.basename(source) }];
  return fs.readdirSync(source).filter((f) => WEIGHT_FILE.test(f) && fs.statSync(path.join(source, f)).isFile()).sort().map((f) => ({ file: path.join(source, f), name: f }));
}

/** One file's sampled hash (hex), cached by path, size and modification time. */
function fileHash(file: string): string {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}\0${st.size}\0${st.mtimeMs}`;
  const cached = fingerprintCache.get(key);
  if (cached) return cached;
  const h = createHash('sha256').update(`size ${st.size}\0`);
  const fd = fs.openSync(file, 'r');
  try {
    const read = (pos: number, len: number) => {
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const n = fs.readSync(fd, buf, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      h.update(buf.subarray(0, got));
    };
    if (st.size <= HEAD_BYTES + TAIL_BYTES + SLICES * SLICE_BYTES) read(0, st.size);
    else {
      read(0, HEAD_BYTES);
      const span = st.size - HEAD_BYTES - TAIL_BYTES - SLICE_BYTES;
      for (let i = 0; i < SLICES; i++) read(HEAD_BYTES + Math.floor((span * i) / (SLICES - 1)), SLICE_BYTES);
      read(st.size - TAIL_BYTES, TAIL_BYTES);
    }
  } finally {
    fs.closeSync(fd);
  }
  const hex = h.digest('hex');
  fingerprintCache.set(key, hex);
  return hex;
}

/**
 * Whether a saved set may run on the model with identity `current`. Throws naming both models when
 * the backbone or the CLIP differs; returns a note for a set saved before fingerprints (then only
 * the backbone files' names and sizes are compared, as they were before).
 */
export function checkAdapterSetFits(setName: string, meta: Pick<AdapterSetMeta, 'baseModel' | 'fingerprint'>, current: BaseModelIdentity): { note?: string } {
  const trained = meta.baseModel;
  const saved = setFingerprint(meta);
  if (!saved || !current.fingerprint) {
    if (trained.id !== current.id) {
      throw new AdapterStoreError(setName, `was trained on ${trained.name}, not on the loaded ${current.name} (their backbone files differ)`);
    }
    return { note: `adapter set ${setName} was saved before adapter sets recorded the model's fingerprint: only its backbone file names and sizes were checked against ${current.name}` };
  }
  const short = (h: string) => h.slice(0, 12);
  const part = (which: 'backbone' | 'clip', files?: { backbone: string; clip?: string }) => (files?.[which] ? ` ${files[which]}` : '');
  if (saved.backbone !== current.fingerprint.backbone) {
    throw new AdapterStoreError(setName, `was trained on the backbone of ${trained.name}${part('backbone', trained.files)} (fingerprint ${short(saved.backbone)}), not on the loaded ${current.name}${part('backbone', current.files)} (${short(current.fingerprint.backbone)}); train a set for ${current.name} or load ${trained.name}`);
  }
  if (saved.clip !== undefined && current.fingerprint.clip === undefined) {
    throw new AdapterStoreError(setName, `was trained with the CLIP of ${trained.name}${part('clip', trained.files)} (fingerprint ${short(saved.clip)}); the loaded ${current.name} has no CLIP`);
  }
  if (saved.clip !== undefined && saved.clip !== current.fingerprint.clip) {
    throw new AdapterStoreError(setName, `was trained with the CLIP of ${trained.name}${part('clip', trained.files)} (fingerprint ${short(saved.clip)}), not with the loaded ${current.name}'s${part('clip', current.files)} (${short(current.fingerprint.clip!)}); train a set for this CLIP`);
  }
  return {};
}

/** The fingerprint a set records: top-level (backbone sets, imports), else its base model's (model-folder sets); none in sets saved before fingerprints. */
export function setFingerprint(meta: Pick<AdapterSetMeta, 'baseModel' | 'fingerprint'>): ModelFingerprint | undefined {
  return meta.fingerprint ?? meta.baseModel.fingerprint;
}

/** docs or vision: recorded on import, otherwise read from what the trainer wrote into `data`. */
export function adapterSetKind(meta: Pick<AdapterSetMeta, 'kind' | 'data'>): AdapterSetKind {
  if (meta.kind) return meta.kind;
  const d = meta.data ?? {};
  return d.data !== undefined || d.format === 'llava' || d.format === 'scienceqa' ? 'vision' : 'docs';
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
    // LaVIN's name for the layout: 'block' when the set has FFN adapters too
    adapter_type: [...shapes.keys()].some(isFfnAdapter) ? 'block' : 'attn',
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
    for (const [k, t] of optimizer.extra ?? []) entries.push([`x.${k}`, f32Tensor(t.values, t.shape)]);
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
      const readExtra = async (n: string) => [n.slice(2), await o.read(n)] as const;
      const extra = new Map((await Promise.all(o.names().filter((n) => n.startsWith('x.')).map(readExtra))).map(([k, t]) => [k, { values: toFloat32(t).slice(), shape: t.shape.slice() }]));
      optimizer = { step: state.step, m, v, rng: state.rng, trainer: state.trainer, ...(extra.size ? { extra } : {}) };
    } finally {
      await o.close();
    }
  }
  return { meta, tensors, shapes, optimizer };
}

/** A saved set's step and the names of its optimizer's extra tensors (OptimizerSnapshot.extra), from the headers alone. */
export async function savedProgress(dir: string): Promise<{ step: number; keys: string[]; extraNames: string[] }> {
  const meta = readMeta(dir);
  if (!meta.files.optimizer) return { step: meta.step, keys: meta.keys, extraNames: [] };
  const o = await openTensorFile(path.join(dir, meta.files.optimizer));
  try {
    return { step: meta.step, keys: meta.keys, extraNames: o.names().filter((n) => n.startsWith('x.')).map((n) => n.slice(2)) };
  } finally {
    await o.close();
  }
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
