// Which character the OCR reader names, from the ink of a line: the mark shapes (backtick, straight
// and curly quotes), marks the recogniser dropped on a monospace grid, and quote pairs. Each rule is
// checked on drawn ink where it must fire and where it must not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Glyph, LineInk, LineMetrics } from '../../server/engine/ocr/lineInk';
import { curlyEvidence, isBacktick, markShape } from '../../server/engine/ocr/markShapes';
import { withDroppedMarks, withLoneMarks, withLoneMarksOnGrid } from '../../server/engine/ocr/droppedMarks';
import { pairDoubleQuotes } from '../../server/engine/ocr/quotePairs';
import { fixShapes } from '../../server/engine/ocr/glyphShapes';
import { digitRuns } from '../../server/engine/ocr/digitRuns';
import { capitalWords } from '../../server/engine/ocr/capitalWords';
import { sentenceCapitals } from '../../server/engine/ocr/sentenceStart';

/** Ink from rows of '#' (ink) and '.' (background), all rows the same length. */
function inkOf(rows: string[]): LineInk {
  const width = rows[0].length;
  const height = rows.length;
  const mask = new Uint8Array(width * height);
  const columns = new Uint8Array(width);
  let top = height;
  let bottom = -1;
  rows.forEach((r, y) => [...r].forEach((c, x) => {
    if (c !== '#') return;
    mask[y * width + x] = 1;
    columns[x] = 1;
    top = Math.min(top, y);
    bottom = Math.max(bottom, y);
  }));
  return { width, height, mask, columns, top, inkHeight: bottom - top + 1 };
}

/** A 'rows' art of one mark (rows joined by '|') placed at (x, y) in a blank line of the given size. */
function lineWith(marks: Array<[string, number, number]>, width = 60, height = 16): string[] {
  const rows = Array.from({ length: height }, () => [...'.'.repeat(width)]);
  for (const [art, x, y] of marks) art.split('|').forEach((r, dy) => [...r].forEach((c, dx) => c === '#' && (rows[y + dy][x + dx] = '#')));
  return rows.map((r) => r.join(''));
}

function glyph(char: string, x: number, box: [number, number, number, number] | null, alt = '', altP = 0): Glyph {
  return { char, p: 1 - altP, alt, altP, first: 0, last: 0, x, box, span: [x - 4, x + 4], steps: [x, x] };
}

// baseline 14, x-height top 7 (x-height 7), cap top 4: the mid x-height floor for marks is row 10.5
const METRICS: LineMetrics = { baseline: 14, xTop: 7, capTop: 4 };
const FLOOR = 10.5;

test('a backtick is a short stroke above the x-height leaning like \\; a straight quote reaches down to the x-height', () => {
  const ink = inkOf(lineWith([['##..|.##.|..##', 2, 2], ['##|##|##|##|##', 12, 3], ['##|##', 22, 2], ['x', 0, 0]]));
  const tick = markShape(ink, 1, 7, FLOOR)!;
  assert.deepEqual([tick.top, tick.bottom, tick.strokes], [2, 5, 1]);
  assert.equal(isBacktick(tick, METRICS), true, 'leans \\ and ends above the x-height');
  assert.equal(isBacktick(markShape(ink, 11, 15, FLOOR)!, METRICS), false, "a vertical stroke from the cap height to the x-height is '");
  assert.equal(isBacktick(markShape(ink, 21, 25, FLOOR)!, METRICS), true, 'short (2 rows of a 7-row x-height) and high');
  // a mark needs the line's x-height to be judged
  assert.equal(isBacktick(tick, { baseline: 14, capTop: 4 }), false);
});

test('markShape leaves out a taller neighbour reaching into the columns (a stroke of a Chinese character)', () => {
  // a stroke from row 1 to the baseline at column 3, a two-stroke mark at columns 5-8
  const ink = inkOf(lineWith([['#|#|#|#|#|#|#|#|#|#|#|#|#', 3, 1], ['#.#|#.#|#.#', 5, 2]]));
  const s = markShape(ink, 2, 9, FLOOR)!;
  assert.deepEqual([s.left, s.right, s.top, s.bottom, s.strokes], [5, 8, 2, 5, 2]);
  assert.equal(markShape(ink, 2, 4, FLOOR), null, 'nothing but the tall stroke: no mark');
});

