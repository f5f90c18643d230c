// Training over a frozen backbone kept in its own precision (int8/int4 blocks, GGUF quant types):
// the adapters' gradients through the quantised linears (MatMulNBits forward, the weight rebuilt
// from its blocks in the backward pass) equal those through the same weights dequantised to float32,
// in both steppers; and on random-weight GGUF backbones of each architecture they match central
// finite differences of the loss. The adapter sets have LaVIN's 'block' layout (an FFN adapter beside
// each attention adapter, as fresh vision sets do), so both adapters of a block are checked.
//
// Tolerances.
// - Quantised vs dequantised float32: both paths multiply by bit-identical float32 weights
//   ((q - zp) * scale, one rounding, in DequantizeLinear and in quant.ts alike); they differ only in
//   the order float32 sums are taken (MatMulNBits' kernel vs sgemm, a dequantised MatMul vs a
//   transposed one). A K-term float32 dot product carries at most gamma_K = K*u relative error
//   (u = 2^-24) of sum|x||w|; a gradient passes through at most M = 2 * (7 * layers + 1) such
//   products (each block's seven linears forward and back, and the head), so the bound used is
//   M * K_max * u relative to the largest gradient entry of each tensor. The test also checks that
//   the original (unquantised) float weights give a gradient further away than that: the tolerance
//   cannot hide a wrong weight.
// - Finite differences: central differences of a float32 loss with step h carry a rounding error of
//   about 2 * eps_L / (2h) (eps_L: the loss's own float32 error, ~1e-6 |L| measured) and a truncation
//   error h^2 / 6 |L'''|; at h = 1e-2 that is ~5e-4 absolute, so |fd - g| <= 2e-2 |g| + 1e-3 on the
//   coordinates with the largest gradients.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../server/engine/graph/autodiff';
import { Builder } from '../../../server/engine/graph/builder';
import { timesWeight, timesWeightT } from '../../../server/engine/graph/dequantize';
import { Graph } from '../../../server/engine/graph/graph';
import { createSession } from '../../../server/engine/session';
import { writeLlamaGguf, Q4_K_M_MIX, type GgufType, type LlamaGgufSpec } from '../../../bench/gguf';
import { ffnAdapterShapes, LavinConfig } from '../../../server/engine/lavin';
import { dequantizeWeight, QuantizedWeight, quantizeWeight } from '../../../server/engine/quant';
import { layoutExample, LaidOutExample } from '../../../server/engine/sequence';
import { fromFloat32, HostTensor, numel, toFloat32 } from '../../../server/engine/tensor';
import { openBackbone } from '../../../server/engine/weights/backbone';
import { BlockwiseTrainingStepper } from '../../../server/train/blockwise';
import { backboneTrainingWeights, isLinearWeight, TrainingWeights } from '../../../server/train/frozenWeights';
import { Rng } from '../../../server/train/rng';
import { TrainingStepper, TrainingStepperOptions } from '../../../server/train/step';
import { tempDir } from '../../helpers/tempDir';

const U = 2 ** -24;
const scratch = tempDir('lavin-quant-train-');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function gaussian(rng: Rng, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()) * std);
}

/** Adapter values with every part active (fresh sets have B = D = 0, which zeroes most gradients). */
function randomAdapters(w: TrainingWeights, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  return new Map(w.adapterKeys.map((k) => [k, gaussian(rng, numel(w.tensors.get(k)!.shape), k.includes('modality') ? 1 : 0.1)]));
}

/** The weights with an FFN adapter beside each attention adapter (lavin.ts FFN_ADAPTER); values come from randomAdapters. */
function withFfnAdapters(w: TrainingWeights): TrainingWeights {
  const shapes = ffnAdapterShapes(new Map(w.adapterKeys.map((k) => [k, w.tensors.get(k)!.shape])));
  assert.ok(shapes.size > 0, 'the set has attention adapters to pair');
  const tensors = new Map(w.tensors);
  for (const [k, shape] of shapes) tensors.set(k, fromFloat32(new Float32Array(numel(shape)), shape));
  return { ...w, tensors, adapterKeys: [...w.adapterKeys, ...shapes.keys()] };
}

/** A text example filling T positions: BOS, a prompt, then labelled answer tokens. */
function example(vocab: number, T: number, seed: number): LaidOutExample {
  const rng = new Rng(seed);
  const n = T - 1 - 3;
  const ids = [1, ...Array.from({ length: n - 1 }, () => 3 + Math.floor(rng.next() * (vocab - 3)))];
  return layoutExample({ modality: 'text', inputIds: ids, labels: ids.map((id, i) => (i < 3 ? 0 : id)) }, { seqLen: T, prefixImage: [5, 6, 7], prefixText: [5, 6, 8], nVisual: 6 });
}

