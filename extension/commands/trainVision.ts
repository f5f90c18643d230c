// LaVIN: Train Vision Adapters... — pick a folder of image-question data (a LLaVA-Instruct-style
// data.json or the ScienceQA layout), preview what validation keeps and skips, then train with a
// cancellable progress notification. A stopped run resumes from its last checkpoint; the result is
// a named adapter set to activate (with a one-click roll back).

import * as vscode from 'vscode';
import * as path from 'path';
import { ResponseError } from 'vscode-languageclient';
import { AdapterSetInfo, LavinErrorCodes, ListAdapterSetsRequest, PreviewVisionDataRequest, PreviewVisionDataResult, TrainResult } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { freeName } from './fineTune';
import { activateAdapterSet } from './selectAdapterSet';
import { trainWithProgress } from './trainingRun';

export interface TrainVisionOptions {
  /** Data folder; asked for when absent. */
  data?: string;
  name?: string;
  /** Optimizer steps; absent: the server's default for the data (epochs sized to it). */
  steps?: number;
  /** Skip the preview and the questions (programmatic use). */
  skipPreview?: boolean;
  /** Replace an existing set of that name. */
  overwrite?: boolean;
  /** Continue the named set from its last checkpoint (same data, same steps). */
  resume?: boolean;
  /** Cancels like the notification's Cancel button. */
  token?: vscode.CancellationToken;
}

export async function trainVision(backend: Backend, options: TrainVisionOptions = {}): Promise<TrainResult | undefined> {
  const folder = options.data ? vscode.Uri.file(options.data) : await pickDataFolder();
  if (!folder) return undefined;

  const ask = !options.skipPreview && !options.resume;
  let preview: PreviewVisionDataResult | undefined;
  if (ask) {
    preview = await previewData(backend, folder);
    if (!preview) return undefined;
    if (preview.samples === 0) {
      const first = preview.skipped[0];
      void vscode.window.showWarningMessage(`LaVIN: nothing to train on in ${folder.fsPath}: all ${preview.records} record${plural(preview.records)} were skipped${first ? ` (e.g. ${first.where}: ${first.reason})` : ''}.`);
      return undefined;
    }
  }
  const existing = ask ? await existingSets(backend) : [];
  let name = options.name ?? (ask ? await askName(folder, existing) : defaultName(folder));
  let overwrite = options.overwrite ?? false;
  let resume = options.resume ?? false;
  // Never replace a saved set without asking: resume it, replace it, or pick another name.
  while (name && ask && !overwrite && !resume) {
    const old = existing.find((s) => s.name === name);
    if (!old) break;
    const choice = await existingSetChoice(name, old);
    if (choice === 'resume') resume = true;
    else if (choice === 'replace') overwrite = true;
    else if (choice === 'rename') name = await askName(folder, existing, freeName(name, existing));
    else return undefined;
  }
  if (!name) return undefined;

  if (preview && !resume && !(await confirmPreview(preview, folder, name))) return undefined;

  try {
    const verb = resume ? 'resuming' : 'training';
    const result = await trainWithProgress(backend, { data: folder.fsPath, name, steps: options.steps, overwrite, resume }, `LaVIN: ${verb} vision adapters "${name}"`, options.token);
    announce(backend, folder, result, options.steps);
    return result;
  } catch (err) {
    const message = err instanceof ResponseError && err.code === LavinErrorCodes.TrainingFailed ? err.message : `vision training failed: ${errorMessage(err)}`;
    void vscode.window.showErrorMessage(`LaVIN: ${message}`);
    throw err;
  }
}

/** The end of a run: Resume (when stopped) and Activate. Not awaited: the command returns at once. */
function announce(backend: Backend, folder: vscode.Uri, result: TrainResult, steps: number | undefined): void {
  const skipped = result.skipped?.length ? `, ${result.skipped.length} skipped` : '';
  const data = result.samples !== undefined ? ` on ${result.samples} sample${plural(result.samples)}${skipped}` : '';
  const loss = result.finalLoss === null ? 'n/a' : result.finalLoss.toFixed(3);
  const text = result.cancelled
    ? `LaVIN: vision adapter set "${result.adapterSet}" stopped at step ${result.steps}${data}; the last checkpoint was saved (loss ${loss}).`
    : `LaVIN: vision adapter set "${result.adapterSet}" trained${data} (${result.steps} steps, final loss ${loss}).`;
  const buttons = result.cancelled ? ['Resume', 'Activate'] : ['Activate'];
  void vscode.window.showInformationMessage(text, ...buttons).then(async (choice) => {
    if (choice === 'Resume') {
      await trainVision(backend, { data: folder.fsPath, name: result.adapterSet, steps, resume: true }).catch(() => undefined); // errors were shown
    } else if (choice === 'Activate') {
      const previous = backend.lastStatus?.adapterSet ?? null;
      await activateAdapterSet(backend, result.adapterSet, previous).catch((err) =>
        vscode.window.showErrorMessage(`LaVIN: could not activate "${result.adapterSet}": ${errorMessage(err)}`),
      );
    }
  });
}

