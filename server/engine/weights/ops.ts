// Byte-level reshuffles the loaders need (shard merges, q/k/v stacking, HF's transposed projection).
// They move elements, never convert them, so fp16 stays fp16.
import { BYTES_PER_ELEMENT, numel, type DType, type HostTensor } from '../tensor';

/**
 * Concatenation along `dim` filled one part at a time, so only the result and the current part are in
 * memory. Parts must share dtype and all other dims (the caller has checked).
 */
export class ConcatBuilder {
  private readonly out: Uint8Array;
  private readonly es: number;
  private readonly outer: number;
  private readonly inner: number;
  private filled = 0;

  constructor(private readonly dtype: DType, private readonly shape: readonly number[], private readonly dim: number) {
    this.es = BYTES_PER_ELEMENT[dtype];
    this.out = new Uint8Array(numel(shape) * this.es);
    this.outer = numel(shape.slice(0, dim));
    this.inner = numel(shape.slice(dim + 1)) * this.es;
  }

  add(part: HostTensor): void {
    const outRow = this.shape[this.dim] * this.inner;
    const pRow = part.shape[this.dim] * this.inner;
    if (part.dtype !== this.dtype || this.filled + pRow > outRow) throw new Error('ConcatBuilder: part does not fit');
    for (let o = 0; o < this.outer; o++) this.out.set(part.data.subarray(o * pRow, (o + 1) * pRow), o * outRow + this.filled);
    this.filled += pRow;
  }

  finish(): HostTensor {
    if (this.filled !== this.shape[this.dim] * this.inner) throw new Error('ConcatBuilder: parts do not fill the result');
    return { dtype: this.dtype, shape: [...this.shape], data: this.out };
  }
}

/** Concatenate tensors of one dtype along `dim`. */
export function concatTensors(parts: readonly HostTensor[], dim: number): HostTensor {
  const shape = [...parts[0].shape];
  shape[dim] = parts.reduce((sum, p) => sum + p.shape[dim], 0);
  const b = new ConcatBuilder(parts[0].dtype, shape, dim);
  for (const p of parts) b.add(p);
  return b.finish();
}

/** [R, C] -> [C, R]. */
export function transpose2d(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape;
  const es = BYTES_PER_ELEMENT[t.dtype];
  const out = new Uint8Array(t.data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const src = (r * cols + c) * es;
      const dst = (c * rows + r) * es;
      for (let b = 0; b < es; b++) out[dst + b] = t.data[src + b];
    }
  }
  return { dtype: t.dtype, shape: [cols, rows], data: out };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64']);
