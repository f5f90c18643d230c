// The common face of every checkpoint file format.
import type { DType, HostTensor } from '../tensor';

export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

export interface TensorFile {
  readonly path: string;
  /** Tensor names in file order (for .pth: dotted paths through the pickled object). */
  names(): string[];
  has(name: string): boolean;
  /** Throws CheckpointError for unknown names and unsupported dtypes. */
  info(name: string): TensorInfo;
  /** Reads one tensor from disk: contiguous, row-major, little-endian. */
  read(name: string): Promise<HostTensor>;
  /** .pth: the unpickled top-level object, tensors as lazy TensorRefs. */
  readonly object?: unknown;
  /** safetensors: `__metadata__`. */
  readonly metadata?: Record<string, string>;
  close(): Promise<void>;
}
