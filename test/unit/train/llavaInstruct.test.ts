// Image-question data on disk (train/data/llavaInstruct.ts): every sample checked before a run,
// skipped ones reported with their reason, multi-turn conversations as history, the label mask
// on the answer only; and the synthetic set (train/data/synthetic.ts) in that layout.

import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, test } from 'node:test';
import { loadVisionDataset } from '../../../server/train/data/llavaInstruct';
import { writeSyntheticSet } from '../../../server/train/data/synthetic';
import { TextTokenizer, tokenizeExample } from '../../../server/train/data/tokenize';
import { promptText, LAVIN_FAMILY } from '../../../server/engine/sequence';
import { firstWord } from '../../../server/train/eval/visionQaEval';
import { tempDir } from '../../helpers/tempDir';

const REPO = path.resolve(__dirname, '../../../..');
const IMAGE = path.join(REPO, 'test/data/images/inputs/grey-150x100.png');
const charTok: TextTokenizer = {
  encode: (s, o = {}) => [...(o.bos ? [1] : []), ...Array.from(s, (c) => c.charCodeAt(0) + 3), ...(o.eos ? [2] : [])],
};

function folder(records: unknown): string {
  const dir = tempDir('lavin-llava-');
  fs.mkdirSync(path.join(dir, 'img'));
  fs.copyFileSync(IMAGE, path.join(dir, 'img/a.png'));
  fs.writeFileSync(path.join(dir, 'img/broken.png'), 'not an image');
  fs.writeFileSync(path.join(dir, 'data.json'), typeof records === 'string' ? records : JSON.stringify(records));
  return dir;
}

const turn = (from: string, value: string) => ({ from, value });

describe('LLaVA-Instruct data.json', () => {
  test('valid samples kept; each unusable one skipped with its reason', async () => {
    const dir = folder([
      { id: 'ok', image: 'img/a.png', conversations: [turn('human', '<image>\nWhat colour?'), turn('gpt', 'grey')] },
      { id: 'missing', image: 'img/none.png', conversations: [turn('human', '<image>\nq'), turn('gpt', 'a')] },
      { id: 'broken', image: 'img/broken.png', conversations: [turn('human', '<image>\nq'), turn('gpt', 'a')] },
      { id: 'nogpt', image: 'img/a.png', conversations: [turn('human', '<image>\nq')] },
      { id: 'badfrom', image: 'img/a.png', conversations: [turn('robot', 'q'), turn('gpt', 'a')] },
      { id: 'outside', image: '../x.png', conversations: [turn('human', 'q'), turn('gpt', 'a')] },
      'not an object',
    ]);
    try {
      const d = await loadVisionDataset(dir);
      assert.equal(d.format, 'llava');
      assert.equal(d.records, 7);
      assert.equal(d.samples.length, 1);
      assert.equal(d.samples[0].imagePath, path.join(dir, 'img/a.png'));
      assert.equal(d.samples[0].answer, ' grey');
      const reasons = d.skipped.map((s) => `${s.where}: ${s.reason}`).join('\n');
      assert.equal(d.skipped.length, 6, reasons);
      assert.match(reasons, /id missing.*does not exist/);
      assert.match(reasons, /id broken.*cannot be read/);
      assert.match(reasons, /id nogpt.*no gpt turn/);
      assert.match(reasons, /id badfrom.*"from" must be/);
      assert.match(reasons, /id outside.*outside/);
      assert.match(reasons, /#7: a record must be an object/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad JSON or a non-list is refused with the file named', async () => {
    for (const [text, re] of [['{oops', /data\.json: not valid JSON/], ['{"a": 1}', /expected a JSON list/]] as const) {
      const dir = folder(text);
      try {
        await assert.rejects(loadVisionDataset(dir), re);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    await assert.rejects(loadVisionDataset(path.join(os.tmpdir(), 'no-such-lavin-data')), /does not exist/);
  });

  test('multi-turn: one sample per gpt turn, earlier turns are history, only the answer is labelled', async () => {
    const dir = folder([{ id: 'm', image: 'img/a.png', conversations: [turn('human', '<image>\nShape?'), turn('gpt', 'circle'), turn('human', 'Colour?'), turn('gpt', 'red')] }]);
    try {
      const d = await loadVisionDataset(dir);
      assert.equal(d.samples.length, 2);
      const second = promptText(LAVIN_FAMILY, d.samples[1].prompt);
      assert.equal(second, 'Instruction: Shape?\nResponse: circle\nInstruction: Colour?\nResponse:');
      const ex = tokenizeExample(charTok, d.samples[1].prompt, d.samples[1].answer, 80, 'image');
      const labelled = ex.labels.filter((l) => l !== 0);
      assert.deepEqual(labelled, [...Array.from(' red', (c) => c.charCodeAt(0) + 3), 2]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('synthetic shapes set', () => {
  test('renders train and test splits the loader reads, with single-word answers', async () => {
    const dir = tempDir('lavin-synth-');
    try {
      const { train, test: testSplit } = await writeSyntheticSet(dir, { trainSize: 8, testSize: 4, seed: 2 });
      assert.equal(train.length, 8);
      assert.equal(testSplit.length, 4);
      const d = await loadVisionDataset(path.join(dir, 'train'));
      assert.equal(d.samples.length, 8);
      assert.equal(d.skipped.length, 0);
      for (const s of d.samples) assert.match(s.answer, /^ [a-z]+$/);
      assert.equal(firstWord(' Red.'), 'red');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
