// Numbers read with letters in them: '1000' read 'l000', '1ooo' or 'looo', '100' read 'loo',
// '2026-11' read '2026-1l'. A run of letters and digits (a token) made only of digits and their
// look-alikes (o O for 0, l I | for 1) is a number when it holds a digit, or an o as tall as a digit
// (a letter o is x-height tall; 0 and O are cap-height tall, and a capital O between l's is no word).
// Its look-alikes then become digits. Its o's must all be tall: 'lo' or '1o' with a small o is text.

import type { Glyph, LineMetrics } from './lineInk';

const DIGIT = /^[0-9]$/;
const LOOKALIKE: Record<string, string> = { o: '0', O: '0', l: '1', I: '1', '|': '1' };
const TOKEN = /^[A-Za-z0-9|]$/;

export function digitRuns(glyphs: Glyph[], m: LineMetrics | null): void {
  let start = 0;
  for (let i = 0; i <= glyphs.length; i++) {
    if (i < glyphs.length && TOKEN.test(glyphs[i].char)) continue;
    if (i - start >= 2) numberRun(glyphs.slice(start, i), m);
    start = i + 1;
  }
}

function numberRun(run: Glyph[], m: LineMetrics | null): void {
  if (!run.every((g) => DIGIT.test(g.char) || LOOKALIKE[g.char] !== undefined)) return;
  const os = run.filter((g) => g.char === 'o' || g.char === 'O');
  const tall = os.map((g) => isTall(g, m));
  if (tall.some((t) => t !== true)) return;
  if (!run.some((g) => DIGIT.test(g.char)) && os.length === 0) return;
  for (const g of run) g.char = LOOKALIKE[g.char] ?? g.char;
}

/** Whether an o's ink reaches clearly above the x-height (true), stays at it (false), or unknown (null). */
function isTall(g: Glyph, m: LineMetrics | null): boolean | null {
  if (!g.box || !m || m.xTop === undefined) return null;
  const xHeight = m.baseline - m.xTop;
  if (xHeight < 3) return null;
  return g.box[1] < m.xTop - 0.25 * xHeight;
}
