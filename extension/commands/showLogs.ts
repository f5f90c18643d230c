// LaVIN: Show Logs — the "LaVIN" output channel (extension and backend).

import type * as vscode from 'vscode';

export function showLogs(log: vscode.LogOutputChannel): void {
  log.show(true);
}
