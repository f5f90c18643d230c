// Straight or curly double quotes, decided per pair. Quotation marks come in pairs of one style: an
// opening “ is closed by ”, a straight " by ". PP-OCRv4 reads the curly marks of Chinese text as
// straight ones most of the time ('找不到名称"client"'), and at small sizes the ink of one mark
// alone says little (three rows of pixels), so the evidence of both marks of a pair is added up:
// the comma shape of the ink (markShapes.ts curlyEvidence: +1 curly, -1 straight), and the
// recogniser's own reading (+1 when it read a curly mark, +0.5 when a curly one was its runner-up).
// A pair with more curly than straight evidence is “ ”, one with more straight evidence is " ".
// Which is opening and which closing follows from the order. The pair is of one kind too: double if
// either mark shows two strokes (glyphShapes.ts counts them; a curly pair's commas may touch), else
// single (the recogniser reads many a ' as "). (Straight quotes read curly in Latin
// text are folded back by readingOrder.ts normaliseText; what matters here is Chinese text, where
// “” are the quotation marks of the standard, GB/T 15834.)

import type { Glyph, LineInk, LineMetrics } from './lineInk';
import { curlyEvidence, markColumns, markFloor, markShape } from './markShapes';

const DOUBLE = new Set(['"', '“', '”', '″', '„', '‟']);
const CURLY = new Set(['“', '”', '„', '‟', '‘', '’']);
const LATIN = /^[A-Za-z]$/;
/** A runner-up at least this likely counts as half a vote. */
const RUNNER_UP = 0.15;

/**
 * Sets the style of the double quotes in `glyphs`. `read` is what the recogniser read for each glyph,
 * before the shape rules (which may have named a double mark single since: a curly pair's commas
 * touch at small sizes).
 */
export function pairDoubleQuotes(glyphs: Glyph[], read: string[], ink: LineInk, m: LineMetrics | null): void {
  // a line of Chinese text alone has no Latin heights: a mark then ends above the middle of the ink
  const floor = (m && markFloor(m)) ?? ink.top + ink.inkHeight / 2;
  // a mark between two Latin letters is an apostrophe ("user's"), not a quotation mark
  const inWord = (i: number) => LATIN.test(glyphs[i - 1]?.char ?? '') && LATIN.test(glyphs[i + 1]?.char ?? '');
  const marks = glyphs.map((g, i) => i).filter((i) => DOUBLE.has(read[i]) && glyphs[i].box && !inWord(i));
  for (let k = 0; k + 1 < marks.length; k += 2) {
    const pair = [glyphs[marks[k]], glyphs[marks[k + 1]]];
    let evidence = 0;
    for (const i of [marks[k], marks[k + 1]]) {
      const g = glyphs[i];
      const [from, to] = markColumns(g, read[i]);
      const shape = markShape(ink, from, to, floor);
      if (shape) evidence += curlyEvidence(shape);
      if (CURLY.has(read[i])) evidence += 1;
      else if (CURLY.has(g.alt) && g.altP >= RUNNER_UP) evidence += 0.5;
    }
    // one kind for both: double when either mark shows two strokes (or is still read double)
    const double = pair.some((g) => DOUBLE.has(g.char));
    if (evidence > 0) [pair[0].char, pair[1].char] = double ? ['“', '”'] : ['‘', '’'];
    else if (evidence < 0) [pair[0].char, pair[1].char] = double ? ['"', '"'] : ["'", "'"];
  }
}
