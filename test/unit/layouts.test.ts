// Weight layouts: the host code (frozen initializers, fed adapter tensors) and the graph ops
// (trainable parameters) must give the same matrix, and the block-diagonal one must multiply like
// the grouped 1x1 conv it stands for.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Builder } from '../../server/engine/graph/builder';
import { Graph } from '../../server/engine/graph/graph';
import { laidOutName, laidOutShape, layOutGraph, layOutHost, ParamLayout, parseLaidOutName, TRANSPOSE } from '../../server/engine/graph/layouts';
import { createSession, f32 } from '../../server/engine/session';
import { loadModelDir } from '../../server/engine/modelDir';
import { buildDecoderGraph, inferenceParams } from '../../server/engine/programs';
import { fromFloat32 } from '../../server/engine/tensor';
import { fixtureModelDir } from '../golden/fixture';

const values = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + 0.3));

async function viaGraph(shape: number[], x: Float32Array, layout: ParamLayout): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const g = new Graph('layout');
  const b = new Builder(g);
  b.output(layOutGraph(b, b.input('w', 'float32', shape), shape, layout, 'w'), 'y');
  const session = await createSession(g, { threads: 1 });
  try {
    const y = (await session.run({ w: f32(x, shape) })).y;
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

describe('weight layouts', () => {
  const cases: [string, number[], ParamLayout][] = [
    ['transpose of a matrix', [5, 3], TRANSPOSE],
    ['transpose of a 1x1 conv', [8, 12, 1], TRANSPOSE],
    ['block diagonal, 2 groups', [12, 4, 1], { kind: 'blockDiagonal', groups: 2 }],
    ['block diagonal, 4 groups', [16, 2, 1], { kind: 'blockDiagonal', groups: 4 }],
    ['block diagonal, 1 group', [6, 3, 1], { kind: 'blockDiagonal', groups: 1 }],
  ];
  for (const [what, shape, layout] of cases) {
    test(`${what}: host code equals graph ops`, async () => {
      const x = values(shape.reduce((a, d) => a * d, 1));
      const host = layOutHost(fromFloat32(x, shape), layout, 'w');
      const graph = await viaGraph(shape, x, layout);
      assert.deepEqual(host.shape, laidOutShape(shape, layout, 'w'));
      assert.deepEqual([...graph.dims], host.shape);
      assert.deepEqual([...graph.data], [...new Float32Array(host.data.buffer)]);
    });
  }

  test('block diagonal multiplies like the grouped 1x1 conv', () => {
    const [C, G, perGroup] = [6, 2, 3]; // conv: H = G * perGroup inputs -> C outputs
    const w = values(C * perGroup);
    const u = values(G * perGroup).map((v) => v + 0.5);
    const dense = new Float32Array(layOutHost(fromFloat32(w, [C, perGroup, 1]), { kind: 'blockDiagonal', groups: G }, 'w').data.buffer);
    for (let o = 0; o < C; o++) {
      const g = Math.floor(o / (C / G));
      let conv = 0;
      for (let i = 0; i < perGroup; i++) conv += w[o * perGroup + i] * u[g * perGroup + i];
      let mm = 0;
      for (let h = 0; h < G * perGroup; h++) mm += u[h] * dense[h * C + o];
      assert.ok(Math.abs(conv - mm) < 1e-6, `output ${o}: conv ${conv} vs u @ dense ${mm}`);
    }
  });

  test('names round-trip and bad shapes are named', () => {
    for (const layout of [TRANSPOSE, { kind: 'blockDiagonal', groups: 2 } as ParamLayout]) {
      const name = laidOutName('layers.3.adapter_attn.conv_B.weight', layout);
      assert.deepEqual(parseLaidOutName(name), { name: 'layers.3.adapter_attn.conv_B.weight', layout });
    }
    assert.equal(parseLaidOutName('layers.0.attention.wq.weight'), undefined);
    assert.throws(() => parseLaidOutName('w@rot90'), /unknown weight layout "rot90"/);
    assert.throws(() => layOutHost(fromFloat32(values(10), [5, 2, 1]), { kind: 'blockDiagonal', groups: 2 }, 'adapter.conv_D.weight'), /adapter\.conv_D\.weight: expected a grouped 1x1 conv/);
    assert.throws(() => layOutHost(fromFloat32(values(8), [2, 2, 2]), TRANSPOSE, 'x'), /x: expected a \[out, in\] weight/);
  });
});

describe('inference graphs take adapters already laid out', () => {
  test('the decoder feeds conv_A^T, the block-diagonal B/D and router^T; nothing re-lays them out per token', async () => {
    const weights = await loadModelDir(fixtureModelDir('openai'));
    const g = buildDecoderGraph(weights.cfg, inferenceParams(weights.tensors, weights.cfg.adapter.nVisualTokens), 'fused');
    const inputs = new Set(g.inputs.map((v) => v.name));
    const groups = weights.cfg.adapter.groups;
    for (const want of ['conv_A.weight@T', `conv_B.weight@blockdiag${groups}`, `conv_D.weight@blockdiag${groups}`, 'expert_weights.weight@T']) {
      assert.ok(inputs.has(`layers.0.adapter_attn.${want}`), `decoder input layers.0.adapter_attn.${want}`);
    }
    assert.ok(![...inputs].some((n) => /adapter_attn\.(conv_[ABD]|expert_weights)\.weight$/.test(n)), 'no adapter weight is fed in its checkpoint layout');
    const fromInputs = g.nodes.filter((n) => (n.op === 'Transpose' || n.op === 'Concat') && n.inputs.some((i) => inputs.has(i)));
    assert.deepEqual(fromInputs.map((n) => `${n.op}(${n.inputs.join(', ')})`), []);
  });
});
