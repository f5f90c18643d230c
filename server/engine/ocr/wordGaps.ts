// Spaces from the pixels. PP-OCRv4's Chinese model often drops the space between Latin words
// ('Found 2errors', 'foradmin@example.com'), between Chinese and Latin text and after a shell prompt
// ('$ls'), and sometimes reads one that is not there ('Loader. readMonth'). Two cases:
// - Monospace lines (terminals, stack traces): characters sit on a grid of equal cells (two for a CJK
//   or full-width character). Where the recognised characters' centres fall on that grid shows how many
//   cells lie between two of them: one or more blank cells is a space, none is no space, whatever the
//   recogniser wrote. A blank-looking cell that holds a small mark high on the line is a quote the
//   recogniser dropped ("Property 'userId'" read as "Property userId'").
// - Proportional lines: a run of background columns between two characters, wider than letters leave
//   inside a word, is a space. Not between two CJK characters (Chinese has no spaces), next to
//   full-width punctuation (its glyph is half blank), after an opening or before a closing mark.

import type { RgbImage } from '../image';
import { cellsOf, Glyph, inkBox, inkRuns, LineInk, lineInk, LineMetrics, longestBlank, median, placeGlyphs } from './lineInk';
import { CJK, cjkEm, fullWidthMarks, WIDE_PUNCT } from './fullWidth';

/** A gap counts as a space when its blank run is at least this share of the ink height. */
const SPACE_SHARE = 0.35;
/** Next to ASCII punctuation (narrow glyphs with wide side bearings): this times that. */
const PUNCT_FACTOR = 2;
/**
 * Between a Latin letter and a CJK character: this times that; between a digit and one, CJK_DIGIT
 * (measured: without a space at most 0.25 of the ink height, with one from 0.27; 0.75 x 0.35 splits them).
 */
const CJK_LATIN = 0.6;
const CJK_DIGIT = 0.75;
/** Between two letters (or a letter and a digit), neither a thin stem: this times that. */
const LETTER_FACTOR = 0.78;
/**
 * Between two CJK characters (whose ink nearly fills the em, no-space blanks measured up to 0.3 em) a
 * blank of half an em is a space, as a terminal or a log view leaves between Chinese words ('用户 登录').
 */
