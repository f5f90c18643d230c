// CLIP for brought backbones: a random-weight Hugging Face CLIP at 336 px (patch 14, 577 positions)
// and a small width, the same weights as an OpenAI .pth and as LLaVA mmproj GGUFs (llama.cpp's
// names, the old converter's swapped ffn names, the last block and post_ln dropped, F16), all run
// through the model definition's vision graph and checked against a plain float64 JS ViT; the
// readers' one-line errors for files that cannot serve.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { fromFloat32, toFloat32, type HostTensor } from '../../../server/engine/tensor';
import { loadClipSource, type LoadedClip } from '../../../server/engine/weights/clip';
import { backboneConfig, clipConfigOf, clipParams, freshVisionAdapters } from '../../../server/engine/backboneModel';
import { buildVisionGraph, VISION_IO } from '../../../server/engine/programs';
import { HostParams } from '../../../server/engine/graph/params';
import { createSession, f32 } from '../../../server/engine/session';
import { preprocessImage } from '../../../server/engine/image';
import type { LlamaConfig } from '../../../server/engine/lavin';
import { writeGgufFile } from '../../../bench/ggufWriter';
import { scratchDir, writeFile } from './helpers/fixture';
import { randn, randomClip, roundF16, writeHfClipFolder, writeMmproj as writeMmprojFile, type ClipGeometry, type MmprojOptions } from '../../helpers/clipFiles';
import { stateDictPth } from './helpers/pthWriter';

const tmp = scratchDir('clip-sources');
after(tmp.cleanup);

const G: ClipGeometry = { width: 32, heads: 2, patch: 14, resolution: 336, layers: 7 };
const W = G.width;
const HEADS = G.heads;
const PATCH = G.patch;
const RES = G.resolution;
const LAYERS = G.layers;
const MLP = 4 * W;
const clip = randomClip(G);
const get = (name: string) => clip.get(name)!;
const writeHfFolder = (dir: string, config: Record<string, unknown> = {}) => writeHfClipFolder(dir, clip, G, config);
const writeMmproj = (file: string, o: MmprojOptions = {}) => writeMmprojFile(file, clip, G, o);

// ---- the forward passes -------------------------------------------------------------------------

/** CLS taps [6, W] of the model definition's vision graph (fresh CLIP adapters: the identity). */
async function graphFeatures(c: LoadedClip, pixels: Float32Array): Promise<Float32Array> {
  const llama = { dim: 16 } as LlamaConfig;
  const cfg = backboneConfig(llama, 64, 64, clipConfigOf(c));
  const tensors = new Map<string, HostTensor>([...clipParams(c), ...freshVisionAdapters(c.config, 16)]);
  const session = await createSession(buildVisionGraph(cfg, new HostParams(tensors)), { threads: 1 });
  try {
    const r = c.config.resolution;
    const out = await session.run({ [VISION_IO.pixels]: f32(pixels, [1, 3, r, r]) });
    return (out[VISION_IO.features].data as Float32Array).slice();
  } finally {
    await session.release();
  }
}

