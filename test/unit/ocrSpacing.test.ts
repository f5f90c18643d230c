// Where spaces go on a proportional line (wordGaps.ts, fullWidth.ts), on made-up crops: each case has a
// twin the rule must leave alone, so a rule that fires everywhere (or nowhere) fails.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addGapSpaces, spacedText } from '../../server/engine/ocr/wordGaps';
import { lineInk, placeGlyphs } from '../../server/engine/ocr/lineInk';
import { inReadingOrder, normaliseText } from '../../server/engine/ocr/readingOrder';
import { withEdgeMarks } from '../../server/engine/ocr/edgeMarks';

/** A glyph of ink columns [x0, x1) and rows [y0, y1), or a space the recogniser read at x. */
type Part = [string, number, number, number?, number?] | [' ', number];

/** Crop (white, black ink, 12 rows: a CJK glyph fills rows 1-11) and the text and CTC steps read on it. */
function line(parts: Part[]): [string, Array<[number, number]>, { width: number; height: number; data: Uint8Array }] {
  const width = Math.max(...parts.map((p) => (p.length === 2 ? p[1] : p[2]))) + 4;
  const height = 12;
  const data = new Uint8Array(width * height * 3).fill(255);
  const steps: Array<[number, number]> = [];
  let text = '';
  for (const p of parts) {
    text += p[0];
    if (p.length === 2) {
      steps.push([p[1], p[1]]);
      continue;
    }
    const [, x0, x1, y0 = 1, y1 = 11] = p;
    for (let y = y0; y < y1; y++) data.fill(0, (y * width + x0) * 3, (y * width + x1) * 3);
    steps.push([x0, x1 - 1]);
  }
  return [text, steps, { width, height, data }];
}

const spaced = (parts: Part[]) => {
  const [text, steps, crop] = line(parts);
  return addGapSpaces(text, steps, crop, 1, [255, 255, 255]);
};

test('a read space beside a full-width comma is the comma\'s own blank; beside an ASCII comma it stays', () => {
  // 赖 and 然 are 10 rows high (em about 10.9 px); the comma is low and narrow
  const comma = (next: number): Part[] => [['依', 0, 9], ['赖', 10, 19], [',', 20, 22, 8, 11], [' ', 24], ['然', next, next + 9], ['后', next + 10, next + 19]];
  assert.equal(spaced(comma(29)), '依赖,然后', 'a 7 px blank after the comma (0.64 em) is a full-width comma\'s');
  assert.equal(spaced(comma(26)), '依赖, 然后', 'a 4 px blank is an ASCII comma and a space');
  assert.equal(spaced([['依', 0, 9], ['，', 10, 12, 8, 11], [' ', 14], ['然', 22, 31]]), '依，然', 'read full-width: never a space after it');
});

test('a full-width form between Latin characters is spaced as its ASCII form; one beside Chinese is not', () => {
  // ts(2304）[行: the recogniser read a full-width paren between a digit and a bracket
  const parts = (mark: string): Part[] => [['4', 0, 6, 2, 11], [mark, 8, 11, 1, 12], ['[', 16, 19, 1, 12], ['a', 20, 25, 4, 11]];
  assert.equal(spaced(parts('）')), '4） [a', 'a 5 px blank between two facing brackets is a space');
  assert.equal(spaced(parts(')')), '4) [a');
  assert.equal(spaced([['4', 0, 6, 2, 11], ['，', 8, 10, 8, 11], ['列', 16, 25]]), '4，列', 'beside Chinese the full-width comma keeps no space');
});

test('a bracket beside Chinese with a wide blank on its inner side is full-width: no space before it', () => {
  // 中（第: the paren's ink is in the middle of its em, 4 px from 中 and 5 px from 第
  assert.equal(spaced([['中', 0, 9], ['(', 13, 16], ['第', 21, 30]]), '中(第');
  // 中 (ab: an ASCII paren hugs the word it opens, so the 5 px blank before it is a space
  assert.equal(spaced([['中', 0, 9], ['(', 14, 17], ['a', 18, 23, 4, 11], ['b', 24, 29, 1, 11]]), '中 (ab');
});

