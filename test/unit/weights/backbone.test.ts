// openBackbone on GGUF files written by the bench writer: engine names, quantised linears re-blocked
// (against the engine's own dequantisation of the stored blocks), float tensors in their dtype, the
// embedding table served row by row, tied heads, and clear errors for files the engine cannot run.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { decodeTensor, encodeTensor, GGUF_TYPES, llamaMetadata, llamaTensors, Q4_K_M_MIX, writeLlamaGguf, type GgufType, type LlamaGgufSpec } from '../../../bench/gguf';
import { writeGgufFile, type RawTensor } from '../../../bench/ggufWriter';
import { TYPE_INFO } from '../../../bench/ggufEncode';
import { dequantizeWeight } from '../../../server/engine/quant';
import { toFloat32 } from '../../../server/engine/tensor';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { openBackbone } from '../../../server/engine/weights/backbone';
import { scratchDir } from './helpers/fixture';

const tmp = scratchDir('backbone');
after(tmp.cleanup);
let serial = 0;
const fresh = (name = 'model.gguf') => { const d = path.join(tmp.dir, String(serial++)); fs.mkdirSync(d); return path.join(d, name); };

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}
const hash = (s: string) => [...s].reduce((a, c) => (a * 31 + c.charCodeAt(0)) >>> 0, 7);
const values = (name: string, shape: number[]) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return name.endsWith('norm.weight') ? Float32Array.from({ length: n }, (_, i) => 1 + 0.01 * i) : randn(n, hash(name)).map((v) => v * 0.05);
};

const base = (type: GgufType, over: Partial<LlamaGgufSpec> = {}): LlamaGgufSpec => ({
  name: `tiny-${type}`, dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnHidden: 512, vocab: 300, normEps: 1e-5, contextLength: 128, type, values, ...over,
});

test('every tensor type: quantised linears re-blocked, floats kept in their dtype, embedding rows exact', async () => {
  for (const type of GGUF_TYPES) {
    const spec = base(type);
    const file = fresh(`${type}.gguf`);
    writeLlamaGguf(file, spec);
    const bb = await openBackbone(file);
    try {
      assert.equal(bb.spec.llama.nKvHeads, 2);
      assert.equal(bb.spec.llama.ropeStyle, 'interleaved');
      assert.deepEqual(bb.ignored, []);
      const written = new Map(llamaTensors(spec).map((t) => [t.name, t]));
      const stored = (ggufName: string) => { const t = written.get(ggufName)!; return decodeTensor(t.type, encodeTensor(t.type, t.values())); };
      const wq = 'layers.1.attention.wq.weight';
      const float = type === 'f32' || type === 'f16' || type === 'bf16';
      if (float) {
        assert.equal(bb.quantized.size, 0);
        const t = bb.tensors.get(wq)!;
        assert.equal(t.dtype, { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[type]);
        assert.deepEqual(toFloat32(t), stored('blk.1.attn_q.weight'));
      } else {
        assert.ok(!bb.tensors.has(wq));
        const q = bb.quantized.get(wq)!;
        assert.deepEqual([q.n, q.k], [256, 256]);
        const ours = dequantizeWeight(q);
        const ref = stored('blk.1.attn_q.weight');
        let worst = 0;
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]));
        assert.ok(worst <= 1e-6 * Math.max(...ref.map(Math.abs)), `${type}: re-blocked weight off by ${worst}`);
        assert.equal(bb.quantized.size, 2 * 7 + 1, 'seven linears per layer and the head');
      }
      assert.deepEqual(toFloat32(bb.tensors.get('layers.0.ffn_norm.weight')!), values('layers.0.ffn_norm.weight', [256]));
      assert.ok(!bb.tensors.has('tok_embeddings.weight') && !bb.quantized.has('tok_embeddings.weight'), 'untied table not loaded');
      const table = stored('token_embd.weight');
      const rows = bb.embeddingRows([299, 0, 7]);
      assert.deepEqual(rows, Float32Array.from([...table.subarray(299 * 256, 300 * 256), ...table.subarray(0, 256), ...table.subarray(7 * 256, 8 * 256)]));
      assert.throws(() => bb.embeddingRows([300]), /token id 300 is outside the vocabulary of 300/);
    } finally {
      bb.close();
    }
  }
});

