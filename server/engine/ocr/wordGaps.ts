// Spaces from the pixels. PP-OCRv4's Chinese model often drops the space between Latin words
// ('Found 2errors', 'foradmin@example.com'), between Chinese and Latin text and after a shell prompt
// ('$ls'), and sometimes reads one that is not there ('Loader. readMonth'). Two cases:
// - Monospace lines (terminals, stack traces): characters sit on a grid of equal cells (two for a CJK
//   or full-width character). Where the recognised characters' centres fall on that grid shows how many
//   cells lie between two of them: one or more blank cells is a space, none is no space, whatever the
//   recogniser wrote. A blank-looking cell that holds a small mark high on the line is a quote the
//   recogniser dropped ("Property 'userId'" read as "Property userId'").
// - Proportional lines: a run of background columns between two characters, wider than letters leave
//   inside a word, is a space (proportionalGaps.ts).

import type { RgbImage } from '../image';
import { cellsOf, Glyph, inkBox, inkRuns, LineInk, lineInk, LineMetrics, longestBlank, placeGlyphs } from './lineInk';
import { CJK, cjkPunctuation, WIDE_PUNCT } from './fullWidth';
import { proportionalText } from './proportionalGaps';

/** Quote marks, full-width ones included (a wide one read there is the mark itself). */
const QUOTE = /^['"`‘’“”＇＂]$/u;
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

