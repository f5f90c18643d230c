// GGUF reader: every metadata value type, alignment, tensor infos and lazy reads; the errors for
// broken files; and the BackboneSpec read from metadata (llama GQA / rope scaling, qwen2 biases).
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GGML_TYPE_ID, ggufHeaderBytes, writeGgufFile, type MetaValue, type RawTensor } from '../../../bench/ggufWriter';
import { CheckpointError } from '../../../server/engine/weights/weightErrors';
import { GgufFile, llama3RopeFactors, readBackboneSpec } from '../../../server/engine/weights/gguf';
import { scratchDir } from './helpers/fixture';

const tmp = scratchDir('gguf');
after(tmp.cleanup);
let serial = 0;
const fresh = (name = 'model.gguf') => {
  const dir = path.join(tmp.dir, String(serial++));
  fs.mkdirSync(dir);
  return path.join(dir, name);
};

const bytesTensor = (name: string, shape: number[], type: number, byteLength: number): RawTensor => ({
  name, shape, type, byteLength, data: () => Uint8Array.from({ length: byteLength }, (_, i) => (i * 31 + name.length) & 0xff),
});
const f32Tensor = (name: string, shape: number[], values?: Float32Array): RawTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = values ?? Float32Array.from({ length: n }, (_, i) => Math.sin(i + name.length));
  return { name, shape, type: GGML_TYPE_ID.F32, byteLength: 4 * n, data: () => new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
};

