// Element shuffles used by the loaders, against index arithmetic done by hand.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { HostTensor } from '../../../server/engine/tensor';
import { concatTensors, transpose2d } from '../../../server/engine/weights/ops';

const i16 = (shape: number[], start: number): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'int16', shape, data: new Uint8Array(Int16Array.from({ length: n }, (_, i) => start + i).buffer) };
};
const values = (t: HostTensor): number[] => [...new Int16Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 2)];

test('concatTensors on each dim of a 3-D tensor', () => {
  const a = i16([2, 2, 3], 0); // values 0..11
  const b = i16([2, 2, 3], 100); // values 100..111
  const at = (base: number, i: number, j: number, k: number): number => base + i * 6 + j * 3 + k;
  for (const dim of [0, 1, 2]) {
    const c = concatTensors([a, b], dim);
    const shape = [2, 2, 3];
    shape[dim] *= 2;
    assert.deepEqual(c.shape, shape);
    const want: number[] = [];
    for (let i = 0; i < shape[0]; i++) for (let j = 0; j < shape[1]; j++) for (let k = 0; k < shape[2]; k++) {
      const idx = [i, j, k];
      const fromB = idx[dim] >= [2, 2, 3][dim];
      if (fromB) idx[dim] -= [2, 2, 3][dim];
      want.push(at(fromB ? 100 : 0, idx[0], idx[1], idx[2]));
    }
    assert.deepEqual(values(c), want, `dim ${dim}`);
  }
});

test('transpose2d', () => {
  const t = transpose2d(i16([2, 3], 0));
  assert.deepEqual(t.shape, [3, 2]);
  assert.deepEqual(values(t), [0, 3, 1, 4, 2, 5]);
});
