// LaVIN: Fine-tune Adapters on Project Docs — pick a docs folder, preview what it holds, then train
// with a cancellable progress notification. The result is a named adapter set to activate or roll back.

import * as vscode from 'vscode';
import * as path from 'path';
import { randomUUID } from 'crypto';
import { ResponseError } from 'vscode-languageclient';
import { TrainRequest, TrainResult, LavinErrorCodes } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { LavinConfig } from '../config';
import { activateAdapterSet } from './selectAdapterSet';

export interface FineTuneOptions {
  /** Docs folder; asked for when absent. */
  docs?: string;
  name?: string;
  steps?: number;
  /** Skip the preview confirmation (programmatic use). */
  skipPreview?: boolean;
  /** Cancels like the notification's Cancel button. */
  token?: vscode.CancellationToken;
}

export interface DocsPreview {
  files: number;
  bytes: number;
}

/** Files under `folder` matching the docs globs (the same count the preview shows). */
export async function previewDocs(folder: vscode.Uri, globs: string[]): Promise<DocsPreview> {
  const seen = new Set<string>();
  let bytes = 0;
  for (const glob of globs) {
    for (const uri of await vscode.workspace.findFiles(new vscode.RelativePattern(folder, glob), '**/node_modules/**', 5000)) {
      if (seen.has(uri.fsPath)) continue;
      seen.add(uri.fsPath);
      bytes += (await vscode.workspace.fs.stat(uri)).size;
    }
  }
  return { files: seen.size, bytes };
}

export async function fineTune(backend: Backend, config: LavinConfig, options: FineTuneOptions = {}): Promise<TrainResult | undefined> {
  const folder = options.docs ? vscode.Uri.file(options.docs) : await pickDocsFolder();
  if (!folder) return undefined;
  const name = options.name ?? (options.skipPreview ? defaultName(folder) : await askName(folder));
  if (!name) return undefined;

  if (!options.skipPreview) {
    const preview = await previewDocs(folder, config.docsGlobs);
    if (preview.files === 0) {
      void vscode.window.showWarningMessage(`LaVIN: no files in ${folder.fsPath} match lavin.docsGlobs (${config.docsGlobs.join(', ')}).`);
      return undefined;
    }
    const go = await vscode.window.showInformationMessage(
      `Fine-tune LaVIN's adapters on ${preview.files} document${preview.files === 1 ? '' : 's'} (${formatBytes(preview.bytes)}) in ${path.basename(folder.fsPath)} as adapter set "${name}"?`,
      { modal: true, detail: 'Training runs locally and can be cancelled; the last checkpoint is kept.' },
      'Start Training',
    );
    if (go !== 'Start Training') return undefined;
  }

  const runId = randomUUID();
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `LaVIN: training "${name}"`, cancellable: true },
      async (progress, cancelToken) => {
        const cancel = new vscode.CancellationTokenSource();
        const subs = [cancelToken.onCancellationRequested(() => cancel.cancel())];
        if (options.token) subs.push(options.token.onCancellationRequested(() => cancel.cancel()));
        let lastFraction = 0;
        subs.push(
          backend.onTrainProgress((p) => {
            if (p.runId !== runId) return;
            const fraction = p.totalSteps > 0 ? p.step / p.totalSteps : 0;
            progress.report({
              message: `step ${p.step}/${p.totalSteps} · loss ${p.loss.toFixed(3)} · ETA ${formatEta(p.etaSeconds)}`,
              increment: Math.max(0, (fraction - lastFraction) * 100),
            });
            lastFraction = fraction;
          }),
        );
        try {
          return await backend.request(TrainRequest, { docs: folder.fsPath, name, steps: options.steps, runId }, cancel.token);
        } finally {
          subs.forEach((s) => s.dispose());
          cancel.dispose();
        }
      },
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

function askName(folder: vscode.Uri): Thenable<string | undefined> {
  return vscode.window.showInputBox({
    title: 'LaVIN: name of the new adapter set',
    value: defaultName(folder),
    validateInput: (v) => (/^[A-Za-z0-9._-]{1,64}$/.test(v) ? undefined : 'Use 1-64 letters, digits, ".", "_" or "-"'),
  });
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '…';
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
