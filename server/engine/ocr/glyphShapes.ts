// Look-alike characters decided by the shape of their ink, where the recogniser's text alone cannot:
// - size pairs: o/O/0, c/C, s/S, u/U, v/V, w/W, x/X, z/Z differ only in height; a glyph whose top is
//   at the line's x-height is the lowercase one, at cap height the capital (or the digit 0, which is
//   what the recogniser or the neighbouring digits say). 'open0(' and '2026-11.csv' ('csV'). Only on
//   monospace lines, where a glyph's cell holds no neighbour's ink.
// - a dash or middle dot read for a small dot on the baseline is a full stop ('config-yaml'); a caret
//   that is a single stroke is a backtick.
// - a slash read as 1, I, l, 7 or | ('//' as '1/'): one thin stroke in every row, leaning right.
// - 1 or l in a monospace cell by the ends of the stem: a foot on both sides is a 1 ('v1' read 'vl').
// - quotes: one thin stroke high on the line is ', two are " (the recogniser mixes them, and reads an
//   apostrophe as *); a short stroke above the x-height read as a quote or caret is a backtick;
//   double quotes are straight or curly by pairs (quotePairs.ts).
// - numbers with look-alike letters in them ('l000', '1ooo'): digitRuns.ts.
// - dashes: the Chinese numeral 一 with a word gap on both sides is a dash ('Acme 云 — 登录'); a
//   hyphen read for a dash wider than 1.4 x-heights is an em dash, on proportional lines.
// Each rule needs the line's measured heights and a clear margin, otherwise the text stays as read.

import { Glyph, LineInk, LineMetrics, longestBlank } from './lineInk';
import { isBacktick, markColumns, markFloor, markShape } from './markShapes';
import { pairDoubleQuotes } from './quotePairs';
import { digitRuns } from './digitRuns';

const SIZE_PAIRS: Record<string, string> = { o: 'O', c: 'C', s: 'S', u: 'U', v: 'V', w: 'W', x: 'X', z: 'Z' };
const SMALL_OF: Record<string, string> = { O: 'o', '0': 'o', C: 'c', S: 's', U: 'u', V: 'v', W: 'w', X: 'x', Z: 'z' };
const QUOTE_LIKE = new Set(["'", '"', '‘', '’', '“', '”', '′', '″', '`', '´']);
const DASHES = new Set(['-', '－', '‐', '‒', '–', '—', '―', '一']);
const DIGIT = /^[0-9]$/;
/** A height decides only when it is this much nearer (as a share of cap - x height) to one reference. */
const MARGIN = 0.3;
/** Cap height in ems (Latin UI and code fonts: 0.66-0.73); a dash's width in ems names its kind. */
const CAP_EM = 0.71;

export function fixShapes(glyphs: Glyph[], ink: LineInk, metrics: LineMetrics | null, monospace: boolean): void {
  const read = glyphs.map((g) => g.char);
  if (!metrics) return pairDoubleQuotes(glyphs, read, ink, null);
  for (let i = 0; i < glyphs.length; i++) {
    const g = glyphs[i];
    if (!g.box) continue;
    // sizes only on a monospace line, where a glyph's box is its cell and holds no neighbour's ink
    const sized = monospace ? bySize(g, glyphs[i - 1], glyphs[i + 1], metrics) : null;
    if (sized) g.char = sized;
    else if ((QUOTE_LIKE.has(g.char) || g.char === '^') && backtickShape(g, ink, metrics)) g.char = '`';
    else if (QUOTE_LIKE.has(g.char) || (g.char === '*' && QUOTE_LIKE.has(g.alt))) g.char = byStrokes(g, ink, metrics) ?? g.char;
    else if (DOT_LIKE.has(g.char) && onBaseline(g, metrics)) g.char = '.';
    else if (g.char === '^' && singleStroke(g, ink, metrics)) g.char = '`';
    else if (SLASH_LIKE.has(g.char) && leansRight(g, ink)) g.char = '/';
    else if (monospace && (g.char === 'l' || g.char === '1')) g.char = oneOrEll(g, ink) ?? g.char;
    else if (DASHES.has(g.char)) g.char = dashKind(glyphs, i, ink, metrics, monospace) ?? g.char;
  }
  pairDoubleQuotes(glyphs, read, ink, metrics);
  digitRuns(glyphs, metrics);
}

