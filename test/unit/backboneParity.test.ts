// The engine against llama.cpp (node-llama-cpp 3.21.1) on the very same GGUF file: first-step
// logits and greedy tokens, for each architecture (llama with grouped-query attention; llama with
// Llama 3 RoPE scaling and tied embeddings; qwen2 with q/k/v biases) and each tensor type. Files are
// written at test time with random weights (bench/gguf.ts); the engine opens them the product's way
// (openBackbone + backboneRuntime: quantised blocks re-blocked exactly into MatMulNBits, a fresh
// identity adapter set on every block).
//
// Tolerance, derived rather than guessed (the numbers each case uses are printed as diagnostics):
// both engines compute in float32 with the same weights; they differ where they round activations.
// llama.cpp rounds each matmul's input to its weight type's vec_dot type: q8_0 blocks of 32 for
// Q4_0/Q4_1/Q5_0/Q5_1/Q8_0, q8_K blocks of 256 for the K-quants, fp16 for F16, bf16 for BF16, nothing for F32.
// Ours (MatMulNBits, accuracy_level 4) rounds the input of each quantised matmul to int8 per block
// of the re-blocked weight (32 for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K, 16 for Q6_K), float weights not at all.
// Let eps_s be a scheme's RMS relative activation error (measured here on Gaussian vectors). To
// first order a logit moves by S * eps for a scheme of relative error eps, where S is the model's
// sensitivity; S is measured on each architecture's Q8_0 file as
//   max|logp(ours, int8 blocks of 32) - logp(ours with the dequantised weights in float32)| / eps_int8_32.
// Independent errors of two schemes add at most linearly, so
//   tol = 1.5 * S * (eps_llama + eps_ours) + 1e-4 * max|logit| ,
// where 1.5 covers that the maximum over the vocabulary of another realisation of the error can
// exceed the measured one (Gaussian maxima over a few hundred logits vary by about +-20 %), and
// 1e-4 of max|logit| is float32 rounding over ~11 sequential matmuls of length <= 512 (11 * 512 *
// 2^-24 = 3.4e-4 worst case; measured on F32 files with an F32 KV cache well below 1e-4).
// Greedy tokens: at each step llama.cpp's top-1/top-2 margin is read from its own probabilities;
// tokens must agree while every margin so far exceeds 2 * tol (an error of tol on two logits cannot
// swap them); from the first closer step on the sequences may legitimately part.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, test } from 'node:test';
import { GgufType, LlamaGgufSpec, writeLlamaGguf } from '../../bench/gguf';
import { loadNodeLlamaCpp } from '../../bench/llamaCpp';
import { backboneRuntime, freshAdapterSet } from '../../server/engine/backboneModel';
import { generateIds } from '../../server/engine/generate';
import { LavinRuntime } from '../../server/engine/runtime';
import { dequantizeWeight } from '../../server/engine/quant';
import { fromFloat32, HostTensor } from '../../server/engine/tensor';
import { openBackbone } from '../../server/engine/weights/backbone';
import { floatToHalf, halfToFloat } from '../../server/engine/tensor';
import { logSoftmax } from '../../server/train/eval/textDrift';
import { tempDir } from '../helpers/tempDir';

const TYPES: GgufType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'q4_k', 'q5_k', 'q6_k'];
const STEPS = 8;
const PROMPT = [1, 300, 301, 17, 290, 311, 5];

type Arch = Pick<LlamaGgufSpec, 'arch' | 'nHeads' | 'nKvHeads' | 'ropeTheta' | 'ropeScaling' | 'qkvBias' | 'tiedEmbeddings'> & { label: string };
const ARCHS: Arch[] = [
  { label: 'llama, grouped-query attention (4 query / 2 kv heads)', arch: 'llama', nHeads: 4, nKvHeads: 2 },
  { label: 'llama, Llama 3 RoPE scaling, tied embeddings, 1 kv head', arch: 'llama', nHeads: 4, nKvHeads: 1, ropeTheta: 500000, tiedEmbeddings: true, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 64 } },
  { label: 'qwen2, q/k/v biases, NeoX RoPE', arch: 'qwen2', nHeads: 4, nKvHeads: 2, ropeTheta: 1000000, qkvBias: true },
];
// Rows are multiples of 256 (K-quant blocks).
const SHAPE = { dim: 256, nLayers: 2, ffnHidden: 512, vocab: 320, normEps: 1e-6, contextLength: 256 };

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