test('curly evidence: a comma leaning / or heads that touch is curly, identical vertical rows are straight, blur says nothing', () => {
  const shapeOf = (art: string) => markShape(inkOf(lineWith([[art, 5, 2]])), 0, 20, FLOOR)!;
  assert.equal(curlyEvidence(shapeOf('.###|.###|##.#')), 1, '” : the tails below-left of the heads');
  assert.equal(curlyEvidence(shapeOf('.#.#|##.#|####')), 1, '“ : the tails above-right of the heads');
  assert.equal(curlyEvidence(shapeOf('####|####|#.#.')), 1, 'heads joined on top, tails apart');
  assert.equal(curlyEvidence(shapeOf('##.##|##.##|##.##|##..#')), -1, 'straight " (its lowest row thinner)');
  assert.equal(curlyEvidence(shapeOf('#.#|###|#.#')), 0, 'a JPEG-blurred straight mark: no evidence either way');
  assert.equal(curlyEvidence(shapeOf('.##|##.')), 0, 'two rows are too few');
});

test('a mark in an empty monospace cell is put back (a dropped backtick), a blank cell stays blank', () => {
  // cells of 10 px: a letter in cells 0, 1, 4 and 6; a backtick in cell 2, nothing in cell 3, a speck in cell 5
  const letter = '####|####|####|####|####|####|####';
  const ink = inkOf(lineWith([[letter, 3, 7], [letter, 13, 7], ['##..|.##.|..##', 23, 2], [letter, 43, 7], ['#', 55, 3], [letter, 63, 7]], 80));
  const chars = [glyph('a', 5, [3, 7, 7, 14]), glyph('b', 15, [13, 7, 17, 14]), glyph('c', 45, [43, 7, 47, 14]), glyph('d', 65, [63, 7, 67, 14])];
  const grid = { pitch: 10, cells: [0, 1, 4, 6], centres: [5, 15, 45, 65] };
  const out = withDroppedMarks(chars, ink, METRICS, grid);
  assert.equal(out.glyphs.map((g) => g.char).join(''), 'ab`cd');
  assert.deepEqual(out.grid.cells, [0, 1, 2, 4, 6]);
  assert.deepEqual(out.grid.centres, [5, 15, 25, 45, 65]);
  // without the line's heights nothing is decided
  assert.equal(withDroppedMarks(chars, ink, null, grid).glyphs.length, 4);
});

test('double quotes pair: curly ink on either mark makes both “ ”, straight ink both "; a pair of single strokes stays single', () => {
  const curlyClose = '.###|.###|##.#';
  const straight = '##.##|##.##|##.##|##.##';
  // “x” read as "x" (the recogniser's usual misreading in Chinese text): the opening mark's ink is
  // blurred, the closing one's curly
  let ink = inkOf(lineWith([['#.#.|####|#.#.', 5, 3], [curlyClose, 30, 3]]));
  let glyphs = [glyph('"', 6, [5, 3, 9, 6]), glyph('x', 20, null), glyph('"', 31, [30, 3, 34, 6])];
  pairDoubleQuotes(glyphs, glyphs.map((g) => g.char), ink, METRICS);
  assert.equal(glyphs.map((g) => g.char).join(''), '“x”');
  // straight marks read curly stay straight
  ink = inkOf(lineWith([[straight, 5, 3], [straight, 30, 3]]));
  glyphs = [glyph('“', 7, [5, 3, 10, 7]), glyph('x', 20, null), glyph('"', 32, [30, 3, 35, 7], '”', 0.2)];
  pairDoubleQuotes(glyphs, glyphs.map((g) => g.char), ink, METRICS);
  assert.equal(glyphs.map((g) => g.char).join(''), '"x"');
  // read double, but both marks one stroke (shape rules made them single): a single pair
  ink = inkOf(lineWith([['##|##|#.', 5, 3], ['.#|.#|##', 30, 3]]));
  glyphs = [glyph("'", 6, [5, 3, 7, 6]), glyph('x', 20, null), glyph("'", 31, [30, 3, 32, 6])];
  pairDoubleQuotes(glyphs, ['“', 'x', '"'], ink, METRICS);
  assert.equal(glyphs.map((g) => g.char).join(''), '‘x’');
  // one mark alone has no partner: left as read
  glyphs = [glyph('"', 6, [5, 3, 9, 6]), glyph('x', 20, null)];
  pairDoubleQuotes(glyphs, glyphs.map((g) => g.char), inkOf(lineWith([[curlyClose, 5, 3]])), METRICS);
  assert.equal(glyphs[0].char, '"');
});

