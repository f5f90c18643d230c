// Hugging Face folders: a tokenizer.json + tokenizer_config.json written from a llama.cpp vocab file
// (what convert_hf_to_gguf reads back the other way: vocab, merges, added tokens, the split regex)
// must tokenise llama.cpp's test vectors to the same ids as the GGUF file itself.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { GgufFile } from '../../../server/engine/weights/gguf';
import { tokenizerFromHfFolder } from '../../../server/engine/tokenizer';
import { llamaCppModelsDir, readVocabTestVectors } from '../../helpers/llamaCppTree';
import { tempDir } from '../../helpers/tempDir';

const SPLIT: Record<string, string | undefined> = {
  'llama-bpe': "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  'gpt-2': undefined,
};

function writeHfFolder(gguf: string, name: string, dir: string): void {
  const file = GgufFile.open(gguf);
  const md = file.metadata;
  file.close();
  const tokens = md.get('tokenizer.ggml.tokens') as string[];
  const types = md.get('tokenizer.ggml.token_type') as Int32Array;
  const vocab: Record<string, number> = {};
  const added: Array<{ id: number; content: string; special: boolean }> = [];
  tokens.forEach((t, id) => {
    if (types[id] === 3 || types[id] === 4) added.push({ id, content: t, special: types[id] === 3 });
    else vocab[t] = id;
  });
  const split = SPLIT[name];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: split === undefined };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({
    added_tokens: added,
    pre_tokenizer: split === undefined ? byteLevel : { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: split }, behavior: 'Isolated', invert: false }, byteLevel] },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: md.get('tokenizer.ggml.merges') },
  }));
  const id = (key: string) => md.get(`tokenizer.ggml.${key}`) as number;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    bos_token: tokens[id('bos_token_id')], eos_token: tokens[id('eos_token_id')], add_bos_token: name === 'llama-bpe',
    chat_template: md.get('tokenizer.chat_template'),
  }));
}

test('tokenizer.json folders written from llama-bpe, qwen2 and gpt-2 give llama.cpp\'s ids on its test vectors', async () => {
  const models = await llamaCppModelsDir();
  for (const name of Object.keys(SPLIT)) {
    const dir = tempDir(`lavin-hf-${name}-`);
    try {
      const gguf = path.join(models, `ggml-vocab-${name}.gguf`);
      writeHfFolder(gguf, name, dir);
      const tok = tokenizerFromHfFolder(dir);
      const { cases } = readVocabTestVectors(gguf);
      const failures = cases.filter((c) => JSON.stringify(tok.tokenize(c.input, false, false)) !== JSON.stringify(c.ids));
      assert.deepEqual(failures.map((c) => c.input), [], `${name}: ${failures.length} of ${cases.length} differ`);
      assert.equal(tok.encodeRaw('Hi')[0] === tok.bosId, name === 'llama-bpe', `${name}: BOS rule from tokenizer_config.json`);
      assert.equal(!!tok.chatTemplate, name === 'qwen2');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('Hugging Face folders we cannot read get a one-line reason', () => {
  const dir = tempDir('lavin-hf-bad-');
  try {
    assert.throws(() => tokenizerFromHfFolder(dir), /tokenizer\.json: not found/);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "WordPiece"}}');
    assert.throws(() => tokenizerFromHfFolder(dir), /unsupported tokenizer type WPM \(WordPiece\)/);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "x+"}}}');
    assert.throws(() => tokenizerFromHfFolder(dir), /unsupported pre-tokenizer \(split regex \["x\+"\]\)/);
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": ');
    assert.throws(() => tokenizerFromHfFolder(dir), /tokenizer\.json: not valid JSON/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