test('a read space with no room for it on the screen is dropped', () => {
  assert.equal(spaced([['/', 0, 5, 1, 11], [' ', 6], ['/', 6, 11, 1, 11], ['a', 13, 18, 4, 11]]), '//a', '1 px between the slashes');
  assert.equal(spaced([['a', 0, 5, 4, 11], [' ', 7], ['b', 9, 14, 1, 11]]), 'a b', 'a 4 px blank holds a space');
});

test('a slash before Chinese needs half the extra blank of punctuation between Latin characters', () => {
  // ink height 10 (rows 1-11): ordinary 3.5 px, beside punctuation 7 px, slash before CJK 5.25 px
  assert.equal(spaced([['/', 0, 4], ['/', 5, 9], ['上', 15, 24]]), '// 上', '6 px before Chinese');
  assert.equal(spaced([['/', 0, 4], ['/', 5, 9], ['a', 15, 20, 4, 11]]), '//a', '6 px between a slash and a letter is not a space');
});

test('between Latin and Chinese text a narrower blank is a space', () => {
  // http_proxy 环境: 3 px between y and 环 (0.3 of the ink height), 1 px when they touch
  assert.equal(spaced([['x', 0, 5, 4, 11], ['y', 6, 11, 4, 12], ['环', 14, 23, 1, 11], ['境', 24, 33, 1, 11]]), 'xy 环境');
  assert.equal(spaced([['x', 0, 5, 4, 11], ['y', 6, 11, 4, 12], ['环', 12, 21, 1, 11], ['境', 22, 31, 1, 11]]), 'xy环境');
});

test('the line\'s own read word gaps lower the threshold between letters; without them it stays', () => {
  // ink rows 0-12: between letters 0.78 x 4.2 = 3.3 px; the read word gaps here are 4 px, letters 1 px
  // apart, so the line's own threshold is 3 px (0.75 of its word gap)
  // letters 6 and 4 px wide; nine of them, too few for a monospace grid
  const word = (x: number, w: string): Part[] => [...w].map((c, i) => [c, x + 7 * Math.ceil(i / 2) + 5 * Math.floor(i / 2), x + 7 * Math.ceil(i / 2) + 5 * Math.floor(i / 2) + (i % 2 ? 4 : 6), 0, 12] as Part);
  const parts: Part[] = [...word(0, 'ab'), [' ', 13], ...word(15, 'cd'), [' ', 28], ...word(30, 'fo'), ...word(44, 'ad'), [' ', 57], ...word(59, 'e')];
  // 'ab' covers 0-11, 'cd' 15-26, 'fo' 30-41, 'ad' 44-55, 'e' 59-65: 4 px word gaps, 3 px from 'fo' to 'ad'
  assert.equal(spaced(parts), 'ab cd fo ad e');
  const unread = parts.filter((p) => p[0] !== ' ');
  assert.equal(spaced(unread), 'ab cd foad e', 'no read spaces: the 4 px gaps are spaces by the letter threshold, 3 px is not');
});

test('a closing quote before full-width punctuation is Chinese text\'s curly one; before ASCII prose it is straight', () => {
  assert.equal(normaliseText('已声明“retries”，但从未读取'), '已声明“retries”,但从未读取', 'NFKC folds the comma only after the quote is decided');
  assert.equal(normaliseText('已声明“retries”,但从未读取'), '已声明“retries”,但从未读取', 'an ASCII-read comma before Chinese is a Chinese one');
  assert.equal(normaliseText('say “hi”, ok'), 'say "hi", ok');
  assert.equal(normaliseText("模块 'lodash’（位于"), "模块 'lodash'(位于", 'a bracket after it is no sign of Chinese quotation');
});