test("quote strokes are counted on the mark's own ink: a neighbour letter is no stroke, a second stroke beyond the box still counts", () => {
  // r (x-height to baseline, rows 7-13) right beside an apostrophe (rows 3-6), then s: "user's" read user"s
  const letter = '###|#..|#..|#..|#..|#..|#..';
  const ink = inkOf(lineWith([[letter, 2, 7], ['#|#|#|#', 6, 3], ['###|#..|###|..#|###|..#|###', 9, 7], ['#.#|#.#|#.#|#.#', 30, 3], [letter, 36, 7]]));
  const apostrophe = glyph('"', 6, [4, 3, 8, 14]);
  apostrophe.span = [4, 8];
  // a straight double quote whose box holds only its first stroke: its span (up to the neighbours) holds both
  const quote = glyph('"', 30, [30, 3, 31, 7]);
  quote.span = [27, 34];
  const glyphs = [glyph('r', 3, [2, 7, 5, 14]), apostrophe, glyph('s', 10, [9, 7, 12, 14]), quote, glyph('r', 37, [36, 7, 39, 14])];
  fixShapes(glyphs, ink, METRICS, false);
  assert.equal(glyphs.map((g) => g.char).join(''), `r's"r`);
});

test('a token of digits and look-alikes is a number: l000 and loo (tall o) read 1000 and 100; a small o or no digit evidence stays text', () => {
  const tall: [number, number, number, number] = [0, 4, 4, 14]; // top at the cap height (4), x-height top 7
  const small: [number, number, number, number] = [0, 7, 4, 14];
  const run = (text: string, oBox = tall) => {
    const glyphs = [...text].map((c, i) => glyph(c, i * 5, c === 'o' || c === 'O' ? oBox : [0, 4, 4, 14]));
    digitRuns(glyphs, METRICS);
    return glyphs.map((g) => g.char).join('');
  };
  assert.equal(run('x = l000;'), 'x = 1000;');
  assert.equal(run('> loo)'), '> 100)');
  assert.equal(run('2026-1l.csv'), '2026-11.csv');
  assert.equal(run('> 1ooo'), '> 1000');
  // not a number
  assert.equal(run('lo', small), 'lo', 'a small o is a letter');
  assert.equal(run('Ill'), 'Ill', 'no digit and no tall o');
  assert.equal(run('I am'), 'I am', 'one character is no run');
  assert.equal(run('v1l0x'), 'v1l0x', 'a letter that looks like no digit');
  assert.equal(run('loo', small), 'loo');
});

test('a lone mark where nothing was read is put back on a line without a grid; a read one or a stroke of a wide character is not', () => {
  const letter = '####|####|####|####|####|####|####';
  const tall = '##########|#........#|#........#|#........#|#........#|#........#|#........#|#........#|#........#|#........#|##########';
  // a Chinese-like character (centre 9) at 2-12 with a separate high stroke of its own at 13-14, a
  // lone straight quote at 30, letters at 36 and 46
  const ink = inkOf(lineWith([[tall, 2, 3], ['##|##', 13, 3], ['#|#|#|#', 30, 3], [letter, 36, 7], [letter, 46, 7]]));
  const glyphs = [glyph('中', 9, [2, 3, 12, 14]), glyph('a', 38, [36, 7, 40, 14]), glyph('b', 48, [46, 7, 50, 14])];
  const out = withLoneMarks(glyphs, ink, METRICS);
  assert.equal(out.map((g) => g.char).join(''), "中'ab", 'the quote is put back, the stroke beside 中 is not a mark');
  // the recogniser read something there: nothing added
  const read = [glyphs[0], glyph("'", 30, [30, 3, 31, 7]), glyphs[1], glyphs[2]];
  assert.equal(withLoneMarks(read, ink, METRICS).length, 4);
});

