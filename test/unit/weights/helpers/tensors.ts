// Test-side tensor helpers, written independently of the code under test.
import * as fs from 'fs';
import * as path from 'path';
import { BYTES_PER_ELEMENT, type HostTensor } from '../../../../server/engine/tensor';
import { PthFile } from '../../../../server/engine/weights/pth';

/** Every tensor of a .pth, in file order. */
export async function readAllPth(file: string): Promise<Array<[string, HostTensor]>> {
  const f = await PthFile.open(file);
  try {
    const out: Array<[string, HostTensor]> = [];
    for (const n of f.names()) out.push([n, await f.read(n)]);
    return out;
  } finally {
    await f.close();
  }
}

/** Piece `i` of `n` of a 1-D or 2-D tensor cut evenly along `dim`. */
export function slicePiece(t: HostTensor, dim: 0 | 1, i: number, n: number): HostTensor {
  const es = BYTES_PER_ELEMENT[t.dtype];
  if (dim === 0) {
    const rows = t.shape[0] / n;
    const rowBytes = t.data.length / t.shape[0];
    return { dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data: t.data.slice(i * rows * rowBytes, (i + 1) * rows * rowBytes) };
  }
  const [R, C] = t.shape;
  const c = C / n;
  const out = new Uint8Array(R * c * es);
  for (let r = 0; r < R; r++) {
    for (let k = 0; k < c * es; k++) out[r * c * es + k] = t.data[(r * C + i * c) * es + k];
  }
  return { dtype: t.dtype, shape: [R, c], data: out };
}

export function copyFile(from: string, toDir: string, name = path.basename(from)): string {
  fs.mkdirSync(toDir, { recursive: true });
  const to = path.join(toDir, name);
  fs.copyFileSync(from, to);
  return to;
}

export function f32Of(t: HostTensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`f32Of: ${t.dtype}`);
  return new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
}
