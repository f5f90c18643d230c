// Digests that show a refactor changed no graph: sha256 of every inference graph as serialised ONNX
// (vision; decoder plain/fused x fp32/int4) and of the training graphs' outputs (loss, router
// weights, every adapter gradient) on fixed inputs, text and image, with dropout masks. Run it
// before and after a change and compare the lines.
//
//   node out/bench/graphDigest.js [MODEL_DIR]      (default: models/lavin-tiny)

import * as crypto from 'crypto';
import * as ort from 'onnxruntime-node';
import * as path from 'path';
import { Graph } from '../server/engine/graph/graph';
import { serializeModel } from '../server/engine/graph/onnx';
import { llamaLinearPolicy } from '../server/engine/lavin';
import { loadModelDir } from '../server/engine/modelDir';
import { buildDecoderGraph, buildVisionGraph, inferenceParams } from '../server/engine/programs';
import { createSession } from '../server/engine/session';
import { toFloat32 } from '../server/engine/tensor';
import { buildTrainingGraph } from '../server/train/trainingGraph';

const short = (h: crypto.Hash) => h.digest('hex').slice(0, 16);
const graphDigest = (g: Graph) => short(crypto.createHash('sha256').update(serializeModel(g).model));

async function main(): Promise<void> {
  const dir = process.argv[2] ?? path.resolve(__dirname, '../../models/lavin-tiny');
  const w = await loadModelDir(dir);
  console.log(`vision  ${graphDigest(buildVisionGraph(w.cfg, inferenceParams(w.tensors, w.cfg.adapter.nVisualTokens)))}`);
  for (const kernels of ['plain', 'fused'] as const) {
    for (const format of ['fp32', 'int4'] as const) {
      console.log(`decoder ${kernels} ${format}  ${graphDigest(buildDecoderGraph(w.cfg, inferenceParams(w.tensors, w.cfg.adapter.nVisualTokens, llamaLinearPolicy(format)), kernels))}`);
    }
  }
  const T = 16;
  const { dim, vocab } = w.cfg.llama;
  const nv = w.cfg.adapter.nVisualTokens;
  const r = w.cfg.clip!.resolution;
  for (const image of [false, true]) {
    const tg = buildTrainingGraph(w.cfg, w.tensors, { trainable: w.adapterKeys, seqLen: T, withImage: image, dropout: { p: 0.1 } });
    const session = await createSession(tg.graph, { threads: 1 });
    let seed = 1;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
    const f32 = (shape: number[], fill: (i: number) => number) => new ort.Tensor('float32', Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)), shape);
    const feeds: Record<string, ort.Tensor> = {
      modality_onehot: f32([1, 2], (i) => (i === (image ? 1 : 0) ? 1 : 0)),
      token_embeds: f32([1, T - 1, dim], rnd),
      labels: new ort.Tensor('int64', BigInt64Array.from({ length: T - 1 }, (_, i) => BigInt((i * 37) % vocab)), [T - 1, 1]),
      label_weights: f32([T - 1, 1], (i) => (i > 5 ? 0.1 : 0)),
    };
    if (image) {
      feeds.pixels = f32([1, 3, r, r], rnd);
      feeds.visual_placement = f32([T - 1, nv], (i) => (Math.floor(i / nv) === 3 + (i % nv) ? 1 : 0));
    }
    for (const m of tg.dropoutMasks) feeds[m.name] = f32(m.shape, () => (rnd() > -0.4 ? 1 / 0.9 : 0));
    for (const k of tg.paramInputs) {
      const t = w.tensors.get(k)!;
      feeds[k] = new ort.Tensor('float32', toFloat32(t), t.shape);
    }
    const out = await session.run(feeds);
    const h = crypto.createHash('sha256');
    for (const name of Object.keys(out).sort()) {
      const data = out[name].data as Float32Array;
      h.update(name).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    console.log(`training ${image ? 'image' : 'text'} outputs (${Object.keys(out).length}, loss ${(out.loss.data as Float32Array)[0]})  ${short(h)}`);
    await session.release();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