function seedOf(name: string): number {
  let h = 2166136261;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

/** Random weights of realistic scale: unit-ish norms, logits spread over a few units. */
function values(name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const r = randn(n, seedOf(name));
  if (name.endsWith('norm.weight')) return r.map((v) => 1 + 0.1 * v);
  if (name.endsWith('.bias')) return r.map((v) => 0.2 * v);
  if (name === 'tok_embeddings.weight' || name === 'output.weight') {
    // Rows of log-normal norms: a few tokens stand out, so greedy steps have margins well above the
    // activation-rounding error (random Gaussian rows give top-2 gaps of a few percent of max|logit|).
    const gain = randn(shape[0], seedOf(`${name}.rows`)).map((z) => 0.2 * Math.exp(0.6 * z));
    return r.map((v, i) => v * gain[Math.floor(i / shape[1])]);
  }
  return r.map((v) => (0.8 / Math.sqrt(shape[1])) * v);
}


function argmax(x: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

/** Largest difference of two log-probability vectors over the tokens whose probability llama.cpp's float32 softmax still resolves (log p > -60). */
function maxAbsDiff(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) if (ref[i] > -60) d = Math.max(d, Math.abs(a[i] - ref[i]));
  return d;
}

// ---- activation rounding schemes: RMS relative error on Gaussian vectors --------------------------
function blockInt8Error(x: Float32Array, block: number, maxQ: number): number {
  let e = 0;
  let s = 0;
  for (let b = 0; b < x.length; b += block) {
    let amax = 0;
    for (let j = b; j < b + block; j++) amax = Math.max(amax, Math.abs(x[j]));
    const d = amax / maxQ;
    for (let j = b; j < b + block; j++) {
      const q = d ? Math.round(x[j] / d) * d : 0;
      e += (q - x[j]) ** 2;
      s += x[j] ** 2;
    }
  }
  return Math.sqrt(e / s);
}
function roundingError(x: Float32Array, round: (v: number) => number): number {
  let e = 0;
  let s = 0;
  for (const v of x) {
    e += (round(v) - v) ** 2;
    s += v * v;
  }
  return Math.sqrt(e / s);
}
const bf16 = (v: number) => {
  const u = new Uint32Array(Float32Array.of(v).buffer)[0];
  return new Float32Array(Uint32Array.of(((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16).buffer)[0];
};
const G = randn(1 << 16, 99);
const EPS = {
  int8x32: blockInt8Error(G, 32, 127), // q8_0, and ours for blocks of 32
  int8x16: blockInt8Error(G, 16, 127), // ours for Q6_K (sub-blocks of 16)
  q8K: blockInt8Error(G, 256, 128), // llama.cpp's q8_K (iscale -128/max)
  f16: roundingError(G, (v) => halfToFloat(floatToHalf(v))),
  bf16: roundingError(G, bf16),
};
const LLAMA_EPS: Record<GgufType, number> = { f32: 0, f16: EPS.f16, bf16: EPS.bf16, q8_0: EPS.int8x32, q4_0: EPS.int8x32, q4_1: EPS.int8x32, q5_0: EPS.int8x32, q5_1: EPS.int8x32, q4_k: EPS.q8K, q5_k: EPS.q8K, q6_k: EPS.q8K };
const OUR_EPS: Record<GgufType, number> = { f32: 0, f16: 0, bf16: 0, q8_0: EPS.int8x32, q4_0: EPS.int8x32, q4_1: EPS.int8x32, q5_0: EPS.int8x32, q5_1: EPS.int8x32, q4_k: EPS.int8x32, q5_k: EPS.int8x32, q6_k: EPS.int8x16 };

// ---- llama.cpp --------------------------------------------------------------------------------------
interface Reference {
  /** log-probabilities of each generated step (natural log of llama.cpp's softmax). */
  steps: Float64Array[];
  tokens: number[];
}

async function llamaCppGreedy(llama: any, file: string, vocab: number): Promise<Reference> {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  try {
    // F32 KV cache and no flash attention: its default F16 cache would add a rounding we do not make.
    const context = await model.createContext({ contextSize: 64, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    try {
      const seq = context.getSequence();
      const next = { generateNext: { probabilities: true, token: true, options: { temperature: 0 } } };
      const steps: Float64Array[] = [];
      const tokens: number[] = [];
      let input: unknown[] = PROMPT.map((t, i) => (i === PROMPT.length - 1 ? [t, next] : t));
      for (let k = 0; k < STEPS; k++) {
        const out = await seq.controlledEvaluate(input);
        const r = out[input.length - 1].next;
        const lp = new Float64Array(vocab).fill(-Infinity);
        for (const [id, p] of r.probabilities as Map<number, number>) lp[id] = Math.log(p);
        steps.push(lp);
        tokens.push(r.token);
        input = [[r.token, next]];
      }
      return { steps, tokens };
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

// ---- ours -------------------------------------------------------------------------------------------
async function oursGreedy(rt: LavinRuntime): Promise<{ steps: Float64Array[]; tokens: number[]; maxLogit: number }> {
  const r = await generateIds(rt, { promptIds: PROMPT, modality: 'text', maxNewTokens: STEPS, temperature: 0, stopAtEos: false, positionMode: 'consistent', firstPosition: 0, keepLogits: true });
  let maxLogit = 0;
  for (const l of r.stepLogits) for (const v of l) maxLogit = Math.max(maxLogit, Math.abs(v));
  return { steps: r.stepLogits.map(logSoftmax), tokens: r.tokens, maxLogit };
}

/** The same file with every quantised weight dequantised into float32 (no activation rounding at all). */
async function dequantisedRuntime(file: string): Promise<LavinRuntime> {
  const opened = await openBackbone(file);
  try {
    const tensors = new Map<string, HostTensor>(opened.tensors);
    for (const [name, q] of opened.quantized) tensors.set(name, fromFloat32(dequantizeWeight(q), [q.n, q.k]));
    for (const [k, t] of freshAdapterSet(opened.spec.llama)) tensors.set(k, t);
    if (!tensors.has('tok_embeddings.weight')) tensors.set('tok_embeddings.weight', fromFloat32(opened.embeddingRows(Array.from({ length: opened.spec.llama.vocab }, (_, i) => i)), [opened.spec.llama.vocab, opened.spec.llama.dim]));
    const freqs = opened.tensors.get('rope_freqs.weight');
    const llama = freqs ? { ...opened.spec.llama, ropeScaling: { type: 'frequencyFactors' as const, factors: Array.from(new Float32Array(freqs.data.buffer, freqs.data.byteOffset, freqs.shape[0])) } } : opened.spec.llama;
    return LavinRuntime.create({ llama, adapter: { hidden: 8, groups: 2, scale: 1, temperature: 10, nVisualTokens: 6 }, maxSeqLen: 64 }, tensors, { threads: 1 }, { weights: 'fp32', kernels: 'fused' });
  } finally {
    opened.close();
  }
}

// ---- the cases --------------------------------------------------------------------------------------
describe('GGUF backbones against llama.cpp on the same file (node-llama-cpp 3.21.1)', () => {
  const dir = tempDir('lavin-parity-');
  let llama: any;
  before(async () => {
    const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fileOf = (a: number, type: GgufType) => path.join(dir, `a${a}-${type}.gguf`);
  const write = (a: number, type: GgufType) => {
    const file = fileOf(a, type);
    if (!fs.existsSync(file)) writeLlamaGguf(file, { name: `parity-${a}-${type}`, ...SHAPE, ...ARCHS[a], type, values });
    return file;
  };

  ARCHS.forEach((arch, a) => {
    describe(arch.label, () => {
      /** Logit sensitivity to a relative activation error of 1 (see the header), from this architecture's Q8_0 file. */
      let sensitivity = 0;
      before(async () => {
        const file = write(a, 'q8_0');
        const exact = await dequantisedRuntime(file);
        const opened = await openBackbone(file);
        const rt = await backboneRuntime(opened, { threads: 1 }, 'fused', 64);
        try {
          const [x, y] = [await oursGreedy(exact), await oursGreedy(rt)];
          sensitivity = maxAbsDiff(x.steps[0], y.steps[0]) / EPS.int8x32;
        } finally {
          await exact.dispose();
          await rt.dispose();
        }
      });

      for (const type of TYPES) {
        test(`${type}: first-step logits within the derived tolerance, greedy tokens while margins allow`, async (t) => {
          const file = write(a, type);
          let ref: Reference;
          try {
            ref = await llamaCppGreedy(llama, file, SHAPE.vocab);
          } catch (e) {
            if (type === 'bf16') return t.skip(`llama.cpp's CPU build does not load BF16 here: ${(e as Error).message.split('\n')[0]}`);
            throw e;
          }
          const opened = await openBackbone(file);
          const rt = await backboneRuntime(opened, { threads: 1 }, 'fused', 64);
          try {
            const ours = await oursGreedy(rt);
            const tol = 1.5 * sensitivity * (LLAMA_EPS[type] + OUR_EPS[type]) + 1e-4 * ours.maxLogit;
            const diff = maxAbsDiff(ours.steps[0], ref.steps[0]);
            let agreed = 0;
            let comparable = 0;
            for (let k = 0; k < STEPS; k++) {
              const lp = ref.steps[k];
              const top = argmax(lp);
              const second = argmax(lp.map((v, i) => (i === top ? -Infinity : v)));
              if (lp[top] - lp[second] <= 2 * tol) break;
              comparable++;
              if (ours.tokens[k] !== ref.tokens[k]) break;
              agreed++;
            }
            t.diagnostic(`max |logp ours - logp llama.cpp| ${diff.toExponential(2)} (tolerance ${tol.toExponential(2)}; sensitivity ${sensitivity.toFixed(2)}, eps llama.cpp ${LLAMA_EPS[type].toExponential(2)}, ours ${OUR_EPS[type].toExponential(2)}, max|logit| ${ours.maxLogit.toFixed(2)}); greedy ${agreed}/${comparable} steps whose margins exceed 2*tol agree (of ${STEPS}); tokens ours ${ours.tokens.join(',')} llama.cpp ${ref.tokens.join(',')}`);
            assert.ok(diff <= tol, `${type}: max logit difference ${diff} > tolerance ${tol}`);
            assert.equal(agreed, comparable, `${type}: greedy tokens part at step ${agreed} while llama.cpp's margin there exceeds 2*tol`);
            // F32 leaves only float rounding: every step's margin is clear, so the whole greedy run is compared.
            if (type === 'f32') assert.equal(comparable, STEPS, 'f32: some greedy step without a clear margin (the greedy check would prove little)');
          } finally {
            await rt.dispose();
          }
        });
      }
    });
  });
});