test('symbols with ordinary side bearings (#, >, middle dot) need an ordinary gap; narrow punctuation twice that', () => {
  // ink 1-11: ordinary 3.5 px, beside narrow punctuation 7 px; 5 px blanks
  assert.equal(spaced([['d', 0, 5, 1, 11], ['#', 10, 16, 1, 11], ['4', 17, 22, 2, 11]]), 'd #4', '5 px before # is a space');
  assert.equal(spaced([['n', 0, 5, 4, 11], ['·', 10, 12, 5, 7], ['S', 17, 22, 1, 11]]), 'n · S');
  assert.equal(spaced([['s', 0, 5, 4, 11], [':', 7, 9, 4, 11], ['#', 14, 20, 1, 11], ['4', 21, 26, 2, 11]]), 's: #4', "'Status: #4821': a colon before a symbol has ordinary bearings");
  assert.equal(spaced([['a', 0, 5, 4, 11], ['.', 7, 9, 9, 11], ['t', 14, 18, 1, 11]]), 'a. t', 'a point before a word has ordinary bearings');
  assert.equal(spaced([['a', 0, 5, 4, 11], ['.', 7, 9, 9, 11], [';', 14, 16, 4, 12]]), 'a.;', 'between two narrow marks 5 px is not a space');
});

test('a point or colon between digits keeps no space; after a comma between digits the gap decides', () => {
  const triple = (mark: string, next: number): Part[] => [['7', 0, 5, 2, 11], [mark, 6, 8, 9, 12], ['2', next, next + 5, 2, 11], ['0', next + 6, next + 11, 2, 11]];
  assert.equal(spaced(triple(',', 13)), '7, 20', "'Dec 3, 2026': a 5 px blank after the comma");
  assert.equal(spaced(triple(',', 9)), '7,20', "'1,024': 1 px");
  assert.equal(spaced(triple('.', 13)), '7.20', "'2.4.1': a decimal or version point, however wide the digit's bearing");
});

test('a digit beside Chinese needs more blank than a letter does (its bearings are wider)', () => {
  // CJK ink rows 0-12 (ink height 12): letter/CJK 2.5 px, digit/CJK 3.2 px; 3 px blanks
  assert.equal(spaced([['月', 0, 9, 0, 12], ['x', 12, 17, 4, 11], ['日', 20, 29, 0, 12]]), '月 x 日');
  assert.equal(spaced([['月', 0, 9, 0, 12], ['7', 12, 17, 2, 11], ['日', 20, 29, 0, 12]]), '月7日');
  assert.equal(spaced([['月', 0, 9, 0, 12], ['7', 13, 18, 2, 11], ['日', 22, 31, 0, 12]]), '月 7 日', '4 px');
});

test('a bracket read full-width beside Chinese but hugging Latin text is an ASCII one after a space', () => {
  // 置 (Ctrl: 5 px before the bracket, 1 px inside it
  assert.equal(spaced([['置', 0, 9], ['（', 14, 17], ['C', 18, 23, 2, 11], ['t', 24, 27, 2, 11]]), '置 （Ct');
  assert.equal(spaced([['置', 0, 9], ['（', 13, 16], ['第', 20, 29]]), '置（第', 'a 4 px (0.37 em) blank inside: full-width');
});

test('a lone mark a few cells before a detected line joins its box; a border or more text does not', () => {
  // 200 x 40 white image; the detected line is [60, 10) to [190, 30), h = 20
  const image = (paint: Array<[number, number, number, number]>) => {
    const data = new Uint8Array(200 * 40 * 3).fill(255);
    for (const [x0, y0, x1, y1] of paint) for (let y = y0; y < y1; y++) data.fill(0, (y * 200 + x0) * 3, (y * 200 + x1) * 3);
    return { width: 200, height: 40, data };
  };
  const text: Array<[number, number, number, number]> = [[64, 14, 186, 26]];
  const line = { box: [60, 10, 190, 30] as [number, number, number, number], score: 0.9 };
  const grown = (paint: Array<[number, number, number, number]>) => withEdgeMarks(image([...text, ...paint]), [line])[0].box;
  const dash: [number, number, number, number] = [30, 19, 36, 21];
  assert.deepEqual(grown([dash]), [27, 10, 190, 30], "a diff line's '-' 24 px (1.2 heights) before the text");
  assert.deepEqual(grown([[30, 2, 31, 38]]), [60, 10, 190, 30], 'a border from top to bottom is no mark');
  assert.deepEqual(grown([dash, [20, 14, 27, 26]]), [60, 10, 190, 30], 'ink just beyond it: the end of other text, not a lone mark');
  assert.deepEqual(grown([[5, 19, 11, 21]]), [60, 10, 190, 30], 'farther than REACH');
});