/** A plain CLIP ViT in float64 over the OpenAI-named weights: class token after blocks ceil(k * L / 6). */
function referenceFeatures(weights: (name: string) => Float32Array, layers: number, pixels: Float32Array): Float64Array {
  const G = RES / PATCH;
  const T = G * G + 1;
  const x = new Float64Array(T * W);
  const conv = weights('conv1.weight');
  for (let gy = 0; gy < G; gy++) for (let gx = 0; gx < G; gx++) {
    const t = 1 + gy * G + gx;
    for (let o = 0; o < W; o++) {
      let s = 0;
      for (let c = 0; c < 3; c++) for (let py = 0; py < PATCH; py++) for (let px = 0; px < PATCH; px++) {
        s += conv[((o * 3 + c) * PATCH + py) * PATCH + px] * pixels[(c * RES + gy * PATCH + py) * RES + gx * PATCH + px];
      }
      x[t * W + o] = s;
    }
  }
  const cls = weights('class_embedding');
  const pos = weights('positional_embedding');
  for (let o = 0; o < W; o++) x[o] = cls[o];
  for (let i = 0; i < T * W; i++) x[i] += pos[i];
  const ln = (src: Float64Array, w: Float32Array, b: Float32Array): Float64Array => {
    const out = new Float64Array(src.length);
    for (let t = 0; t < src.length / W; t++) {
      let mean = 0;
      for (let i = 0; i < W; i++) mean += src[t * W + i];
      mean /= W;
      let v = 0;
      for (let i = 0; i < W; i++) v += (src[t * W + i] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / W + 1e-5);
      for (let i = 0; i < W; i++) out[t * W + i] = (src[t * W + i] - mean) * inv * w[i] + b[i];
    }
    return out;
  };
  const lin = (src: Float64Array, w: Float32Array, b: Float32Array, nIn: number, nOut: number): Float64Array => {
    const n = src.length / nIn;
    const out = new Float64Array(n * nOut);
    for (let t = 0; t < n; t++) for (let o = 0; o < nOut; o++) {
      let s = b[o];
      for (let i = 0; i < nIn; i++) s += src[t * nIn + i] * w[o * nIn + i];
      out[t * nOut + o] = s;
    }
    return out;
  };
  let h = ln(x, weights('ln_pre.weight'), weights('ln_pre.bias'));
  const taps: Float64Array[] = [];
  const hd = W / HEADS;
  for (let l = 0; l < layers; l++) {
    const p = (n: string) => weights(`transformer.resblocks.${l}.${n}`);
    const qkv = lin(ln(h, p('ln_1.weight'), p('ln_1.bias')), p('attn.in_proj_weight'), p('attn.in_proj_bias'), W, 3 * W);
    const att = new Float64Array(T * W);
    const scores = new Float64Array(T);
    for (let hh = 0; hh < HEADS; hh++) for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j < T; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += qkv[i * 3 * W + hh * hd + d] * qkv[j * 3 * W + W + hh * hd + d];
        scores[j] = s / Math.sqrt(hd);
        max = Math.max(max, scores[j]);
      }
      let z = 0;
      for (let j = 0; j < T; j++) z += scores[j] = Math.exp(scores[j] - max);
      for (let d = 0; d < hd; d++) {
        let s = 0;
        for (let j = 0; j < T; j++) s += scores[j] * qkv[j * 3 * W + 2 * W + hh * hd + d];
        att[i * W + hh * hd + d] = s / z;
      }
    }
    const o = lin(att, p('attn.out_proj.weight'), p('attn.out_proj.bias'), W, W);
    for (let i = 0; i < h.length; i++) h[i] += o[i];
    const fc = lin(ln(h, p('ln_2.weight'), p('ln_2.bias')), p('mlp.c_fc.weight'), p('mlp.c_fc.bias'), W, MLP).map((v) => v / (1 + Math.exp(-1.702 * v)));
    const m = lin(fc, p('mlp.c_proj.weight'), p('mlp.c_proj.bias'), MLP, W);
    for (let i = 0; i < h.length; i++) h[i] += m[i];
    if (Math.floor(((l + 1) * 6) / layers) > Math.floor((l * 6) / layers)) taps.push(h.slice(0, W));
  }
  const out = new Float64Array(6 * W);
  taps.forEach((t, i) => out.set(t, i * W));
  return out;
}

function assertClose(actual: Float32Array, expected: Float64Array, label: string): number {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  // float32 accumulation over 577 tokens and a 588-wide patch dot product, against float64.
  assert.ok(worst <= 1e-5 * scale + 1e-5, `${label}: max |diff| ${worst} over scale ${scale}`);
  return worst;
}

const pixels = randn(3 * RES * RES, 2);
const openaiWeight = (name: string) => get(name).v;
const hfDir = writeHfFolder(path.join(tmp.dir, 'hf-clip'));

// ---- tests --------------------------------------------------------------------------------------

test('Hugging Face CLIP at 336 px, width 32: geometry from the file, 577 positions; the vision graph equals a float64 JS ViT', async (t) => {
  const hf = await loadClipSource(hfDir);
  assert.equal(hf.source, 'huggingface');
  assert.deepEqual(hf.config, { width: W, layers: LAYERS, heads: HEADS, patch: PATCH, resolution: RES, layerNormEps: 1e-5, mlpHidden: MLP, numPositions: 577 });
  const got = await graphFeatures(hf, pixels);
  const worst = assertClose(got, referenceFeatures(openaiWeight, LAYERS, pixels), 'HF 336');
  t.diagnostic(`max |graph - float64 reference| = ${worst.toExponential(2)}`);
  assert.ok(worst > 0 || got.some((v) => v !== 0), 'features computed');
  // A perturbed reference must fail (the check can fail).
  const wrong = referenceFeatures(openaiWeight, LAYERS, pixels);
  wrong[3] += 1e-2;
  assert.throws(() => assertClose(got, wrong, 'perturbed'));
});