async function pickDataFolder(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    openLabel: 'Use This Data',
    title: 'LaVIN: image-question data folder (data.json in the LLaVA-Instruct layout, or ScienceQA\'s problems.json)',
  });
  return picked?.[0];
}

function defaultName(folder: vscode.Uri): string {
  return path.basename(folder.fsPath).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'vision';
}

function askName(folder: vscode.Uri, existing: AdapterSetInfo[], value = defaultName(folder)): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: 'LaVIN: name of the vision adapter set',
    value,
    validateInput: (v) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) return 'Use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
      if (existing.some((s) => s.name === v)) return { message: `An adapter set named "${v}" exists: you will be asked whether to resume or replace it.`, severity: vscode.InputBoxValidationSeverity.Warning };
      return undefined;
    },
  });
}

async function existingSets(backend: Backend): Promise<AdapterSetInfo[]> {
  try {
    return (await backend.request0(ListAdapterSetsRequest)).sets;
  } catch {
    return []; // the server still refuses to replace a set
  }
}

async function previewData(backend: Backend, folder: vscode.Uri): Promise<PreviewVisionDataResult | undefined> {
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'LaVIN: checking image-question data' },
      () => backend.request(PreviewVisionDataRequest, { data: folder.fsPath }),
    );
  } catch (err) {
    const outside = err instanceof ResponseError && err.code === LavinErrorCodes.PathOutsideWorkspace;
    void vscode.window.showErrorMessage(`LaVIN: ${outside ? 'pick a data folder inside the workspace: ' : 'could not read the data: '}${errorMessage(err)}`);
    return undefined;
  }
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

/** "12 samples from 10 LLaVA records (2 skipped)" */
export function describeVisionData(p: PreviewVisionDataResult): string {
  const format = p.format === 'llava' ? 'LLaVA' : 'ScienceQA';
  const skipped = p.skippedTotal ? ` (${p.skippedTotal} skipped)` : '';
  return `${p.samples} sample${plural(p.samples)} from ${p.records} ${format} record${plural(p.records)}${skipped}`;
}

/**
 * The preview as a quick pick (not a modal: it lists every skipped sample with its reason, up to
 * 50, and tests can drive it): Start Training first, then examples and what was skipped.
 */
async function confirmPreview(p: PreviewVisionDataResult, folder: vscode.Uri, name: string): Promise<boolean> {
  type Item = vscode.QuickPickItem & { start?: boolean };
  const items: Item[] = [
    { label: '$(play) Start Training', description: `adapter set "${name}"`, detail: 'Runs locally. Cancel keeps the last checkpoint, to resume later; samples too long for the model are skipped at the start.', start: true },
    { label: '$(close) Cancel', start: false },
  ];
  if (p.examples.length) {
    items.push({ label: 'Examples', kind: vscode.QuickPickItemKind.Separator });
    for (const e of p.examples) items.push({ label: `${e.image ? '$(file-media) ' : ''}${oneLine(e.instruction ?? e.prompt, 80)}`, description: `→ ${oneLine(e.answer, 60)}${e.image ? ` · ${e.image}` : ''}` });
  }
  if (p.skippedTotal > 0) {
    items.push({ label: `Skipped ${p.skippedTotal}${p.skippedTotal > p.skipped.length ? ` (first ${p.skipped.length} shown)` : ''}`, kind: vscode.QuickPickItemKind.Separator });
    for (const s of p.skipped) items.push({ label: `$(warning) ${s.where}`, description: s.reason });
  }
  for (;;) {
    const pick = await vscode.window.showQuickPick(items, {
      title: `Train vision adapters on ${describeVisionData(p)} in ${path.basename(folder.fsPath)} as adapter set "${name}"?`,
      placeHolder: 'Start Training, or read the examples and what was skipped',
      ignoreFocusOut: true,
      matchOnDescription: true,
    });
    if (!pick) return false;
    if (pick.start !== undefined) return pick.start;
  }
}

/** What to do with an existing set of the chosen name (a quick pick: modal dialogs cannot be driven in tests). */
async function existingSetChoice(name: string, old: AdapterSetInfo): Promise<'resume' | 'replace' | 'rename' | undefined> {
  type Item = vscode.QuickPickItem & { choice: 'resume' | 'replace' | 'rename' };
  const items: Item[] = [
    ...(old.kind === 'vision' ? [{ label: '$(debug-continue) Resume', description: 'continue it from its last checkpoint on this data', choice: 'resume' as const }] : []),
    { label: '$(replace-all) Replace', description: 'train it again from the start', choice: 'replace' },
    { label: '$(edit) Use Another Name', description: 'keep both', choice: 'rename' },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: `Adapter set "${name}" already exists (${old.steps} steps, saved ${new Date(old.updated).toLocaleString()})`,
    ignoreFocusOut: true,
  });
  return pick?.choice;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
