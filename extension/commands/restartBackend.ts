// LaVIN: Restart Backend.

import * as vscode from 'vscode';
import type { Backend } from '../backend';
import { errorMessage } from '../backend';

export async function restartBackend(backend: Backend): Promise<void> {
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Restarting the LaVIN backend' },
      () => backend.restart(),
    );
  } catch (err) {
    void vscode.window.showErrorMessage(`LaVIN: the backend did not start: ${errorMessage(err)}`);
  }
}
