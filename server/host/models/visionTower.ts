// The vision tower (a LLaVA mmproj GGUF: CLIP + LLaVA's projector) that belongs to a GGUF model the
// user runs, found the way discovery lists it: an mmproj*.gguf in the same folder (LM Studio, llama.cpp
// downloads), or the projector layer of the Ollama manifest whose model layer is this blob. Only the
// path; the CLIP inside is read by engine/weights/clipGguf.ts when the model loads.

import * as fs from 'fs';
import * as path from 'path';
import { isVisionTower } from './ggufFolders';

const OLLAMA_MEDIA = 'application/vnd.ollama.image.';
/** Manifests are small; a store has at most a few thousand. */
const MAX_MANIFESTS = 5000;

export function findVisionTower(modelPath: string): string | undefined {
  if (!/\.gguf$/i.test(modelPath) && !/sha256[-:][0-9a-f]{64}$/.test(path.basename(modelPath))) return undefined;
  return besideTower(modelPath) ?? ollamaProjector(modelPath);
}

function besideTower(file: string): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(file));
  } catch {
    return undefined;
  }
  const towers = names.filter((n) => /\.gguf$/i.test(n) && isVisionTower(n) && path.join(path.dirname(file), n) !== file).sort();
  return towers.length ? path.join(path.dirname(file), towers[0]) : undefined;
}

/** <store>/blobs/sha256-<hex>: the manifest under <store>/manifests whose model layer has that digest. */
function ollamaProjector(blob: string): string | undefined {
  const m = /^sha256[-:]([0-9a-f]{64})$/.exec(path.basename(blob));
  if (!m || path.basename(path.dirname(blob)) !== 'blobs') return undefined;
  const store = path.dirname(path.dirname(blob));
  const digest = `sha256:${m[1]}`;
  let seen = 0;
  const visit = (dir: string): string | undefined => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      if (++seen > MAX_MANIFESTS) return undefined;
      const full = path.join(dir, e.name);
      const found = e.isDirectory() ? visit(full) : e.isFile() ? projectorOf(full, digest, store) : undefined;
      if (found) return found;
    }
    return undefined;
  };
  return visit(path.join(store, 'manifests'));
}

function projectorOf(manifest: string, modelDigest: string, store: string): string | undefined {
  let layers: { mediaType?: unknown; digest?: unknown }[];
  try {
    if (fs.statSync(manifest).size > 1024 * 1024) return undefined;
    const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { layers?: unknown };
    if (!Array.isArray(parsed.layers)) return undefined;
    layers = parsed.layers;
  } catch {
    return undefined;
  }
  if (!layers.some((l) => l.mediaType === `${OLLAMA_MEDIA}model` && l.digest === modelDigest)) return undefined;
  const projector = layers.find((l) => l.mediaType === `${OLLAMA_MEDIA}projector` && typeof l.digest === 'string');
  const hex = projector && /^sha256[:-]([0-9a-f]{64})$/.exec(projector.digest as string)?.[1];
  if (!hex) return undefined;
  for (const name of [`sha256-${hex}`, `sha256:${hex}`]) {
    const file = path.join(store, 'blobs', name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}