function throwsCheckpoint(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
    assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('every metadata value type reads back (v2 and v3), with alignment and tensor infos', () => {
  for (const version of [2, 3]) {
    const metadata: Array<[string, MetaValue]> = [
      ['general.alignment', { u32: 64 }],
      ['t.u8', { u8: 250 }], ['t.i8', { i8: -7 }], ['t.u16', { u16: 65000 }], ['t.i16', { i16: -32000 }],
      ['t.u32', { u32: 4_000_000_000 }], ['t.i32', { i32: -2_000_000_000 }], ['t.f32', { f32: 1e-5 }],
      ['t.bool', { bool: true }], ['t.str', { str: 'héllo ▁wörld' }], ['t.u64', { u64: 2n ** 40n }], ['t.u64big', { u64: 2n ** 63n + 5n }],
      ['t.i64', { i64: -(2n ** 50n) }], ['t.f64', { f64: Math.PI }],
      ['t.strs', { strs: ['a', '', 'ü', '<0x0A>'] }], ['t.f32s', { f32s: Float32Array.of(0.5, -2) }], ['t.i32s', { i32s: Int32Array.of(1, -1) }],
      ['t.u8s', { arr: 'u8', values: [1, 2, 255] }], ['t.bools', { arr: 'bool', values: [true, false, true] }],
      ['t.u64s', { arr: 'u64', values: [1n, 2n ** 60n] }], ['t.f64s', { arr: 'f64', values: [1.5] }], ['t.i16s', { arr: 'i16', values: [-3] }],
      ['t.nested', { arrs: [{ strs: ['x', 'y'] }, { i32s: Int32Array.of(9) }] }],
    ];
    const tensors = [
      f32Tensor('a', [3, 5]),
      bytesTensor('q', [2, 64], GGML_TYPE_ID.Q8_0, 2 * 2 * 34),
      bytesTensor('k', [1, 256], GGML_TYPE_ID.Q4_K, 144),
      bytesTensor('h', [7], GGML_TYPE_ID.F16, 14),
    ];
    const file = fresh();
    writeGgufFile(file, { version, metadata, tensors });
    const g = GgufFile.open(file);
    try {
      assert.equal(g.version, version);
      assert.equal(g.alignment, 64);
      assert.equal(g.dataOffset % 64, 0);
      const m = g.metadata;
      assert.equal(m.get('t.u8'), 250); assert.equal(m.get('t.i8'), -7); assert.equal(m.get('t.u16'), 65000); assert.equal(m.get('t.i16'), -32000);
      assert.equal(m.get('t.u32'), 4_000_000_000); assert.equal(m.get('t.i32'), -2_000_000_000); assert.equal(m.get('t.f32'), Math.fround(1e-5));
      assert.equal(m.get('t.bool'), true); assert.equal(m.get('t.str'), 'héllo ▁wörld'); assert.equal(m.get('t.u64'), 2 ** 40);
      assert.equal(m.get('t.u64big'), 2n ** 63n + 5n); assert.equal(m.get('t.i64'), -(2 ** 50)); assert.equal(m.get('t.f64'), Math.PI);
      assert.deepEqual(m.get('t.strs'), ['a', '', 'ü', '<0x0A>']);
      assert.deepEqual(m.get('t.f32s'), Float32Array.of(0.5, -2)); assert.deepEqual(m.get('t.i32s'), Int32Array.of(1, -1));
      assert.deepEqual(m.get('t.u8s'), Uint8Array.of(1, 2, 255)); assert.deepEqual(m.get('t.bools'), [true, false, true]);
      assert.deepEqual(m.get('t.u64s'), BigUint64Array.of(1n, 2n ** 60n)); assert.deepEqual(m.get('t.f64s'), Float64Array.of(1.5));
      assert.deepEqual(m.get('t.i16s'), Int16Array.of(-3));
      assert.deepEqual(m.get('t.nested'), [['x', 'y'], Int32Array.of(9)]);
      assert.deepEqual([...g.tensors.keys()], ['a', 'q', 'k', 'h']);
      const q = g.tensor('q');
      assert.deepEqual({ type: q.typeName, ne: q.ne, shape: q.shape, nElements: q.nElements, nBytes: q.nBytes }, { type: 'Q8_0', ne: [64, 2], shape: [2, 64], nElements: 128, nBytes: 136 });
      assert.equal(g.tensor('k').typeName, 'Q4_K');
      assert.equal(g.rowBytes('q'), 68);
      for (const t of tensors) {
        const info = g.tensor(t.name);
        assert.equal(info.fileOffset % 64, 0);
        assert.deepEqual(g.readTensor(t.name), t.data());
      }
      assert.deepEqual(g.readBytes('q', 68, 4), tensors[1].data().subarray(68, 72));
    } finally {
      g.close();
    }
  }
});

test('a 150k-entry vocabulary array reads back entry for entry', () => {
  const tokens = Array.from({ length: 150_000 }, (_, i) => (i % 7 === 0 ? `Ġtok${i}é` : `t${i}`));
  const merges = Array.from({ length: 150_000 }, (_, i) => `a${i} b${i}`);
  const file = fresh();
  writeGgufFile(file, { metadata: [['tokenizer.ggml.tokens', { strs: tokens }], ['tokenizer.ggml.merges', { strs: merges }], ['tokenizer.ggml.token_type', { i32s: new Int32Array(150_000).fill(1) }]], tensors: [f32Tensor('x', [2])] });
  const g = GgufFile.open(file);
  try {
    assert.deepEqual(g.metadata.get('tokenizer.ggml.tokens'), tokens);
    assert.deepEqual(g.metadata.get('tokenizer.ggml.merges'), merges);
    assert.equal((g.metadata.get('tokenizer.ggml.token_type') as Int32Array).length, 150_000);
  } finally {
    g.close();
  }
});

test('arrays: false steps over array metadata (what readBackboneSpec reads) but still checks it is all there', () => {
  const tokens = Array.from({ length: 5000 }, (_, i) => `t${i}`);
  const file = fresh('arrays.gguf');
  writeGgufFile(file, { metadata: [['a', { u32: 1 }], ['tokenizer.ggml.tokens', { strs: tokens }], ['s', { f32s: Float32Array.of(1, 2) }], ['nested', { arrs: [{ strs: ['x'] }] }], ['b', { str: 'after' }]], tensors: [f32Tensor('x', [2])] });
  const g = GgufFile.open(file, { arrays: false });
  try {
    assert.deepEqual([...g.metadata.entries()], [['a', 1], ['b', 'after']]);
    assert.deepEqual(g.readTensor('x'), f32Tensor('x', [2]).data());
  } finally {
    g.close();
  }
  const bytes = fs.readFileSync(file);
  const cut = fresh('arrays-cut.gguf');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.indexOf(Buffer.from('t4000'))));
  throwsCheckpoint(() => GgufFile.open(cut, { arrays: false }), /arrays-cut\.gguf: file is truncated: metadata key tokenizer\.ggml\.tokens is cut off/);
  const dup = fresh('arrays-dup.gguf');
  writeGgufFile(dup, { metadata: [['v', { strs: ['a'] }], ['v', { strs: ['b'] }]], tensors: [] });
  throwsCheckpoint(() => GgufFile.open(dup, { arrays: false }), /duplicate metadata key v$/);
});