/** A quote or caret whose ink is a backtick's (markShapes.ts isBacktick). */
function backtickShape(g: Glyph, ink: LineInk, m: LineMetrics): boolean {
  const floor = markFloor(m);
  const shape = floor === null ? null : markShape(ink, g.box![0], g.box![2], floor);
  return shape !== null && isBacktick(shape, m);
}

/** A caret stands on two legs; a mark high on the line that is one stroke in every row is a backtick. */
function singleStroke(g: Glyph, ink: LineInk, m: LineMetrics): boolean {
  const [x0, y0, x1, y1] = g.box!;
  const refTop = m.xTop ?? m.capTop;
  if (refTop === undefined || y1 > (refTop + m.baseline) / 2) return false;
  for (let y = y0; y < y1; y++) {
    let runs = 0;
    for (let x = x0; x < x1; x++) if (ink.mask[y * ink.width + x] && (x === x0 || !ink.mask[y * ink.width + x - 1])) runs++;
    if (runs > 1) return false;
  }
  return true;
}

const SLASH_LIKE = new Set(['1', 'I', 'l', '7', '|']);

/**
 * One thin stroke in every row (1 and 7 have a flag, a foot or a bar; I and l stand upright) whose
 * top is right of its bottom by at least a third of its height: a slash.
 */
function leansRight(g: Glyph, ink: LineInk): boolean {
  const [x0, y0, x1, y1] = g.box!;
  const height = y1 - y0;
  if (height < 6) return false;
  const centres: number[] = [];
  for (let y = y0; y < y1; y++) {
    const xs: number[] = [];
    for (let x = x0; x < x1; x++) if (ink.mask[y * ink.width + x]) xs.push(x);
    if (xs.length === 0) continue;
    if (xs[xs.length - 1] - xs[0] + 1 !== xs.length || xs.length > Math.max(2, 0.3 * height)) return false;
    centres.push((xs[0] + xs[xs.length - 1]) / 2);
  }
  if (centres.length < 0.8 * height) return false;
  return centres[0] - centres[centres.length - 1] >= height / 3;
}

/**
 * 1 or l by the ends of the stem, in a monospace cell: a 1 stands on a foot reaching out on both
 * sides of its stem and has its flag on the left only; an l has its top serif on the left and its
 * tail on the right only ('v1' read 'vl').
 */
function oneOrEll(g: Glyph, ink: LineInk): string | null {
  const [x0, y0, x1, y1] = g.box!;
  const height = y1 - y0;
  if (height < 6) return null;
  const extent = (y: number): [number, number] | null => {
    let a = -1;
    let b = -1;
    for (let x = x0; x < x1; x++) if (ink.mask[y * ink.width + x]) [a, b] = [a < 0 ? x : a, x + 1];
    return a < 0 ? null : [a, b];
  };
  // the stem: the columns with ink in at least 60 % of the rows
  const stem: number[] = [];
  for (let x = x0; x < x1; x++) {
    let n = 0;
    for (let y = y0; y < y1; y++) n += ink.mask[y * ink.width + x];
    if (n >= 0.6 * height) stem.push(x);
  }
  const top = extent(y0);
  const bottom = extent(y1 - 1);
  if (stem.length === 0 || stem.length > 0.4 * height || !top || !bottom) return null;
  const [stemLeft, stemRight] = [stem[0], stem[stem.length - 1] + 1];
  const footLeft = stemLeft - bottom[0];
  const footRight = bottom[1] - stemRight;
  if (footLeft >= 1 && footRight >= 1 && top[1] <= stemRight) return '1';
  if (footLeft <= 0 && footRight >= 1 && top[0] < stemLeft && top[1] <= stemRight) return 'l';
  return null;
}

/** Read as a dash or a middle dot, but the ink is a small dot sitting on the baseline: a full stop. */
const DOT_LIKE = new Set(['-', '·', '•', '‧', '∙', '・']);

function onBaseline(g: Glyph, m: LineMetrics): boolean {
  const [x0, y0, x1, y1] = g.box!;
  const xHeight = m.xTop === undefined ? null : m.baseline - m.xTop;
  if (xHeight === null || xHeight < 3) return false;
  // a full stop's top is below the middle of the x-height and it ends at the baseline; a hyphen floats
  return y0 > m.baseline - xHeight / 2 && Math.abs(y1 - m.baseline) <= 1 && x1 - x0 <= 0.5 * xHeight + 1;
}

