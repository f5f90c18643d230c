// Where the ink of one recognised line is: a mask of the crop's pixels that differ from its
// background, each character's x centre (from the CTC steps it was read at) and the box of the ink
// between its neighbours' centres, and the line's typographic heights (baseline, x-height and cap
// height) measured on the characters the recogniser is sure of. wordGaps.ts and glyphShapes.ts
// decide spaces and look-alike characters from these measurements instead of from the text alone.

import type { RgbImage } from '../image';
import type { Emitted } from './ctcDecoding';

/** Least colour distance (sum over R, G, B) from the background that counts as ink. */
const INK = 96;

export interface LineInk {
  width: number;
  height: number;
  /** 1 where a pixel is ink. */
  mask: Uint8Array;
  /** 1 where a column has ink. */
  columns: Uint8Array;
  /** Rows of the topmost and bottommost ink; inkHeight 0 when the crop is blank. */
  top: number;
  inkHeight: number;
}

export function lineInk(crop: RgbImage, bg: [number, number, number]): LineInk {
  const { width, height, data } = crop;
  const mask = new Uint8Array(width * height);
  const columns = new Uint8Array(width);
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (Math.abs(data[i] - bg[0]) + Math.abs(data[i + 1] - bg[1]) + Math.abs(data[i + 2] - bg[2]) >= INK) {
        mask[y * width + x] = 1;
        columns[x] = 1;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  if (bottom < top) return { width, height, mask, columns, top, inkHeight: 0 };
  // the line is the tallest band of rows with ink; ink above or below a blank row is the edge of
  // the line above or below it, which DB's box may reach
  const rowInk = new Uint8Array(height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (mask[y * width + x]) rowInk[y] = 1;
  let bandTop = top;
  let bandBottom = top - 1;
  for (let y = top; y <= bottom; y++) {
    if (!rowInk[y]) continue;
    let end = y;
    while (end + 1 <= bottom && rowInk[end + 1]) end++;
    if (end - y > bandBottom - bandTop) [bandTop, bandBottom] = [y, end];
    y = end;
  }
  if (bandTop > top || bandBottom < bottom) {
    columns.fill(0);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (y < bandTop || y > bandBottom) mask[i] = 0;
        else if (mask[i]) columns[x] = 1;
      }
    }
  }
  return { width, height, mask, columns, top: bandTop, inkHeight: bandBottom - bandTop + 1 };
}

/** Ink box [x0, y0, x1, y1) inside columns [from, to), or null when those columns are blank. */
export function inkBox(ink: LineInk, from: number, to: number): [number, number, number, number] | null {
  let x0 = -1, x1 = -1, y0 = ink.height, y1 = -1;
  for (let x = Math.max(0, Math.floor(from)); x < Math.min(ink.width, Math.ceil(to)); x++) {
    if (!ink.columns[x]) continue;
    if (x0 < 0) x0 = x;
    x1 = x + 1;
    for (let y = 0; y < ink.height; y++) {
      if (ink.mask[y * ink.width + x]) {
        if (y < y0) y0 = y;
        if (y + 1 > y1) y1 = y + 1;
      }
    }
  }
  return x0 < 0 ? null : [x0, y0, x1, y1];
}

/** Runs of ink columns inside [from, to) as [start, end) pairs. */
export function inkRuns(ink: LineInk, from: number, to: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let x = Math.max(0, Math.floor(from)); x < Math.min(ink.width, Math.ceil(to)); x++) {
    if (!ink.columns[x]) continue;
    const last = runs[runs.length - 1];
    if (last && last[1] === x) last[1] = x + 1;
    else runs.push([x, x + 1]);
  }
  return runs;
}

export interface Glyph extends Emitted {
  /** Centre in crop pixels. */
  x: number;
  /** Ink in the middle of the span between the neighbouring characters' centres, or null. */
  box: [number, number, number, number] | null;
  /** Columns between the midpoints to the neighbouring characters' centres. */
  span: [number, number];
  /** Crop columns of the middle of its first and last CTC step. */
  steps: [number, number];
}

/**
 * Characters placed on the crop: CTC step t covers crop pixels [t, t + 1) * stepWidth. A glyph's box
 * is the ink of the middle of the span between its neighbours' centres (a step's position is only
 * good to about a step, and the ink near a neighbour belongs to the neighbour).
 */
export function placeGlyphs(chars: Emitted[], ink: LineInk, stepWidth: number): Glyph[] {
  const xs = chars.map((c) => ((c.first + c.last) / 2 + 0.5) * stepWidth);
  return chars.map((c, i) => {
    const left = i > 0 ? xs[i] - xs[i - 1] : stepWidth * 2;
    const right = i + 1 < xs.length ? xs[i + 1] - xs[i] : stepWidth * 2;
    return { ...c, x: xs[i], box: c.char === ' ' ? null : inkBox(ink, xs[i] - CORE * left, xs[i] + CORE * right), span: [xs[i] - left / 2, xs[i] + right / 2], steps: [(c.first + 0.5) * stepWidth, (c.last + 0.5) * stepWidth] };
  });
}

/** Share of the distance to each neighbour's centre that a glyph's box looks at. */
const CORE = 0.3;

export interface LineMetrics {
  /** Row below the ink of letters without descenders. */
  baseline: number;
  /** Top row of lowercase letters without ascenders (a, c, e, m, n, o, r, s, u, v, w, x, z). */
  xTop?: number;
  /** Top row of capitals and digits. */
  capTop?: number;
  /** Top row of the letters with ascenders (b d f h k l): within a pixel or so of the cap height. */
  ascTop?: number;
}

const X_HEIGHT = /^[acemnorsuvwxz]$/;
const CAP_HEIGHT = /^[A-Z0-9]$/;
const ASCENDER = /^[bdfhkl]$/;
const NO_DESCENDER = /^[a-fh-ik-oq-xzA-Z0-9]$/;
/** Only characters read at least this surely measure the line. */
const SURE = 0.9;

export function lineMetrics(glyphs: Glyph[]): LineMetrics | null {
  const sure = glyphs.filter((g) => g.box && g.p >= SURE);
  const bottoms = sure.filter((g) => NO_DESCENDER.test(g.char)).map((g) => g.box![3]);
  if (bottoms.length < 2) return null;
  const xTops = sure.filter((g) => X_HEIGHT.test(g.char)).map((g) => g.box![1]);
  const capTops = sure.filter((g) => CAP_HEIGHT.test(g.char)).map((g) => g.box![1]);
  const ascTops = sure.filter((g) => ASCENDER.test(g.char)).map((g) => g.box![1]);
  return { baseline: median(bottoms), xTop: xTops.length >= 2 ? median(xTops) : undefined, capTop: capTops.length >= 2 ? median(capTops) : undefined, ascTop: ascTops.length >= 2 ? median(ascTops) : undefined };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u;

/** Cells a character takes in a monospace terminal: 2 for East Asian wide and full-width forms. */
export function cellsOf(char: string): number {
  return WIDE.test(char) ? 2 : 1;
}

/** Longest run of blank columns inside [from, to). */
export function longestBlank(columns: Uint8Array, from: number, to: number): number {
  let best = 0;
  let run = 0;
  for (let x = Math.max(0, Math.floor(from)); x < Math.min(columns.length, Math.ceil(to)); x++) {
    run = columns[x] ? 0 : run + 1;
    if (run > best) best = run;
  }
  return best;
}
