// Reading image files for the chat: file picker, explorer selection, clipboard file paths.

import * as vscode from 'vscode';
import * as path from 'path';
import type { RawImage } from './chat/messages';

const MIME_BY_EXT: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** The image type from the file's first bytes; the extension alone can lie. */
export function sniffImageType(bytes: Uint8Array): string | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP') return 'image/webp';
  return undefined;
}

export async function readImage(uri: vscode.Uri): Promise<RawImage> {
  const name = path.basename(uri.path);
  const stat = await vscode.workspace.fs.stat(uri);
  if (stat.size > MAX_IMAGE_BYTES) throw new Error(`${name}: ${(stat.size / 1048576).toFixed(1)} MiB is larger than the 20 MiB limit`);
  const bytes = await vscode.workspace.fs.readFile(uri);
  const mime = sniffImageType(bytes);
  if (!mime) throw new Error(`${name}: not a PNG, JPEG or WebP image`);
  return { name, mime, data: Buffer.from(bytes).toString('base64') };
}

export async function pickImageFiles(): Promise<RawImage[]> {
  const uris = await vscode.window.showOpenDialog({
    canSelectMany: true,
    openLabel: 'Attach',
    title: 'Attach images for LaVIN',
    filters: { Images: Object.keys(MIME_BY_EXT).map((e) => e.slice(1)) },
  });
  const images: RawImage[] = [];
  for (const uri of uris ?? []) {
    try {
      images.push(await readImage(uri));
    } catch (err) {
      void vscode.window.showErrorMessage(err instanceof Error ? err.message : String(err));
    }
  }
  return images;
}