function bySize(g: Glyph, before: Glyph | undefined, after: Glyph | undefined, m: LineMetrics): string | null {
  const small = SIZE_PAIRS[g.char] !== undefined ? g.char : SMALL_OF[g.char];
  // the cap height, or else the ascenders' (a line with no capital or digit read surely)
  const capTop = m.capTop ?? m.ascTop;
  if (small === undefined || m.xTop === undefined || capTop === undefined) return null;
  const span = m.xTop - capTop;
  if (span < 1.5) return null;
  const top = g.box![1];
  // the glyph must also sit on the baseline (a mark above or below it is something else)
  if (Math.abs(g.box![3] - m.baseline) > 0.4 * span + 1) return null;
  if (top >= m.xTop - MARGIN * span) return small;
  if (top > capTop + MARGIN * span) return null;
  if (small !== 'o') return SIZE_PAIRS[small];
  // tall o: 0 or O; the recogniser's pick among them, else the neighbours' kind
  if (g.char === '0' || g.char === 'O') return g.char;
  if (g.alt === '0' || g.alt === 'O') return g.alt;
  return DIGIT.test(before?.char ?? '') || DIGIT.test(after?.char ?? '') ? '0' : 'O';
}

/**
 * ' or " by the number of thin strokes of the mark (markShape: only ink wholly above the middle of the
 * x-height, so a neighbour letter reaching into the columns is not a stroke). Where the recogniser read
 * a double mark the whole span up to the neighbours is searched for its second stroke (the box looks
 * at the middle of the span only, and may cut one off).
 */
function byStrokes(g: Glyph, ink: LineInk, m: LineMetrics): string | null {
  const floor = markFloor(m);
  const [from, to] = markColumns(g);
  const shape = floor === null ? null : markShape(ink, from, to, floor);
  if (!shape) return null;
  const height = shape.bottom - shape.top;
  if (shape.rows.some((r) => r.some(([a, b]) => b - a > Math.max(2, 0.5 * height)))) return null;
  return quoteOfKind(g.char, shape.strokes === 1);
}

/** The single or double quote of the same style (straight, or curly opening/closing) as `c`. */
function quoteOfKind(c: string, single: boolean): string {
  if (c === '‘' || c === '“') return single ? '‘' : '“';
  if (c === '’' || c === '”') return single ? '’' : '”';
  return single ? "'" : '"';
}

/** The kind of a dash-like glyph, or null to keep what was read. */
function dashKind(glyphs: Glyph[], i: number, ink: LineInk, m: LineMetrics, monospace: boolean): string | null {
  const g = glyphs[i];
  const [x0, y0, x1, y1] = g.box!;
  if (y1 - y0 > 0.25 * (x1 - x0) + 2) return null; // not a flat bar
  if (g.char === '一' || g.char === '—' || g.char === '－') {
    // a numeral inside Chinese text touches its neighbours' spacing; a dash stands between word gaps
    const gap = 0.25 * emOf(glyphs, m);
    const left = i > 0 ? glyphs[i - 1] : null;
    const right = i + 1 < glyphs.length ? glyphs[i + 1] : null;
    const leftGap = !left || left.char === ' ' || longestBlank(ink.columns, left.x, g.x) >= gap;
    const rightGap = !right || right.char === ' ' || longestBlank(ink.columns, g.x, right.x) >= gap;
    if (!leftGap || !rightGap) return null;
  }
  // between word gaps: the spaces are there too (the gap rules keep none beside a wide dash)
  if (g.char !== '-') return ' — ';
  // an em dash is wider than 1.4 x-heights, a hyphen narrower than one; between them stays as read
  if (monospace || m.xTop === undefined || m.baseline - m.xTop < 3) return null;
  return (x1 - x0) / (m.baseline - m.xTop) >= 1.4 ? '—' : null;
}

/** The line's em in crop pixels: from the cap height, else from the height of its CJK glyphs. */
function emOf(glyphs: Glyph[], m: LineMetrics): number {
  if (m.capTop !== undefined) return (m.baseline - m.capTop) / CAP_EM;
  const cjk = glyphs.filter((g) => g.box && /[\u4e00-\u9fff]/u.test(g.char) && g.char !== '一').map((g) => g.box![3] - g.box![1]);
  return cjk.length ? Math.max(...cjk) / 0.9 : ink0(glyphs);
}

function ink0(glyphs: Glyph[]): number {
  return Math.max(1, ...glyphs.filter((g) => g.box).map((g) => g.box![3] - g.box![1]));
}
