// LaVIN: Export Adapter Set... / LaVIN: Import Adapter Set... — a set as one .safetensors file
// (tensors + manifest: name, kind, the fingerprint of the model it was trained on), to move it to
// another machine. Import never replaces a set: a name clash asks for another name.

import * as os from 'os';
import * as vscode from 'vscode';
import { ExportAdapterSetRequest, ExportAdapterSetResult, ImportAdapterSetRequest, ImportAdapterSetResult, ListAdapterSetsRequest } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { freeName } from './fineTune';
import { activateAdapterSet } from './selectAdapterSet';

export interface ExportOptions {
  name?: string;
  /** Target file; asked for when absent. */
  file?: string;
}

export async function exportAdapterSetCommand(backend: Backend, options: ExportOptions = {}): Promise<ExportAdapterSetResult | undefined> {
  try {
    let name = options.name;
    if (!name) {
      const { sets } = await backend.request0(ListAdapterSetsRequest);
      if (sets.length === 0) {
        void vscode.window.showInformationMessage('LaVIN: no adapter sets to export yet (train one with "LaVIN: Train Vision Adapters..." or "Fine-tune Adapters on Project Docs").');
        return undefined;
      }
      const pick = await vscode.window.showQuickPick(
        sets.map((s) => ({ label: s.name, description: `${s.kind ?? 'docs'} · ${s.steps} steps · ${s.baseModel ?? '?'}`, name: s.name })),
        { title: 'LaVIN: Export Adapter Set', placeHolder: 'Adapter set to export' },
      );
      name = pick?.name;
    }
    if (!name) return undefined;
    const dir = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
    const target = options.file ? vscode.Uri.file(options.file) : await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.joinPath(dir, `${name}.safetensors`),
      filters: { 'Adapter set': ['safetensors'] },
      saveLabel: 'Export',
      title: `LaVIN: export adapter set "${name}"`,
    });
    if (!target) return undefined;
    // The save dialog asks before replacing a file: an existing one here is the user's choice.
    const r = await backend.request(ExportAdapterSetRequest, { name, file: target.fsPath, overwrite: !options.file });
    const note = r.fingerprinted ? '' : ' It records no model fingerprint (trained before fingerprints were recorded).';
    void vscode.window.showInformationMessage(`LaVIN: adapter set "${name}" exported to ${target.fsPath} (${Math.round(r.bytes / 1024)} KiB).${note}`);
    return r;
  } catch (err) {
    void vscode.window.showErrorMessage(`LaVIN: export failed: ${errorMessage(err)}`);
    return undefined;
  }
}

export interface ImportOptions {
  file?: string;
  name?: string;
}

export async function importAdapterSetCommand(backend: Backend, options: ImportOptions = {}): Promise<ImportAdapterSetResult | undefined> {
  const file = options.file ?? (await vscode.window.showOpenDialog({
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
    filters: { 'Adapter set': ['safetensors'] },
    openLabel: 'Import',
    title: 'LaVIN: import an exported adapter set (.safetensors)',
  }))?.[0]?.fsPath;
  if (!file) return undefined;
  let name = options.name;
  for (;;) {
    try {
      const r = await backend.request(ImportAdapterSetRequest, { file, name });
      void vscode.window.showInformationMessage(`LaVIN: imported adapter set "${r.name}" (${r.kind}, ${r.steps} steps, trained on ${r.baseModel}).`, 'Activate').then(async (choice) => {
        if (choice !== 'Activate') return;
        await activateAdapterSet(backend, r.name, backend.lastStatus?.adapterSet ?? null).catch((err) =>
          vscode.window.showErrorMessage(`LaVIN: could not activate "${r.name}": ${errorMessage(err)}`),
        );
      });
      return r;
    } catch (err) {
      const clash = /an adapter set named "([^"]+)" already exists/.exec(errorMessage(err));
      if (!clash || options.name) {
        void vscode.window.showErrorMessage(`LaVIN: ${errorMessage(err)}`);
        return undefined;
      }
      // A name clash: ask for another name (never replace the saved set).
      const existing = await backend.request0(ListAdapterSetsRequest).then((l) => l.sets, () => []);
      name = await vscode.window.showInputBox({
        title: `LaVIN: an adapter set named "${clash[1]}" exists; name for the imported one`,
        value: freeName(clash[1], existing),
        validateInput: (v) => (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? 'Use 1-64 letters, digits, ".", "_" or "-"' : existing.some((s) => s.name === v) ? `"${v}" exists too` : undefined),
      });
      if (!name) return undefined;
    }
  }
}
