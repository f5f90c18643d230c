// The shape of a small mark high on a text line (a quote, an apostrophe, a backtick), measured on its
// ink, and what it is. Typographic facts the decisions rest on:
// - a straight quote (' ") hangs from the cap height down to about the x-height, its strokes
//   vertical: every row of it looks the same;
// - a curly quote (‘ ’ “ ”) is a comma, a heavy head and a thin tail; ’ ” have the head on top and
//   the tail below-left of it, ‘ “ the head at the bottom and the tail above-right: the bottom of
//   both lies left of the top, and the two commas of “ ” touch at their heads;
// - a backtick (grave accent) is a short stroke wholly above the x-height (where accents sit),
//   leaning like '\'.

import type { Glyph, LineInk, LineMetrics } from './lineInk';

export interface MarkShape {
  /** Rows [top, bottom) and columns [left, right) of the mark's ink. */
  top: number;
  bottom: number;
  left: number;
  right: number;
  /** Runs of ink per row, top to bottom, as [start, end) columns. */
  rows: Array<Array<[number, number]>>;
  /** Most runs in one row: 1 for a single stroke, 2 for a double mark whose strokes stay apart. */
  strokes: number;
}

/**
 * The mark in columns [x0, x1): the ink there whose 8-connected part (followed across the whole
 * line) lies wholly above `floor`, so that a neighbour letter or a stroke of a Chinese character
 * reaching into the columns is left out; null when there is no such ink or it has more than two
 * strokes in a row.
 */
export function markShape(ink: LineInk, x0: number, x1: number, floor: number): MarkShape | null {
  const from = Math.max(0, Math.floor(x0));
  const to = Math.min(ink.width, Math.ceil(x1));
  if (to <= from) return null;
  const { width, height, mask } = ink;
  const seen = new Uint8Array(width * height);
  const keep = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = from; x < to; x++) {
      const start = y * width + x;
      if (!mask[start] || seen[start]) continue;
      const part: number[] = [];
      const stack = [start];
      seen[start] = 1;
      let lowest = y;
      while (stack.length) {
        const i = stack.pop()!;
        part.push(i);
        const py = Math.floor(i / width);
        const px = i % width;
        if (py > lowest) lowest = py;
        for (let ny = Math.max(0, py - 1); ny <= Math.min(height - 1, py + 1); ny++) {
          for (let nx = Math.max(0, px - 1); nx <= Math.min(width - 1, px + 1); nx++) {
            const j = ny * width + nx;
            if (mask[j] && !seen[j]) {
              seen[j] = 1;
              stack.push(j);
            }
          }
        }
      }
      if (lowest < floor) for (const i of part) keep[i] = 1;
    }
  }
  const rows: Array<Array<[number, number]>> = [];
  let top = -1;
  for (let y = 0; y < height; y++) {
    const runs: Array<[number, number]> = [];
    for (let x = from; x < to; x++) {
      if (!keep[y * width + x]) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === x) last[1] = x + 1;
      else runs.push([x, x + 1]);
    }
    if (runs.length === 0) {
      if (top >= 0) break;
      continue;
    }
    if (top < 0) top = y;
    rows.push(runs);
  }
  if (rows.length === 0) return null;
  const strokes = Math.max(...rows.map((r) => r.length));
  if (strokes > 2) return null;
  return { top, bottom: top + rows.length, left: Math.min(...rows.map((r) => r[0][0])), right: Math.max(...rows.map((r) => r[r.length - 1][1])), rows, strokes };
}

/**
 * Columns to look for the mark of a glyph read as `char` in: its box, or where it was read double its
 * whole span up to the neighbours (the box looks at the middle of the span only and may cut off the
 * second stroke).
 */
export function markColumns(g: Glyph, char = g.char): [number, number] {
  return DOUBLE_READ.has(char) ? [Math.min(g.span[0], g.box![0]), Math.max(g.span[1], g.box![2])] : [g.box![0], g.box![2]];
}

const DOUBLE_READ = new Set(['"', '“', '”', '″', '„', '‟']);

/** The row below which a mark must end to count as one (the middle of the x-height), or null. */
export function markFloor(m: LineMetrics): number | null {
  const refTop = m.xTop ?? m.capTop;
  return refTop === undefined ? null : (refTop + m.baseline) / 2;
}

/**
 * A backtick: one stroke wholly above the x-height, no wider than half of it, and either leaning like
 * '\' (its lowest row's ink right of its highest row's) or short (a straight quote reaches down to
 * about the x-height, so it is at least about half an x-height tall).
 */
export function isBacktick(s: MarkShape, m: LineMetrics): boolean {
  if (m.xTop === undefined || s.strokes !== 1) return false;
  const xHeight = m.baseline - m.xTop;
  if (xHeight < 4 || s.bottom > m.xTop || s.right - s.left > 0.6 * xHeight) return false;
  const first = s.rows[0][0];
  const last = s.rows[s.rows.length - 1][0];
  const leans = last[0] > first[0] && last[1] > first[1];
  return leans || s.bottom - s.top <= 0.4 * xHeight;
}

/**
 * What the shape says about straight against curly: 1 curly, -1 straight, 0 it cannot tell (too few
 * rows, or rows that differ without a comma's lean, as JPEG blur leaves them).
 * Curly: the lowest row starts left of the highest one, or the strokes are one run at one end and
 * two at the other with the lowest row no further right. Straight: three or more rows, each the same
 * runs as the one above it (the lowest may have lost ink at its end).
 */
export function curlyEvidence(s: MarkShape): number {
  const rows = s.rows;
  if (rows.length < 3) return 0;
  const first = rows[0];
  const last = rows[rows.length - 1];
  const [firstLeft, firstRight] = [first[0][0], first[first.length - 1][1]];
  const [lastLeft, lastRight] = [last[0][0], last[last.length - 1][1]];
  // leans like '/' (with one stroke of a double mark still too faint at the top to reach the right)
  if (lastLeft < firstLeft && (lastRight <= firstRight || first.length < last.length)) return 1;
  // the heads touch at one end, the tails part at the other
  if (first.length !== last.length && lastLeft <= firstLeft && lastRight <= firstRight) return 1;
  const same = (a: Array<[number, number]>, b: Array<[number, number]>) => a.length === b.length && a.every(([x, y], i) => x === b[i][0] && y === b[i][1]);
  for (let i = 1; i < rows.length - 1; i++) if (!same(rows[i], first)) return 0;
  return last.every(([a, b]) => first.some(([c, d]) => a >= c && b <= d)) ? -1 : 0;
}