test('two letters need less blank than a letter beside a thin stem', () => {
  // ink rows 0-12 (4.2 px ordinary): 'w o' and 'w l' 4 px apart; letters need 0.78 x 4.2 = 3.3 px, beside 'l' 4.2 px
  assert.equal(spaced([['V', 0, 7, 0, 12], ['w', 8, 15, 4, 12], ['o', 19, 25, 4, 12], ['g', 26, 31, 4, 12]]), 'Vw og');
  assert.equal(spaced([['V', 0, 7, 0, 12], ['w', 8, 15, 4, 12], ['l', 19, 21, 0, 12], ['g', 22, 27, 4, 12]]), 'Vwlg', '4 px beside a thin stem');
  assert.equal(spaced([['V', 0, 7, 0, 12], ['w', 8, 15, 4, 12], ['l', 20, 22, 0, 12], ['g', 23, 28, 4, 12]]), 'Vw lg', '5 px');
});

test('a thin-stem digit beside Chinese keeps the ordinary threshold', () => {
  // CJK ink rows 0-12 (4.2 px ordinary, 3.2 px for a digit beside CJK): 4 px blanks
  assert.equal(spaced([['月', 0, 9, 0, 12], ['7', 13, 18, 2, 11], ['日', 22, 31, 0, 12]]), '月 7 日');
  assert.equal(spaced([['月', 0, 9, 0, 12], ['1', 13, 16, 2, 11], ['日', 20, 29, 0, 12]]), '月1日', "'1' has the widest bearings");
});

/** spacedText on a crop (16 rows) with [char, ink x0, x1, y0, y1] read at each ink's centre, and marks [x0, x1, y0, y1] nobody read. */
function monoLine(parts: Array<[string, number, number, number, number]>, marks: Array<[number, number, number, number]> = []) {
  const width = Math.max(...parts.map((p) => p[2])) + 20;
  const data = new Uint8Array(width * 16 * 3).fill(255);
  for (const [, x0, x1, y0, y1] of [...parts, ...marks.map((m) => ['', ...m] as [string, number, number, number, number])]) {
    for (let y = y0; y < y1; y++) data.fill(0, (y * width + x0) * 3, (y * width + x1) * 3);
  }
  const crop = { width, height: 16, data };
  const ink = lineInk(crop, [255, 255, 255]);
  const glyphs = placeGlyphs(parts.map(([char, x0, x1]) => ({ char, first: (x0 + x1) / 2 - 0.5, last: (x0 + x1) / 2 - 0.5, p: 1, alt: '', altP: 0 })), ink, 1);
  return spacedText(glyphs, ink, { baseline: 14, xTop: 6 });
}

/** Narrow letters in 10 px cells from x = from: ink 2-8 of each cell, rows 2-14 (capitals). */
const letters = (word: string, from = 0): Array<[string, number, number, number, number]> => [...word].map((c, k) => [c, from + 10 * k + 2, from + 10 * k + 8, 2, 14]);

test('monospace: sentence punctuation right after a CJK character is full-width; no space after its blank', () => {
  // 'abcdefghijk文：$xy': the colon read as ASCII sits at the left of a 17 px em, '$' in the cell after it
  const head = letters('abcdefghijk');
  const colon: Array<[string, number, number, number, number]> = [['文', 112, 128, 1, 15], [':', 133, 135, 7, 13]];
  assert.equal(monoLine([...head, ...colon, ...letters('$xy', 148)]), 'abcdefghijk文:$xy');
  // an ASCII colon after a Latin word keeps the blank cell after it as a space
  assert.equal(monoLine([...head, ['m', 112, 118, 6, 14], [':', 123, 125, 7, 13], ...letters('$xy', 140)]), 'abcdefghijkm: $xy');
});

