// One adapter set as one portable safetensors file: the adapter tensors (fp32, the set's own names)
// and a small manifest in `__metadata__` (every value a string, as safetensors requires):
//   format "lavin-code-adapter-export", format_version "1", name, kind (docs | vision),
//   fingerprint (JSON: content hashes of the backbone and CLIP it was trained on, or null for a set
//   saved before fingerprints), base_model (JSON: name, id, file names),
//   args (JSON: the LaVIN args with the router temperature, so engine/weights loadAdapter reads the file as an adapter checkpoint),
//   temperature, shape (JSON: tensor and parameter counts, adapter width, visual tokens),
//   training (JSON: steps, epoch, loss, dates, data summary), keys (JSON: checkpoint order),
//   tensors_sha256 (over the tensor bytes in key order: a flipped byte is caught on import).
// Optimizer state stays home: an imported set is used or trained afresh, not resumed.
// Import checks the whole file before the store changes, and moves the new set in with one rename.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { BYTES_PER_ELEMENT, HostTensor, numel, toFloat32 } from '../engine/tensor';
import { CheckpointError, openTensorFile } from '../engine/weights';
import { AdapterSetKind, AdapterSetMeta, adapterSetKind, BaseModelIdentity, loadAdapterSet, ModelFingerprint, saveAdapterSet, setFingerprint } from './adapterStore';
import { writeFileAtomic } from './atomicFile';
import { f32Tensor, safetensorsChunks } from './safetensorsWriter';

export const EXPORT_FORMAT = 'lavin-code-adapter-export';
export const EXPORT_VERSION = 1;
/** The names a set may have in the store (they become folder names). */
export const ADAPTER_SET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface ExportManifest {
  name: string;
  kind: AdapterSetKind;
  fingerprint?: ModelFingerprint;
  baseModel: BaseModelIdentity;
  args: Record<string, number | string | boolean>;
  temperature: number;
  shape: { tensors: number; parameters: number; adapterDim?: number; hiddenProj?: number; visualTokens?: number };
  training: { steps: number; epoch?: number; loss?: number; createdAt: string; updatedAt: string; data?: Record<string, unknown> };
  keys: string[];
}

export interface ExportResult {
  file: string;
  bytes: number;
  manifest: ExportManifest;
}

