// The Hugging Face hub cache: models--<org>--<name>/snapshots/<revision>/ holds the files (symlinks
// into ../../blobs, dangling while a download is unfinished) and refs/main names the revision
// `from_pretrained` would use. A snapshot with config.json is a Transformers folder; one with only
// GGUF files is a GGUF repository (each file a model).

import * as path from 'path';
import type { DiscoveredModel } from '../../protocol';
import { describeHfFolder, DescribeContext } from './describe';
import { modelsInFolder } from './ggufFolders';
import { isDir, listDir, readSmallText } from './walk';

export interface CacheScan {
  models: DiscoveredModel[];
  unreadable: string[];
}

/** `org/name` from `models--org--name`. */
export function repoName(folder: string): string {
  return folder.slice('models--'.length).split('--').join('/');
}

export async function scanHfCache(root: string, ctx: DescribeContext): Promise<CacheScan> {
  const scan: CacheScan = { models: [], unreadable: [] };
  const entries = await listDir(root, ctx.budget);
  if (typeof entries === 'string') {
    scan.unreadable.push(entries);
    return scan;
  }
  for (const e of entries) {
    if (e.kind !== 'dir' || !e.name.startsWith('models--')) continue;
    if (!ctx.budget.take(1)) break;
    scan.models.push(...(await describeRepo(e.full, repoName(e.name), ctx)));
  }
  return scan;
}

async function describeRepo(repoDir: string, name: string, ctx: DescribeContext): Promise<DiscoveredModel[]> {
  const fail = (problem: string): DiscoveredModel[] => [{ name, source: 'huggingface', format: 'hf', path: repoDir, sizeBytes: 0, memory: { fits: 'unknown' }, problem }];
  const snapshots = path.join(repoDir, 'snapshots');
  const ref = await readSmallText(path.join(repoDir, 'refs', 'main'), 4096);
  let snapshot: string;
  if ('text' in ref) {
    snapshot = path.join(snapshots, ref.text.trim());
    if (!(await isDir(snapshot))) return fail(`refs/main names snapshot ${ref.text.trim()}, which is not in ${snapshots}`);
  } else {
    // No refs/main (a revision pinned by hash): the only snapshot, else the newest by name is as good as any; say which.
    const list = await listDir(snapshots, ctx.budget);
    if (typeof list === 'string') return fail(`${repoDir} has no snapshot (the download never finished)`);
    const dirs = list.filter((e) => e.kind === 'dir');
    if (dirs.length === 0) return fail(`${repoDir} has no snapshot (the download never finished)`);
    snapshot = dirs[dirs.length - 1].full;
  }
  const files = await listDir(snapshot, ctx.budget);
  if (typeof files === 'string') return fail(files);
  if (files.some((f) => f.name === 'config.json')) return [await describeHfFolder(snapshot, { name, source: 'huggingface' }, ctx)];
  const ggufs = await modelsInFolder(snapshot, files, 'huggingface', ctx, (rel) => `${name}/${rel}`);
  if (ggufs.length) return ggufs;
  return fail(files.length === 0 ? `snapshot ${snapshot} is empty` : `${snapshot} has neither config.json nor GGUF files`);
}