test('qwen2 with biases and a tied, quantised head; a Q4_K_M-like mix; Llama 3 rope factors', async () => {
  const file = fresh('qwen.gguf');
  writeLlamaGguf(file, base('q4_k', { arch: 'qwen2', tiedEmbeddings: true, typeOf: Q4_K_M_MIX, vocab: 512, fileType: 15 }));
  const bb = await openBackbone(file);
  try {
    assert.equal(bb.spec.arch, 'qwen2');
    assert.equal(bb.spec.fileType, 'Q4_K_M');
    assert.equal(bb.spec.llama.ropeStyle, 'neox');
    assert.ok(bb.spec.llama.qkvBias && bb.spec.llama.tiedEmbeddings);
    assert.deepEqual(bb.tensors.get('layers.0.attention.wk.bias')!.shape, [128]);
    assert.equal(bb.quantized.get('tok_embeddings.weight')!.bits, 4, 'the tied head is the re-blocked Q4_K table');
    assert.equal(bb.quantized.get('layers.0.feed_forward.w2.weight')!.blockSize, 16, 'ffn_down is Q6_K');
    assert.ok(!bb.quantized.has('output.weight'));
  } finally {
    bb.close();
  }
  const l3 = fresh('llama3.gguf');
  writeLlamaGguf(l3, base('q8_0', { ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 }, dim: 512, nHeads: 4 }));
  const b3 = await openBackbone(l3);
  try {
    assert.deepEqual(b3.spec.llama.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 });
    assert.deepEqual(b3.tensors.get('rope_freqs.weight')!.shape, [64]);
  } finally {
    b3.close();
  }
});

function throwsCheckpoint(p: Promise<unknown>, message: RegExp) {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, message);
    return true;
  });
}

test('files the engine cannot run fail with the tensor and the reason named', async () => {
  const spec = base('q4_0', { nLayers: 1 });
  const tensors = (): RawTensor[] => llamaTensors(spec).map((t) => {
    const bytes = () => encodeTensor(t.type, t.values());
    return { name: t.name, shape: t.shape, type: TYPE_INFO[t.type].id, byteLength: bytes().length, data: bytes };
  });
  const q2k = fresh('q2_k.gguf');
  writeGgufFile(q2k, { metadata: llamaMetadata(spec), tensors: tensors().map((t) => (t.name === 'blk.0.ffn_up.weight' ? { ...t, type: 10, byteLength: (512 * 256 / 256) * 84, data: () => new Uint8Array((512 * 256 / 256) * 84) } : t)) });
  await throwsCheckpoint(openBackbone(q2k), /q2_k\.gguf: tensor blk\.0\.ffn_up\.weight: tensor type Q2_K is not supported \(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K\)$/);
  const missing = fresh('missing.gguf');
  writeGgufFile(missing, { metadata: llamaMetadata(spec), tensors: tensors().filter((t) => t.name !== 'blk.0.attn_k.weight') });
  await throwsCheckpoint(openBackbone(missing), /missing\.gguf: tensor blk\.0\.attn_k\.weight: missing from the GGUF file$/);
  const shape = fresh('shape.gguf');
  writeGgufFile(shape, { metadata: llamaMetadata({ ...spec, ffnHidden: 1024 }), tensors: tensors() });
  await throwsCheckpoint(openBackbone(shape), /shape\.gguf: tensor blk\.0\.ffn_gate\.weight: shape \[512,256\] does not match the metadata's \[1024,256\]$/);
  await throwsCheckpoint(openBackbone(path.join(tmp.dir, 'nowhere.gguf')), /nowhere\.gguf: not found$/);
});