test('broken files: one-line errors naming the file and the reason', () => {
  const good = { metadata: [['general.architecture', { str: 'llama' }], ['tokenizer.ggml.tokens', { strs: ['a', 'b', 'c'] }]] as Array<[string, MetaValue]>, tensors: [f32Tensor('w', [4, 8]), f32Tensor('v', [8])] };
  const write = (name: string, bytes: Buffer) => { const p = fresh(name); fs.writeFileSync(p, bytes); return p; };
  const base = fresh('base.gguf');
  writeGgufFile(base, good);
  const bytes = fs.readFileSync(base);

  throwsCheckpoint(() => GgufFile.open(write('empty.gguf', Buffer.alloc(0))), /empty\.gguf: file is empty: not a GGUF file$/);
  throwsCheckpoint(() => GgufFile.open(write('magic.gguf', Buffer.concat([Buffer.from('GGML'), bytes.subarray(4)]))), /magic\.gguf: not a GGUF file \(starts with 47 47 4d 4c/);
  const v = (n: number) => { const b = Buffer.from(bytes); b.writeUInt32LE(n, 4); return b; };
  throwsCheckpoint(() => GgufFile.open(write('v1.gguf', v(1))), /v1\.gguf: GGUF version 1 is not supported/);
  throwsCheckpoint(() => GgufFile.open(write('v4.gguf', v(4))), /v4\.gguf: GGUF version 4 is not supported \(only 2 and 3\)/);
  throwsCheckpoint(() => GgufFile.open(write('be.gguf', v(0x03000000))), /big-endian GGUF is not supported/);
  throwsCheckpoint(() => GgufFile.open(fresh('missing.gguf')), /missing\.gguf: file not found/);

  // Metadata cut inside the vocabulary array; tensor data cut short.
  const { header } = ggufHeaderBytes(good);
  const cutAt = header.indexOf(Buffer.from('tokenizer.ggml.tokens')) + 30;
  throwsCheckpoint(() => GgufFile.open(write('cut.gguf', bytes.subarray(0, cutAt))), /cut\.gguf: file is truncated: metadata key tokenizer\.ggml\.tokens is cut off/);
  throwsCheckpoint(() => GgufFile.open(write('short.gguf', bytes.subarray(0, bytes.length - 1))), /short\.gguf: tensor v: file is truncated: the F32 data \(bytes \d+\.\.\d+\) runs past the end/);

  // An absurd array length is refused before anything is allocated for it.
  const huge = Buffer.from(bytes);
  huge.writeBigUInt64LE(2n ** 40n, header.indexOf(Buffer.from('tokenizer.ggml.tokens')) + 21 + 4 + 4);
  throwsCheckpoint(() => GgufFile.open(write('huge.gguf', huge)), /huge\.gguf: file is truncated: metadata key tokenizer\.ggml\.tokens declares 1099511627776 items/);

  const unknown = fresh('unknown.gguf');
  writeGgufFile(unknown, { metadata: [], tensors: [f32Tensor('ok', [2]), bytesTensor('blk.0.attn_q.weight', [32], 99, 32)] });
  throwsCheckpoint(() => GgufFile.open(unknown), /unknown\.gguf: tensor blk\.0\.attn_q\.weight: unknown ggml tensor type 99$/);

  const dup = fresh('dup.gguf');
  writeGgufFile(dup, { metadata: [], tensors: [f32Tensor('w', [2]), f32Tensor('w', [2])] });
  throwsCheckpoint(() => GgufFile.open(dup), /dup\.gguf: tensor w: duplicate tensor name$/);
  const dupKey = fresh('dupkey.gguf');
  writeGgufFile(dupKey, { metadata: [['a', { u32: 1 }], ['a', { u32: 2 }]], tensors: [] });
  throwsCheckpoint(() => GgufFile.open(dupKey), /dupkey\.gguf: duplicate metadata key a$/);
  const align = fresh('align.gguf');
  writeGgufFile(align, { metadata: [['general.alignment', { u32: 24 }]], tensors: [f32Tensor('w', [2])], alignment: 8 });
  throwsCheckpoint(() => GgufFile.open(align), /align\.gguf: general\.alignment 24 is not a power of two/);
  const rows = fresh('rows.gguf');
  writeGgufFile(rows, { metadata: [], tensors: [bytesTensor('w', [2, 48], GGML_TYPE_ID.Q4_0, 2 * 18)] });
  throwsCheckpoint(() => GgufFile.open(rows), /rows\.gguf: tensor w: Q4_0 rows of 48 elements are not a multiple of its block of 32/);
});

// ---------------------------------------------------------------------------------------------

interface TinyModel { arch: string; dim: number; layers: number; heads: number; kvHeads: number; ffn: number; vocab: number; bias?: boolean; tied?: boolean; extra?: Array<[string, MetaValue]>; extraTensors?: RawTensor[] }

/** A tiny model file: its metadata and F32 tensors of the right shapes (values do not matter here). */
function writeTinyModel(file: string, m: TinyModel): RawTensor[] {
  const hd = m.dim / m.heads;
  const kv = m.kvHeads * hd;
  const tensors: RawTensor[] = [f32Tensor('token_embd.weight', [m.vocab, m.dim]), f32Tensor('output_norm.weight', [m.dim])];
  if (!m.tied) tensors.push(f32Tensor('output.weight', [m.vocab, m.dim]));
  for (let l = 0; l < m.layers; l++) {
    const b = `blk.${l}`;
    tensors.push(f32Tensor(`${b}.attn_norm.weight`, [m.dim]), f32Tensor(`${b}.attn_q.weight`, [m.dim, m.dim]), f32Tensor(`${b}.attn_k.weight`, [kv, m.dim]), f32Tensor(`${b}.attn_v.weight`, [kv, m.dim]));
    if (m.bias) tensors.push(f32Tensor(`${b}.attn_q.bias`, [m.dim]), f32Tensor(`${b}.attn_k.bias`, [kv]), f32Tensor(`${b}.attn_v.bias`, [kv]));
    tensors.push(f32Tensor(`${b}.attn_output.weight`, [m.dim, m.dim]), f32Tensor(`${b}.ffn_norm.weight`, [m.dim]), f32Tensor(`${b}.ffn_gate.weight`, [m.ffn, m.dim]), f32Tensor(`${b}.ffn_down.weight`, [m.dim, m.ffn]), f32Tensor(`${b}.ffn_up.weight`, [m.ffn, m.dim]));
  }
  tensors.push(...(m.extraTensors ?? []));
  const a = m.arch;
  writeGgufFile(file, {
    metadata: [
      ['general.architecture', { str: a }], ['general.name', { str: `tiny ${a}` }], ['general.file_type', { u32: 15 }],
      [`${a}.context_length`, { u32: 4096 }], [`${a}.embedding_length`, { u32: m.dim }], [`${a}.block_count`, { u32: m.layers }],
      [`${a}.feed_forward_length`, { u32: m.ffn }], [`${a}.attention.head_count`, { u32: m.heads }], [`${a}.attention.head_count_kv`, { u32: m.kvHeads }],
      [`${a}.attention.layer_norm_rms_epsilon`, { f32: 1e-6 }], [`${a}.rope.dimension_count`, { u32: hd }], ...(m.extra ?? []),
    ],
    tensors,
  });
  return tensors;
}

test('readBackboneSpec: llama with grouped-query attention, its theta and linear scaling', () => {
  const file = fresh();
  const tensors = writeTinyModel(file, { arch: 'llama', dim: 64, layers: 2, heads: 8, kvHeads: 2, ffn: 96, vocab: 300, extra: [['llama.rope.freq_base', { f32: 500000 }], ['llama.rope.scaling.type', { str: 'linear' }], ['llama.rope.scaling.factor', { f32: 4 }]] });
  const spec = readBackboneSpec(file);
  assert.deepEqual(spec, {
    arch: 'llama', name: 'tiny llama', contextLength: 4096, fileType: 'Q4_K_M', nParams: tensors.reduce((a, t) => a + t.byteLength / 4, 0),
    source: { kind: 'gguf', path: file },
    llama: { dim: 64, nLayers: 2, nHeads: 8, nKvHeads: 2, headDim: 8, ffnHidden: 96, vocab: 300, normEps: Math.fround(1e-6), ropeTheta: 500000, ropeStyle: 'interleaved', ropeScaling: { type: 'linear', factor: 4 }, qkvBias: false, tiedEmbeddings: false },
  });
});

test('readBackboneSpec: qwen2 with q/k/v biases and tied embeddings uses rotate-half RoPE', () => {
  const file = fresh();
  writeTinyModel(file, { arch: 'qwen2', dim: 32, layers: 1, heads: 4, kvHeads: 4, ffn: 64, vocab: 280, bias: true, tied: true });
  const spec = readBackboneSpec(file);
  assert.equal(spec.arch, 'qwen2');
  assert.deepEqual(spec.llama, { dim: 32, nLayers: 1, nHeads: 4, nKvHeads: 4, headDim: 8, ffnHidden: 64, vocab: 280, normEps: Math.fround(1e-6), ropeTheta: 10000, ropeStyle: 'neox', qkvBias: true, tiedEmbeddings: true });
});

test('readBackboneSpec: Llama 3 scaling recovered from rope_freqs.weight', () => {
  // Llama 3.1's parameters at head dim 64 (enough frequencies to land in the smooth band).
  const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };
  const factors = llama3RopeFactors(scaling, 500000, 64);
  assert.ok(factors.some((f) => f > 1 && f < 8), 'some frequencies are in the smooth band');
  const file = fresh();
  writeTinyModel(file, { arch: 'llama', dim: 128, layers: 1, heads: 2, kvHeads: 1, ffn: 64, vocab: 270, extra: [['llama.rope.freq_base', { f32: 500000 }]], extraTensors: [f32Tensor('rope_freqs.weight', [32], factors)] });
  assert.deepEqual(readBackboneSpec(file).llama.ropeScaling, scaling);

  // Other band edges (Llama 3.2 uses factor 32) are fitted, not assumed.
  const other = { type: 'llama3' as const, factor: 32, lowFreqFactor: 2, highFreqFactor: 8, originalContext: 8192 };
  const file2 = fresh();
  writeTinyModel(file2, { arch: 'llama', dim: 128, layers: 1, heads: 2, kvHeads: 1, ffn: 64, vocab: 270, extra: [['llama.rope.freq_base', { f32: 500000 }]], extraTensors: [f32Tensor('rope_freqs.weight', [32], llama3RopeFactors(other, 500000, 64))] });
  const got = readBackboneSpec(file2).llama.ropeScaling as typeof other;
  assert.equal(got.factor, 32);
  assert.ok(Math.abs(got.lowFreqFactor - 2) < 1e-3 && Math.abs(got.highFreqFactor - 8) < 1e-3, JSON.stringify(got));

  const file3 = fresh('odd-rope.gguf');
  writeTinyModel(file3, { arch: 'llama', dim: 128, layers: 1, heads: 2, kvHeads: 1, ffn: 64, vocab: 270, extraTensors: [f32Tensor('rope_freqs.weight', [32], Float32Array.from({ length: 32 }, (_, i) => 1 + ((i * 7) % 5)))] });
  throwsCheckpoint(() => readBackboneSpec(file3), /odd-rope\.gguf: tensor rope_freqs\.weight: rope_freqs\.weight does not follow Llama 3 RoPE scaling/);
});

test('readBackboneSpec: unsupported architecture, rope type and missing keys are named', () => {
  const gemma = fresh('gemma.gguf');
  writeTinyModel(gemma, { arch: 'gemma2', dim: 32, layers: 1, heads: 4, kvHeads: 4, ffn: 64, vocab: 280 });
  throwsCheckpoint(() => readBackboneSpec(gemma), /gemma\.gguf: unsupported architecture gemma2 \(this engine runs llama and qwen2\)$/);
  const yarn = fresh('yarn.gguf');
  writeTinyModel(yarn, { arch: 'qwen2', dim: 32, layers: 1, heads: 4, kvHeads: 4, ffn: 64, vocab: 280, extra: [['qwen2.rope.scaling.type', { str: 'yarn' }], ['qwen2.rope.scaling.factor', { f32: 4 }]] });
  throwsCheckpoint(() => readBackboneSpec(yarn), /yarn\.gguf: RoPE scaling yarn is not supported/);
  const bare = fresh('bare.gguf');
  writeGgufFile(bare, { metadata: [['general.architecture', { str: 'llama' }]], tensors: [] });
  throwsCheckpoint(() => readBackboneSpec(bare), /bare\.gguf: missing metadata llama\.embedding_length$/);
});
