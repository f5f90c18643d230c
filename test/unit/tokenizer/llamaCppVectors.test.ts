// Our ids against llama.cpp's own tokenizer test vectors: every ggml-vocab-*.gguf with .inp/.out in
// the llama.cpp tree that node-llama-cpp 3.21.1 bundles, tokenised as tests/test-tokenizer-0.cpp does
// (add_special = false, parse_special = false); decoding those ids (whole and streamed) gives the
// input back. Vocabulary types we do not support must be refused with a clear error naming the type.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenizerFromGgufFile, type VocabTokenizer } from '../../../server/engine/tokenizer';
import { readVocabTestVectors, vocabFilesWithVectors } from '../../helpers/llamaCppTree';

const UNSUPPORTED = /unsupported tokenizer type (WPM|UGM|RWKV)/;

test('llama.cpp tokenizer test vectors: ids equal for every SPM and BPE vocabulary', async (t) => {
  const files = await vocabFilesWithVectors();
  assert.ok(files.length >= 14, `found ${files.length} vocabularies with vectors`);
  const supported: string[] = [];
  for (const gguf of files) {
    const vectors = readVocabTestVectors(gguf);
    await t.test(vectors.name, () => {
      let tok: VocabTokenizer;
      try {
        tok = tokenizerFromGgufFile(gguf);
      } catch (err) {
        assert.match((err as Error).message, UNSUPPORTED, `${vectors.name} failed to load`);
        t.diagnostic(`${vectors.name}: ${(err as Error).message}`);
        return;
      }
      supported.push(vectors.name);
      const failures = vectors.cases.filter((c) => JSON.stringify(tok.tokenize(c.input, false, false)) !== JSON.stringify(c.ids));
      t.diagnostic(`${vectors.name}: ${vectors.cases.length - failures.length}/${vectors.cases.length} ids equal`);
      assert.deepEqual(
        failures.slice(0, 3).map((c) => ({ input: c.input, want: c.ids, got: tok.tokenize(c.input, false, false) })),
        [],
        `${failures.length} of ${vectors.cases.length} inputs differ`,
      );
      // decoding llama.cpp's ids gives the input back, and streaming them gives the same text piece by piece
      for (const c of vectors.cases) {
        assert.equal(tok.decode(c.ids), c.input, `${vectors.name}: decode ${JSON.stringify(c.input)}`);
        const stream = tok.createStreamDecoder();
        const pieces = c.ids.map((id) => stream.push(id));
        assert.equal(pieces.join('') + stream.flush(), c.input);
        assert.ok(c.input.includes('\uFFFD') || !pieces.some((p) => p.includes('\uFFFD')), `${vectors.name}: no half characters streamed`);
      }
    });
  }
  for (const name of ['llama-spm', 'llama-bpe', 'phi-3', 'qwen2', 'gpt-2', 'starcoder', 'falcon', 'deepseek-coder', 'deepseek-llm', 'mpt', 'command-r', 'refact']) {
    assert.ok(supported.includes(name), `${name} is supported`);
  }
});

test('a vocabulary type we do not support is refused by name (bert-bge is WPM)', async () => {
  const files = await vocabFilesWithVectors();
  const bert = files.find((f) => f.endsWith('ggml-vocab-bert-bge.gguf'));
  assert.ok(bert);
  assert.throws(() => tokenizerFromGgufFile(bert), /ggml-vocab-bert-bge\.gguf: unsupported tokenizer type WPM \(BERT\)/);
});
