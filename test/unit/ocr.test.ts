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
import { fixShapes } from '../../server/engine/ocr/glyphShapes';
import type { Glyph } from '../../server/engine/ocr/lineInk';
import { boxesFromProbability, DETECTION_DEFAULTS } from '../../server/engine/ocr/textDetection';
import { inReadingOrder, normaliseText, OcrLine } from '../../server/engine/ocr/readingOrder';
import { leadSplit } from '../../server/engine/ocr/lineNumbers';

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
  const blank = ctcGreedy(new Float32Array([0.9, 0.1, 0, 0]), 1, 4, dict);
  assert.deepEqual([blank.text, blank.confidence, blank.steps], ['', 0, []]);
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
  assert.equal(addGapSpaces('a.;中', steps, crop, 5, [255, 255, 255]), 'a.;中', 'between two narrow marks a gap must be twice as wide');
  assert.equal(addGapSpaces('ab(c', steps, crop, 5, [255, 255, 255]), 'ab (c', 'a bracket after a word has ordinary side bearings; none after an opening bracket');
  assert.equal(addGapSpaces('1:2中', steps, crop, 5, [255, 255, 255]), '1:2 中', 'no space between a digit and punctuation');
  assert.equal(addGapSpaces('ab c中', steps, crop, 5, [255, 255, 255]), 'ab c中', 'text and steps disagree: left alone');
  assert.equal(addGapSpaces('ab/中', steps, crop, 5, [255, 255, 255]), 'ab/ 中', 'a wide gap after a slash before Chinese text is a space (// 上传), none inside a path');
});

/** A crop with one ink block per character of `line` (6 of every 10 px cell) and where a recogniser read each. */
function monospaceLine(line: string, jitter: number[] = []) {
  const width = line.length * 10 + 10;
  const crop = { width, height: 16, data: new Uint8Array(width * 16 * 3).fill(255) };
  const steps: Array<[number, number]> = [];
  let text = '';
  [...line].forEach((c, k) => {
    if (c === ' ') return;
    for (let y = 1; y < 15; y++) for (let x = k * 10 + 7; x < k * 10 + 13; x++) crop.data.fill(0, (y * width + x) * 3, (y * width + x) * 3 + 3);
    const centre = k * 10 + 10 + (jitter[text.length] ?? 0);
    steps.push([centre - 0.5, centre - 0.5]);
    text += c;
  });
  return { crop, text, steps };
}

test('word gaps on a monospace line: spaces are the blank cells of the grid, whatever the recogniser read', () => {
  const { crop, text, steps } = monospaceLine('$ ls data/x.csv  y', [0, 1, -1, 1, 0, -1, 1, 0, 0, -1, 1, 0, 1, 0]);
  assert.equal(text, '$lsdata/x.csvy');
  assert.equal(addGapSpaces(text, steps, crop, 1, [255, 255, 255]), '$ ls data/x.csv y');
  // a space the recogniser read inside a word is dropped (one at the right place is kept)
  const withSpaces = '$ lsda ta/x.csvy';
  const spaceSteps: Array<[number, number]> = [steps[0], [15, 15], steps[1], steps[2], steps[3], steps[4], [55, 55], ...steps.slice(5)];
  assert.equal(addGapSpaces(withSpaces, spaceSteps, crop, 1, [255, 255, 255]), '$ ls data/x.csv y');
});

