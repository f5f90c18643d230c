// LaVIN: Select Model — the models already on disk (Ollama, LM Studio, the Hugging Face cache, as
// lavin/listModels finds them), a GGUF file or folder picked by hand, the embedded model, a converted
// model folder, or a walk through pointing at Meta's LLaMA files + CLIP ViT-L/14 + a LaVIN adapter
// checkpoint, converted once into a model folder.

import * as vscode from 'vscode';
import * as fs from 'fs';
import * as path from 'path';
import { DiscoveredModel, ListModelsParams, ListModelsRequest, LoadModelRequest, PrecisionName, SetupModelRequest, StatusRequest, StatusResult } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { LavinConfig } from '../config';
import { ModelPickItem, modelPickItems } from './modelPicks';

export interface SelectModelOptions {
  /** A model folder (with model.json) to load without asking. */
  folder?: string;
}

type FixedPick = vscode.QuickPickItem & { id: 'embedded' | 'browse-file' | 'browse-folder' | 'folder' | 'convert' };
type Pick = FixedPick | (ModelPickItem & { id: 'found' }) | (vscode.QuickPickItem & { id: 'none' });

export async function selectModel(backend: Backend, config: LavinConfig, options: SelectModelOptions = {}): Promise<StatusResult | undefined> {
  if (options.folder) return loadFolder(backend, config, options.folder);
  const fixed: FixedPick[] = [
    { label: '$(package) Embedded tiny model', description: 'lavin-tiny, ships with the extension (for trying things out)', id: 'embedded' },
    { label: '$(file) Browse for a GGUF file…', description: 'a .gguf model file (llama.cpp, Ollama, LM Studio)', id: 'browse-file' },
    { label: '$(folder) Browse for a folder…', description: 'a Hugging Face folder (config.json + safetensors) or a folder of GGUF files', id: 'browse-folder' },
    { label: '$(folder-opened) Model folder…', description: 'a folder with model.json (converted before)', id: 'folder' },
    { label: '$(wand) Convert LLaMA + CLIP + LaVIN adapter…', description: 'point at the original checkpoints; converts once', id: 'convert' },
  ];
  const pick = await pickWithDiscovery(backend, fixed);
  if (!pick || pick.id === 'none') return undefined;
  try {
    switch (pick.id) {
      case 'found':
        return await useDiscovered(backend, config, pick.model);
      case 'embedded':
        return await loadFolder(backend, config, backend.embeddedModelDir(), true);
      case 'browse-file':
      case 'browse-folder': {
        const picked = await pickPath({ folders: pick.id === 'browse-folder', title: pick.id === 'browse-file' ? 'GGUF model file' : 'Hugging Face folder or folder of GGUF files', filters: pick.id === 'browse-file' ? { GGUF: ['gguf'] } : undefined });
        return picked ? await usePicked(backend, config, picked) : undefined;
      }
      case 'folder': {
        const dir = await pickPath({ folders: true, title: 'Model folder (contains model.json)' });
        return dir ? await loadFolder(backend, config, dir) : undefined;
      }
      case 'convert':
        return await convert(backend);
    }
  } catch (err) {
    void vscode.window.showErrorMessage(`LaVIN: ${errorMessage(err)}`);
    return undefined;
  }
}

/**
 * The fixed entries show at once; the models discovery finds join them when lavin/listModels answers
 * (a failed discovery leaves the fixed entries usable and says why).
 */
async function pickWithDiscovery(backend: Backend, fixed: FixedPick[]): Promise<Pick | undefined> {
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem>();
  qp.title = 'LaVIN: Select Model';
  qp.placeholder = 'a model on this machine, a GGUF file or folder, the embedded model, or a conversion';
  qp.items = fixed;
  qp.busy = true;
  let open = true;
  const show = (more: vscode.QuickPickItem[]) => {
    if (!open) return;
    const active = qp.activeItems[0];
    qp.items = [...fixed, { label: 'On this machine', kind: vscode.QuickPickItemKind.Separator }, ...more];
    if (active && fixed.includes(active as FixedPick)) qp.activeItems = [active];
    qp.busy = false;
  };
  backend.request(ListModelsRequest, storeRoots()).then(
    (r) => {
      const found: Pick[] = modelPickItems(r.models).map((i) => ({ ...i, id: 'found' as const }));
      const where = r.searched.filter((s) => s.exists).map((s) => s.root).join(', ');
      show(found.length ? found : [{ label: '$(info) No models found in Ollama, LM Studio or the Hugging Face cache', description: where, id: 'none' } as Pick]);
    },
    (err) => show([{ label: `$(warning) Could not list the models on disk: ${errorMessage(err)}`, id: 'none' } as Pick]),
  );
  try {
    return await new Promise<Pick | undefined>((resolve) => {
      qp.onDidAccept(() => {
        resolve(qp.selectedItems[0] as Pick | undefined);
        qp.hide();
      });
      qp.onDidHide(() => resolve(undefined));
      qp.show();
    });
  } finally {
    open = false;
    qp.dispose();
  }
}

/** The store folders the settings name (lavin.lmStudioModelsFolder); absent: the server's defaults. */
function storeRoots(): ListModelsParams {
  const lmStudio = vscode.workspace.getConfiguration('lavin').get<string>('lmStudioModelsFolder', '');
  return lmStudio ? { lmStudio: [lmStudio] } : {};
}

/** A picked file or folder, described by the server first: its problem is shown before any load. */
async function usePicked(backend: Backend, config: LavinConfig, picked: string): Promise<StatusResult | undefined> {
  const r = await backend.request(ListModelsRequest, { paths: [picked], ollama: [], lmStudio: [], huggingFace: [] });
  const usable = r.models.filter((m) => !m.problem);
  if (usable.length === 0) throw new Error(r.models[0]?.problem ?? `${picked}: nothing LaVIN can load there`);
  if (usable.length === 1) return useDiscovered(backend, config, usable[0]);
  const choice = await vscode.window.showQuickPick(modelPickItems(usable), { title: `LaVIN: models in ${path.basename(picked)}` });
  return choice ? useDiscovered(backend, config, choice.model) : undefined;
}

/** Loads a discovered model and makes it the lavin.modelFolder setting (a GGUF file, a Hugging Face folder or a model folder). */
async function useDiscovered(backend: Backend, config: LavinConfig, model: DiscoveredModel): Promise<StatusResult> {
  if (model.problem) throw new Error(`${model.name} cannot be used: ${model.problem}`);
  if (model.memory.fits === 'no') {
    const go = await vscode.window.showWarningMessage(`LaVIN: ${model.name} ${model.memory.message ?? 'may not fit in memory'}. Load it anyway?`, { modal: true }, 'Load anyway');
    if (go !== 'Load anyway') throw new Error(`${model.name} was not loaded: ${model.memory.message ?? 'too big for this machine'}`);
  }
  const status = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `LaVIN: loading ${model.name}` },
    () => backend.request(LoadModelRequest, { dir: model.path, device: config.device, precision: config.precision === 'auto' ? undefined : config.precision }),
  );
  await vscode.workspace.getConfiguration('lavin').update('modelFolder', model.path, vscode.ConfigurationTarget.Global);
  return status;
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