type Stepper = TrainingStepper | BlockwiseTrainingStepper;

async function step(kind: 'whole' | 'blockwise', w: TrainingWeights, ex: LaidOutExample, params: ReadonlyMap<string, Float32Array>) {
  const options: TrainingStepperOptions = { trainable: w.adapterKeys, seqLen: ex.labelsInserted.length, frozen: { quantized: w.quantized, embeddingRows: w.embeddingRows }, session: { threads: 1 } };
  const s: Stepper = kind === 'whole' ? new TrainingStepper(w.cfg, w.tensors, options) : new BlockwiseTrainingStepper(w.cfg, w.tensors, options);
  try {
    return await s.run(ex, params);
  } finally {
    await s.dispose();
  }
}

/** Worst over tensors of max|a - b| / max|a| (each tensor against its own largest entry). */
function worstRelative(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [k, ga] of a) {
    const gb = b.get(k)!;
    let ref = 0;
    let err = 0;
    for (let i = 0; i < ga.length; i++) {
      ref = Math.max(ref, Math.abs(ga[i]));
      err = Math.max(err, Math.abs(ga[i] - gb[i]));
    }
    if (ref > 0) worst = Math.max(worst, err / ref);
  }
  return worst;
}

/** The same weights with every quantised linear widened to float32 (the reference). */
function dequantized(w: TrainingWeights): TrainingWeights {
  const tensors = new Map(w.tensors);
  for (const [name, q] of w.quantized ?? []) tensors.set(name, fromFloat32(dequantizeWeight(q), [q.n, q.k]));
  return { ...w, tensors, quantized: undefined };
}

function boundFor(cfg: LavinConfig, quantized: ReadonlyMap<string, QuantizedWeight>): number {
  const kMax = Math.max(...[...quantized.values()].map((q) => Math.max(q.k, q.n)));
  return 2 * (7 * cfg.llama.nLayers + 1) * kMax * U;
}

// ---- a LaVIN-shaped model quantised as `lavin convert --precision int8|int4` does ----------------

function tinyModel(): TrainingWeights {
  const cfg: LavinConfig = {
    llama: { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, ffnHidden: 160, vocab: 97, normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', qkvBias: false, tiedEmbeddings: false },
    adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 },
    maxSeqLen: 64,
  };
  const { dim: D, ffnHidden: F, vocab: V, nLayers } = cfg.llama;
  const kv = cfg.llama.nKvHeads * cfg.llama.headDim;
  const rng = new Rng(7);
  const tensors = new Map<string, HostTensor>();
  const put = (name: string, shape: number[], v?: Float32Array) => tensors.set(name, fromFloat32(v ?? gaussian(rng, numel(shape), 1 / Math.sqrt(shape[shape.length - 1])), shape));
  put('tok_embeddings.weight', [V, D], gaussian(rng, V * D, 1));
  put('norm.weight', [D], Float32Array.from({ length: D }, () => 1 + 0.1 * rng.next()));
  put('output.weight', [V, D]);
  const adapterKeys: string[] = [];
  for (let l = 0; l < nLayers; l++) {
    const L = `layers.${l}`;
    put(`${L}.attention.wq.weight`, [D, D]);
    put(`${L}.attention.wk.weight`, [kv, D]);
    put(`${L}.attention.wv.weight`, [kv, D]);
    put(`${L}.attention.wo.weight`, [D, D]);
    put(`${L}.feed_forward.w1.weight`, [F, D]);
    put(`${L}.feed_forward.w2.weight`, [D, F]); // K = 160: a padded last block of the 128-wide quantisation
    put(`${L}.feed_forward.w3.weight`, [F, D]);
    for (const n of ['attention_norm', 'ffn_norm']) put(`${L}.${n}.weight`, [D], Float32Array.from({ length: D }, () => 1 + 0.1 * rng.next()));
    const A = `${L}.adapter_attn`;
    for (const [k, s] of [['conv_A.weight', [8, D, 1]], ['conv_A.bias', [8]], ['conv_B.weight', [D, 4, 1]], ['conv_B.bias', [D]], ['conv_D.weight', [D, 4, 1]], ['conv_D.bias', [D]], ['expert_weights.weight', [2, D]], ['expert_weights.bias', [2]]] as const) {
      put(`${A}.${k}`, [...s]);
      adapterKeys.push(`${A}.${k}`);
    }
  }
  put('adapter_modality_embedding.weight', [2, D]);
  adapterKeys.push('adapter_modality_embedding.weight');
  return { cfg, tensors, adapterKeys, baseModel: { id: 'tiny', name: 'tiny' } };
}

