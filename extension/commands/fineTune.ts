// LaVIN: Fine-tune Adapters on Project Docs — pick a docs folder, preview what it holds, then train
// with a cancellable progress notification. The result is a named adapter set to activate or roll back.

import * as vscode from 'vscode';
import * as path from 'path';
import { ResponseError } from 'vscode-languageclient';
import { AdapterSetInfo, LavinErrorCodes, ListAdapterSetsRequest, PreviewTrainingRequest, PreviewTrainingResult, TrainResult } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { LavinConfig } from '../config';
import { activateAdapterSet } from './selectAdapterSet';
import { trainWithProgress } from './trainingRun';

export interface FineTuneOptions {
  /** Docs folder; asked for when absent. */
  docs?: string;
  name?: string;
  steps?: number;
  /** Skip the preview confirmation (programmatic use). */
  skipPreview?: boolean;
  /** Replace an existing set of that name. Without it the user is asked (or, with skipPreview, the server refuses). */
  overwrite?: boolean;
  /** Cancels like the notification's Cancel button. */
  token?: vscode.CancellationToken;
}

export async function fineTune(backend: Backend, config: LavinConfig, options: FineTuneOptions = {}): Promise<TrainResult | undefined> {
  const folder = options.docs ? vscode.Uri.file(options.docs) : await pickDocsFolder();
  if (!folder) return undefined;
  // The preview and the run read the folder with the same globs, so the counts shown are the samples trained on.
  const include = includeGlobs(config.docsGlobs);

  let preview: PreviewTrainingResult | undefined;
  if (!options.skipPreview) {
    preview = await previewTraining(backend, folder, include);
    if (!preview) return undefined;
    if (preview.samples === 0) {
      void vscode.window.showWarningMessage(`LaVIN: nothing to train on in ${folder.fsPath}: ${whyNoSamples(preview, include)}.`);
      return undefined;
    }
  }
  const existing = await existingSets(backend);
  let name = options.name ?? (options.skipPreview ? defaultName(folder) : await askName(folder, existing));
  let overwrite = options.overwrite ?? false;
  // Never replace a saved set without asking: confirm, or pick another name.
  while (name && !overwrite && !options.skipPreview) {
    const old = existing.find((s) => s.name === name);
    if (!old) break;
    const choice = await vscode.window.showWarningMessage(
      `Adapter set "${name}" already exists (${old.steps} steps, saved ${new Date(old.updated).toLocaleString()}). Replace it?`,
      { modal: true, detail: 'Training under this name replaces the saved set. Use another name to keep both.' },
      'Replace', 'Use Another Name',
    );
    if (choice === 'Replace') overwrite = true;
    else if (choice === 'Use Another Name') name = await askName(folder, existing, freeName(name, existing));
    else return undefined;
  }
  if (!name) return undefined;

  if (preview) {
    const go = await vscode.window.showInformationMessage(
      `Fine-tune LaVIN's adapters on ${describeCounts(preview)} in ${path.basename(folder.fsPath)} as adapter set "${name}"?`,
      { modal: true, detail: previewDetail(preview) },
      'Start Training',
    );
    if (go !== 'Start Training') return undefined;
  }

  try {
    const result = await trainWithProgress(
      backend,
      { docs: folder.fsPath, include, name, steps: options.steps, overwrite, readImageText: config.readImageText },
      `LaVIN: training "${name}"`,
      options.token,
    );
    const summary = `${result.steps} steps, final loss ${result.finalLoss?.toFixed(3) ?? 'n/a'}`;
    const verb = result.cancelled ? 'stopped; the last checkpoint was saved' : 'trained';
    void vscode.window.showInformationMessage(`LaVIN: adapter set "${result.adapterSet}" ${verb} (${summary}).`, 'Activate').then(async (choice) => {
      if (choice !== 'Activate') return;
      const previous = backend.lastStatus?.adapterSet ?? null;
      await activateAdapterSet(backend, result.adapterSet, previous).catch((err) =>
        vscode.window.showErrorMessage(`LaVIN: could not activate "${result.adapterSet}": ${errorMessage(err)}`),
      );
    });
    return result;
  } catch (err) {
    const message =
      err instanceof ResponseError && err.code === LavinErrorCodes.TrainingFailed ? err.message : `training failed: ${errorMessage(err)}`;
    void vscode.window.showErrorMessage(`LaVIN: ${message}`);
    throw err;
  }
}