test('glyph shapes: size pairs by height on a monospace line, quotes by stroke count, a dot on the baseline, a one-stroke caret, a leaning 1', () => {
  const width = 200;
  const ink = { width, height: 20, mask: new Uint8Array(width * 20), columns: new Uint8Array(width), top: 2, inkHeight: 16 };
  const draw = (x0: number, y0: number, x1: number, y1: number) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
      ink.mask[y * width + x] = 1;
      ink.columns[x] = 1;
    }
  };
  const glyph = (char: string, x: number, box: [number, number, number, number], alt = ''): Glyph => {
    draw(...box);
    return { char, x, box, p: 0.95, alt, altP: 0.05, first: 0, last: 0, span: [x - 4, x + 4], steps: [x, x] };
  };
  // baseline 16, x-height top 8, cap top 4
  const metrics = { baseline: 16, xTop: 8, capTop: 4 };
  const glyphs = [
    glyph('S', 10, [7, 8, 13, 16]), // x-height tall: s
    glyph('o', 20, [17, 4, 23, 16], '0'), // cap tall, runner-up 0: 0
    glyph('"', 30, [29, 3, 31, 7]), // one thin stroke high up: '
    glyph("'", 40, [38, 3, 42, 7]),
    glyph('-', 50, [49, 14, 51, 16]), // a dot on the baseline: .
    glyph('c', 60, [57, 8, 63, 16]), // already small: unchanged
  ];
  // the quote at 40 is two strokes (38 and 41): "
  ink.columns.fill(0, 39, 41);
  for (let y = 3; y < 7; y++) ink.mask.fill(0, y * width + 39, y * width + 41);
  fixShapes(glyphs, ink, metrics, true);
  assert.equal(glyphs.map((g) => g.char).join(''), `s0'".c`);
  // a caret on two legs stays, one stroke read as a caret is a backtick
  const caret = glyph('^', 80, [77, 3, 83, 6]);
  for (let y = 4; y < 6; y++) ink.mask.fill(0, y * width + 79, y * width + 81);
  const tick = glyph('^', 90, [89, 3, 92, 6]);
  fixShapes([caret, tick], ink, metrics, true);
  assert.deepEqual([caret.char, tick.char], ['^', '`']);
  // proportional lines: no size decisions (a box there may hold a neighbour's ink)
  const proportional = [glyph('S', 110, [107, 8, 113, 16])];
  fixShapes(proportional, ink, metrics, false);
  assert.equal(proportional[0].char, 'S');
  // a stroke leaning right read as 1 is a slash; an upright 1 with a foot stays
  const stroke = (x0: number, lean: boolean, foot: boolean) => {
    for (let y = 4; y < 16; y++) {
      const x = lean ? x0 + Math.floor((16 - y) / 2) : x0 + 3;
      ink.mask[y * width + x] = 1;
      ink.columns[x] = 1;
    }
    if (foot) draw(x0 + 1, 15, x0 + 6, 16);
  };
  stroke(140, true, false);
  stroke(160, false, true);
  const bare = (x: number, box: [number, number, number, number]): Glyph => ({ char: '1', x, box, p: 0.95, alt: '', altP: 0.05, first: 0, last: 0, span: [x - 4, x + 4], steps: [x, x] });
  const slash = bare(143, [140, 4, 147, 16]);
  const one = bare(163, [160, 4, 167, 16]);
  fixShapes([slash, one], ink, metrics, true);
  assert.deepEqual([slash.char, one.char], ['/', '1']);
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
  assert.equal(normaliseText('name ‘fetchUser’ or “x”'), `name 'fetchUser' or "x"`, 'curly quotes in Latin text are straight ones read curly');
  assert.equal(normaliseText('找不到名称“client”。'), '找不到名称“client”。', 'Chinese text keeps its curly quotation marks');
});

test('reading order: a line-number gutter stays apart from the code beside it, other leading numbers join', () => {
  const part = (text: string, box: [number, number, number, number]): OcrLine => ({ text, box, confidence: 0.9 });
  // an editor: right-aligned numbers ending at x = 40, code from x = 52 (a gap under one row height)
  const editor = inReadingOrder([
    part('1', [32, 10, 40, 26]), part('import x', [52, 10, 140, 26]),
    part('9', [32, 29, 40, 45]), part('// Retry', [52, 29, 150, 45]),
    part('10', [24, 48, 40, 64]), part('return', [52, 48, 110, 64]),
  ]);
  assert.deepEqual(editor.map((l) => l.text), ['1', 'import x', '9', '// Retry', '10', 'return']);
  // one number alone, but farther from its text than a word gap: still apart
  assert.deepEqual(inReadingOrder([part('42', [10, 10, 26, 26]), part('Retry', [40, 10, 90, 26])]).map((l) => l.text), ['42', 'Retry']);
  // a number a word gap before its text, no column of them: one line, as before
  assert.deepEqual(inReadingOrder([part('3', [10, 10, 18, 26]), part('files changed', [23, 10, 120, 26])]).map((l) => l.text), ['3 files changed']);
  // numbers that do not end in one column join their text
  const list = inReadingOrder([
    part('3', [10, 10, 18, 26]), part('files', [23, 10, 70, 26]),
    part('120', [60, 40, 84, 56]), part('lines', [89, 40, 130, 56]),
    part('7', [120, 70, 128, 86]), part('errors', [133, 70, 180, 86]),
  ]);
  assert.deepEqual(list.map((l) => l.text), ['3 files', '120 lines', '7 errors']);
});

test('line numbers: a short lead of ink before a blank wider than a word gap is split off, a word gap is not', () => {
  // white crop 20 px high, ink 10 px high (rows 5-14) in the given column ranges
  const crop = (inked: Array<[number, number]>, width = 200) => {
    const data = new Uint8Array(width * 20 * 3).fill(255);
    for (const [a, b] of inked) for (let y = 5; y < 15; y++) for (let x = a; x < b; x++) data.fill(0, (y * width + x) * 3, (y * width + x) * 3 + 3);
    return { width, height: 20, data };
  };
  const white: [number, number, number] = [255, 255, 255];
  assert.equal(leadSplit(crop([[2, 8], [20, 26], [29, 150]]), white), 14, 'a 12 px blank (1.2 ink heights) after a 6 px lead: split in its middle');
  assert.equal(leadSplit(crop([[2, 8], [15, 21], [24, 150]]), white), null, 'a 7 px blank is a word gap');
  assert.equal(leadSplit(crop([[2, 60], [75, 150]]), white), null, 'a lead wider than a few digits is text');
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
