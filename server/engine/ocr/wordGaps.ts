// Spaces the recogniser left out. PP-OCRv4's Chinese model often drops the space between Latin words
// ('Found 2errors', 'foradmin@example.com') and between Chinese and Latin text. The pixels still show
// the gap: a run of background columns between two characters, wider than letters ever leave inside a
// word, is a space. Characters are placed by their CTC steps (each step covers a fixed slice of the
// input width). Not inserted between two CJK characters (Chinese has no spaces), next to full-width
// punctuation (its glyph is half blank), after an opening or before a closing mark.

import type { RgbImage } from '../image';

/** A gap counts as a space when its blank run is at least this share of the ink height. */
const SPACE_SHARE = 0.35;
/** Next to ASCII punctuation (narrow glyphs with wide side bearings in monospace fonts): twice that. */
const PUNCT_FACTOR = 2;
/** Least colour distance (sum over R, G, B) from the background that counts as ink. */
const INK = 96;

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/u;
const WIDE_PUNCT = /[\u3000-\u303f\uff00-\uff65\u2014\u2026]/u;
const NO_SPACE_AFTER = new Set(['(', '[', '{', "'", '"', '/', '\\', '-', '@', '$', '#', '_', '.']);
const NO_SPACE_BEFORE = new Set([')', ']', '}', "'", '"', '.', ',', ':', ';', '!', '?', '/', '\\', '-', '@', '_', '%']);
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const DIGIT = /[0-9]/;

/**
 * `text` with spaces added where the crop shows a word gap between two characters. `steps` is each
 * character's first and last CTC step, `stepWidth` the crop pixels one step covers.
 */
export function addGapSpaces(text: string, steps: Array<[number, number]>, crop: RgbImage, stepWidth: number, background: [number, number, number]): string {
  const chars = [...text];
  if (chars.length !== steps.length || chars.length < 2) return text;
  const { ink, inkHeight } = inkColumns(crop, background);
  if (inkHeight === 0) return text;
  const minGap = Math.max(2, SPACE_SHARE * inkHeight);
  let out = chars[0];
  for (let i = 1; i < chars.length; i++) {
    const a = chars[i - 1];
    const b = chars[i];
    if (a !== ' ' && b !== ' ' && spaceAllowed(a, b)) {
      const from = Math.floor((steps[i - 1][1] + 0.5) * stepWidth);
      const to = Math.ceil((steps[i][0] + 0.5) * stepWidth);
      const punct = !LETTER_OR_DIGIT.test(a) || !LETTER_OR_DIGIT.test(b);
      if (longestBlank(ink, from, to) >= minGap * (punct ? PUNCT_FACTOR : 1)) out += ' ';
    }
    out += b;
  }
  return out;
}

function spaceAllowed(a: string, b: string): boolean {
  if (CJK.test(a) && CJK.test(b)) return false;
  // '23:18', '(42,17)': punctuation between digits keeps no space
  if ((DIGIT.test(a) && !LETTER_OR_DIGIT.test(b)) || (DIGIT.test(b) && !LETTER_OR_DIGIT.test(a))) return false;
  if (WIDE_PUNCT.test(a) || WIDE_PUNCT.test(b)) return false;
  return !NO_SPACE_AFTER.has(a) && !NO_SPACE_BEFORE.has(b);
}

function inkColumns(crop: RgbImage, bg: [number, number, number]): { ink: Uint8Array; inkHeight: number } {
  const ink = new Uint8Array(crop.width);
  let top = crop.height;
  let bottom = -1;
  for (let y = 0; y < crop.height; y++) {
    for (let x = 0; x < crop.width; x++) {
      const i = (y * crop.width + x) * 3;
      const d = Math.abs(crop.data[i] - bg[0]) + Math.abs(crop.data[i + 1] - bg[1]) + Math.abs(crop.data[i + 2] - bg[2]);
      if (d >= INK) {
        ink[x] = 1;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  return { ink, inkHeight: bottom >= top ? bottom - top + 1 : 0 };
}

function longestBlank(ink: Uint8Array, from: number, to: number): number {
  let best = 0;
  let run = 0;
  for (let x = Math.max(0, from); x < Math.min(ink.length, to); x++) {
    run = ink[x] ? 0 : run + 1;
    if (run > best) best = run;
  }
  return best;
}
