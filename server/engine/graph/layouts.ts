// Weight layouts: a parameter rearranged for the matmul that uses it (W^T, or a grouped 1x1 conv
// as its dense block-diagonal matrix). Each layout is written twice on purpose — as host code, for
// frozen initializers and for the adapter tensors the runtime feeds (so a decode step does not redo
// the rearrangement on every token), and as graph ops, for trainable parameters whose gradients
// must flow back to the checkpoint layout. test/unit/layouts.test.ts holds the two equal.

import { HostTensor, toFloat32 } from '../tensor';
import { Builder } from './builder';
import { Value } from './graph';

export type ParamLayout =
  /** [out, in] (or [out, in, 1], a 1x1 conv) -> [in, out], for x @ W^T. */
  | { kind: 'transpose' }
  /** A grouped 1x1 conv weight [C, H/G, 1] -> the dense block-diagonal [H, C], for u @ W. */
  | { kind: 'blockDiagonal'; groups: number };

export const TRANSPOSE: ParamLayout = { kind: 'transpose' };

/** The name a laid-out parameter goes by as an initializer or graph input: `<param>@<layout>`. */
export function laidOutName(name: string, layout: ParamLayout): string {
  return `${name}@${layout.kind === 'transpose' ? 'T' : `blockdiag${layout.groups}`}`;
}

/** The parameter and layout behind a `laidOutName`, or undefined for a plain name. */
export function parseLaidOutName(s: string): { name: string; layout: ParamLayout } | undefined {
  const at = s.lastIndexOf('@');
  if (at < 0) return undefined;
  const [name, tag] = [s.slice(0, at), s.slice(at + 1)];
  if (tag === 'T') return { name, layout: TRANSPOSE };
  const m = /^blockdiag(\d+)$/.exec(tag);
  if (m) return { name, layout: { kind: 'blockDiagonal', groups: Number(m[1]) } };
  throw new Error(`unknown weight layout "${tag}" in ${s}`);
}

export function laidOutShape(shape: readonly number[], layout: ParamLayout, name: string): number[] {
  if (layout.kind === 'transpose') {
    const [out, inp] = matrixShape(shape, name);
    return [inp, out];
  }
  const [c, perGroup] = convShape(shape, layout.groups, name);
  return [perGroup * layout.groups, c];
}

/** The layout computed on the host (float32). */
export function layOutHost(t: HostTensor, layout: ParamLayout, name: string): HostTensor {
  const src = toFloat32(t);
  const shape = laidOutShape(t.shape, layout, name);
  const dst = new Float32Array(shape[0] * shape[1]);
  if (layout.kind === 'transpose') {
    const [out, inp] = matrixShape(t.shape, name);
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) dst[i * out + o] = src[o * inp + i];
  } else {
    const [c, perGroup] = convShape(t.shape, layout.groups, name);
    const outPerGroup = c / layout.groups;
    for (let g = 0; g < layout.groups; g++) {
      for (let o = 0; o < outPerGroup; o++) {
        for (let i = 0; i < perGroup; i++) dst[(g * perGroup + i) * c + g * outPerGroup + o] = src[(g * outPerGroup + o) * perGroup + i];
      }
    }
  }
  return { dtype: 'float32', shape, data: new Uint8Array(dst.buffer) };
}

/** The same layout as graph ops on x (differentiable: Reshape, Transpose, Slice, Concat). */
export function layOutGraph(b: Builder, x: Value, shape: readonly number[], layout: ParamLayout, name: string): Value {
  if (layout.kind === 'transpose') return b.transpose(shape.length === 2 ? x : b.reshape(x, matrixShape(shape, name)), [1, 0]);
  const { groups } = layout;
  const [c, perGroup] = convShape(shape, groups, name);
  const outPerGroup = c / groups;
  const w = b.transpose(b.reshape(x, [groups, outPerGroup, perGroup]), [0, 2, 1]); // [G, H/G, C/G]
  const rows: Value[] = [];
  for (let g = 0; g < groups; g++) {
    const block = b.reshape(b.slice(w, [g], [g + 1], [0]), [perGroup, outPerGroup]);
    const parts: Value[] = [];
    if (g > 0) parts.push(b.constFloat(new Float32Array(perGroup * g * outPerGroup), [perGroup, g * outPerGroup]));
    parts.push(block);
    if (g < groups - 1) parts.push(b.constFloat(new Float32Array(perGroup * (groups - 1 - g) * outPerGroup), [perGroup, (groups - 1 - g) * outPerGroup]));
    rows.push(parts.length > 1 ? b.concat(parts, 1) : block);
  }
  return groups > 1 ? b.concat(rows, 0) : rows[0];
}

function matrixShape(shape: readonly number[], name: string): [number, number] {
  if (shape.length < 2 || shape.slice(2).some((d) => d !== 1)) throw new Error(`${name}: expected a [out, in] weight (or [out, in, 1]), got [${shape}]`);
  return [shape[0], shape[1]];
}

function convShape(shape: readonly number[], groups: number, name: string): [number, number] {
  if (shape.length !== 3 || shape[2] !== 1 || shape[0] % groups !== 0) throw new Error(`${name}: expected a grouped 1x1 conv weight [C, H/${groups}, 1] with C divisible by ${groups}, got [${shape}]`);
  return [shape[0], shape[1]];
}
