// LaVIN: Select Model — the embedded model, a converted model folder, or a walk through pointing at
// Meta's LLaMA files + CLIP ViT-L/14 + a LaVIN adapter checkpoint, converted once into a model folder.

import * as vscode from 'vscode';
import * as fs from 'fs';
import * as path from 'path';
import { LoadModelRequest, PrecisionName, SetupModelRequest, StatusRequest, StatusResult } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { LavinConfig } from '../config';

export interface SelectModelOptions {
  /** A model folder (with model.json) to load without asking. */
  folder?: string;
}

export async function selectModel(backend: Backend, config: LavinConfig, options: SelectModelOptions = {}): Promise<StatusResult | undefined> {
  if (options.folder) return loadFolder(backend, config, options.folder);
  const pick = await vscode.window.showQuickPick(
    [
      { label: '$(package) Embedded tiny model', description: 'lavin-tiny, ships with the extension (for trying things out)', id: 'embedded' as const },
      { label: '$(folder-opened) Model folder…', description: 'a folder with model.json (converted before)', id: 'folder' as const },
      { label: '$(wand) Convert LLaMA + CLIP + LaVIN adapter…', description: 'point at the original checkpoints; converts once', id: 'convert' as const },
    ],
    { title: 'LaVIN: Select Model' },
  );
  if (!pick) return undefined;
  try {
    if (pick.id === 'embedded') return await loadFolder(backend, config, backend.embeddedModelDir(), true);
    if (pick.id === 'folder') {
      const dir = await pickPath({ folders: true, title: 'Model folder (contains model.json)' });
      return dir ? await loadFolder(backend, config, dir) : undefined;
    }
    return await convert(backend);
  } catch (err) {
    void vscode.window.showErrorMessage(`LaVIN: ${errorMessage(err)}`);
    return undefined;
  }
}

async function loadFolder(backend: Backend, config: LavinConfig, dir: string, embedded = false): Promise<StatusResult> {
  if (!fs.existsSync(path.join(dir, 'model.json'))) throw new Error(`${dir} has no model.json: pick a converted model folder, or convert one`);
  const status = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `LaVIN: loading ${path.basename(dir)}` },
    () =>
      backend.request(LoadModelRequest, {
        dir,
        device: config.device,
        precision: config.precision === 'auto' ? undefined : config.precision,
      }),
  );
  await vscode.workspace.getConfiguration('lavin').update('modelFolder', embedded ? '' : dir, vscode.ConfigurationTarget.Global);
  return status;
}

/** Problems with a Meta LLaMA folder, named file by file ([] = fine). */
export function checkLlamaFolder(dir: string): string[] {
  const problems: string[] = [];
  if (!fs.existsSync(path.join(dir, 'params.json'))) problems.push(`${path.join(dir, 'params.json')} is missing`);
  const shards = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^consolidated\.\d+\.pth$/.test(f)) : [];
  if (shards.length === 0) problems.push(`no consolidated.NN.pth shards in ${dir}`);
  return problems;
}

export function findTokenizer(llamaDir: string): string | undefined {
  return [path.join(llamaDir, 'tokenizer.model'), path.join(path.dirname(llamaDir), 'tokenizer.model')].find((p) => fs.existsSync(p));
}

async function convert(backend: Backend): Promise<StatusResult | undefined> {
  const llama = await pickPath({ folders: true, title: 'Step 1/4: LLaMA folder (params.json + consolidated.NN.pth)' });
  if (!llama) return undefined;
  const problems = checkLlamaFolder(llama);
  if (problems.length) throw new Error(`not a LLaMA checkpoint folder: ${problems.join('; ')}`);
  const tokenizer =
    findTokenizer(llama) ?? (await pickPath({ title: 'Step 1b: SentencePiece tokenizer.model', filters: { Tokenizer: ['model'] } }));
  if (!tokenizer) return undefined;
  const clip = await pickPath({ title: 'Step 2/4: CLIP ViT-L/14 weights', filters: { Weights: ['pth', 'pt', 'safetensors', 'bin'] } });
  if (!clip) return undefined;
  const adapter = await pickPath({ title: 'Step 3/4: LaVIN adapter checkpoint', filters: { Checkpoint: ['pth', 'pt'] } });
  if (!adapter) return undefined;
  const precision = await vscode.window.showQuickPick(
    [
      { label: 'fp16', description: 'half the memory of fp32; recommended' },
      { label: 'fp32', description: 'reference accuracy, most memory' },
      { label: 'int8', description: 'weight-only 8-bit' },
      { label: 'int4', description: 'weight-only 4-bit, smallest' },
    ],
    { title: 'Step 4/4: precision of the converted model' },
  );
  if (!precision) return undefined;
  const name = `${path.basename(llama)}-lavin-${precision.label}`;
  const out = vscode.Uri.joinPath(vscode.Uri.file(backend.adapterSetsDir()), '..', 'models', name).fsPath;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `LaVIN: converting ${name} (once)` },
    () =>
      backend.request(SetupModelRequest, {
        llama,
        clip,
        adapter,
        tokenizer,
        precision: precision.label as PrecisionName,
        out,
        name,
        activate: true,
      }),
  );
  await vscode.workspace.getConfiguration('lavin').update('modelFolder', result.dir, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`LaVIN: ${result.model.name} is ready (${result.dir}).`);
  return backend.request0(StatusRequest);
}

async function pickPath(o: { folders?: boolean; title: string; filters?: Record<string, string[]> }): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: !!o.folders,
    canSelectFiles: !o.folders,
    canSelectMany: false,
    title: `LaVIN: ${o.title}`,
    filters: o.filters,
  });
  return picked?.[0]?.fsPath;
}
