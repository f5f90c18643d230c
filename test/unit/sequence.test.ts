// The request-to-sequence mapping (engine/sequence.ts): the prompt text of each family, the context
// rule, and the check that matters most: the same request through the inference path
// (LavinModel.promptIds) and the training path (prepareExamples -> layoutExample) gives the same
// tokens, visual slots and modality token up to the answer, and the labels start exactly there.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LavinModel } from '../../server/engine/lavinModel';
import { inferenceSequence, instructionBody, LAVIN_FAMILY, layoutExample, PromptBody, PromptFamily, promptText, SequenceTokenizer } from '../../server/engine/sequence';
import { layoutPrefixes, prepareExamples } from '../../server/train/data/prepare';
import { scienceQaPrompt } from '../../server/train/data/scienceqa';

/** One id per character (BOS 1, EOS 2), so token positions can be read off the text. */
const charTok: SequenceTokenizer = {
  encode: (text, opts = {}) => [...(opts.bos ? [1] : []), ...[...text].map((c) => c.codePointAt(0)! + 10), ...(opts.eos ? [2] : [])],
};

describe('prompt text of each family', () => {
  const chat: PromptBody = { kind: 'chat', turns: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello.' }, { role: 'user', content: 'What is wrong?' }], context: 'Error: disk full' };

  test('LaVIN: instruction format, earlier turns first, context after the newest instruction', () => {
    assert.equal(promptText(LAVIN_FAMILY, chat), 'Instruction: Hi\nResponse: Hello.\nInstruction: What is wrong?\nContext: Error: disk full\nResponse:');
    assert.equal(promptText(LAVIN_FAMILY, instructionBody('Describe', 'briefly')), 'Instruction: Describe\nbriefly\nResponse:');
    assert.equal(promptText(LAVIN_FAMILY, 'as is'), 'as is');
    assert.equal(promptText(LAVIN_FAMILY, { kind: 'chat', turns: [{ role: 'user', content: 'q' }], context: '' }), 'Instruction: q\nResponse:', 'an empty context adds no field');
  });

  test('ScienceQA: QCM with the hint as its context (N/A when empty), as before the move', () => {
    assert.equal(scienceQaPrompt({ question: 'q', choices: ['a', 'b'], answer: 0, hint: '' }).prompt, 'Question: q\nContext: N/A\nOptions: (A) a (B) b\nResponse:');
    assert.equal(promptText(LAVIN_FAMILY, { kind: 'scienceqa', question: 'Which  one?', hint: ' h ', choices: ['x'] }), 'Question: Which one?\nContext: h\nOptions: (A) x\nResponse:');
  });

  test('a chat template sees the turns with the context joined to the newest user turn', () => {
    const seen: unknown[] = [];
    const family: PromptFamily = { kind: 'chatTemplate', render: (m) => (seen.push(m), m.map((t) => `<${t.role}>${t.content}`).join('')) };
    assert.equal(promptText(family, chat), '<user>Hi<assistant>Hello.<user>What is wrong?\nContext: Error: disk full');
    const tok: SequenceTokenizer = { encode: (t, o) => (assert.deepEqual(o, { bos: false, parseSpecial: true }), [t.length]) };
    assert.deepEqual(inferenceSequence(tok, family, chat, { image: false, nVisual: 6 }), { ids: [promptText(family, chat).length] }, 'no prefix, no modality token');
    assert.throws(() => inferenceSequence(tok, family, chat, { image: true, nVisual: 6 }), /images need LaVIN's layout/);
  });

  test('raw: the text as given through encodeRaw, nothing else', () => {
    const tok: SequenceTokenizer = { ...charTok, encodeRaw: (t) => [99, t.length] };
    assert.deepEqual(inferenceSequence(tok, { kind: 'raw' }, 'abc', { image: false, nVisual: 6 }), { ids: [99, 3] });
    assert.deepEqual(inferenceSequence(charTok, { kind: 'raw' }, 'ab', { image: false, nVisual: 6 }).ids, charTok.encode('ab', { bos: true }));
    assert.throws(() => promptText({ kind: 'raw' }, instructionBody('x')), /raw prompt is text as given/);
  });

  test('a chat must end with a user turn', () => {
    assert.throws(() => promptText(LAVIN_FAMILY, { kind: 'chat', turns: [{ role: 'assistant', content: 'x' }] }), /must end with a user turn/);
    assert.throws(() => promptText(LAVIN_FAMILY, { kind: 'chat', turns: [] }), /at least one turn/);
  });

  test('LaVIN ids: BOS, the prefix, the visual slots, then the prompt; the modality token is named', () => {
    const { prefixImage, prefixText } = layoutPrefixes(charTok);
    const body = instructionBody('q');
    const text = charTok.encode(promptText(LAVIN_FAMILY, body));
    const img = inferenceSequence(charTok, LAVIN_FAMILY, body, { image: true, nVisual: 3 });
    assert.deepEqual(img, { ids: [1, ...prefixImage, 0, 0, 0, ...text], visual: { offset: 1 + prefixImage.length, count: 3 }, modality: 'image' });
    const txt = inferenceSequence(charTok, LAVIN_FAMILY, body, { image: false, nVisual: 3 });
    assert.deepEqual(txt, { ids: [1, ...prefixText, ...text], modality: 'text' });
  });
});

describe('inference and training lay out the same request identically up to the answer', () => {
  let model: LavinModel;
  before(async () => {
    model = await LavinModel.load(path.resolve(__dirname, '../../../models/lavin-tiny'), { device: 'cpu', threads: 1 });
  });
  after(async () => model?.dispose());

  const image = path.resolve(__dirname, '../../../test/data/images/inputs/rgb-150x97.png');
  const answer = ' The disk is full: free some space and retry.';
  const requests: { name: string; body: PromptBody; image: boolean }[] = [
    { name: 'text, one turn', body: instructionBody('What does this dialog say?'), image: false },
    { name: 'image, one turn', body: instructionBody('What does this dialog say?'), image: true },
    { name: 'image, two turns and read screen text as context', body: { kind: 'chat', turns: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello, ask away.' }, { role: 'user', content: 'What is wrong here?' }], context: 'Error 28: No space left on device' }, image: true },
    { name: 'text with context', body: instructionBody('Summarise the log.', undefined, 'line 1: started\nline 2: failed'), image: false },
    { name: 'ScienceQA problem with an image', body: { kind: 'scienceqa', question: 'Which is a solid?', hint: 'Look at the picture.', choices: ['milk', 'rock'] }, image: true },
  ];

  for (const r of requests) {
    test(r.name, async () => {
      assert.ok(fs.existsSync(image));
      const inference = model.promptIds(r.body, r.image);
      const nVisual = model.runtime.cfg.adapter.nVisualTokens;
      const maxWords = 128;
      const [example] = await prepareExamples([{ prompt: r.body, answer, imagePath: r.image ? image : undefined, source: r.name }], model.tokenizer, { maxWords, imageSize: model.runtime.cfg.clip.resolution });
      const laid = layoutExample(example, { seqLen: maxWords, ...layoutPrefixes(model.tokenizer), nVisual });

      assert.equal(laid.modality, inference.modality, 'the same modality token');
      const n = inference.ids.length;
      assert.ok(n + 8 < laid.slots.length, 'the whole prompt and some answer fit the training sequence');
      const trainingIds = laid.slots.slice(0, n).map((s) => ('token' in s ? s.token : 0));
      assert.deepEqual(trainingIds, inference.ids, 'the same ids up to the answer');
      const visualAt = laid.slots.flatMap((s, i) => ('visual' in s ? [i] : []));
      assert.deepEqual(visualAt, r.image ? Array.from({ length: nVisual }, (_, v) => inference.visual!.offset + v) : [], 'the visual tokens in the same slots');
      assert.equal(inference.visual?.count ?? 0, r.image ? nVisual : 0);
      // labelsInserted[i] is the label of sequence position i (slot i - 1): the prompt is masked
      // and the first labelled position is the first answer token, right after the prompt.
      assert.ok(laid.labelsInserted.slice(0, n + 1).every((l) => l === 0), 'no label inside the prompt');
      const firstAnswer = model.tokenizer.encode(promptText(LAVIN_FAMILY, r.body) + answer).slice(model.tokenizer.encode(promptText(LAVIN_FAMILY, r.body)).length)[0];
      assert.equal(laid.labelsInserted[n + 1], firstAnswer, 'the answer is labelled from its first token');
      assert.deepEqual(laid.slots[n], { token: firstAnswer });
    });
  }
});
