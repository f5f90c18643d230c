// Adapter sets of a GGUF / Hugging Face backbone: which backbone and CLIP a set was trained on
// (`fingerprint` in adapter.json, as COORDINATION.md agrees the field), whether it was trained on
// images, and the refusal of a set made for other files.
//
// modelFingerprint is a local stand-in for vision-ui's `modelFingerprint` (server/train/adapterStore.ts),
// which is not on main yet: a content hash that reads a bounded sample of each file (its size, the
// first and last MiB, and 16 evenly spaced 64 KiB windows), so an 8B GGUF is fingerprinted in
// milliseconds and any re-quantisation, re-conversion or truncation changes it.

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { LavinModel } from '../engine/lavinModel';
import { ADAPTER_META_FILE, readMeta, type AdapterSetMeta } from '../train';
import { writeFileAtomic } from '../train/atomicFile';

export interface SetFingerprint {
  backbone: string;
  clip?: string;
}

const EDGE = 1 << 20;
const WINDOW = 1 << 16;
const WINDOWS = 16;

/** Sampled content hash of a file, or of a folder's weight and config files (their names included). */
export function modelFingerprint(p: string): string {
  const h = createHash('sha256');
  const folder = fs.statSync(p).isDirectory();
  const files = folder
    ? fs.readdirSync(p).filter((n) => /\.(safetensors|json|bin|pt|pth|gguf|model)$/i.test(n)).sort().map((n) => path.join(p, n))
    : [p];
  for (const f of files) {
    const size = fs.statSync(f).size;
    // A file's own name is not content (a copy or an Ollama blob name gives the same print); a folder's file names are.
    h.update(`${folder ? path.basename(f) : ''}\0${size}\0`);
    const fd = fs.openSync(f, 'r');
    try {
      const take = (start: number, length: number) => {
        const buf = Buffer.alloc(Math.max(0, Math.min(length, size - start)));
        if (buf.length) fs.readSync(fd, buf, 0, buf.length, start);
        h.update(buf);
      };
      take(0, EDGE);
      if (size > 2 * EDGE) for (let i = 0; i < WINDOWS; i++) take(Math.floor(((size - WINDOW) * i) / (WINDOWS - 1)), WINDOW);
      take(Math.max(EDGE, size - EDGE), EDGE);
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

/** The fingerprint of the backbone (and CLIP) a loaded backbone model runs. */
export function fingerprintOf(model: LavinModel): SetFingerprint {
  const b = model.info.backbone;
  if (!b) throw new Error(`${model.info.name} is a LaVIN model folder, not a GGUF / Hugging Face backbone`);
  return { backbone: modelFingerprint(b.path), ...(model.clipFile ? { clip: modelFingerprint(model.clipFile) } : {}) };
}

type MetaWithFingerprint = AdapterSetMeta & { fingerprint?: SetFingerprint };

/** Record the fingerprint in a set's adapter.json (written atomically; the tensor files are untouched). */
export function stampFingerprint(dir: string, fp: SetFingerprint): void {
  const meta: MetaWithFingerprint = { ...readMeta(dir), fingerprint: fp };
  writeFileAtomic(path.join(dir, ADAPTER_META_FILE), Buffer.from(JSON.stringify(meta, null, 2) + '\n'));
}

export function fingerprintIn(dir: string): SetFingerprint | undefined {
  return (readMeta(dir) as MetaWithFingerprint).fingerprint;
}

/** A set made for other files is refused with one line saying which. */
export function checkSetFits(dir: string, name: string, model: LavinModel, own = fingerprintOf(model)): void {
  const meta = readMeta(dir) as MetaWithFingerprint;
  const fp = meta.fingerprint;
  if (!fp) throw new Error(`adapter set ${name} records no backbone fingerprint (it was trained on ${meta.baseModel.name}, a LaVIN model folder): it cannot run on the backbone ${model.info.name}`);
  if (fp.backbone !== own.backbone) throw new Error(`adapter set ${name} was trained on another backbone (${meta.baseModel.name}), not on ${model.info.backbone!.path}`);
  if (fp.clip && own.clip && fp.clip !== own.clip) throw new Error(`adapter set ${name} was trained with another CLIP, not with ${model.clipFile}`);
  if (fp.clip && !own.clip) throw new Error(`adapter set ${name} was trained with a CLIP: give the same one with --clip (the backbone ${model.info.name} is loaded without one)`);
}

/** Trained on images for this backbone and CLIP: its visual tokens may be fed. */
export function setSeesImages(dir: string, model: LavinModel): boolean {
  const meta = readMeta(dir) as MetaWithFingerprint;
  const images = Number((meta.data as { image?: unknown } | undefined)?.image ?? 0);
  return images > 0 && meta.fingerprint?.clip !== undefined && model.clipFile !== undefined && meta.fingerprint.clip === modelFingerprint(model.clipFile);
}
