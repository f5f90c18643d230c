// A lone mark a few cells before or after a detected line: the '+' or '-' that starts a diff line
// ('-  const limit = 3;'), a bullet, a closing '{' after a space. DB's probability map keeps too little
// of a thin, isolated glyph to make a box of it, so the line is read without it. Each box grows to
// take in such a mark when the pixels show one: a short run of ink in the middle of the box's rows
// (not from the top to the bottom of them, as a border or a rule is), no wider than the line is high,
// with only background between it and the box, and blank or the image's edge beyond it.

import type { RgbImage } from '../image';
import type { Box, DetectedBox } from './textDetection';
import { edgeColour } from './textRecognition';

/** Least colour distance (sum over R, G, B) from the background that counts as ink (lineInk's). */
const INK = 96;
/** How far from the box a mark may stand, in box heights (three monospace cells are about 1.5). */
const REACH = 2.2;
/** A mark is at most this many box heights wide. */
const MAX_MARK = 0.8;
/** Blank beyond the mark, in box heights: the mark stands alone, it is not the end of other text. */
const ALONE = 0.5;
/** Rows this share of the box height inside its top and bottom edges are left out. */
const CORE_MARGIN = 0.2;

export function withEdgeMarks(image: RgbImage, boxes: DetectedBox[]): DetectedBox[] {
  return boxes.map((d) => {
    const others = boxes.filter((o) => o !== d).map((o) => o.box);
    const bg = edgeColour(image, d.box);
    const left = markBeside(image, d.box, bg, -1, others);
    const right = markBeside(image, d.box, bg, 1, others);
    if (left === null && right === null) return d;
    return { ...d, box: [left ?? d.box[0], d.box[1], right ?? d.box[2], d.box[3]] as Box };
  });
}

/** The new left (dir -1) or right (dir 1) edge that takes in a lone mark on that side, or null. */
function markBeside(image: RgbImage, [x0, y0, x1, y1]: Box, bg: [number, number, number], dir: -1 | 1, others: Box[]): number | null {
  const h = y1 - y0;
  if (h < 6) return null;
  // the core rows: DB's grown box reaches into the descenders and accents of the lines above and below
  const top = y0 + Math.round(CORE_MARGIN * h);
  const bottom = y1 - Math.round(CORE_MARGIN * h);
  const isInk = (x: number, y: number) => {
    const i = (y * image.width + x) * 3;
    return Math.abs(image.data[i] - bg[0]) + Math.abs(image.data[i + 1] - bg[1]) + Math.abs(image.data[i + 2] - bg[2]) >= INK;
  };
  // 'rule': ink from the core's top row to its bottom row, a border rather than a mark
  const column = (x: number): 'blank' | 'ink' | 'rule' => {
    let ink = false;
    for (let y = top; y < bottom; y++) if (isInk(x, y)) ink = true;
    if (!ink) return 'blank';
    return isInk(x, top) && isInk(x, bottom - 1) ? 'rule' : 'ink';
  };
  // another box on the same row (DB's boxes of neighbouring lines overlap by a row or two)
  const sameRow = others.filter((o) => Math.min(y1, o[3]) - Math.max(y0, o[1]) > 0.5 * Math.min(h, o[3] - o[1]));
  const inside = (x: number) => x >= 0 && x < image.width && !sameRow.some((o) => x >= o[0] && x < o[2]);
  let x = dir < 0 ? x0 - 1 : x1;
  const reach = Math.round(REACH * h);
  let steps = 0;
  while (inside(x) && steps < reach && column(x) === 'blank') {
    x += dir;
    steps++;
  }
  if (!inside(x) || steps >= reach || steps < 2 || column(x) !== 'ink') return null;
  const start = x;
  while (inside(x) && column(x) === 'ink') x += dir;
  if (Math.abs(x - start) > MAX_MARK * h || (inside(x) && column(x) === 'rule')) return null;
  // blank (or the edge of the image or another box) beyond the mark
  for (let k = 0; k < Math.round(ALONE * h); k++) {
    if (!inside(x + k * dir)) break;
    if (column(x + k * dir) !== 'blank') return null;
  }
  const pad = Math.max(1, Math.round(0.15 * h));
  return dir < 0 ? Math.max(0, x + 1 - pad) : Math.min(image.width, x + pad);
}
