// Shared helpers for the integration tests.

import * as vscode from 'vscode';
import type { LavinApi } from '../../extension/extension';

export const EXTENSION_ID = 'lavin-code.lavin-code';

export async function lavin(): Promise<LavinApi> {
  const ext = vscode.extensions.getExtension<LavinApi>(EXTENSION_ID);
  if (!ext) throw new Error(`extension ${EXTENSION_ID} is not loaded`);
  return ext.isActive ? ext.exports : await ext.activate();
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    // null counts as "not yet": driver results come back through JSON, where undefined becomes null
    if (v !== undefined && v !== null && v !== false) return v as T;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function workspaceFile(rel: string): vscode.Uri {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  if (!root) throw new Error('the tests need the test/vscode/workspace folder open');
  return vscode.Uri.joinPath(root, rel);
}