test('monospace: a small high mark in the cell after a word before a wide character is a dropped quote', () => {
  const head = letters('abcdefghijk');
  // 'k' in cell 10 (100-110); a 2 px stroke high in cell 11 (rows 2-6, above the x-height's middle); then
  // a full-width bracket and a CJK character
  const wide: Array<[string, number, number, number, number]> = [['（', 128, 131, 1, 15], ['位', 136, 150, 1, 15]];
  assert.equal(monoLine([...head, ...wide], [[114, 116, 2, 6]]), "abcdefghijk'（位");
  assert.equal(monoLine([...head, ...wide]), 'abcdefghijk（位', 'no mark there: nothing added');
});

test('monospace: a short stroke falling to the right in a blank cell is a backtick, an upright one a quote', () => {
  // cells 0-9 'abcdefghij', cell 10 (100-110) holds only a mark high on the line, then 'kl' in cells 11-12
  const parts = [...letters('abcdefghij'), ...letters('kl', 110)];
  const backtick: Array<[number, number, number, number]> = [[103, 105, 2, 3], [104, 106, 3, 4], [105, 107, 4, 5]];
  assert.equal(monoLine(parts, backtick), 'abcdefghij`kl');
  assert.equal(monoLine(parts, [[104, 106, 2, 5]]), "abcdefghij'kl");
  assert.equal(monoLine(parts), 'abcdefghij kl', 'a blank cell is a space');
});

test('two overlapping boxes of one line do not read the shared character twice', () => {
  const part = (text: string, box: [number, number, number, number]) => ({ text, box, confidence: 0.9 });
  // 'Property' 80 px wide (10 px a character) overlaps the next box by 12 px, which starts with 'y'
  assert.deepEqual(inReadingOrder([part('Property', [0, 0, 80, 16]), part("y 'userId' does", [68, 0, 220, 16])]).map((l) => l.text), ["Property 'userId' does"]);
  assert.deepEqual(inReadingOrder([part('Property', [0, 0, 80, 16]), part("y 'userId' does", [84, 0, 236, 16])]).map((l) => l.text), ["Property y 'userId' does"], 'apart: both read');
  assert.deepEqual(inReadingOrder([part('Proper', [0, 0, 60, 16]), part('a b', [55, 0, 90, 16])]).map((l) => l.text), ['Proper a b'], 'overlapping, nothing doubled');
});

test('monospace: ink reaching into a blank cell from the next glyph is no dropped quote', () => {
  const parts = [...letters('abcdefghij'), ...letters('kl', 110)];
  // a stroke high in cell 10 that runs on into 'k' (like the tip of a W): part of the neighbour
  assert.equal(monoLine(parts, [[107, 112, 2, 5]]), 'abcdefghij kl');
  assert.equal(monoLine(parts, [[104, 106, 2, 5]]), "abcdefghij'kl", 'a stroke standing alone in the cell is a quote');
});

test('a blank of half an em between two Chinese characters is a space (a terminal\'s or a log\'s word gap)', () => {
  // CJK ink 10 rows high: em about 10.9 px
  assert.equal(spaced([['用', 0, 9], ['户', 10, 19], ['登', 26, 35], ['录', 36, 45]]), '用户 登录', '7 px');
  assert.equal(spaced([['用', 0, 9], ['户', 10, 19], ['登', 22, 31], ['录', 32, 41]]), '用户登录', '3 px: the glyphs\' own bearings');
});

test('monospace: a skipped cell holding the same ink as the letter before it is that letter again (a collapsed CTC repeat)', () => {
  // 'abcdefghER?OR' read as 'abcdefghEROR': cell 10 holds the same block as the 'R' in cell 9
  const parts = [...letters('abcdefghER'), ...letters('OR', 110)];
  assert.equal(monoLine(parts, [[102, 108, 2, 14]]), 'abcdefghERROR');
  assert.equal(monoLine(parts, [[102, 108, 8, 14]]), 'abcdefghER OR', 'different ink there: left to the other rules');
});
