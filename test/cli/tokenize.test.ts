// `lavin tokenize --model M [--raw] --json "TEXT"`: on llama.cpp's vocab-only GGUF files the --raw ids
// are llama.cpp's own (its test vectors' ids for the text, plus the BOS its raw-prompt rule adds);
// without --raw, the ids of the prompt ask builds; unsupported vocabularies and bad command lines fail
// with one clear line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { inferenceSequence, LAVIN_FAMILY } from '../../server/engine/sequence';
import { SentencePieceModelTokenizer } from '../../server/engine/tokenizer';
import { llamaCppModelsDir, readVocabTestVectors } from '../helpers/llamaCppTree';
import { lavin, REPO } from './runLavin';

const TEXT = 'Hello world';

test('tokenize --raw --json on vocab-only GGUF files: llama.cpp\'s ids, with the BOS rule of each file', async () => {
  const dir = await llamaCppModelsDir();
  // BOS added by llama.cpp for a raw prompt: llama-spm/llama-bpe/phi-3 yes (add_bos), qwen2/gpt-2 no
  for (const [name, bos] of [['llama-spm', 1], ['llama-bpe', 128000], ['phi-3', 1], ['qwen2', undefined], ['gpt-2', undefined]] as const) {
    const gguf = path.join(dir, `ggml-vocab-${name}.gguf`);
    const want = readVocabTestVectors(gguf).cases.find((c) => c.input === TEXT)!.ids;
    const r = await lavin(['tokenize', '--model', gguf, '--raw', '--json', TEXT]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.events, [{ event: 'tokens', ids: bos === undefined ? want : [bos, ...want] }], name);
  }
});

test('tokenize without --raw: the chat template of a GGUF file, LaVIN\'s instruction format for a model folder', async () => {
  const qwen = path.join(await llamaCppModelsDir(), 'ggml-vocab-qwen2.gguf');
  const r = await lavin(['tokenize', '--model', qwen, '--json', 'Hi']);
  assert.equal(r.code, 0, r.stderr);
  const ids = r.events[0].ids as number[];
  assert.deepEqual(ids.slice(0, 1), [151644], 'starts with <|im_start|>');
  assert.deepEqual(ids.slice(-3), [151644, 77091, 198], 'ends with <|im_start|>assistant\\n');

  const folder = path.join(REPO, 'models', 'lavin-tiny');
  const tok = await SentencePieceModelTokenizer.fromFile(path.join(folder, 'tokenizer.model'));
  const want = inferenceSequence(tok, LAVIN_FAMILY, { kind: 'chat', turns: [{ role: 'user', content: TEXT }] }, { image: false, nVisual: 0 }).ids;
  const lavinRun = await lavin(['tokenize', '--model', folder, '--json', TEXT]);
  assert.deepEqual(lavinRun.events, [{ event: 'tokens', ids: want }]);
  assert.ok(tok.decode(want).includes(`Instruction: ${TEXT}\nResponse:`), tok.decode(want));
  const raw = await lavin(['tokenize', '--model', folder, '--raw', TEXT]);
  assert.equal(raw.stdout.trim(), tok.encode(TEXT, { bos: true }).join(' '), 'text mode prints the ids');
});

test('tokenize: an unsupported vocabulary and bad command lines fail with one clear line', async () => {
  const bert = path.join(await llamaCppModelsDir(), 'ggml-vocab-bert-bge.gguf');
  const r = await lavin(['tokenize', '--model', bert, '--raw', '--json', TEXT]);
  assert.equal(r.code, 1);
  assert.equal(r.events.length, 1);
  assert.match(String(r.events[0].message), /ggml-vocab-bert-bge\.gguf: unsupported tokenizer type WPM \(BERT\)/);
  const noText = await lavin(['tokenize', '--json']);
  assert.equal(noText.code, 2);
  assert.match(String(noText.events[0].message), /tokenize needs a TEXT/);
  const missing = await lavin(['tokenize', '--model', path.join(REPO, 'no-such.gguf'), '--json', TEXT]);
  assert.equal(missing.code, 2);
  assert.match(String(missing.events[0].message), /no-such\.gguf does not exist/);
});
