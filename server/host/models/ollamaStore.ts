// Ollama's model store: manifests/<registry>/<namespace>/<model>/<tag> are OCI-style JSON manifests
// whose layers point at content-addressed blobs (blobs/sha256-<hex>). The model layer is a GGUF
// file; a projector layer is a LLaVA mmproj GGUF (the vision tower); the template layer is the
// chat template Ollama renders (a Go template, kept for display and for a later converter).

import * as path from 'path';
import type { DiscoveredModel } from '../../protocol';
import { describeGguf, DescribeContext } from './describe';
import { fileSize, firstLine, isDir, listDir, readSmallText } from './walk';

const MEDIA = 'application/vnd.ollama.image.';
const DEFAULT_REGISTRY = 'registry.ollama.ai';

interface Layer {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
}

export interface StoreScan {
  models: DiscoveredModel[];
  /** Why the store could not be read (whole or in part), one line each. */
  unreadable: string[];
}

/** Every model in one Ollama store (the folder holding manifests/ and blobs/). */
export async function scanOllamaStore(root: string, ctx: DescribeContext): Promise<StoreScan> {
  const scan: StoreScan = { models: [], unreadable: [] };
  const manifests = path.join(root, 'manifests');
  if (!(await isDir(manifests))) {
    scan.unreadable.push(`${root} has no manifests folder (not an Ollama store)`);
    return scan;
  }
  // Fixed depth: registry / namespace / model / tag.
  const walk = async (dir: string, parts: string[]): Promise<void> => {
    const entries = await listDir(dir, ctx.budget);
    if (typeof entries === 'string') {
      if (!ctx.budget.stopped) scan.unreadable.push(entries);
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      if (parts.length < 3 && e.kind === 'dir') await walk(e.full, [...parts, e.name]);
      else if (parts.length === 3 && e.kind === 'file' && ctx.budget.take(1)) scan.models.push(await describeManifest(root, e.full, [...parts, e.name] as Tag, ctx));
    }
  };
  await walk(manifests, []);
  return scan;
}

type Tag = [registry: string, namespace: string, model: string, tag: string];

/** `llama3.2:3b` for the official library, `user/model:tag` or `host/ns/model:tag` otherwise. */
export function ollamaName([registry, namespace, model, tag]: Tag): string {
  const prefix = registry !== DEFAULT_REGISTRY ? `${registry}/${namespace}/` : namespace !== 'library' ? `${namespace}/` : '';
  return `${prefix}${model}:${tag}`;
}

/** blobs/sha256-<hex> (older Ollama wrote sha256:<hex>). */
export function blobPath(root: string, digest: string): string | undefined {
  const m = /^sha256[:-]([0-9a-f]{64})$/.exec(digest);
  return m ? path.join(root, 'blobs', `sha256-${m[1]}`) : undefined;
}

async function existingBlob(root: string, digest: string): Promise<{ file: string; size: number } | undefined> {
  const file = blobPath(root, digest);
  if (!file) return undefined;
  for (const f of [file, file.replace(/sha256-(?=[0-9a-f]{64}$)/, 'sha256:')]) {
    const size = await fileSize(f);
    if (size !== undefined) return { file: f, size };
  }
  return undefined;
}

async function describeManifest(root: string, manifestFile: string, tag: Tag, ctx: DescribeContext): Promise<DiscoveredModel> {
  const base: DiscoveredModel = { name: ollamaName(tag), source: 'ollama', format: 'gguf', path: manifestFile, sizeBytes: 0, memory: { fits: 'unknown' } };
  const fail = (problem: string): DiscoveredModel => ({ ...base, problem });
  const text = await readSmallText(manifestFile, 1024 * 1024);
  if ('reason' in text) return fail(text.reason);
  let layers: Layer[];
  let config: Layer | undefined;
  try {
    const m = JSON.parse(text.text) as { layers?: unknown; config?: Layer };
    if (!Array.isArray(m.layers)) throw new Error('no "layers" array');
    layers = m.layers as Layer[];
    config = m.config;
  } catch (e) {
    return fail(`manifest ${manifestFile} is not valid JSON: ${firstLine(e)}`);
  }
  const ofType = (kind: string) => layers.filter((l) => l.mediaType === MEDIA + kind && typeof l.digest === 'string');
  const models = ofType('model');
  const notes: string[] = [];
  // The image config says what Ollama knows without reading the GGUF: shown when the GGUF cannot be read.
  const facts = await imageConfig(root, config);
  base.architecture = facts.family;
  base.quantization = facts.fileType;
  if (models.length === 0) {
    return fail(`manifest ${manifestFile} has no model layer (${MEDIA}model): nothing on disk to load (a cloud model?)`);
  }
  if (models.length > 1) notes.push(`${models.length} model layers; the first is used`);
  const layer = models[0];
  const digest = layer.digest as string;
  if (!blobPath(root, digest)) return fail(`manifest ${manifestFile}: model layer digest ${JSON.stringify(digest)} is not sha256:<64 hex digits>`);
  const blob = await existingBlob(root, digest);
  if (!blob) return fail(`model blob ${path.basename(blobPath(root, digest)!)} is missing from ${path.join(root, 'blobs')} (pull the model again in Ollama)`);
  if (typeof layer.size === 'number' && layer.size !== blob.size) {
    return fail(`model blob ${blob.file} is ${blob.size} bytes but the manifest says ${layer.size} (incomplete or damaged)`);
  }
  let sizeBytes = blob.size;
  let visionTower: string | undefined;
  const projector = ofType('projector')[0];
  if (projector) {
    const p = await existingBlob(root, projector.digest as string);
    if (p) {
      visionTower = p.file;
      sizeBytes += p.size;
    } else notes.push(`the projector (vision tower) blob ${String(projector.digest)} is missing: text only`);
  }
  if (ofType('adapter').length) notes.push('has a LoRA adapter layer, which LaVIN Code does not apply: answers are the base model\'s');
  let storeTemplate: string | undefined;
  const template = ofType('template')[0];
  if (template) {
    const t = await existingBlob(root, template.digest as string);
    const read = t && (await readSmallText(t.file, 1024 * 1024));
    if (read && 'text' in read) storeTemplate = read.text;
  }
  return describeGguf(blob.file, { ...base, sizeBytes, visionTower, storeTemplate, notes: notes.length ? notes : undefined }, ctx);
}

/** model_family and file_type from the manifest's config blob (a small JSON), when present and readable. */
async function imageConfig(root: string, config: Layer | undefined): Promise<{ family?: string; fileType?: string }> {
  if (!config || typeof config.digest !== 'string') return {};
  const blob = await existingBlob(root, config.digest);
  if (!blob) return {};
  const text = await readSmallText(blob.file, 1024 * 1024);
  if (!('text' in text)) return {};
  try {
    const c = JSON.parse(text.text) as { model_family?: unknown; file_type?: unknown };
    return { family: typeof c.model_family === 'string' ? c.model_family : undefined, fileType: typeof c.file_type === 'string' ? c.file_type : undefined };
  } catch {
    return {};
  }
}
