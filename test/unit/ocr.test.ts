// The OCR stage's own pieces (CTC decoding, DB boxes, reading order) on made-up inputs, and the whole
// reader on the example screenshot and on images without text or with bad bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'fs';
import path from 'path';
import sharp from 'sharp';
import { TextReader } from '../../server/engine/ocr/textReader';
import { ctcGreedy } from '../../server/engine/ocr/ctcDecoding';
import { addGapSpaces } from '../../server/engine/ocr/wordGaps';
import { boxesFromProbability, DETECTION_DEFAULTS } from '../../server/engine/ocr/textDetection';
import { inReadingOrder, normaliseText, OcrLine } from '../../server/engine/ocr/readingOrder';

const ROOT = path.resolve(__dirname, '../../..');

test('CTC greedy decoding collapses repeats, drops blanks, keeps a repeat split by a blank', () => {
  const dict = ['', 'a', 'b', ' '];
  // steps: a a blank a b b space -> "aab "
  const best = [1, 1, 0, 1, 2, 2, 3];
  const probs = new Float32Array(best.length * 4);
  best.forEach((k, t) => {
    probs.fill(0.1, t * 4, t * 4 + 4);
    probs[t * 4 + k] = 0.7;
  });
  const r = ctcGreedy(probs, best.length, 4, dict);
  assert.equal(r.text, 'aab ');
  assert.ok(Math.abs(r.confidence - 0.7) < 1e-6);
  assert.deepEqual(r.steps, [[0, 1], [3, 3], [4, 5], [6, 6]], 'first and last step of each character');
  assert.deepEqual(ctcGreedy(new Float32Array([0.9, 0.1, 0, 0]), 1, 4, dict), { text: '', confidence: 0, steps: [] });
});

test('CTC decoding resolves near-ties by context only: 1/l beside digits, case before a digit, the opening quote kind', () => {
  const dict = ['', '2', '0', '-', '1', 'l', '.', 'T', 's', 'S', "'", '"', 'a', 'U', 'u'];
  /** one step per character: [best, runner-up, runner-up probability] */
  const decode = (steps: Array<[string, string, number]>) => {
    const probs = new Float32Array(steps.length * dict.length);
    steps.forEach(([best, alt, altP], t) => {
      probs[t * dict.length + dict.indexOf(best)] = 1 - altP;
      probs[t * dict.length + dict.indexOf(alt)] = altP;
    });
    return ctcGreedy(probs, steps.length, dict.length, dict).text;
  };
  const sure = (c: string): [string, string, number] => [c, '', 0];
  assert.equal(decode([sure('2'), sure('-'), sure('1'), ['l', '1', 0.39], sure('.')]), '2-11.');
  assert.equal(decode([sure('T'), ['s', 'S', 0.27], sure('2')]), 'TS2');
  assert.equal(decode([sure("'"), sure('a'), ['"', "'", 0.39]]), "'a'");
  // confident characters and camelCase are left alone
  assert.equal(decode([sure('2'), sure('-'), sure('1'), ['l', '1', 0.05], sure('.')]), '2-1l.');
  assert.equal(decode([sure('a'), ['U', 'u', 0.39], sure('s')]), 'aUs');
});

test('word gaps: a blank run of at least 0.35 x the ink height between two characters becomes a space', () => {
  // 40 x 10 white crop, ink columns 0-4 ("a"), 7-11 ("b": 2 px gap), 17-21 ("c": 5 px gap); ink rows 0-9
  const crop = { width: 40, height: 10, data: new Uint8Array(40 * 10 * 3).fill(255) };
  for (const [x0, x1] of [[0, 5], [7, 12], [17, 22], [30, 35]]) {
    for (let y = 0; y < 10; y++) for (let x = x0; x < x1; x++) crop.data.fill(0, (y * 40 + x) * 3, (y * 40 + x) * 3 + 3);
  }
  // one step per 5 px: a at steps 0, b at 1-2, c at 3-4, 中 at 6
  const steps: Array<[number, number]> = [[0, 0], [1, 2], [3, 4], [6, 6]];
  assert.equal(addGapSpaces('abc中', steps, crop, 5, [255, 255, 255]), 'ab c 中');
  assert.equal(addGapSpaces('ab(中', steps, crop, 5, [255, 255, 255]), 'ab(中', 'beside punctuation a gap must be twice as wide; none after an opening bracket');
  assert.equal(addGapSpaces('1:2中', steps, crop, 5, [255, 255, 255]), '1:2 中', 'no space between a digit and punctuation');
  assert.equal(addGapSpaces('ab c中', steps, crop, 5, [255, 255, 255]), 'ab c中', 'text and steps disagree: left alone');
});

