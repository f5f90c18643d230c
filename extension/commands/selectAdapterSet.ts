// LaVIN: Select Adapter Set — activate a fine-tuned set, or go back to the model's own adapters.

import * as vscode from 'vscode';
import { ActivateAdapterSetRequest, ListAdapterSetsRequest } from '../../server/protocol';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';
import { adapterSetPickItems } from './adapterSetPicks';

export async function selectAdapterSet(backend: Backend): Promise<void> {
  try {
    const { sets, active } = await backend.request0(ListAdapterSetsRequest);
    const items = adapterSetPickItems(sets, active);
    const pick = await vscode.window.showQuickPick(items, {
      title: 'LaVIN: Select Adapter Set',
      placeHolder: sets.length ? 'Adapter set to use' : 'No trained sets yet (LaVIN: Fine-tune Adapters on Project Docs, or Train Vision Adapters...)',
    });
    if (!pick || pick.name === active) return;
    await activateAdapterSet(backend, pick.name, active);
  } catch (err) {
    void vscode.window.showErrorMessage(`LaVIN: could not change the adapter set: ${errorMessage(err)}`);
  }
}

/** Activates `name` and remembers it; offers a one-click roll back to `previous`. */
export async function activateAdapterSet(backend: Backend, name: string | null, previous: string | null): Promise<void> {
  await backend.request(ActivateAdapterSetRequest, { name });
  await vscode.workspace.getConfiguration('lavin').update('adapterSet', name ?? '', vscode.ConfigurationTarget.Global);
  const label = name ?? "the model's own adapters";
  // Not awaited: the command finishes while the notice waits for a click.
  void vscode.window.showInformationMessage(`LaVIN now uses ${label}.`, 'Roll Back').then(async (choice) => {
    if (choice !== 'Roll Back') return;
    try {
      await activateAdapterSet(backend, previous, name);
    } catch (err) {
      void vscode.window.showErrorMessage(`LaVIN: roll back failed: ${errorMessage(err)}`);
    }
  });
}
