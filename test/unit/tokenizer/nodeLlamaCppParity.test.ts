// encodeRaw against llama.cpp itself (node-llama-cpp 3.21.1, vocab-only loads): on llama.cpp's test
// inputs plus prompts that spell control tokens, our llama_tokenize(text, add_special, parse_special
// = true) equals node-llama-cpp's model.tokenize(text, true), and encodeRaw equals what llama.cpp
// feeds for a raw prompt: the file's BOS (tokens.shouldPrependBosToken) followed by those ids.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { loadNodeLlamaCpp } from '../../../bench/llamaCpp';
import { tokenizerFromGgufFile } from '../../../server/engine/tokenizer';
import { llamaCppModelsDir, readVocabTestVectors } from '../../helpers/llamaCppTree';

const SPECIAL_PROMPTS = [
  '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n',
  '<s>[INST] hi [/INST]</s>',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>',
  '<|user|>\nhi<|end|>\n<|assistant|>',
  'hello <|endoftext|> world',
  ' leading space',
];
// SPM (with phi-3's strip rule), Llama-3 BPE, Qwen2 BPE: the families the engine runs
const VOCABS = ['llama-spm', 'phi-3', 'llama-bpe', 'qwen2'];

test('encodeRaw = llama.cpp\'s raw-prompt ids (BOS rule + parsed control tokens) on vocab-only loads', async (t) => {
  const { getLlama, LlamaLogLevel } = await loadNodeLlamaCpp();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const dir = await llamaCppModelsDir();
  for (const name of VOCABS) {
    const gguf = path.join(dir, `ggml-vocab-${name}.gguf`);
    const ours = tokenizerFromGgufFile(gguf);
    const model = await llama.loadModel({ modelPath: gguf, vocabOnly: true });
    try {
      const texts = [...readVocabTestVectors(gguf).cases.map((c) => c.input), ...SPECIAL_PROMPTS].filter((s) => s !== '');
      const bos: number[] = model.tokens.shouldPrependBosToken ? [model.tokens.bos] : [];
      const differ = texts.filter((text) => {
        const theirs: number[] = Array.from(model.tokenize(text, true));
        return JSON.stringify(ours.encodeRaw(text)) !== JSON.stringify([...bos, ...theirs]);
      });
      t.diagnostic(`${name}: ${texts.length - differ.length}/${texts.length} equal (BOS ${bos.length ? 'added' : 'not added'})`);
      assert.deepEqual(differ, [], name);
      assert.equal(ours.encodeRaw('x')[0] === ours.bosId, bos.length === 1, `${name}: same BOS rule`);
    } finally {
      await model.dispose();
    }
  }
});
