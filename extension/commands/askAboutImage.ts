// LaVIN: Ask About Image — from the explorer (png/jpg/webp), a file, or the clipboard.

import * as vscode from 'vscode';
import type { ChatViewProvider } from '../chat/chatViewProvider';
import type { RawImage } from '../chat/messages';
import { pickImageFiles, readImage } from '../imagePicker';

export const DEFAULT_QUESTION = 'What is in this image?';

/**
 * `uri`/`uris` come from the explorer context menu. `question` lets other code (and tests) skip the
 * input box.
 */
export async function askAboutImage(chat: ChatViewProvider, uri?: vscode.Uri, uris?: vscode.Uri[], question?: string): Promise<void> {
  let images: RawImage[] = [];
  const chosen = uris?.length ? uris : uri ? [uri] : [];
  if (chosen.length) {
    for (const u of chosen) images.push(await readImage(u));
  } else {
    const source = await vscode.window.showQuickPick(
      [
        { label: '$(clippy) From the clipboard', description: 'paste it into the LaVIN panel', id: 'clipboard' as const },
        { label: '$(file-media) From a file…', id: 'file' as const },
      ],
      { title: 'LaVIN: Ask About Image', placeHolder: 'Where is the image?' },
    );
    if (!source) return;
    if (source.id === 'clipboard') {
      images = await clipboardImagePath();
      if (!images.length) {
        // VS Code's clipboard API is text only; the panel's paste handler reads images directly.
        await chat.compose([], question ?? '');
        void vscode.window.showInformationMessage('Press Ctrl+V (Cmd+V) in the LaVIN panel to paste the image, then ask your question.');
        return;
      }
    } else {
      images = await pickImageFiles();
    }
  }
  if (!images.length) return;
  const q =
    question ??
    (await vscode.window.showInputBox({
      title: `LaVIN: Ask about ${images.map((i) => i.name).join(', ')}`,
      prompt: 'Your question about the image',
      value: DEFAULT_QUESTION,
    }));
  if (q === undefined) return;
  await chat.compose(images, q || DEFAULT_QUESTION, true);
}

/** A copied image file path (what file managers put on the clipboard as text). */
async function clipboardImagePath(): Promise<RawImage[]> {
  const text = (await vscode.env.clipboard.readText()).trim();
  if (!/\.(png|jpe?g|webp)$/i.test(text) || text.includes('\n')) return [];
  const uri = text.startsWith('file://') ? vscode.Uri.parse(text) : vscode.Uri.file(text);
  try {
    return [await readImage(uri)];
  } catch {
    return [];
  }
}