test('1 or l in a monospace cell by the ends of the stem: a foot on both sides is a 1, a tail to the right only an l', () => {
  const one = '.##..|###..|.##..|.##..|.##..|.##..|.##..|.##..|#####';
  const ell = '###..|.##..|.##..|.##..|.##..|.##..|.##..|.##..|..###';
  const bar = '.##..|.##..|.##..|.##..|.##..|.##..|.##..|.##..|.##..';
  const ink = inkOf(lineWith([[one, 2, 4], [ell, 12, 3], [bar, 22, 3], [one, 32, 4]]));
  // read 'l 1 l 1' (spaces between, so that no digit run joins them)
  const space = (x: number) => glyph(' ', x, null);
  const glyphs = [glyph('l', 4, [2, 4, 7, 13]), space(9), glyph('1', 14, [12, 3, 17, 12]), space(19), glyph('l', 24, [22, 3, 27, 12]), space(29), glyph('1', 34, [32, 4, 37, 13])];
  fixShapes(glyphs, ink, METRICS, true);
  assert.equal(glyphs.map((g) => g.char).join(''), '1 l l 1', 'the drawn 1, the drawn l, the plain bar as read, the drawn 1 as read');
  // proportional lines: a box there may hold a neighbour's ink, nothing is decided
  const prop = [glyph('l', 4, [2, 4, 7, 13])];
  fixShapes(prop, ink, METRICS, false);
  assert.equal(prop[0].char, 'l');
});

test('prose: a sentence-initial If/In/Is/It read with l or i is capital; other words and other places stay', () => {
  assert.equal(sentenceCapitals('The proxy setting to use. lf not set, it will'), 'The proxy setting to use. If not set, it will');
  assert.equal(sentenceCapitals('Saved. if it fails, retry! is it done? it is.'), 'Saved. If it fails, retry! Is it done? It is.');
  assert.equal(sentenceCapitals('use. lots of it'), 'use. lots of it', 'a longer word');
  assert.equal(sentenceCapitals('see e.g. ls or x. if'), 'see e.g. ls or x. if', 'after an abbreviation or a one-letter word');
  assert.equal(sentenceCapitals('body.length if it'), 'body.length if it', 'no sentence end');
});

test('on a monospace line a lone mark between wide characters joins the grid as wide glyphs do (cell -1)', () => {
  const letter = '####|####|####|####|####|####|####';
  const tall = '##########|#........#|#........#|#........#|#........#|#........#|#........#|#........#|#........#|#........#|##########';
  // narrow a (cell 0), a wide bracket-like character at 10-19, a backtick at 25-28, a wide character at 36-45
  const ink = inkOf(lineWith([[letter, 3, 7], [tall, 10, 3], ['##..|.##.|..##', 25, 2], [tall, 36, 3]], 60));
  const glyphs = [glyph('a', 5, [3, 7, 7, 14]), glyph('（', 15, [10, 3, 20, 14]), glyph('文', 41, [36, 3, 46, 14])];
  const out = withLoneMarksOnGrid(glyphs, ink, METRICS, { pitch: 10, cells: [0, -1, -1], centres: [5, 15, 41] });
  assert.equal(out.glyphs.map((g) => g.char).join(''), 'a（`文');
  assert.deepEqual(out.grid.cells, [0, -1, -1, -1]);
  assert.deepEqual(out.grid.centres, [5, 15, 27, 41]);
});

test('capitalWords: a lone 0 or l inside an all-capitals word is the capital; numbers and mixed words stay', () => {
  assert.equal(capitalWords('2026-12-04T09:14:07.512Z INF0 server'), '2026-12-04T09:14:07.512Z INFO server');
  assert.equal(capitalWords('SELECT * FR0M orders'), 'SELECT * FROM orders');
  assert.equal(capitalWords('Create APl key'), 'Create API key');
  // must not fire: a number, a 1 (STEP1 is real), two look-alikes, a leading 0, a lowercase word, short tokens
  for (const s of ['port 3000', 'STEP1 done', 'ES2015', 'SHA256', '0XFF', 'Hello0', 'ID0', 'l0G', 'Usel', 'v1.0.0']) assert.equal(capitalWords(s), s);
});
