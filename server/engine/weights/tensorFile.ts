// Opens any supported checkpoint file, choosing the reader by the file's first bytes, not its name.
import { CheckpointError } from './weightErrors';
import { openOrThrow } from './io';
import { PthFile } from './pth';
import { MAX_HEADER_BYTES, SafetensorsFile } from './safetensors';
import type { TensorFile } from './types';

export type CheckpointFormat = 'pth' | 'safetensors' | 'legacy-torch' | 'unknown';

/** Classifies the first bytes of a file. */
export function sniffFormat(head: Uint8Array): CheckpointFormat {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 0x03 || head[2] === 0x05)) return 'pth';
  if (head.length >= 9) {
    const headerLen = new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true);
    if (headerLen >= 2n && headerLen <= BigInt(MAX_HEADER_BYTES) && head[8] === 0x7b /* { */) return 'safetensors';
  }
  // Pre-1.6 torch.save: a pickled magic number 0x1950a86a20f9469cfc6c (LONG1, 10 bytes) first.
  if (head.length >= 4 && head[0] === 0x80 && head[2] === 0x8a && head[3] === 0x0a) return 'legacy-torch';
  return 'unknown';
}

export async function openTensorFile(path: string): Promise<TensorFile> {
  const fh = await openOrThrow(path);
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const format = sniffFormat(head.subarray(0, bytesRead));
    switch (format) {
      case 'pth':
        return await PthFile.fromHandle(path, fh);
      case 'safetensors':
        return await SafetensorsFile.fromHandle(path, fh);
      case 'legacy-torch':
        throw new CheckpointError(path, 'legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a newer torch');
      default:
        throw new CheckpointError(path, bytesRead === 0 ? 'file is empty: not a checkpoint' : 'not a checkpoint (neither a PyTorch zip .pth nor safetensors)');
    }
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}