test('image preprocessing takes the CLIP\'s resolution: a 500x300 PNG becomes 3 x 336 x 336', async () => {
  const png = await sharp({ create: { width: 500, height: 300, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toBuffer();
  const hf = await loadClipSource(hfDir);
  const px = await preprocessImage(png, { size: hf.config.resolution });
  assert.equal(px.length, 3 * RES * RES);
});

test('the same weights as an OpenAI .pth and as an mmproj GGUF (llama.cpp names, F32) give bit-identical tensors and features', async () => {
  const hf = await loadClipSource(hfDir);
  const pth = writeFile(tmp.dir, 'openai/visual.pth', stateDictPth([...clip].map(([k, t]) => [k, fromFloat32(t.v, t.shape)])));
  const openai = await loadClipSource(pth, { heads: HEADS });
  const mmproj = await loadClipSource(writeMmproj(path.join(tmp.dir, 'mmproj-model-f32.gguf')));
  assert.equal(mmproj.source, 'mmproj');
  assert.deepEqual(mmproj.config, hf.config);
  assert.ok(mmproj.notes.some((n) => /ignored 4 tensors.*mm\.0\.weight/.test(n)), mmproj.notes.join(' | '));
  for (const other of [openai, mmproj]) {
    assert.deepEqual([...other.tensors.keys()].sort(), [...hf.tensors.keys()].sort());
    for (const [k, t] of hf.tensors) assert.deepEqual(toFloat32(other.tensors.get(k)!), toFloat32(t), k);
  }
  const a = await graphFeatures(hf, pixels);
  const b = await graphFeatures(mmproj, pixels);
  assert.deepEqual(b, a);
});

test('a LLaVA-1.5-style mmproj (last block and post_ln dropped, ffn names swapped, F16 weights): the stored blocks are tapped as LaVIN taps any depth', async (t) => {
  const file = writeMmproj(path.join(tmp.dir, 'llava', 'mmproj-model-f16.gguf'), { blocks: LAYERS - 1, swappedFfn: true, postLn: false, f16: true });
  const c = await loadClipSource(file);
  assert.equal(c.config.layers, LAYERS - 1);
  assert.equal(c.tensors.has('ln_post.weight'), false);
  assert.ok(c.notes.some((n) => /swapped|other way round/.test(n)), c.notes.join(' | '));
  assert.equal(c.tensors.get('transformer.resblocks.0.mlp.c_fc.weight')!.dtype, 'float16');
  // The reference reads the F16-rounded matrices (what the file holds), float32 vectors as they were.
  const rounded = (name: string) => (get(name).shape.length >= 2 ? roundF16(get(name).v) : get(name).v);
  const got = await graphFeatures(c, pixels);
  t.diagnostic(`max |graph - float64 reference| = ${assertClose(got, referenceFeatures(rounded, LAYERS - 1, pixels), 'mmproj 6 of 7 blocks').toExponential(2)}`);
});

test('CLIP files that cannot serve fail with one line naming the file and the reason', async () => {
  const cases: Array<[string, () => string, RegExp]> = [
    ['language-model GGUF', () => {
      const f = path.join(tmp.dir, 'bad', 'llm.gguf');
      fs.mkdirSync(path.dirname(f), { recursive: true });
      writeGgufFile(f, { metadata: [['general.architecture', { str: 'llama' }]], tensors: [] });
      return f;
    }, /architecture "llama", not a CLIP \/ LLaVA mmproj file/],
    ['exact GELU tower', () => writeMmproj(path.join(tmp.dir, 'bad', 'gelu.gguf'), { gelu: true }), /clip\.use_gelu is true: this tower uses exact GELU/],
    ['SigLIP-like tower (no class token)', () => {
      const f = path.join(tmp.dir, 'bad', 'siglip.gguf');
      writeGgufFile(f, { metadata: [['general.architecture', { str: 'clip' }], ['clip.projector_type', { str: 'gemma3' }]], tensors: [] });
      return f;
    }, /no v\.class_embd: not a CLIP ViT tower \(projector type "gemma3"/],
    ['truncated mmproj', () => {
      const f = writeMmproj(path.join(tmp.dir, 'bad', 'truncated.gguf'));
      fs.truncateSync(f, fs.statSync(f).size - 100);
      return f;
    }, /truncated/],
    ['unsupported tensor type', () => writeMmproj(path.join(tmp.dir, 'bad', 'i8.gguf'), { int8ClassEmbedding: true }), /v\.class_embd: tensor type I8 is not supported/],
    ['HF CLIP with exact GELU', () => writeHfFolder(path.join(tmp.dir, 'bad', 'hf-gelu'), { hidden_act: 'gelu' }), /hidden_act is "gelu"; only CLIP's "quick_gelu"/],
    ['folder without weights', () => {
      const d = path.join(tmp.dir, 'bad', 'empty');
      fs.mkdirSync(d, { recursive: true });
      return d;
    }, /no model\.safetensors in this folder/],
    ['not a checkpoint', () => writeFile(tmp.dir, 'bad/notes.txt', 'hello'), /not a checkpoint/],
  ];
  for (const [label, make, message] of cases) {
    const file = make();
    await assert.rejects(loadClipSource(file), (e: Error) => {
      assert.match(e.message, message, label);
      assert.ok(e.message.includes(path.basename(file)), `${label}: names the file`);
      assert.equal(e.message.includes('\n'), false, `${label}: one line`);
      return true;
    });
  }
});