/** Writes the set in `setDir` to `file`; an existing `file` is refused unless `overwrite` (a user's confirmed choice). */
export async function exportAdapterSet(setDir: string, file: string, opts: { overwrite?: boolean } = {}): Promise<ExportResult> {
  if (fs.existsSync(file) && !opts.overwrite) throw new Error(`${file} already exists: choose another file name or delete it first`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new Error(`${file} is a folder: give a file name ending in .safetensors`);
  const set = await loadAdapterSet(setDir, { optimizer: false });
  const { meta } = set;
  const tensors: [string, HostTensor][] = meta.keys.map((k) => [k, f32Tensor(set.tensors.get(k)!, set.shapes.get(k)!)]);
  const manifest: ExportManifest = {
    name: meta.name,
    kind: adapterSetKind(meta),
    fingerprint: setFingerprint(meta),
    baseModel: meta.baseModel,
    args: meta.args,
    temperature: meta.temperature,
    shape: shapeSummary(meta.args, tensors),
    training: { steps: meta.step, epoch: meta.epoch, loss: meta.loss, createdAt: meta.createdAt, updatedAt: meta.updatedAt, data: meta.data },
    keys: meta.keys,
  };
  const metadata: Record<string, string> = {
    format: EXPORT_FORMAT,
    format_version: String(EXPORT_VERSION),
    name: manifest.name,
    kind: manifest.kind,
    fingerprint: JSON.stringify(manifest.fingerprint ?? null),
    base_model: JSON.stringify(manifest.baseModel),
    args: JSON.stringify({ temperature: manifest.temperature, ...manifest.args }),
    temperature: String(manifest.temperature),
    shape: JSON.stringify(manifest.shape),
    training: JSON.stringify(manifest.training),
    keys: JSON.stringify(manifest.keys),
    tensors_sha256: tensorDigest(tensors.map(([, t]) => t.data)),
  };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic(file, safetensorsChunks(tensors, metadata));
  return { file, bytes: fs.statSync(file).size, manifest };
}

export interface ImportResult {
  name: string;
  dir: string;
  manifest: ExportManifest;
}

/**
 * Reads an exported file into the store as set `name` (default: the name in its manifest). Every
 * check runs before the store is touched: an existing set of that name, a file that is not an
 * export, truncated, or whose tensors disagree with its manifest or checksum is refused in one line.
 */
export async function importAdapterSet(file: string, storeDir: string, opts: { name?: string } = {}): Promise<ImportResult> {
  const fail = (why: string): never => {
    throw new ImportError(`cannot import ${file}: ${why}`);
  };
  if (!fs.existsSync(file)) fail('no such file');
  if (fs.statSync(file).isDirectory()) fail('it is a folder, not an exported adapter set (.safetensors)');
  let tf: Awaited<ReturnType<typeof openTensorFile>>;
  try {
    tf = await openTensorFile(file);
  } catch (err) {
    return fail(readerReason(err));
  }
  let manifest: ExportManifest;
  const values = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  try {
    const m = tf.metadata ?? {};
    if (m.format !== EXPORT_FORMAT) fail(`not an exported LaVIN Code adapter set (its metadata has no "format": "${EXPORT_FORMAT}")`);
    if (m.format_version !== String(EXPORT_VERSION)) fail(`format version ${m.format_version ?? '(none)'}; this LaVIN Code reads version ${EXPORT_VERSION}`);
    manifest = readManifest(m, fail);
    const names = new Set(tf.names());
    for (const k of manifest.keys) {
      if (!names.has(k)) fail(`the manifest lists tensor ${k}, which the file lacks`);
      const info = tf.info(k);
      if (info.dtype !== 'float32') fail(`tensor ${k} is ${info.dtype}, adapter sets are float32`);
      const t = await tf.read(k);
      values.set(k, toFloat32(t).slice());
      shapes.set(k, t.shape.slice());
    }
    const extra = [...names].filter((n) => !manifest.keys.includes(n));
    if (extra.length) fail(`it holds ${extra.length} tensor(s) its manifest does not list (${extra.slice(0, 3).join(', ')})`);
    const parameters = manifest.keys.reduce((n, k) => n + numel(shapes.get(k)!), 0);
    if (parameters !== manifest.shape.parameters || manifest.keys.length !== manifest.shape.tensors) {
      fail(`its manifest says ${manifest.shape.tensors} tensors / ${manifest.shape.parameters} parameters, the file holds ${manifest.keys.length} / ${parameters}`);
    }
    const digest = tensorDigest(manifest.keys.map((k) => { const v = values.get(k)!; return new Uint8Array(v.buffer, v.byteOffset, v.byteLength); }));
    if (digest !== m.tensors_sha256) fail('its tensor bytes do not match the checksum in its manifest (the file is damaged)');
  } catch (err) {
    if (err instanceof ImportError) throw err;
    return fail(readerReason(err));
  } finally {
    await tf.close();
  }
  const name = opts.name ?? manifest.name;
  if (!ADAPTER_SET_NAME.test(name)) fail(`"${name}" is not a usable set name (1-64 letters, digits, ".", "_" or "-"); give one with --name`);
  const dir = path.join(storeDir, name);
  if (fs.existsSync(dir)) fail(`an adapter set named "${name}" already exists in ${storeDir}; choose another name (--name)`);

  const now = new Date().toISOString();
  const meta: AdapterSetMeta = {
    format: 'lavin-code-adapter', version: 1, name, baseModel: manifest.baseModel, ...(manifest.fingerprint ? { fingerprint: manifest.fingerprint } : {}), kind: manifest.kind,
    temperature: manifest.temperature, args: manifest.args, step: manifest.training.steps, epoch: manifest.training.epoch, loss: manifest.training.loss,
    createdAt: manifest.training.createdAt, updatedAt: now, data: { ...manifest.training.data, importedFrom: path.basename(file), importedAt: now },
    keys: manifest.keys, files: { tensors: '' },
  };
  // Built beside the store and renamed in: a kill leaves a hidden temp folder, never a half set under the name.
  fs.mkdirSync(storeDir, { recursive: true });
  const tmp = path.join(storeDir, `.import-${name}-${process.pid}-${Date.now().toString(36)}`);
  try {
    saveAdapterSet(tmp, { meta, tensors: values, shapes });
    fs.renameSync(tmp, dir); // fails if `dir` appeared meanwhile (a non-empty folder is never replaced)
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(`cannot import ${file}: ${(err as Error).message}`);
  }
  return { name, dir, manifest };
}

/** The manifest fields, each checked for its type; `fail` ends with a one-line reason. */
function readManifest(m: Record<string, string>, fail: (why: string) => never): ExportManifest {
  const json = (key: string): unknown => {
    if (m[key] === undefined) fail(`its manifest lacks "${key}"`);
    try {
      return JSON.parse(m[key]);
    } catch {
      return fail(`its manifest's "${key}" is not valid JSON`);
    }
  };
  const obj = (key: string): Record<string, unknown> => {
    const v = json(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`its manifest's "${key}" is not an object`);
    return v as Record<string, unknown>;
  };
  const kind = m.kind;
  if (kind !== 'docs' && kind !== 'vision') fail(`its manifest's "kind" is ${JSON.stringify(kind)}, expected docs or vision`);
  const keys = json('keys');
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string')) fail('its manifest\'s "keys" is not a list of tensor names');
  const baseModel = obj('base_model') as unknown as BaseModelIdentity;
  if (typeof baseModel.id !== 'string' || typeof baseModel.name !== 'string') fail('its manifest\'s "base_model" lacks id or name');
  const fingerprint = json('fingerprint') as ModelFingerprint | null;
  const wellFormed = (fp: ModelFingerprint | null | undefined) => fp === undefined || fp === null || (typeof fp === 'object' && typeof fp.backbone === 'string' && (fp.clip === undefined || typeof fp.clip === 'string'));
  if (!wellFormed(fingerprint) || !wellFormed(baseModel.fingerprint)) fail('its manifest\'s fingerprint is malformed');
  const args = obj('args') as Record<string, number | string | boolean>;
  const temperature = Number(m.temperature);
  if (!Number.isFinite(temperature) || temperature <= 0) fail(`its manifest's "temperature" ${JSON.stringify(m.temperature)} is not a positive number`);
  const shape = obj('shape') as ExportManifest['shape'];
  if (!Number.isInteger(shape.tensors) || !Number.isInteger(shape.parameters)) fail('its manifest\'s "shape" lacks tensor and parameter counts');
  const training = obj('training') as ExportManifest['training'];
  if (!Number.isInteger(training.steps) || typeof training.createdAt !== 'string') fail('its manifest\'s "training" lacks steps or createdAt');
  if (typeof m.name !== 'string' || m.name === '') fail('its manifest has no name');
  if (typeof m.tensors_sha256 !== 'string') fail('its manifest has no tensors_sha256');
  return { name: m.name, kind, ...(fingerprint ? { fingerprint } : {}), baseModel, args, temperature, shape, training: { ...training, updatedAt: training.updatedAt ?? training.createdAt }, keys: keys as string[] };
}

function shapeSummary(args: Record<string, number | string | boolean>, tensors: [string, HostTensor][]): ExportManifest['shape'] {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    tensors: tensors.length,
    parameters: tensors.reduce((n, [, t]) => n + t.data.byteLength / BYTES_PER_ELEMENT.float32, 0),
    adapterDim: num(args.adapter_dim),
    hiddenProj: num(args.hidden_proj),
    visualTokens: num(args.n_prompt),
  };
}

function tensorDigest(chunks: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
}

class ImportError extends Error {}

/** A reader's error without the file name (the import message names the file once). */
function readerReason(err: unknown): string {
  return err instanceof CheckpointError ? `${err.tensor !== undefined ? `tensor ${err.tensor}: ` : ''}${err.detail}` : (err as Error).message;
}
