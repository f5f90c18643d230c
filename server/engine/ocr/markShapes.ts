// The shape of a small mark high on a text line (a quote, an apostrophe, a backtick), measured on its
// ink, and what it is. Typographic facts the decisions rest on:
// - a straight quote (' ") hangs from the cap height down to about the x-height, its strokes
//   vertical: every row of it looks the same;
// - a curly quote (‘ ’ “ ”) is a comma, a heavy head and a thin tail; ’ ” have the head on top and
//   the tail below-left of it, ‘ “ the head at the bottom and the tail above-right: the bottom of
//   both lies left of the top, and the two commas of “ ” touch at their heads;
// - a backtick (grave accent) is a short stroke wholly above the x-height (where accents sit),
//   leaning like '\'.

import type { LineInk, LineMetrics } from './lineInk';

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
 * The mark in columns [x0, x1): the ink there that lies wholly above `floor` (8-connected parts whose
 * lowest row is above it; a taller neighbour's stroke reaching into the columns is left out), or null
 * when there is none or it has more than two strokes in a row.
 */
export function markShape(ink: LineInk, x0: number, x1: number, floor: number): MarkShape | null {
  const from = Math.max(0, Math.floor(x0));
  const to = Math.min(ink.width, Math.ceil(x1));
  const w = to - from;
  if (w <= 0) return null;
  const h = ink.height;
  const label = new Int32Array(w * h).fill(-1);
  const keep = new Uint8Array(w * h);
  let parts = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!ink.mask[y * ink.width + from + x] || label[y * w + x] >= 0) continue;
      // flood one 8-connected part, inside the columns
      const part: number[] = [];
      const stack = [y * w + x];
      label[y * w + x] = parts;
      let lowest = y;
      while (stack.length) {
        const i = stack.pop()!;
        part.push(i);
        const py = Math.floor(i / w);
        const px = i % w;
        if (py > lowest) lowest = py;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const ny = py + dy;
            const nx = px + dx;
            if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
            const j = ny * w + nx;
            if (label[j] < 0 && ink.mask[ny * ink.width + from + nx]) {
              label[j] = parts;
              stack.push(j);
            }
          }
        }
      }
      parts++;
      if (lowest < floor) for (const i of part) keep[i] = 1;
    }
  }
  const rows: Array<Array<[number, number]>> = [];
  let top = -1;
  for (let y = 0; y < h; y++) {
    const runs: Array<[number, number]> = [];
    for (let x = 0; x < w; x++) {
      if (!keep[y * w + x]) continue;
      const last = runs[runs.length - 1];
      if (last && last[1] === from + x) last[1] = from + x + 1;
      else runs.push([from + x, from + x + 1]);
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
