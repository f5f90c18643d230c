// The bench/test GGUF writer: its quantisers give values close to the input for every type, and
// llama.cpp (node-llama-cpp) loads and runs what it writes for every type and every backbone
// feature (qwen2 biases, GQA, tied head, linear and Llama 3 RoPE scaling, a Q4_K_M-like mix).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadNodeLlamaCpp } from '../../../bench/llamaCpp';
import { decodeTensor, encodeTensor, GGUF_TYPES, Q4_K_M_MIX, writeLlamaGguf, type GgufType, type LlamaGgufSpec } from '../../../bench/gguf';
import { readBackboneSpec } from '../../../server/engine/weights/gguf';
import { scratchDir } from './helpers/fixture';

const tmp = scratchDir('gguf-writer');
after(tmp.cleanup);

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** Relative RMS error each quantiser may reach on Gaussian values (its step over the block's range). */
const MAX_REL_RMS: Record<GgufType, number> = { f32: 0, f16: 1e-3, bf16: 5e-3, q8_0: 0.01, q6_k: 0.04, q5_0: 0.08, q5_1: 0.08, q5_k: 0.08, q4_0: 0.15, q4_1: 0.15, q4_k: 0.15 };

test('each encoder reproduces its input within the type\'s step', (t) => {
  const x = randn(4096, 11);
  for (const type of GGUF_TYPES) {
    const y = decodeTensor(type, encodeTensor(type, x));
    let e = 0, s = 0;
    for (let i = 0; i < x.length; i++) { e += (x[i] - y[i]) ** 2; s += x[i] ** 2; }
    const rel = Math.sqrt(e / s);
    t.diagnostic(`${type}: relative RMS error ${rel.toExponential(2)}`);
    assert.ok(rel <= MAX_REL_RMS[type], `${type}: ${rel}`);
  }
});

const hash = (s: string) => [...s].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
const spec = (type: GgufType, over: Partial<LlamaGgufSpec>): LlamaGgufSpec => ({
  name: `w-${type}`, dim: 256, nLayers: 1, nHeads: 4, ffnHidden: 512, vocab: 320, normEps: 1e-5, contextLength: 64, type,
  values: (name, shape) => { const n = shape.reduce((a, b) => a * b, 1); return name.endsWith('norm.weight') ? new Float32Array(n).fill(1) : randn(n, hash(name)).map((v) => v * 0.05); },
  ...over,
});

test('llama.cpp loads and runs every type and backbone feature the writer makes', async () => {
  const cases: Array<[string, LlamaGgufSpec]> = [
    ...GGUF_TYPES.map((type): [string, LlamaGgufSpec] => [type, spec(type, {})]),
    ['qwen2 bias tied gqa', spec('q8_0', { arch: 'qwen2', nKvHeads: 2, tiedEmbeddings: true })],
    ['llama3 rope gqa q4_k_m', spec('q4_k', { nKvHeads: 1, typeOf: Q4_K_M_MIX, ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 } })],
    ['linear rope', spec('q4_1', { ropeScaling: { type: 'linear', factor: 2 } })],
  ];
  const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  for (const [label, s] of cases) {
    const file = path.join(tmp.dir, `${label.replace(/ /g, '-')}.gguf`);
    writeLlamaGguf(file, s);
    assert.equal(readBackboneSpec(file).llama.nKvHeads, s.nKvHeads ?? s.nHeads);
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    try {
      const context = await model.createContext({ contextSize: 64, threads: 1 });
      const tokens: number[] = [];
      for await (const tok of context.getSequence().evaluate([1, 300, 301] as never, { temperature: 0 })) {
        tokens.push(tok as number);
        if (tokens.length === 2) break;
      }
      assert.ok(tokens.length === 2 && tokens.every((x) => Number.isInteger(x) && x >= 0 && x < 320), `${label}: tokens ${tokens}`);
      await context.dispose();
    } finally {
      await model.dispose();
    }
    fs.rmSync(file);
  }
});
