// llama.cpp's tokenizer rules on small hand-made vocabularies: SPM merges by score with byte fallback,
// byte-level BPE merges by rank, special-token text (parsed only when asked; user-defined always),
// the BOS/EOS rule of encodeRaw, decoding, and the errors for what is not supported.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenizerFromGguf } from '../../../server/engine/tokenizer';

const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER = 4, BYTE = 6;

function spm(extra: Array<[string, number, number]> = [], meta: Record<string, unknown> = {}) {
  const entries: Array<[string, number, number]> = [['<unk>', 0, UNKNOWN], ['<s>', 0, CONTROL], ['</s>', 0, CONTROL]];
  for (let b = 0; b < 256; b++) entries.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0, BYTE]);
  entries.push(['\u2581', -1, NORMAL], ['a', -2, NORMAL], ['b', -2, NORMAL], ['\u2581a', -3, NORMAL], ['ab', -1, NORMAL], ...extra);
  return tokenizerFromGguf(new Map<string, unknown>([
    ['tokenizer.ggml.model', 'llama'],
    ['tokenizer.ggml.tokens', entries.map((e) => e[0])],
    ['tokenizer.ggml.scores', new Float32Array(entries.map((e) => e[1]))],
    ['tokenizer.ggml.token_type', new Int32Array(entries.map((e) => e[2]))],
    ...Object.entries(meta),
  ]), 'spm-test.gguf');
}
const id = (tok: ReturnType<typeof spm>, text: string) => tok.vocab.textToToken(text)!;

test('SPM: space prefix, highest-score merge first, bytes for unknown characters', () => {
  const tok = spm();
  // "▁ab": pairs ▁a (-3) and ab (-1): "ab" merges first, and ▁+ab is not a token
  assert.deepEqual(tok.encode('ab'), [id(tok, '\u2581'), id(tok, 'ab')]);
  const withAb = spm([['\u2581ab', -5, NORMAL]]);
  assert.deepEqual(withAb.encode('ab'), [id(withAb, '\u2581ab')]);
  assert.deepEqual(tok.encode('ba'), [id(tok, '\u2581'), id(tok, 'b'), id(tok, 'a')]);
  assert.deepEqual(tok.encode('\u00e9'), [id(tok, '\u2581'), id(tok, '<0xC3>'), id(tok, '<0xA9>')]);
  assert.equal(tok.decode(tok.encode('ab \u00e9')), 'ab \u00e9');
});

test('SPM: control-token text is parsed only with parseSpecial; encodeRaw adds the BOS the file asks for', () => {
  const tok = spm();
  const plain = tok.encode('</s>');
  assert.ok(!plain.includes(2), 'not parsed by default');
  assert.deepEqual(tok.encode('a</s>b', { parseSpecial: true }), [id(tok, '\u2581a'), 2, id(tok, '\u2581'), id(tok, 'b')]);
  assert.deepEqual(tok.encodeRaw('a'), [1, id(tok, '\u2581a')]);
  assert.deepEqual(spm([], { 'tokenizer.ggml.add_bos_token': false, 'tokenizer.ggml.add_eos_token': true }).encodeRaw('a'), [id(tok, '\u2581a'), 2]);
  assert.deepEqual([...tok.stopIds], [2]);
});

test('user-defined tokens are always cut out; phi-3 files strip the spaces after them', () => {
  const extra: Array<[string, number, number]> = [['<|user|>', 0, USER]];
  const tok = spm(extra);
  const user = id(tok, '<|user|>');
  assert.deepEqual(tok.encode('<|user|> a'), [user, id(tok, '\u2581'), id(tok, '\u2581a')]);
  const phi = spm(extra, { 'general.name': 'Phi3' });
  assert.deepEqual(phi.encode('<|user|> a'), [user, id(tok, '\u2581a')]);
});

test('byte-level BPE: merges by rank over GPT-2 byte characters, no space prefix', () => {
  const tokens = ['a', 'b', '\u0120', '\u0120a', 'ab', '\u0120ab', '<|endoftext|>'];
  const tok = tokenizerFromGguf(new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'], ['tokenizer.ggml.pre', 'gpt-2'],
    ['tokenizer.ggml.tokens', tokens], ['tokenizer.ggml.merges', ['a b', '\u0120 a', '\u0120a b']],
    ['tokenizer.ggml.eos_token_id', 6], ['tokenizer.ggml.bos_token_id', 6],
  ]), 'bpe-test.gguf');
  // rank 0 "a b" wins over rank 1 "Ġ a": Ġ + ab has no merge
  assert.deepEqual(tok.encode('ab ab'), [4, 2, 4]);
  assert.deepEqual(tok.encode('a<|endoftext|>', { parseSpecial: true }), [0, 6]);
  assert.deepEqual(tok.encodeRaw('a'), [0], 'gpt-2: no BOS unless the file says so');
  assert.ok(tok.stopIds.has(6));
  assert.equal(tok.decode([4, 2, 4, 6]), 'ab ab');
});

test('unsupported or broken vocabularies get a one-line error naming the file and the reason', () => {
  const base = (model: string) => new Map<string, unknown>([['tokenizer.ggml.model', model], ['tokenizer.ggml.tokens', ['a']]]);
  assert.throws(() => tokenizerFromGguf(base('bert'), 'x.gguf'), /x\.gguf: unsupported tokenizer type WPM \(BERT\)/);
  assert.throws(() => tokenizerFromGguf(base('t5'), 'x.gguf'), /unsupported tokenizer type UGM/);
  assert.throws(() => tokenizerFromGguf(base('rwkv'), 'x.gguf'), /unsupported tokenizer type RWKV/);
  assert.throws(() => tokenizerFromGguf(base('sentencepiece2'), 'x.gguf'), /unsupported tokenizer type 'sentencepiece2'/);
  assert.throws(() => tokenizerFromGguf(new Map([['general.name', 'x']]), 'x.gguf'), /x\.gguf: no tokenizer in the file/);
  const pre = base('gpt2');
  pre.set('tokenizer.ggml.pre', 'no-such-pre');
  pre.set('tokenizer.ggml.merges', []);
  assert.throws(() => tokenizerFromGguf(pre, 'x.gguf'), /unsupported pre-tokenizer type 'no-such-pre'/);
  const noMerges = base('gpt2');
  assert.throws(() => tokenizerFromGguf(noMerges, 'x.gguf'), /without merges/);
});
