// GGUF files in ordinary folders: LM Studio's models folder (<publisher>/<repo>/*.gguf), a folder the
// user picks, a GGUF repository in the Hugging Face cache (and Transformers folders met on the way). In each folder an mmproj-*.gguf is the
// vision tower (a LLaVA projector + CLIP) of the models beside it, not a model, and the parts of a
// split GGUF (name-00001-of-00003.gguf) are one model.

import * as path from 'path';
import type { DiscoveredModel, ModelSourceKind } from '../../protocol';
import { describeGguf, describeHfFolder, DescribeContext } from './describe';
import { Entry, fileSize, listDir } from './walk';

const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;
export const isGguf = (name: string) => /\.gguf$/i.test(name);
export const isVisionTower = (name: string) => /mmproj/i.test(name);

export interface FolderScan {
  models: DiscoveredModel[];
  /** Folders that could not be read, one line each. */
  unreadable: string[];
}

/**
 * Every GGUF model under `root`, at most `maxDepth` folders down (LM Studio: 2, publisher/repo).
 * `nameOf` names a model by its path relative to the root.
 */
export async function scanGgufFolders(
  root: string,
  source: ModelSourceKind,
  ctx: DescribeContext,
  opts: { maxDepth: number; nameOf?: (relative: string) => string },
): Promise<FolderScan> {
  const scan: FolderScan = { models: [], unreadable: [] };
  const visit = async (dir: string, depth: number): Promise<void> => {
    const entries = await listDir(dir, ctx.budget);
    if (typeof entries === 'string') {
      if (!ctx.budget.stopped) scan.unreadable.push(entries);
      return;
    }
    scan.models.push(...(await modelsInFolder(root, entries, source, ctx, opts.nameOf)));
    // A Transformers folder in the tree (LM Studio keeps MLX models so): config.json + safetensors.
    if (depth > 0 && entries.some((e) => e.name === 'config.json') && entries.some((e) => e.name.endsWith('.safetensors') || e.name === 'model.safetensors.index.json')) {
      const relative = path.relative(root, dir).split(path.sep).join('/');
      scan.models.push(await describeHfFolder(dir, { name: (opts.nameOf ?? ((r: string) => r))(relative), source }, ctx));
    }
    if (depth >= opts.maxDepth) return;
    for (const e of entries) if (e.kind === 'dir' && !e.name.startsWith('.')) await visit(e.full, depth + 1);
  };
  await visit(root, 0);
  return scan;
}

/** The GGUF models of one folder's entries. */
export async function modelsInFolder(root: string, entries: Entry[], source: ModelSourceKind, ctx: DescribeContext, nameOf = (rel: string) => rel): Promise<DiscoveredModel[]> {
  const ggufs = entries.filter((e) => isGguf(e.name) && (e.kind === 'file' || e.kind === 'broken-link'));
  const towers = ggufs.filter((e) => isVisionTower(e.name) && e.kind === 'file');
  const models: DiscoveredModel[] = [];
  const splits = new Map<string, { total: number; parts: Map<number, Entry> }>();
  for (const e of ggufs) {
    if (isVisionTower(e.name)) continue;
    const m = SPLIT.exec(e.name);
    if (m) {
      const key = `${m[1]}|${m[3]}`;
      const group = splits.get(key) ?? { total: Number(m[3]), parts: new Map() };
      group.parts.set(Number(m[2]), e);
      splits.set(key, group);
      continue;
    }
    if (!ctx.budget.take(1)) break; // each file's header read counts, so a folder of thousands stops in time
    models.push(await one(e, [e]));
  }
  for (const [key, group] of splits) {
    const stem = key.split('|')[0];
    const first = group.parts.get(1);
    const missing = Array.from({ length: group.total }, (_, i) => i + 1).filter((i) => group.parts.get(i)?.kind !== 'file');
    const name = (i: number) => `${stem}-${String(i).padStart(5, '0')}-of-${String(group.total).padStart(5, '0')}.gguf`;
    const entry = first ?? [...group.parts.values()][0];
    const problem = missing.length
      ? `missing shard ${missing.map(name).join(', ')} of the split GGUF ${stem} (${group.total} parts)`
      : `split GGUF (${group.total} parts): this build reads single files; join them with llama.cpp's llama-gguf-split --merge`;
    models.push(await one({ ...entry, full: path.join(path.dirname(entry.full), name(1)), name: name(1) }, [...group.parts.values()], problem));
  }
  return models;

  async function one(e: Entry, parts: Entry[], problem?: string): Promise<DiscoveredModel> {
    // One vision tower in a folder belongs to every model there (LM Studio's layout); with several, the one sharing the longest name prefix.
    const tower = towers.length === 1 ? towers[0] : towers.sort((a, b) => sharedPrefix(b.name, e.name) - sharedPrefix(a.name, e.name))[0];
    let size = 0;
    for (const p of [...parts, ...(tower ? [tower] : [])]) size += (await fileSize(p.full)) ?? 0;
    if (!problem && e.kind === 'broken-link') problem = `${e.full} is a link to a file that does not exist`;
    const relative = path.relative(root, e.full).split(path.sep).join('/');
    return describeGguf(e.full, { name: nameOf(relative), source, sizeBytes: size, visionTower: tower?.full, problem }, ctx);
  }
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i].toLowerCase() === b[i].toLowerCase()) i++;
  return i;
}
