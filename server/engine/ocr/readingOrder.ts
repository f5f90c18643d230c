// Recognised boxes -> lines in reading order: boxes whose vertical extents overlap by more than half
// the smaller height share a row; rows go top to bottom, boxes left to right; neighbours in a row that
// are closer than a line height are one line (DB splits a line at wide spaces), farther ones (table
// columns, a label and its value) stay separate lines of the same row. A line number in an editor's
// gutter is its own line, never joined to the code beside it (see gutterNumbers).

import type { Box } from './textDetection';
import { CJK as IDEOGRAPH } from './fullWidth';

export interface OcrLine {
  text: string;
  /** [x0, y0, x1, y1] in the original image's pixels. */
  box: Box;
  confidence: number;
}

/** Gap (in row heights) below which two boxes of a row are parts of one line. */
const JOIN_GAP = 1.0;
const ROW_OVERLAP = 0.5;
/** A digit run leading its row and ending within this many row heights of two others' ends is a column. */
const COLUMN_ALIGN = 0.5;
/** A leading digit run this many row heights (about two monospace cells) before the next part stands apart. */
const NUMBER_GAP = 0.6;
const DIGITS = /^[0-9]+$/;

export function inReadingOrder(parts: OcrLine[]): OcrLine[] {
  const rows: OcrLine[][] = [];
  const extents: [number, number][] = [];
  for (const part of [...parts].sort((a, b) => a.box[1] + a.box[3] - (b.box[1] + b.box[3]))) {
    const [, y0, , y1] = part.box;
    let row = -1;
    for (let r = rows.length - 1; r >= 0 && r >= rows.length - 3; r--) {
      const [ry0, ry1] = extents[r];
      const overlap = Math.min(y1, ry1) - Math.max(y0, ry0);
      if (overlap > ROW_OVERLAP * Math.min(y1 - y0, ry1 - ry0)) {
        row = r;
        break;
      }
    }
    if (row < 0) {
      rows.push([part]);
      extents.push([y0, y1]);
    } else {
      rows[row].push(part);
      extents[row] = [Math.min(extents[row][0], y0), Math.max(extents[row][1], y1)];
    }
  }
  const sorted = rows.map((row) => row.sort((a, b) => a.box[0] - b.box[0]));
  const gutter = gutterNumbers(sorted);
  return sorted.flatMap((row) => joinRow(row, gutter));
}

/**
 * Parts that are line numbers in a gutter: a digit run that leads its row, has more text to its right,
 * and either ends (right-aligned, as editors draw them) within half a row height of two other such
 * runs' ends, or stands more than NUMBER_GAP row heights before the next part, wider than the word
 * gap the detector keeps inside a line. Joined, they make `3 // Retry` of `// Retry`.
 */
function gutterNumbers(rows: OcrLine[][]): Set<OcrLine> {
  const leading = rows.filter((row) => row.length > 1 && DIGITS.test(row[0].text));
  const gutter = new Set<OcrLine>();
  for (const row of leading) {
    const [number, next] = row;
    const height = number.box[3] - number.box[1];
    const aligned = leading.filter((other) => other !== row && Math.abs(other[0].box[2] - number.box[2]) <= COLUMN_ALIGN * height).length >= 2;
    if (aligned || next.box[0] - number.box[2] > NUMBER_GAP * height) gutter.add(number);
  }
  return gutter;
}

function joinRow(row: OcrLine[], gutter: Set<OcrLine>): OcrLine[] {
  const lines: OcrLine[] = [];
  for (const part of row) {
    const last = lines[lines.length - 1];
    const height = Math.min(part.box[3] - part.box[1], last ? last.box[3] - last.box[1] : Infinity);
    const afterNumber = lines.length === 1 && gutter.has(row[0]);
    if (last && !afterNumber && part.box[0] - last.box[2] < JOIN_GAP * height) {
      const n = last.text.length;
      const m = part.text.length;
      last.confidence = (last.confidence * n + part.confidence * m) / Math.max(1, n + m);
      last.text = joinText(last.text, withoutOverlap(last, part));
      last.box = [Math.min(last.box[0], part.box[0]), Math.min(last.box[1], part.box[1]), Math.max(last.box[2], part.box[2]), Math.max(last.box[3], part.box[3])];
    } else {
      lines.push({ ...part, box: [...part.box] });
    }
  }
  return lines;
}

const CJK = /[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]/u;

/**
 * The text of `part` less what `last` already read: DB can split a long line into boxes that overlap
 * by a character or two, and both read it ('Property' + 'y 'userId'' for "Property 'userId'"). The
 * overlap's width in `last`'s mean character advance says how many characters may be doubled; they
 * are dropped when `last` ends with what `part` starts with.
 */
function withoutOverlap(last: OcrLine, part: OcrLine): string {
  const overlap = last.box[2] - part.box[0];
  const chars = [...last.text];
  if (overlap <= 0 || chars.length === 0) return part.text;
  const advance = (last.box[2] - last.box[0]) / chars.length;
  const most = Math.max(1, Math.round(overlap / advance));
  const head = [...part.text];
  for (let k = Math.min(most, head.length - 1); k >= 1; k--) {
    if (head.slice(0, k).join('') === chars.slice(-k).join('') && head[k] === ' ') return head.slice(k + 1).join('');
  }
  return part.text;
}

/** A space between the parts, except between two CJK characters (no spaces in Chinese text). */
function joinText(a: string, b: string): string {
  return CJK.test(a.slice(-1)) && CJK.test(b.slice(0, 1)) ? a + b : `${a} ${b}`;
}

/**
 * NFKC (full-width ASCII and parentheses to their ASCII forms), typographic quotes to ASCII ones (the
 * recogniser writes ‘ and “ for the straight quotes of code and paths far more often than screens
 * show curly ones) except where the quote's outer side touches Chinese text, whose quotation marks
 * are the curly ones (找不到名称“client”。, 已声明“retries”，但), and runs of whitespace to one space.
 * The quotes are decided before NFKC, which would turn the full-width comma after one into ','.
 */
export function normaliseText(text: string): string {
  const chars = [...text];
  // Chinese on one side: a CJK character or full-width sentence punctuation, or sentence punctuation read as
  // ASCII with a CJK character beyond it (Chinese punctuation, as the word-gap rules treat it)
  const chinese = (i: number, step: 1 | -1) => {
    const c = chars[i];
    if (c === undefined) return false;
    return CHINESE.test(c) || FULL_WIDTH_PUNCT.test(c) || (/^[,.:;!?]$/.test(c) && IDEOGRAPH.test(chars[i + step] ?? ''));
  };
  return chars
    .map((q, i) => {
      if (!/[‘’‚‛′“”„‟″]/.test(q)) return q;
      const opening = q === '‘' || q === '“';
      const closing = q === '’' || q === '”';
      if ((opening && chinese(i - 1, -1)) || (closing && chinese(i + 1, 1))) return q;
      return /[‘’‚‛′]/.test(q) ? "'" : '"';
    })
    .join('')
    .normalize('NFKC')
    .replace(/\s+/g, ' ')
    .trim();
}

/** CJK ideographs and CJK punctuation (after NFKC: 。、「」 and the like stay, full-width ASCII does not). */
const CHINESE = /[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff]/u;
/**
 * Full-width sentence punctuation (！，．：；？), which NFKC folds to ASCII. Not brackets: code in
 * Chinese text keeps straight quotes before one ('lodash'（位于 ...).
 */
const FULL_WIDTH_PUNCT = /[\uff01\uff0c\uff0e\uff1a\uff1b\uff1f]/u;
