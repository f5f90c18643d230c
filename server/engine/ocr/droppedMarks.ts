// Marks the recogniser dropped. PP-OCRv4 often reads nothing for a backtick or a quote ('throw new
// Error(`empty file: ${path}`)' read 'Error( empty file: ${path} )', "'retries' is" read "retries' is").
// On a monospace line the grid then shows an empty cell, yet the cell holds a small mark high on the
// line; on other lines the mark stands alone between blank columns with no character read there.
// Such a mark is put back as a character, named by its shape (markShapes.ts), before the spaces are
// decided: a backtick, or a quote of one or two strokes.

import { cellsOf, Glyph, inkBox, inkRuns, LineInk, LineMetrics } from './lineInk';
import type { Grid } from './wordGaps';
import { isBacktick, markFloor, markShape, MarkShape } from './markShapes';

/** Share of a cell on each side left out when looking for a mark (a neighbour's ink may reach it). */
const CELL_MARGIN = 0.15;
/** Least ink pixels of a mark (a speck of JPEG noise is not one). */
const MIN_PIXELS = 3;

/** The glyphs with a character added in each empty cell that holds a mark, and the grid to match. */
export function withDroppedMarks(glyphs: Glyph[], ink: LineInk, metrics: LineMetrics | null, grid: Grid): { glyphs: Glyph[]; grid: Grid } {
  const floor = metrics ? markFloor(metrics) : null;
  if (!metrics || floor === null || metrics.xTop === undefined) return { glyphs, grid };
  const chars = glyphs.filter((g) => g.char !== ' ');
  const { pitch, cells, centres } = grid;
  const centreOf = (j: number, k: number) => centres[j] + (k - cells[j]) * pitch;
  /** Per char index: the marks found in the empty cells right after it (before it for index -1 + j). */
  const after = new Map<number, Glyph[]>();
  const before = new Map<number, Glyph[]>();
  const markAt = (j: number, k: number): Glyph | null => {
    const centre = centreOf(j, k);
    const shape = markShape(ink, centre - (0.5 - CELL_MARGIN) * pitch, centre + (0.5 - CELL_MARGIN) * pitch, floor);
    const char = shape && nameOf(shape, metrics);
    if (!shape || !char) return null;
    return { char, p: 0, alt: '', altP: 0, first: chars[j].first, last: chars[j].last, x: centre, box: [shape.left, shape.top, shape.right, shape.bottom], span: [centre - pitch / 2, centre + pitch / 2], steps: [centre, centre] };
  };
  for (let j = 0; j < chars.length; j++) {
    if (cells[j] < 0) continue;
    const next = j + 1 < chars.length ? j + 1 : -1;
    if (next >= 0 && cells[next] >= 0) {
      const found = [];
      for (let k = cells[j] + 1; k < cells[next]; k++) found.push(markAt(j, k));
      after.set(j, found.filter((g): g is Glyph => g !== null));
    } else {
      // beside a wide character (or the end) the grid goes on for one cell, if that cell is clear of it
      const end = centreOf(j, cells[j] + 1) + (0.5 - CELL_MARGIN) * pitch;
      const nextBox = next >= 0 ? chars[next].box : null;
      const mark = !nextBox || nextBox[0] >= end ? markAt(j, cells[j] + 1) : null;
      if (mark) after.set(j, [mark]);
    }
    if (j === 0 || cells[j - 1] < 0) {
      const start = centreOf(j, cells[j] - 1) - (0.5 - CELL_MARGIN) * pitch;
      const prevBox = j > 0 ? chars[j - 1].box : null;
      const mark = !prevBox || prevBox[2] <= start ? markAt(j, cells[j] - 1) : null;
      if (mark) before.set(j, [mark]);
    }
  }
  if (after.size === 0 && before.size === 0) return { glyphs, grid };
  const outGlyphs: Glyph[] = [];
  const outCells: number[] = [];
  const outCentres: number[] = [];
  let j = 0;
  for (const g of glyphs) {
    if (g.char === ' ') {
      outGlyphs.push(g);
      continue;
    }
    for (const m of before.get(j) ?? []) {
      outGlyphs.push(m);
      outCells.push(cells[j] - 1);
      outCentres.push(m.x);
    }
    outGlyphs.push(g);
    outCells.push(cells[j]);
    outCentres.push(centres[j]);
    for (const m of after.get(j) ?? []) {
      outGlyphs.push(m);
      outCells.push(Math.round(cells[j] + (m.x - centres[j]) / pitch));
      outCentres.push(m.x);
    }
    j++;
  }
  return { glyphs: outGlyphs, grid: { pitch, cells: outCells, centres: outCentres } };
}

/**
 * The glyphs of a line without a monospace grid, with a character added for each mark standing alone
 * (its columns hold nothing but ink above the middle of the x-height) where no character was read:
 * no glyph centred within it, no quote read near it, and not inside a wide (CJK) character, whose
 * strokes may stand apart.
 */
export function withLoneMarks(glyphs: Glyph[], ink: LineInk, metrics: LineMetrics | null): Glyph[] {
  const floor = metrics ? markFloor(metrics) : null;
  if (!metrics || floor === null || metrics.xTop === undefined) return glyphs;
  const xHeight = metrics.baseline - metrics.xTop;
  const chars = glyphs.filter((g) => g.char !== ' ');
  const added: Glyph[] = [];
  for (const [a, b] of inkRuns(ink, 0, ink.width)) {
    const box = inkBox(ink, a, b);
    if (!box || box[3] > floor || b - a > xHeight) continue;
    const claimed = chars.some((g) => (g.x >= a - 1.5 && g.x <= b + 1.5) || (QUOTES.has(g.char) && Math.abs(g.x - (a + b) / 2) <= xHeight) || (cellsOf(g.char) === 2 && Math.abs(g.x - (a + b) / 2) < 0.5 * ink.inkHeight));
    if (claimed) continue;
    const shape = markShape(ink, a, b, floor);
    const char = shape && nameOf(shape, metrics);
    if (!shape || !char) continue;
    const x = (a + b) / 2;
    added.push({ char, p: 0, alt: '', altP: 0, first: 0, last: 0, x, box: [shape.left, shape.top, shape.right, shape.bottom], span: [a, b], steps: [a, b - 1] });
  }
  if (added.length === 0) return glyphs;
  const out = [...glyphs];
  for (const m of added) {
    const at = out.findIndex((g) => g.x > m.x);
    out.splice(at < 0 ? out.length : at, 0, m);
  }
  return out;
}

const QUOTES = new Set(["'", '"', '‘', '’', '“', '”', '`', '′', '″', '´']);

/** A backtick, ' or ", or null when the ink is no mark that starts above the x-height. */
function nameOf(s: MarkShape, m: LineMetrics): string | null {
  const pixels = s.rows.reduce((n, r) => n + r.reduce((a, [x0, x1]) => a + x1 - x0, 0), 0);
  if (pixels < MIN_PIXELS || s.bottom - s.top < 2 || m.xTop === undefined || s.top >= m.xTop) return null;
  if (isBacktick(s, m)) return '`';
  if (s.strokes === 2) return '"';
  // one thin stroke (a wider blob high on the line is no quote)
  return s.right - s.left <= Math.max(2, 0.45 * (m.baseline - m.xTop)) ? "'" : null;
}