async function pickDocsFolder(): Promise<vscode.Uri | undefined> {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    defaultUri: root,
    openLabel: 'Use These Docs',
    title: 'LaVIN: folder of project docs to fine-tune on',
  });
  return picked?.[0];
}

function defaultName(folder: vscode.Uri): string {
  return path.basename(folder.fsPath).replace(/[^A-Za-z0-9._-]+/g, '-') || 'docs';
}

function askName(folder: vscode.Uri, existing: AdapterSetInfo[], value = defaultName(folder)): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: 'LaVIN: name of the new adapter set',
    value,
    validateInput: (v) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)) return 'Use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit';
      if (existing.some((s) => s.name === v)) return { message: `An adapter set named "${v}" exists: you will be asked before it is replaced.`, severity: vscode.InputBoxValidationSeverity.Warning };
      return undefined;
    },
  });
}

/** The adapter sets the backend knows; none when it cannot say (the server still refuses to replace one). */
async function existingSets(backend: Backend): Promise<AdapterSetInfo[]> {
  try {
    return (await backend.request0(ListAdapterSetsRequest)).sets;
  } catch {
    return [];
  }
}

/** name-2, name-3, ...: the first that is not taken. */
export function freeName(name: string, existing: readonly { name: string }[]): string {
  const taken = new Set(existing.map((s) => s.name));
  const stem = name.replace(/-\d+$/, '');
  for (let i = 2; ; i++) if (!taken.has(`${stem}-${i}`)) return `${stem}-${i}`;
}

/** lavin.docsGlobs as the server's `include`; an empty setting means every document. */
function includeGlobs(globs: string[]): string[] | undefined {
  const kept = globs.map((g) => g.trim()).filter(Boolean);
  return kept.length ? kept : undefined;
}

/** The server's dry run of the docs dataset; undefined (after telling the user) when it fails. */
async function previewTraining(backend: Backend, folder: vscode.Uri, include: string[] | undefined): Promise<PreviewTrainingResult | undefined> {
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'LaVIN: reading docs' },
      () => backend.request(PreviewTrainingRequest, { docs: folder.fsPath, include }),
    );
  } catch (err) {
    const outside = err instanceof ResponseError && err.code === LavinErrorCodes.PathOutsideWorkspace;
    void vscode.window.showErrorMessage(`LaVIN: ${outside ? 'pick a docs folder inside the workspace: ' : 'could not read the docs: '}${errorMessage(err)}`);
    return undefined;
  }
}

function whyNoSamples(p: PreviewTrainingResult, include: string[] | undefined): string {
  const globs = include ? ` match lavin.docsGlobs (${include.join(', ')})` : ' (Markdown, MDX, reStructuredText or text)';
  if (p.documents === 0) return `no documents${globs}`;
  return `${p.documents} document${plural(p.documents)}${globs}, but none has a section long enough to train on`;
}

function plural(n: number): string {
  return n === 1 ? '' : 's';
}

/** "12 samples (10 text, 2 image) from 4 documents" */
export function describeCounts(p: PreviewTrainingResult): string {
  const from = p.documentsUsed === p.documents ? `${p.documents}` : `${p.documentsUsed} of ${p.documents}`;
  return `${p.samples} sample${plural(p.samples)} (${p.textSamples} text, ${p.imageSamples} image) from ${from} document${plural(p.documents)}`;
}

/** The confirmation's detail: two example prompts, what was skipped, and what training does. */
export function previewDetail(p: PreviewTrainingResult): string {
  const lines: string[] = [];
  const examples = p.examples.slice(0, 2);
  if (examples.length) {
    lines.push('For example:');
    for (const e of examples) {
      const image = e.image ? ` [${e.image}]` : '';
      lines.push(`• ${oneLine(e.instruction ?? e.prompt, 90)}${image} → ${oneLine(e.answer, 90)}`);
    }
    lines.push('');
  }
  if (p.skippedTotal > 0) {
    const shown = p.skipped.slice(0, 3).map((s) => `${s.path} (${s.reason})`).join('; ');
    const more = p.skippedTotal > 3 ? `; and ${p.skippedTotal - 3} more` : '';
    lines.push(`Skipped ${p.skippedTotal}: ${shown}${more}.`, '');
  }
  lines.push('Training runs locally and can be cancelled; the last checkpoint is kept.');
  return lines.join('\n');
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
