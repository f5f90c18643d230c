// Turning pasted, dropped or picked files into chat images: type check, base64, small thumbnail.

import type { ChatImage } from '../../extension/chat/messages';

export const ACCEPTED_TYPES = ['image/png', 'image/jpeg', 'image/webp'];
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
const THUMB_SIZE = 96;

export class ImageRejected extends Error {}

export async function fileToChatImage(file: File): Promise<ChatImage> {
  const name = file.name || 'pasted-image.png';
  if (!ACCEPTED_TYPES.includes(file.type)) {
    throw new ImageRejected(`${name}: only PNG, JPEG and WebP images are supported (got ${file.type || 'unknown type'})`);
  }
  if (file.size > MAX_IMAGE_BYTES) {
    throw new ImageRejected(`${name}: ${(file.size / 1048576).toFixed(1)} MiB is larger than the 20 MiB limit`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  const data = toBase64(bytes);
  const { thumb, width, height } = await thumbnail(file);
  return { name, mime: file.type, data, thumb, width, height };
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

/** A small PNG data URL, so the persisted history stays small. Also proves the bytes decode. */
async function thumbnail(file: File): Promise<{ thumb: string; width: number; height: number }> {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB_SIZE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const { width, height } = bitmap;
    bitmap.close();
    return { thumb: canvas.toDataURL('image/png'), width, height };
  } catch {
    throw new ImageRejected(`${file.name || 'image'}: could not be decoded as an image`);
  }
}

/** Image files from a paste or drop; other items (text, non-image files) are left alone. */
export function imageFilesFrom(data: DataTransfer | null): { images: File[]; others: File[] } {
  const images: File[] = [];
  const others: File[] = [];
  if (!data) return { images, others };
  for (const file of Array.from(data.files)) (file.type.startsWith('image/') ? images : others).push(file);
  return { images, others };
}
