// File reads that fail with a CheckpointError (naming file and tensor) instead of a bare errno or short read.
import * as fs from 'fs/promises';
import { CheckpointError } from './weightErrors';

/** Node refuses single reads above 2 GiB; stay well under it. */
const READ_CHUNK = 1 << 30;

/**
 * Fill `buf` from `position`, failing with a CheckpointError if the file ends first.
 * `what` names the thing being read, for the message.
 */
export async function readExactly(fh: fs.FileHandle, file: string, buf: Uint8Array, position: number, what: string, tensor?: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const want = Math.min(READ_CHUNK, buf.length - done);
    const { bytesRead } = await fh.read(buf, done, want, position + done);
    if (bytesRead === 0) {
      throw new CheckpointError(file, `file is truncated: ${what} needs bytes ${position}..${position + buf.length}, file ends at ${position + done}`, tensor);
    }
    done += bytesRead;
  }
}

export async function openOrThrow(path: string): Promise<fs.FileHandle> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(path, code === 'ENOENT' ? 'file not found' : `cannot open (${code ?? (e as Error).message})`);
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw new CheckpointError(path, 'not a regular file');
  }
  return fh;
}