test('DB post-processing: one box per blob, grown by area * ratio / perimeter, weak blobs dropped', () => {
  const width = 64;
  const height = 32;
  const prob = new Float32Array(width * height);
  const fill = (x0: number, y0: number, x1: number, y1: number, v: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) prob[y * width + x] = v;
  };
  fill(10, 10, 40, 16, 0.9); // 30 x 6: grows by 30*6*1.5 / 72 = 3.75
  fill(50, 5, 60, 25, 0.4); // above the pixel threshold, below the box threshold
  fill(2, 28, 4, 30, 0.9); // 2 px: too small
  const boxes = boxesFromProbability(prob, width, height, DETECTION_DEFAULTS);
  assert.equal(boxes.length, 1);
  assert.deepEqual(boxes[0].box, [6.25, 6.25, 43.75, 19.75]);
  assert.ok(Math.abs(boxes[0].score - 0.9) < 1e-6);
});

test('reading order: rows top to bottom, near parts joined, far columns kept apart, CJK joined without a space', () => {
  const part = (text: string, box: [number, number, number, number]): OcrLine => ({ text, box, confidence: 0.9 });
  const lines = inReadingOrder([
    part('World', [70, 12, 120, 30]),
    part('Second', [10, 50, 60, 68]),
    part('Hello', [10, 10, 60, 28]),
    part('far column', [400, 11, 480, 29]),
    part('中文', [10, 90, 40, 108]),
    part('字', [45, 90, 60, 108]),
  ]);
  assert.deepEqual(lines.map((l) => l.text), ['Hello World', 'far column', 'Second', '中文字']);
  assert.deepEqual(lines[0].box, [10, 10, 120, 30]);
  assert.equal(normaliseText(' （a）\u3000 ｂ. '), '(a) b.');
});

test('the example screenshot reads every line, the error message whole', { timeout: 120_000 }, async () => {
  const reader = await TextReader.open({ threads: 2 });
  try {
    const lines = await reader.read(readFileSync(path.join(ROOT, 'media/examples/settings-dialog.png')));
    const texts = lines.map((l) => l.text);
    for (const want of ['Connect to cluster', 'Cluster URL', 'https://k8s.internal:6443', 'Namespace', 'staging', 'Access token', 'Token expired 3 days ago. Generate a new one.', 'Cancel', 'Connect']) {
      assert.ok(texts.includes(want), `missing "${want}" in ${JSON.stringify(texts)}`);
    }
    const error = lines.find((l) => l.text.startsWith('Token expired'))!;
    // the red line sits at y 303..323, x 140..426 of the 800 x 480 image
    assert.ok(error.box[0] >= 130 && error.box[0] <= 142 && error.box[2] >= 424 && error.box[2] <= 436, `box ${error.box}`);
    assert.ok(error.box[1] >= 296 && error.box[3] <= 330, `box ${error.box}`);
    assert.ok(lines.every((l) => l.confidence > 0.5 && l.confidence <= 1));
    // top to bottom
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i].box[1] + lines[i].box[3] >= lines[i - 1].box[1] + lines[i - 1].box[3] - 4);

    const blank = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#1e1e1e' } }).png().toBuffer();
    assert.deepEqual(await reader.read(blank), []);
    await assert.rejects(reader.read(Buffer.from('not an image')), /not a supported image/);
  } finally {
    await reader.dispose();
  }
});
