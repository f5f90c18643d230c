// LaVIN: Explain Selection — the selected code (or the whole file) explained in the side panel.

import * as vscode from 'vscode';
import type { ChatViewProvider } from '../chat/chatViewProvider';

export async function explainSelection(chat: ChatViewProvider): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showWarningMessage('LaVIN: open a file and select the code to explain.');
    return;
  }
  const selection = editor.selection;
  // Nothing selected: explain the whole file (the server truncates it to fit the context).
  const range = selection.isEmpty ? new vscode.Range(0, 0, editor.document.lineCount - 1, 0) : selection;
  await chat.explain(editor.document, range);
}
