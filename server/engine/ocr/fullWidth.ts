// Which punctuation on a line is full-width (drawn on a whole em cell, as Chinese text sets it). A
// full-width mark carries its own blank inside its cell (a comma's ink sits at the left of the em, an
// opening bracket's at the right), and Chinese typesetting puts no space beside it: that blank is
// never a word gap. The recogniser's choice between '，' and ',' is unreliable both ways, so the ink
// decides where it can:
// - a mark the recogniser read full-width is one only next to Chinese text; between two Latin
//   characters ('ts(2304）[行') it is the ASCII mark;
// - a bracket beside a Chinese character, read either way, is full-width when the blank on its inner
//   side (towards the text it encloses) is a good part of an em: an ASCII bracket hugs its text.

import type { Glyph } from './lineInk';
import { longestBlank, median } from './lineInk';

export const CJK = /[\u3400-\u9fff\uf900-\ufaff]/u;
export const WIDE_PUNCT = /[\u3000-\u303f\uff00-\uff65\u2014\u2026]/u;
const OPENING = /^[([{（［｛]$/u;
const CLOSING = /^[)\]}）］｝]$/u;
/** An ASCII bracket hugs its text: a blank of at least this share of an em inside it is a full-width one's. */
const INNER_BLANK = 0.22;
/** CJK ideographs' ink is about this share of the em high. */
const CJK_INK_EM = 0.92;

/** The em in crop pixels from the ink height of the line's CJK glyphs, or null when it has none. */
export function cjkEm(chars: Glyph[]): number | null {
  const heights = chars.filter((g) => g.box && CJK.test(g.char) && g.char !== '一').map((g) => g.box![3] - g.box![1]);
  return heights.length ? median(heights) / CJK_INK_EM : null;
}

/** Per non-space glyph: whether it is full-width punctuation (see the file comment). */
export function fullWidthMarks(chars: Glyph[], columns: Uint8Array, em: number | null): boolean[] {
  const chinese = (i: number) => i >= 0 && i < chars.length && CJK.test(chars[i].char);
  return chars.map((g, i) => {
    const c = g.char;
    if (em !== null && (OPENING.test(c) || CLOSING.test(c)) && (chinese(i - 1) || chinese(i + 1))) return wideBracket(chars, i, columns, em);
    if (WIDE_PUNCT.test(c)) {
      // 。、「」 stay wide whatever surrounds them; a full-width ASCII form needs Chinese beside it
      return !/^[\x21-\x7e]$/.test(c.normalize('NFKC')) || chinese(i - 1) || chinese(i + 1) || CJK.test(c);
    }
    return false;
  });
}

/**
 * A bracket beside Chinese text is full-width when the blank on its inner side is a good part of an em
 * (measured on the set's CJK fonts at 0.8-1.25x: 0.25-0.38 em for a full-width one, at most 0.18 em for
 * an ASCII one); with nothing inside it on the line, as the recogniser read it.
 */
function wideBracket(chars: Glyph[], i: number, columns: Uint8Array, em: number): boolean {
  const g = chars[i];
  const inner = OPENING.test(g.char) ? chars[i + 1] : chars[i - 1];
  if (!inner) return WIDE_PUNCT.test(g.char);
  return longestBlank(columns, Math.min(g.x, inner.x), Math.max(g.x, inner.x)) >= INNER_BLANK * em;
}

/** Sentence punctuation beside a CJK character is Chinese punctuation read as ASCII: never a space. */
export function cjkPunctuation(a: string, b: string): boolean {
  return (CJK.test(a) && /^[,.:;!?)\]]$/.test(b)) || (CJK.test(b) && /^[,.:;!?([]$/.test(a));
}
