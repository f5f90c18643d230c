// LlamaTokenizer against ids recorded from SentencePiece itself (test/data/tokenizer/generate_expected.py).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'crypto';
import { readFileSync, writeFileSync, rmSync } from 'fs';
import path from 'path';
import { LlamaTokenizer, parseSentencePieceModel } from '../../server/engine/tokenizer';
import { tempDir } from '../helpers/tempDir';

const DATA = path.resolve(__dirname, '../../../test/data/tokenizer');
const MODEL = path.join(DATA, 'tokenizer.model');

interface Expected {
  sentencepiece_version: string;
  model_sha256: string;
  vocab_size: number;
  bos_id: number;
  eos_id: number;
  unk_id: number;
  pad_id: number;
  cases: { text: string; ids: number[]; pieces: string[]; decoded: string }[];
  decode_cases: { ids: number[]; decoded: string }[];
}
const expected: Expected = JSON.parse(readFileSync(path.join(DATA, 'expected.json'), 'utf8'));

let cached: Promise<LlamaTokenizer> | undefined;
const tokenizer = (): Promise<LlamaTokenizer> => (cached ??= LlamaTokenizer.fromFile(MODEL));

test('expected.json was generated from this tokenizer.model', () => {
  const sha = createHash('sha256').update(readFileSync(MODEL)).digest('hex');
  assert.equal(sha, expected.model_sha256);
});

test('vocabulary size and special ids match SentencePiece', async () => {
  const tok = await tokenizer();
  assert.equal(tok.nWords, expected.vocab_size);
  assert.equal(tok.bosId, expected.bos_id);
  assert.equal(tok.eosId, expected.eos_id);
  assert.equal(tok.info.unkId, expected.unk_id);
  assert.equal(tok.info.padId, expected.pad_id);
});

test('pieces read from the ModelProto match SentencePiece id_to_piece', async () => {
  const tok = await tokenizer();
  let checked = 0;
  for (const c of expected.cases) {
    c.ids.forEach((id, i) => {
      assert.equal(tok.info.pieces[id], c.pieces[i], `piece of id ${id}`);
      checked++;
    });
  }
  assert.ok(checked > 200, `only ${checked} pieces checked`);
});

test('encode gives SentencePiece ids on every tricky string', async () => {
  const tok = await tokenizer();
  assert.ok(expected.cases.length >= 25);
  for (const c of expected.cases) {
    assert.deepEqual(tok.encode(c.text), c.ids, `encode(${JSON.stringify(c.text)})`);
  }
});

test('LaVIN prefixes: "Image: " is ▁Image : ▁ and "Image: N/A" is ▁Image : ▁N / A', async () => {
  const tok = await tokenizer();
  assert.deepEqual(tok.encode('Image: '), [7084, 29901, 29871]);
  assert.deepEqual(tok.encode('Image: N/A'), [7084, 29901, 405, 29914, 29909]);
  assert.deepEqual(tok.encode('Image: ', { bos: true }), [1, 7084, 29901, 29871]);
  assert.deepEqual(tok.encode('', { bos: true }), [1]);
  assert.deepEqual(tok.encode('hello', { bos: true, eos: true }), [1, 22172, 2]);
});

test('decode matches SentencePiece, including control, unknown and partial byte ids', async () => {
  const tok = await tokenizer();
  for (const c of expected.cases) assert.equal(tok.decode(c.ids), c.decoded, `decode(${JSON.stringify(c.ids)})`);
  for (const c of expected.decode_cases) assert.equal(tok.decode(c.ids), c.decoded, `decode(${JSON.stringify(c.ids)})`);
  assert.throws(() => tok.decode([32000]), /outside the vocabulary/);
  assert.throws(() => tok.decode([-1]), /outside the vocabulary/);
});

