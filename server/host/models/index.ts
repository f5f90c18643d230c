// Model discovery: what is already on disk, in Ollama's store, LM Studio's models folder, the
// Hugging Face hub cache, or a file or folder the user picked. Reads metadata only (GGUF headers,
// JSON manifests, safetensors headers); never downloads, never loads weights, never throws for a
// broken store: each model that cannot be used carries a one-line `problem`.

import * as path from 'path';
import type { DiscoveredModel, ListModelsParams, ListModelsResult, ModelSourceKind } from '../../protocol';
import { describeGguf, describeHfFolder, describeLavinFolder, DescribeContext, SpecReader } from './describe';
import { isGguf, modelsInFolder, scanGgufFolders } from './ggufFolders';
import { readGgufFacts } from './ggufFacts';
import { scanHfCache } from './hfCache';
import { Machine } from './memoryFit';
import { scanOllamaStore } from './ollamaStore';
import { hfCacheRoots, lmStudioRoots, ollamaRoots } from './roots';
import { fileSize, firstLine, isDir, listDir, ScanBudget } from './walk';

export type { BackboneFacts, SpecReader } from './describe';

export interface DiscoveryOptions extends ListModelsParams {
  /** Environment and home folder the default roots come from (tests pass their own). */
  env?: Record<string, string | undefined>;
  home?: string;
  readGguf?: SpecReader;
  machine?: Machine;
  budget?: ScanBudget;
}

/** A picked folder is walked this deep for GGUF files. */
const PICKED_DEPTH = 3;

export async function discoverModels(o: DiscoveryOptions = {}): Promise<ListModelsResult> {
  // Each place searched gets its own budget (a huge LM Studio folder does not starve the HF cache).
  const context = (): DescribeContext => ({ readGguf: o.readGguf ?? readGgufFacts, machine: o.machine, budget: o.budget ?? new ScanBudget() });
  const result: ListModelsResult = { models: [], searched: [] };
  const look = async (source: ModelSourceKind, root: string, scan: (ctx: DescribeContext) => Promise<{ models: DiscoveredModel[]; unreadable: string[] }>) => {
    const ctx = context();
    const exists = await isDir(root);
    const entry: ListModelsResult['searched'][number] = { source, root, exists };
    result.searched.push(entry);
    if (!exists || ctx.budget.stopped) return;
    try {
      const found = await scan(ctx);
      result.models.push(...found.models);
      const notes = [...found.unreadable, ...(ctx.budget.stopped ? [ctx.budget.stopped] : [])];
      if (notes.length) entry.note = notes.slice(0, 3).join('; ') + (notes.length > 3 ? ` (and ${notes.length - 3} more)` : '');
    } catch (e) {
      entry.note = `scan failed: ${firstLine(e)}`;
    }
  };
  for (const root of o.ollama ?? ollamaRoots(o.env, o.home)) await look('ollama', root, (ctx) => scanOllamaStore(root, ctx));
  for (const root of o.lmStudio ?? lmStudioRoots(o.env, o.home)) {
    await look('lmstudio', root, (ctx) => scanGgufFolders(root, 'lmstudio', ctx, { maxDepth: 2 }));
  }
  for (const root of o.huggingFace ?? hfCacheRoots(o.env, o.home)) await look('huggingface', root, (ctx) => scanHfCache(root, ctx));
  for (const picked of o.paths ?? []) {
    const p = path.resolve(picked);
    const ctx = context();
    const models = await describePicked(p, ctx);
    const exists = models.some((m) => !m.problem) || (await fileSize(p)) !== undefined || (await isDir(p));
    result.searched.push({ source: 'picked', root: p, exists, ...(ctx.budget.stopped ? { note: ctx.budget.stopped } : {}) });
    result.models.push(...models);
  }
  // A picked file that a store already lists is listed once, as its store names it. (Two Ollama tags
  // of one blob stay two entries, as `ollama list` shows them.)
  const inStores = new Set(result.models.filter((m) => m.source !== 'picked').map((m) => m.path));
  result.models = result.models.filter((m) => m.source !== 'picked' || !inStores.has(m.path)).map(inProtocolOrder);
  return result;
}

/** The fields in the order the protocol declares them (JSON output reads top to bottom). */
function inProtocolOrder(m: DiscoveredModel): DiscoveredModel {
  const { name, source, format, path: p, architecture, parameters, quantization, sizeBytes, contextLength, visionTower, storeTemplate, memory, problem, notes } = m;
  const ordered = { name, source, format, path: p, architecture, parameters, quantization, sizeBytes, contextLength, visionTower, storeTemplate, memory, problem, notes };
  return Object.fromEntries(Object.entries(ordered).filter(([, v]) => v !== undefined)) as unknown as DiscoveredModel;
}

/** A path the user picked: a GGUF file, a LaVIN model folder, a Hugging Face folder, or a folder of GGUF files. */
export async function describePicked(p: string, ctx: DescribeContext): Promise<DiscoveredModel[]> {
  const name = path.basename(p) || p;
  const fail = (problem: string): DiscoveredModel[] => [{ name, source: 'picked', format: 'gguf', path: p, sizeBytes: 0, memory: { fits: 'unknown' }, problem }];
  if (!(await isDir(p))) {
    if ((await fileSize(p)) === undefined) return fail(`${p} does not exist`);
    if (!isGguf(p)) return fail(`${p} is not a GGUF file (pick a .gguf file, a Hugging Face folder, or a model folder with model.json)`);
    const parent = await listDir(path.dirname(p), ctx.budget);
    // Beside an mmproj-*.gguf, the file gets it as its vision tower, as in a scanned folder.
    const same = typeof parent === 'string' ? [] : (await modelsInFolder(path.dirname(p), parent.filter((e) => e.full === p || /mmproj/i.test(e.name)), 'picked', ctx));
    return same.length ? same : [await describeGguf(p, { name, source: 'picked' }, ctx)];
  }
  const entries = await listDir(p, ctx.budget);
  if (typeof entries === 'string') return fail(entries);
  if (entries.some((e) => e.name === 'model.json')) return [await describeLavinFolder(p, { name, source: 'picked' }, ctx)];
  if (entries.some((e) => e.name === 'config.json')) return [await describeHfFolder(p, { name, source: 'picked' }, ctx)];
  const scan = await scanGgufFolders(p, 'picked', ctx, { maxDepth: PICKED_DEPTH, nameOf: (rel) => `${name.replace(/[\\/]$/, '')}/${rel}` });
  if (scan.models.length) return scan.models;
  const searched = ctx.budget.stopped ? `in what could be searched (${ctx.budget.stopped})` : `within ${PICKED_DEPTH} folders`;
  return fail(`${p} has no GGUF files (${searched}), no config.json and no model.json`);
}
