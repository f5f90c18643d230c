// Every pre-tokenizer we know by name, against llama.cpp itself: llama.cpp's GPT-2 vocabulary is
// written back as a vocab-only GGUF with tokenizer.ggml.pre set to each name (one per distinct regex
// list), loaded by node-llama-cpp 3.21.1 (vocabOnly), and both tokenise llama.cpp's test inputs plus
// mixed-script text. Pre-types without a vocab file in the tree are checked this way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadNodeLlamaCpp } from '../../../bench/llamaCpp';
import { writeGgufFile, type MetaValue } from '../../../bench/ggufWriter';
import { GgufFile } from '../../../server/engine/weights/gguf';
import { tokenizerFromGgufFile } from '../../../server/engine/tokenizer';
import { llamaCppModelsDir, readVocabTestVectors } from '../../helpers/llamaCppTree';
import { tempDir } from '../../helpers/tempDir';

// one name per distinct regex list (names sharing a list are aliases in preTokenizers.ts)
const PRES = ['default', 'llama-bpe', 'dbrx', 'jais-2', 'deepseek-llm', 'deepseek-coder', 'deepseek-v3', 'youtu', 'falcon', 'starcoder',
  'command-r', 'gpt-2', 'qwen2', 'qwen35', 'poro-chat', 'viking', 'tekken', 'chameleon', 'gpt-4o', 'tiny_aya', 'superbpe',
  'bailingmoe', 'seed-coder', 'afmoe', 'laguna', 'exaone-moe', 'minicpm5', 'chatglm-bpe', 'kimi-k2'];
const EXTRA = ['Hello, World! 1234567 apples; ２０２４年 東京 und Äpfel — ça va? ИИ-модель 😀👍🏽 x²+y² ١٢٣ नमस्ते', "I'LL SAY it's 12,345.67 e\u0301 \u00A0 \t\n\n  end  ", '\u3000全角\uFF01テスト　한국어 ㄱㄴ 𝔘𝔫𝔦 ǅ ǈ Ⅻ'];

function toMeta(key: string, v: unknown): MetaValue {
  if (typeof v === 'string') return { str: v };
  if (typeof v === 'boolean') return { bool: v };
  if (typeof v === 'bigint') return { u64: v };
  if (typeof v === 'number') return /epsilon|freq_base/.test(key) ? { f32: v } : { u32: v };
  if (v instanceof Int32Array) return { i32s: v };
  if (v instanceof Float32Array) return { f32s: v };
  if (Array.isArray(v) && (v.length === 0 || typeof v[0] === 'string')) return { strs: v as string[] };
  throw new Error(`cannot write ${key}`);
}

test('every pre-tokenizer: our ids equal llama.cpp\'s on the same vocabulary', async (t) => {
  const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const source = path.join(await llamaCppModelsDir(), 'ggml-vocab-gpt-2.gguf');
  const file = GgufFile.open(source);
  const metadata = [...file.metadata];
  file.close();
  const inputs = [...readVocabTestVectors(source).cases.map((c) => c.input), ...EXTRA].filter((s) => s !== '');
  const dir = tempDir('lavin-pre-');
  try {
    for (const pre of PRES) {
      const gguf = path.join(dir, `${pre}.gguf`);
      writeGgufFile(gguf, { metadata: metadata.map(([k, v]) => [k, toMeta(k, k === 'tokenizer.ggml.pre' ? pre : v)]), tensors: [] });
      const ours = tokenizerFromGgufFile(gguf);
      const model = await llama.loadModel({ modelPath: gguf, vocabOnly: true });
      try {
        const differ = inputs.filter((s) => JSON.stringify(ours.tokenize(s, false, false)) !== JSON.stringify(Array.from(model.tokenize(s, false))));
        t.diagnostic(`${pre}: ${inputs.length - differ.length}/${inputs.length} equal`);
        assert.deepEqual(differ, [], pre);
      } finally {
        await model.dispose();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