function quantizedModel(w: TrainingWeights, bits: 4 | 8): TrainingWeights {
  const tensors = new Map(w.tensors);
  const quantized = new Map<string, QuantizedWeight>();
  for (const [name, t] of w.tensors) {
    if (!isLinearWeight(name)) continue;
    quantized.set(name, quantizeWeight(t, bits, name));
    tensors.delete(name);
  }
  return { ...w, tensors, quantized };
}

test('int8 and int4 linears: adapter gradients equal those through the same weights dequantised to float32 (both steppers)', async (t) => {
  const original = withFfnAdapters(tinyModel());
  const ex = example(original.cfg.llama.vocab, 14, 3);
  const params = randomAdapters(original, 11);
  const exact = await step('whole', original, ex, params);
  for (const bits of [8, 4] as const) {
    const q = quantizedModel(original, bits);
    const tol = boundFor(q.cfg, q.quantized!);
    const ref = await step('whole', dequantized(q), ex, params);
    for (const kind of ['whole', 'blockwise'] as const) {
      const got = await step(kind, q, ex, params);
      const worst = worstRelative(ref.grads, got.grads);
      assert.ok(Math.abs(got.loss - ref.loss) <= tol * Math.abs(ref.loss), `int${bits} ${kind}: loss ${got.loss} vs ${ref.loss}`);
      assert.ok(worst <= tol, `int${bits} ${kind}: worst relative gradient difference ${worst} > ${tol}`);
      t.diagnostic(`int${bits} ${kind}: loss ${got.loss.toFixed(6)} (dequantised fp32 ${ref.loss.toFixed(6)}); worst relative gradient difference ${worst.toExponential(2)} (bound ${tol.toExponential(2)})`);
    }
    const quantisationEffect = worstRelative(exact.grads, ref.grads);
    assert.ok(quantisationEffect > 10 * tol, `int${bits}: the unquantised weights' gradients are only ${quantisationEffect} away: the comparison could not tell the weights apart`);
    t.diagnostic(`int${bits}: unquantised float weights differ by ${quantisationEffect.toExponential(2)} (what the bound must stay below)`);
  }
});

// ---- random-weight GGUF backbones, each architecture and several ggml types ----------------------

function ggufSpec(name: string, over: Partial<LlamaGgufSpec> & { type: GgufType }): LlamaGgufSpec {
  const values = (metaName: string, shape: number[]) => {
    const rng = new Rng([...metaName].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 17));
    const n = numel(shape);
    if (metaName.endsWith('norm.weight')) return Float32Array.from({ length: n }, () => 1 + 0.1 * rng.next());
    if (metaName.endsWith('.bias')) return gaussian(rng, n, 0.1);
    return gaussian(rng, n, metaName.startsWith('tok_embeddings') ? 1 : 1 / Math.sqrt(shape[shape.length - 1]));
  };
  return { name, dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 512, vocab: 300, normEps: 1e-5, contextLength: 64, values, ...over };
}

const BACKBONES: { title: string; spec: LlamaGgufSpec }[] = [
  { title: 'llama GQA Q4_0', spec: ggufSpec('llama-q4_0', { type: 'q4_0' }) },
  { title: 'llama GQA Q8_0', spec: ggufSpec('llama-q8_0', { type: 'q8_0' }) },
  { title: 'qwen2 q/k/v biases, Q4_K_M mix (Q4_K + Q6_K), tied quantised head', spec: ggufSpec('qwen2-q4_k_m', { type: 'q4_k', arch: 'qwen2', typeOf: Q4_K_M_MIX, tiedEmbeddings: true, fileType: 15 }) },
];