test('stream decoder: concatenated pushes equal decode(all ids) on every case', async () => {
  const tok = await tokenizer();
  // Each case as an answer, plus answers that start with a bare space and with byte-fallback emoji.
  const answers = expected.cases.map((c) => c.ids);
  answers.push([29871, 29871, 450], [1, 450, 2, 450], tok.encode(' 😀 then text'), tok.encode('😀'));
  for (const ids of answers) {
    const stream = tok.createStreamDecoder();
    let text = '';
    for (const id of ids) text += stream.push(id);
    text += stream.flush();
    assert.equal(text, tok.decode(ids), `stream of ${JSON.stringify(ids)}`);
  }
});

test('stream decoder holds back an unfinished UTF-8 sequence and never emits U+FFFD for it', async () => {
  const tok = await tokenizer();
  const ids = tok.encode('a😀b'); // ▁a <0xF0> <0x9F> <0x98> <0x80> b
  assert.deepEqual(tok.info.pieces[ids[1]], '<0xF0>');
  const stream = tok.createStreamDecoder();
  const outputs = ids.map((id) => stream.push(id));
  assert.deepEqual(outputs, ['a', '', '', '', '😀', 'b']);
  assert.equal(stream.flush(), '');
});

test('stream decoder flush releases a sequence that never completes', async () => {
  const tok = await tokenizer();
  const stream = tok.createStreamDecoder();
  assert.equal(stream.push(tok.encode('x')[0]), 'x');
  assert.equal(stream.push(3 + 0xe2), ''); // <0xE2>: first byte of a 3-byte character
  assert.equal(stream.flush(), '\uFFFD');
  assert.throws(() => stream.push(40000), /outside the vocabulary/);
});

test('missing file and non-SentencePiece files give clear errors', async () => {
  await assert.rejects(LlamaTokenizer.fromFile(path.join(DATA, 'no-such.model')), /tokenizer file not found: .*no-such\.model/);
  const dir = tempDir('tok-');
  const cases: [string, Uint8Array][] = [
    ['text.model', Buffer.from('this is a plain text file, not a model\n')],
    ['empty.model', new Uint8Array(0)],
    ['png.model', readFileSync(path.resolve(__dirname, '../../../test/fixtures/lavin-tiny-ref/inputs/image.png'))],
    ['truncated.model', readFileSync(MODEL).subarray(0, 1000)],
  ];
  try {
    for (const [name, bytes] of cases) {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      await assert.rejects(LlamaTokenizer.fromFile(file), new RegExp(`${name} is not a SentencePiece model`), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A ModelProto with the given pieces (text, SentencePiece.Type) and nothing else. */
function tinyModel(pieces: [string, number][]): Uint8Array {
  const parts = pieces.map(([text, type]) => {
    const t = Buffer.from(text);
    const inner = Buffer.concat([Buffer.from([0x0a, t.length]), t, Buffer.from([0x18, type])]);
    return Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
  });
  return Buffer.concat(parts);
}

test('a well-formed proto that SentencePiece refuses reports SentencePiece\'s reason', async () => {
  const noUnk = tinyModel([['a', 1], ['b', 1], ['c', 1]]);
  await assert.rejects(LlamaTokenizer.fromBytes(noUnk, 'no-unk.model'), /no-unk\.model is not a SentencePiece model.*unk is not defined/);
  const ok = await LlamaTokenizer.fromBytes(tinyModel([['<unk>', 2], ['<s>', 3], ['</s>', 3], ['\u2581a', 1]]));
  assert.equal(ok.nWords, 4);
  assert.deepEqual(ok.encode('a a'), [3, 3]);
});

test('ModelProto reader rejects malformed protobuf', () => {
  assert.throws(() => parseSentencePieceModel(Uint8Array.from([0x0a, 0x05, 0x01])), /runs past the end/);
  assert.throws(() => parseSentencePieceModel(Uint8Array.from([0x0f])), /wire type/);
  assert.throws(() => parseSentencePieceModel(Uint8Array.from([0x20, 0x01])), /no vocabulary pieces/);
});
