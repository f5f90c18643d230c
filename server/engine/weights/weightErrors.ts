// One error type for every checkpoint problem, so callers can show "which file, which tensor, what".
import * as path from 'path';

/** The short name shown in messages: parent folder + file name (e.g. `llama/consolidated.00.pth`). */
export function displayName(file: string): string {
  const parent = path.basename(path.dirname(file));
  const base = path.basename(file);
  return parent && parent !== '.' && parent !== path.sep ? `${parent}/${base}` : base;
}

export class CheckpointError extends Error {
  /** Full path of the file at fault. */
  readonly file: string;
  /** The tensor at fault, when there is one. */
  readonly tensor?: string;
  /** The message without the file/tensor prefix. */
  readonly detail: string;

  constructor(file: string, detail: string, tensor?: string) {
    super(`${displayName(file)}: ${tensor !== undefined ? `tensor ${tensor}: ` : ''}${detail}`);
    this.name = 'CheckpointError';
    this.file = file;
    this.tensor = tensor;
    this.detail = detail;
  }
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