for (const { title, spec } of BACKBONES) {
  test(`GGUF backbone, ${title}: gradients equal the dequantised float32 ones and match finite differences`, async (t) => {
    const file = path.join(scratch, `${spec.name}.gguf`);
    writeLlamaGguf(file, spec);
    const opened = await openBackbone(file);
    try {
      const w = withFfnAdapters(backboneTrainingWeights(opened));
      assert.ok(w.quantized!.size > 0 && !w.tensors.has('layers.0.attention.wq.weight'), 'linears stay in their blocks');
      const ex = example(spec.vocab, 12, 5);
      const params = randomAdapters(w, 13);
      const tol = boundFor(w.cfg, w.quantized!);
      const ref = await step('whole', dequantized(w), ex, params);
      const got = await step('whole', w, ex, params);
      const blocks = await step('blockwise', w, ex, params);
      for (const [kind, r] of [['whole', got], ['blockwise', blocks]] as const) {
        const worst = worstRelative(ref.grads, r.grads);
        assert.ok(Math.abs(r.loss - ref.loss) <= tol * Math.abs(ref.loss), `${kind}: loss ${r.loss} vs ${ref.loss}`);
        assert.ok(worst <= tol, `${kind}: worst relative gradient difference ${worst} > ${tol}`);
        t.diagnostic(`${kind}: worst relative gradient difference to dequantised fp32 ${worst.toExponential(2)} (bound ${tol.toExponential(2)})`);
      }

      // Central differences on the coordinates with the largest gradients of six kinds of parameter.
      const h = 1e-2;
      const stepper = new TrainingStepper(w.cfg, w.tensors, { trainable: w.adapterKeys, seqLen: 12, frozen: { quantized: w.quantized, embeddingRows: w.embeddingRows }, session: { threads: 1 } });
      try {
        let worst = 0;
        for (const key of ['adapter_modality_embedding.weight', 'layers.0.adapter_attn.conv_A.weight', 'layers.1.adapter_attn.conv_B.weight', 'layers.1.adapter_attn.expert_weights.weight', 'layers.0.adapter_mlp.conv_A.weight', 'layers.1.adapter_mlp.conv_D.weight']) {
          const g = got.grads.get(key)!;
          let i = 0;
          for (let j = 1; j < g.length; j++) if (Math.abs(g[j]) > Math.abs(g[i])) i = j;
          const at = (delta: number) => {
            const v = params.get(key)!.slice();
            v[i] += delta;
            return stepper.run(ex, new Map([...params, [key, v]])).then((r) => r.loss);
          };
          const fd = ((await at(h)) - (await at(-h))) / (2 * h);
          const err = Math.abs(fd - g[i]);
          assert.ok(err <= 2e-2 * Math.abs(g[i]) + 1e-3, `${key}[${i}]: finite difference ${fd} vs gradient ${g[i]}`);
          worst = Math.max(worst, err / Math.abs(g[i]));
        }
        t.diagnostic(`finite differences (h = ${h}): worst relative error ${worst.toExponential(2)}`);
      } finally {
        await stepper.dispose();
      }
    } finally {
      opened.close();
    }
  });
}

// ---- the in-graph rebuild of a quantised weight, chunk by chunk --------------------------------

test('products with a quantised weight rebuilt in row chunks equal the dequantised weight\'s (forward and input gradient)', async () => {
  const [N, K, T] = [23, 160, 3]; // 7-row chunks of a 160-wide weight (blocks of 128: the last one padded)
  const rng = new Rng(5);
  const wf = gaussian(rng, N * K, 0.1);
  for (const bits of [4, 8] as const) {
    const q = quantizeWeight(fromFloat32(wf, [N, K]), bits, 'w');
    const W = dequantizeWeight(q);
    const g = new Graph(`chunks${bits}`);
    const b = new Builder(g);
    const x = b.input('x', 'float32', [T, K]);
    const dy = b.input('dy', 'float32', [T, N]);
    const blocked = { packed: b.initializer('p', q.packed), scales: b.initializer('s', q.scales), zeroPoints: b.initializer('z', q.zeroPoints), shape: q };
    const y = timesWeightT(b, x, blocked, 7 * K);
    b.output(y, 'y');
    b.output(timesWeight(b, dy, blocked, 7 * K), 'dyW');
    // d(sum(y * dy))/dx = dy @ W: autodiff multiplies by a chunk rebuilt again in the backward pass
    b.output(gradients(b, b.reduceSum(b.mul(y, dy), [0, 1], false), [x]).get('x')!, 'gx');
    const session = await createSession(g, { threads: 1 });
    const xs = gaussian(rng, T * K, 1);
    const dys = gaussian(rng, T * N, 1);
    const out = await session.run({ x: new ort.Tensor('float32', xs, [T, K]), dy: new ort.Tensor('float32', dys, [T, N]) });
    const close = (got: Float32Array, want: Float64Array, what: string) => {
      const scale = Math.max(...Array.from(want, Math.abs));
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 * scale, `int${bits} ${what}[${i}]: ${got[i]} vs ${want[i]}`);
    };
    const ref = new Float64Array(T * N);
    const dyW = new Float64Array(T * K);
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
      ref[t * N + n] += xs[t * K + k] * W[n * K + k];
      dyW[t * K + k] += dys[t * N + n] * W[n * K + k];
    }
    close(out.y.data as Float32Array, ref, 'x @ W^T');
    close(out.dyW.data as Float32Array, dyW, 'dy @ W');
    close(out.gx.data as Float32Array, dyW, 'gradient');
    const rebuilt = g.nodes.filter((n) => n.op === 'DequantizeLinear').length;
    assert.equal(rebuilt, 4 * 3, 'four chunks, rebuilt for x @ W^T, for its gradient and for dy @ W');
    await session.release();
  }
});
