// The status bar item's menu: the common LaVIN actions in one place.

import * as vscode from 'vscode';

export async function quickMenu(): Promise<void> {
  const items = [
    { label: '$(comment-discussion) Open Chat', command: 'lavin.chatView.focus' },
    { label: '$(server-process) Select Model…', command: 'lavin.selectModel' },
    { label: '$(layers) Select Adapter Set…', command: 'lavin.selectAdapterSet' },
    { label: '$(beaker) Fine-tune Adapters on Project Docs…', command: 'lavin.fineTune' },
    { label: '$(eye) Train Vision Adapters…', command: 'lavin.trainVision' },
    { label: '$(debug-restart) Restart Backend', command: 'lavin.restartBackend' },
    { label: '$(output) Show Logs', command: 'lavin.showLogs' },
  ];
  const pick = await vscode.window.showQuickPick(items, { title: 'LaVIN' });
  if (pick) await vscode.commands.executeCommand(pick.command);
}