const CJK_SPACE = 0.5;
/** Narrow punctuation and brackets: wide side bearings. */
const NARROW = /^[.,:;!?()[\]{}]$/;
const THIN_STEM = /^[ilIj1]$/;
/** Quote marks, full-width ones included (a wide one read there is the mark itself). */
const QUOTE = /^['"`‘’“”＇＂]$/u;
/** A read space with a blank under this share of the ink height has no room on the screen. */
const NO_ROOM = 0.15;
/** Blank after a full-width comma, colon or period before the next character, as a share of the em. */
const FULL_WIDTH_BLANK = 0.5;
/** lineWordGap needs this many read word gaps and touching letter pairs. */
const MIN_WORD_GAPS = 2;
/** lineWordGap: its threshold is at least this share of the median read word gap, which is at least this share of SPACE_SHARE's. */
const WORD_SHARE = 0.75;

const NO_SPACE_AFTER = new Set(['(', '[', '{', '/', '\\', '-', '@', '#', '_']);
const NO_SPACE_BEFORE = new Set([')', ']', '}', '.', ',', ':', ';', '!', '?', '/', '\\', '-', '@', '_', '%']);
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const DIGIT = /[0-9]/;

/** Monospace needs at least this many narrow characters to judge the grid. */
const MIN_CHARS = 6;
/** Share of neighbouring characters with no blank cell between them on a monospace grid. */
const MIN_TOUCHING = 0.65;
/** Cell widths tried, as shares of the line's ink height (monospace advance 0.6 em, ink 0.9-1.2 em). */
const PITCH_RANGE: [number, number] = [0.3, 0.9];
/** centrePeriod takes the widest cell whose fit is at least this share of the best. */
const NEAR_BEST = 0.9;
/** Most mean distance (in cells) of the narrow glyphs' ink centres from their cells' centres. */
const INK_FIT = 0.09;
/**
 * Glyphs with their own ink run a monospace judgement needs (short proportional lines fit by chance),
 * MIN_OTHER of them other than digits: proportional fonts draw digits on equal (tabular) advances too
 * ('2026 年 11 月 28 日' is no monospace line; '2026-10.csv' is).
 */
const MIN_MEASURED = 10;
const MIN_OTHER = 4;
/** Two cells whose ink overlaps by this share (intersection over union) hold the same glyph. */
const SAME_INK = 0.7;
/** Beside a wide character on a monospace line, a blank run of this many cells is a space. */
const WIDE_GAP = 0.8;

export interface Grid {
  pitch: number;
  /** Per non-space glyph: its cell (narrow glyphs), or -1 (wide glyphs, which break the grid). */
  cells: number[];
  /** Per non-space glyph: the centre of its cell in crop pixels (its own centre for wide glyphs). */
  centres: number[];
}

/** Text of the glyphs with spaces decided from the ink (see the file comment). */
export function spacedText(glyphs: Glyph[], ink: LineInk, metrics: LineMetrics | null, grid = monospaceGrid(glyphs.filter((g) => g.char !== ' '), ink)): string {
  const chars = glyphs.filter((g) => g.char !== ' ');
  if (chars.length < 2 || ink.inkHeight === 0) return glyphs.map((g) => g.char).join('');
  return grid ? monospaceText(glyphs, ink, grid, metrics) : proportionalText(glyphs, ink);
}

/** Spaces added to `text` from the crop's gaps (unit tests and callers without glyphs). */
export function addGapSpaces(text: string, steps: Array<[number, number]>, crop: RgbImage, stepWidth: number, background: [number, number, number]): string {
  const chars = [...text];
  if (chars.length !== steps.length || chars.length < 2) return text;
  const ink = lineInk(crop, background);
  const glyphs = placeGlyphs(chars.map((char, i) => ({ char, first: steps[i][0], last: steps[i][1], p: 1, alt: '', altP: 0 })), ink, stepWidth);
  return spacedText(glyphs, ink, null);
}

/**
 * The monospace grid the narrow characters sit on, or null for a proportional line. Positions are the
 * centres of the characters' own ink (an ink run no other character falls in; monospace fonts centre
 * each glyph in its cell), else their CTC positions. The cell width is the widest one on which the
 * positions agree (centrePeriod), refined by least squares; each run of narrow characters between
 * wide (CJK) ones has its own phase, since a browser draws CJK at its own advance, not two cells.
 * Monospace when the ink centres sit on their cells' centres, and most neighbours touch.
 */
export function monospaceGrid(chars: Glyph[], ink: LineInk): Grid | null {
  if (ink.inkHeight === 0) return null;
  const runs = inkRuns(ink, 0, ink.width);
  const runOf = chars.map((g, i) => (gridCells(chars, i) === 1 ? runs.findIndex(([a, b]) => g.x >= a - 1 && g.x <= b + 1) : -1));
  const owners = new Map<number, number>();
  for (const r of runOf) if (r >= 0) owners.set(r, (owners.get(r) ?? 0) + 1);
  const inkX = runOf.map((r) => (r >= 0 && owners.get(r) === 1 ? (runs[r][0] + runs[r][1]) / 2 : null));
  const xs = chars.map((g, i) => inkX[i] ?? g.x);
  // segments: runs of consecutive narrow characters
  const segment: number[] = [];
  let seg = 0;
  chars.forEach((g, i) => {
    if (gridCells(chars, i) !== 1) {
      segment.push(-1);
      if (i > 0 && segment[i - 1] >= 0) seg++;
    } else segment.push(seg);
  });
  const narrow = chars.map((_, i) => i).filter((i) => segment[i] >= 0);
  if (narrow.length < MIN_CHARS || inkX.filter((x) => x !== null).length < MIN_CHARS) return null;
  let pitch = centrePeriod(narrow.map((i) => xs[i]), narrow.map((i) => segment[i]), ink.inkHeight);
  if (!pitch) return null;
  // least squares with one origin per segment
  const origins = new Map<number, number>();
  const phaseOf = (s: number) => origins.get(s) ?? 0;
  for (let round = 0; round < 4; round++) {
    if (round === 0) {
      for (const s of new Set(narrow.map((i) => segment[i]))) {
        let sx = 0;
        let sy = 0;
        for (const i of narrow) if (segment[i] === s) {
          sx += Math.cos((2 * Math.PI * xs[i]) / pitch);
          sy += Math.sin((2 * Math.PI * xs[i]) / pitch);
        }
        origins.set(s, (Math.atan2(sy, sx) / (2 * Math.PI)) * pitch);
      }
    }
    const k = narrow.map((i) => Math.round((xs[i] - phaseOf(segment[i])) / pitch!));
    let sxy = 0;
    let sxx = 0;
    const stats = new Map<number, { n: number; k: number; x: number }>();
    narrow.forEach((i, j) => {
      const e = stats.get(segment[i]) ?? { n: 0, k: 0, x: 0 };
      e.n++;
      e.k += k[j];
      e.x += xs[i];
      stats.set(segment[i], e);
    });
    narrow.forEach((i, j) => {
      const e = stats.get(segment[i])!;
      sxy += (k[j] - e.k / e.n) * (xs[i] - e.x / e.n);
      sxx += (k[j] - e.k / e.n) ** 2;
    });
    if (sxx === 0) return null;
    pitch = sxy / sxx;
    for (const [s, e] of stats) origins.set(s, e.x / e.n - (pitch * e.k) / e.n);
  }
  const cells = chars.map((_, i) => (segment[i] >= 0 ? Math.round((xs[i] - phaseOf(segment[i])) / pitch!) : -1));
  const centres = chars.map((g, i) => (segment[i] >= 0 ? phaseOf(segment[i]) + cells[i] * pitch! : g.x));
  let off = 0;
  let measured = 0;
  let measuredOther = 0;
  let touching = 0;
  let pairs = 0;
  for (const i of narrow) {
    if (inkX[i] !== null) {
      off += Math.abs(inkX[i]! - centres[i]) / pitch;
      measured++;
      if (!DIGIT.test(chars[i].char)) measuredOther++;
    }
    if (i > 0 && segment[i - 1] === segment[i]) {
      if (cells[i] <= cells[i - 1]) return null;
      pairs++;
      if (cells[i] === cells[i - 1] + 1) touching++;
    }
  }
  return measured >= MIN_MEASURED && measuredOther >= MIN_OTHER && off / measured <= INK_FIT && touching >= MIN_TOUCHING * pairs ? { pitch, cells, centres } : null;
}

/**
 * The cell width the positions agree on best: for each width in PITCH_RANGE, how closely they fall
 * on one phase (per segment) modulo it. A half or a third of the true width fits as well, so the
 * widest one close to the best is taken.
 */
function centrePeriod(xs: number[], segment: number[], inkHeight: number): number | null {
  const fits: Array<[number, number]> = [];
  let most = 0;
  for (let w = PITCH_RANGE[0] * inkHeight; w <= PITCH_RANGE[1] * inkHeight; w += 0.02) {
    const sums = new Map<number, [number, number]>();
    xs.forEach((x, i) => {
      const a = (2 * Math.PI * x) / w;
      const e = sums.get(segment[i]) ?? [0, 0];
      e[0] += Math.cos(a);
      e[1] += Math.sin(a);
      sums.set(segment[i], e);
    });
    let r = 0;
    for (const [c, d] of sums.values()) r += Math.hypot(c, d);
    r /= xs.length;
    fits.push([w, r]);
    most = Math.max(most, r);
  }
  for (let i = fits.length - 1; i >= 0; i--) if (fits[i][1] >= NEAR_BEST * most) return fits[i][0];
  return null;
}

function monospaceText(glyphs: Glyph[], ink: LineInk, grid: Grid, metrics: LineMetrics | null): string {
  const chars = glyphs.filter((g) => g.char !== ' ');
  const { pitch, cells, centres } = grid;
  const cellStart = (i: number, k: number) => centres[i] + (k - cells[i] - 0.5) * pitch;
  let out = cells[0] >= 0 ? markIn(ink, cellStart(0, cells[0] - 1), pitch, metrics) ?? '' : '';
  const wide = chars.map((g, i) => WIDE_PUNCT.test(g.char) || chinesePunct(chars, i));
  let readSpace = false;
  let j = 0;
  for (const g of glyphs) {
    if (g.char === ' ') {
      readSpace = true;
      continue;
    }
    if (j > 0) {
      const a = chars[j - 1];
      // a quote the recogniser dropped in the cell after a word before a wide character ('lodash'（位于)
      if (cells[j - 1] >= 0 && cells[j] < 0 && LETTER_OR_DIGIT.test(a.char) && !QUOTE.test(g.char)) out += markIn(ink, cellStart(j - 1, cells[j - 1] + 1), pitch, metrics) ?? '';
      if (cells[j] >= 0 && cells[j - 1] >= 0) {
        if (cells[j] > cells[j - 1] + 1) out += gapText(cellStart(j - 1, cells[j - 1] + 1), cells[j] - cells[j - 1] - 1, pitch, ink, metrics, a.char);
      } else if (CJK.test(a.char) && CJK.test(g.char)) {
        // a terminal separates Chinese words with a blank cell ('信息 服务'); CJK ink nearly fills its em
        if (readSpace || longestBlank(ink.columns, a.x, g.x) >= WIDE_GAP * pitch) out += ' ';
      } else if (!(CJK.test(a.char) && CJK.test(g.char)) && !wide[j - 1] && !wide[j] && !cjkPunctuation(a.char, g.char)) {
        // beside a wide character the grid says nothing: a gap of most of a cell is a space
        // and a mark in the cell before a narrow character is a quote the recogniser dropped
        const mark = cells[j] >= 0 ? markIn(ink, cellStart(j, cells[j] - 1), pitch, metrics) : null;
        const to = mark ? cellStart(j, cells[j] - 1) : g.box ? g.box[0] + 1 : g.x;
        if (longestBlank(ink.columns, a.box ? a.box[2] - 1 : a.x, to) >= (mark ? 0.5 : WIDE_GAP) * pitch) out += ' ';
        out += mark ?? '';
      } else if (readSpace && !wide[j - 1] && !wide[j] && !cjkPunctuation(a.char, g.char)) out += ' ';
    }
    out += g.char;
    readSpace = false;
    j++;
  }
  const last = chars.length - 1;
  return out + (cells[last] >= 0 ? markIn(ink, cellStart(last, cells[last] + 1), pitch, metrics) ?? '' : '');
}

/**
 * What `cells` blank-looking cells after `a` (or before the first character when `a` is its position
 * only) hold: a space for each blank one, a quote for one with a small thin mark high on the line
 * that no character was read for (one stroke ', two ", a short stroke falling to the right `). Runs of
 * spaces become one.
 */
function gapText(start: number, cells: number, pitch: number, ink: LineInk, metrics: LineMetrics | null, before: string): string {
  let out = '';
  let repeat = LETTER_OR_DIGIT.test(before);
  for (let j = 0; j < cells; j++) {
    const cell = start + j * pitch;
    // the same ink as the cell before: a doubled letter whose repeat CTC decoding collapsed ('ERROR' read 'EROR')
    repeat = repeat && sameInk(ink, cell - pitch, cell, pitch);
    out += repeat ? before : markIn(ink, cell, pitch, metrics) ?? ' ';
  }
  return out.replace(/ +/g, ' ');
}

/** Whether two cells hold the same glyph: their ink pixels overlap (IoU, best of a one-pixel shift) by SAME_INK. */
function sameInk(ink: LineInk, a: number, b: number, pitch: number): boolean {
  const w = Math.floor(pitch);
  const x0 = Math.round(a);
  const x1 = Math.round(b);
  let best = 0;
  for (const shift of [-1, 0, 1]) {
    let both = 0;
    let either = 0;
    for (let dx = 0; dx < w; dx++) {
      const xa = x0 + dx;
      const xb = x1 + dx + shift;
      if (xa < 0 || xb < 0 || xa >= ink.width || xb >= ink.width) continue;
      for (let y = 0; y < ink.height; y++) {
        const p = ink.mask[y * ink.width + xa];
        const q = ink.mask[y * ink.width + xb];
        both += p & q;
        either += p | q;
      }
    }
    if (either >= 0.1 * ink.inkHeight * pitch) best = Math.max(best, both / either);
  }
  return best >= SAME_INK;
}

function markIn(ink: LineInk, cellStart: number, pitch: number, metrics: LineMetrics | null): string | null {
  if (!metrics || metrics.xTop === undefined) return null;
  const from = cellStart + 0.15 * pitch;
  const to = cellStart + 0.85 * pitch;
  const box = inkBox(ink, from, to);
  if (!box) return null;
  const runs = inkRuns(ink, from, to);
  // ink that runs on past the cell's edges is a neighbour's reaching in ('orders WHERE': the W's tip)
  const own = inkRuns(ink, cellStart - pitch, cellStart + 2 * pitch).filter(([x0, x1]) => x1 > from && x0 < to).every(([x0, x1]) => x0 >= cellStart && x1 <= cellStart + pitch);
  const high = own && box[3] <= (metrics.xTop + metrics.baseline) / 2;
  const thin = runs.every(([x0, x1]) => x1 - x0 <= Math.max(2, 0.5 * (box[3] - box[1])));
  if (high && thin && runs.length <= 2) return runs.length === 1 ? "'" : '"';
  // one short stroke falling to the right, no wider than half a cell: a backtick ('${path}`)')
  if (high && runs.length === 1 && box[2] - box[0] <= 0.5 * pitch && falls(ink, box)) return '`';
  // a flat bar below the baseline across the cell: an underscore read as a space
  const flat = box[3] - box[1] <= Math.max(2, 0.15 * ink.inkHeight) && box[2] - box[0] >= 0.5 * (to - from);
  return flat && box[1] >= metrics.baseline - 1 ? '_' : null;
}

function proportionalText(glyphs: Glyph[], ink: LineInk): string {
  const minGap = Math.max(2, SPACE_SHARE * ink.inkHeight);
  const chars = glyphs.filter((g) => g.char !== ' ');
  // a space the recogniser read before chars[i]
  const read = chars.map(() => false);
  let k = 0;
  for (const g of glyphs) {
    if (g.char === ' ') read[k] = k > 0;
    else k++;
  }
  const em = cjkEm(chars);
  const wide = fullWidthMarks(chars, ink.columns, em);
  // for the rules below a mark that is not full-width is its ASCII form
  const form = chars.map((g, i) => (wide[i] ? g.char : g.char.normalize('NFKC')));
  const wordGap = lineWordGap(chars, form, read, ink, minGap);
  let out = chars[0].char;
  for (let i = 1; i < chars.length; i++) {
    const a = chars[i - 1];
    const b = chars[i];
    const [ca, cb] = [form[i - 1], form[i]];
    const space = read[i]
      ? keepReadSpace(a, b, form[i - 2] ?? '', ca, cb, wide[i - 1] || wide[i], ink, em)
      : CJK.test(ca) && CJK.test(cb)
        ? em !== null && longestBlank(ink.columns, a.x, b.x) >= CJK_SPACE * em
        : !wide[i - 1] && !wide[i] && spaceAllowed(form[i - 2] ?? '', ca, cb) && gapBlank(a, b, ink) >= gapNeeded(ca, cb, minGap, wordGap);
    out += (space ? ' ' : '') + b.char;
  }
  return out;
}

/** Blank columns between two neighbours' CTC steps (the last step of a, the first of b). */
function gapBlank(a: Glyph, b: Glyph, ink: LineInk): number {
  return longestBlank(ink.columns, Math.floor(a.steps[1]), Math.ceil(b.steps[0]));
}

/**
 * Blank needed between two neighbours for a space. Narrow punctuation and brackets have wide side
 * bearings (and are centred in their cells in a monospace font), so beside one a gap must be
 * PUNCT_FACTOR times as wide, or half of that extra beside a CJK glyph, whose ink nearly fills its em;
 * except where their bearings are ordinary: sentence punctuation before a word or a symbol ('Status: #4821'),
 * a bracket after one, a closing bracket before one, two brackets facing each other ('ts(2304) [Ln 4').
 * Other symbols ('#', '>', '·', quotes) have ordinary bearings. Two letters (not thin stems) need only
 * LETTER_FACTOR of it: measured on the rendered sets, their no-space blank is at most 0.25 of the ink
 * height and a word gap at least 0.27 ('View logs' at 0.8x). Between Latin and CJK text the no-space blank is only
 * the two glyphs' thin bearings, so less is needed (CJK_LATIN; a digit's bearings are wider, CJK_DIGIT;
 * a thin stem's the widest: '2026年12月1日' keeps the ordinary threshold).
 * Between letters and digits the line's own word gaps may say less is needed (lineWordGap), except
 * beside a thin stem (l, i, I, 1, j), whose side bearings are the widest of the letters ('all').
 */
function gapNeeded(a: string, b: string, minGap: number, wordGap: number): number {
  const word = (c: string) => LETTER_OR_DIGIT.test(c);
  const ordinary = (c: string) => !NARROW.test(c) && !WIDE_PUNCT.test(c);
  const sentence = (/^[.,:;!?]$/.test(a) && ordinary(b)) || (/^[([]$/.test(b) && ordinary(a)) || (/^[)\]]$/.test(a) && (ordinary(b) || /^[([]$/.test(b)));
  const cjk = CJK.test(a) || CJK.test(b);
  if (!sentence && (NARROW.test(a) || NARROW.test(b))) return minGap * (cjk ? (1 + PUNCT_FACTOR) / 2 : PUNCT_FACTOR);
  if (cjk && !(CJK.test(a) && CJK.test(b)) && word(a) && word(b) && !THIN_STEM.test(a) && !THIN_STEM.test(b)) return minGap * (DIGIT.test(a) || DIGIT.test(b) ? CJK_DIGIT : CJK_LATIN);
  if (cjk || sentence || !word(a) || !word(b) || THIN_STEM.test(a) || THIN_STEM.test(b)) return minGap;
  // two letters, or a letter and a digit: thin bearings on both sides (digits among themselves are tabular)
  return Math.min(DIGIT.test(a) && DIGIT.test(b) ? minGap : LETTER_FACTOR * minGap, wordGap);
}

/**
 * A space the recogniser read stays unless the pixels leave no room for one (a blank under
 * NO_ROOM of the ink height: '/ /' for '//'), or it sits beside full-width punctuation, or beside
 * sentence punctuation that is Chinese by its place (cjkPunctuation, or right after a CJK character)
 * and whose blank is as wide as a full-width mark's own (an ASCII comma and a space leave less).
 */
function keepReadSpace(a: Glyph, b: Glyph, prev: string, ca: string, cb: string, wide: boolean, ink: LineInk, em: number | null): boolean {
  const blank = longestBlank(ink.columns, a.x, b.x);
  if (blank < NO_ROOM * ink.inkHeight || wide) return false;
  // sentence punctuation right after a CJK character is Chinese too ('文件为空：${path}')
  const chinese = cjkPunctuation(ca, cb) || (CJK.test(prev) && /^[,.:;!?]$/.test(ca));
  return !(chinese && em !== null && blank >= FULL_WIDTH_BLANK * em);
}

/**
 * The blank that makes a space between two letters or digits on this line, when the line's own gaps
 * show it: the recogniser reads most spaces, so the blanks at the spaces it read between letters and
 * digits, against the blanks between the letters it read as touching, place the threshold (halfway,
 * and at least WORD_SHARE of a read word gap). Small text in JPEG leaves a word gap narrower than
 * SPACE_SHARE of the ink height ('foradmin@example.com'); Infinity when the line does not show it.
 */
function lineWordGap(chars: Glyph[], form: string[], read: boolean[], ink: LineInk, minGap: number): number {
  const words: number[] = [];
  const letters: number[] = [];
  for (let i = 1; i < chars.length; i++) {
    if (!LETTER_OR_DIGIT.test(form[i - 1]) || !LETTER_OR_DIGIT.test(form[i]) || CJK.test(form[i - 1]) || CJK.test(form[i])) continue;
    if (read[i]) words.push(longestBlank(ink.columns, chars[i - 1].x, chars[i].x));
    else letters.push(gapBlank(chars[i - 1], chars[i], ink));
  }
  if (words.length < MIN_WORD_GAPS || letters.length < MIN_WORD_GAPS) return Infinity;
  const word = median(words);
  const letter = median(letters);
  if (word < minGap * WORD_SHARE || word <= letter + 1) return Infinity;
  return Math.max((word + letter) / 2, WORD_SHARE * word);
}

/** Whether the ink in a box runs from its top left to its bottom right (its last column's ink lies lower). */
function falls(ink: LineInk, [x0, y0, x1, y1]: [number, number, number, number]): boolean {
  const meanRow = (x: number) => {
    let sum = 0;
    let n = 0;
    for (let y = y0; y < y1; y++) if (ink.mask[y * ink.width + x]) [sum, n] = [sum + y, n + 1];
    return n ? sum / n : NaN;
  };
  return x1 - x0 >= 3 && meanRow(x1 - 1) - meanRow(x0) >= 1;
}

/**
 * Cells chars[i] takes on a monospace grid: sentence punctuation right after a CJK character is a
 * full-width mark read as ASCII ('文件为空：${path}'), which a browser draws on an em like the CJK text.
 */
function gridCells(chars: Glyph[], i: number): number {
  return chinesePunct(chars, i) ? 2 : cellsOf(chars[i].char);
}

function chinesePunct(chars: Glyph[], i: number): boolean {
  return i > 0 && /^[,.:;!?]$/.test(chars[i].char) && CJK.test(chars[i - 1].char);
}

/** Sentence punctuation beside a CJK character is Chinese punctuation read as ASCII: never a space. */
function cjkPunctuation(a: string, b: string): boolean {
  return (CJK.test(a) && /^[,.:;!?)\]]$/.test(b)) || (CJK.test(b) && /^[,.:;!?([]$/.test(a));
}

/** Whether a space may go between a and b (prev: the character before a, '' at the start). */
function spaceAllowed(prev: string, a: string, b: string): boolean {
  if (cjkPunctuation(a, b)) return false;
  if (CJK.test(a) && CJK.test(b)) return false;
  // '2.4.1', '23:18': a point or colon between digits keeps no space (after a comma between digits
  // the gap decides: '1,024' against 'Dec 3, 2026')
  if (/^[.:]$/.test(a) && DIGIT.test(prev) && DIGIT.test(b)) return false;
  if (WIDE_PUNCT.test(a) || WIDE_PUNCT.test(b)) return false;
  // a path goes on in Latin letters: a slash before a Chinese character ends a comment marker ('// 上传')
  if (a === '/' && CJK.test(b)) return true;
  return !NO_SPACE_AFTER.has(a) && !NO_SPACE_BEFORE.has(b);
}
