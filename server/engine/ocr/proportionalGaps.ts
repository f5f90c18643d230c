// Spaces on a proportional line (wordGaps.ts decides which lines are monospace): a run of background
// columns between two characters, wider than letters leave inside a word, is a space. How wide depends
// on the pair: narrow punctuation and brackets have wide side bearings, CJK glyphs nearly fill their em,
// thin stems (l, i, 1) have the widest bearings of the letters, and the line's own read word gaps show
// what a space is on it. Spaces the recogniser read stay unless the pixels leave no room for one or
// they sit beside full-width punctuation (fullWidth.ts), which carries its own blank. Not after an
// opening or before a closing mark, nor inside '2.4.1' or '23:18'.

import type { Glyph, LineInk } from './lineInk';
import { longestBlank, median } from './lineInk';
import { CJK, cjkEm, cjkPunctuation, fullWidthMarks, WIDE_PUNCT } from './fullWidth';

/** A gap counts as a space when its blank run is at least this share of the ink height. */
const SPACE_SHARE = 0.35;
/** Next to ASCII punctuation (narrow glyphs with wide side bearings): this times that. */
const PUNCT_FACTOR = 2;
/**
 * Between a Latin letter and a CJK character: this times that; between a digit and one, CJK_DIGIT
 * (measured: without a space at most 0.25 of the ink height, with one from 0.27; 0.75 x 0.35 splits them).
 */
const CJK_LATIN = 0.6;
const CJK_DIGIT = 0.75;
/** Between two letters (or a letter and a digit), neither a thin stem: this times that. */
const LETTER_FACTOR = 0.78;
/**
 * Between two CJK characters (whose ink nearly fills the em, no-space blanks measured up to 0.3 em) a
 * blank of half an em is a space, as a terminal or a log view leaves between Chinese words ('用户 登录').
 */
const CJK_SPACE = 0.5;
/** Narrow punctuation and brackets: wide side bearings. */
const NARROW = /^[.,:;!?()[\]{}]$/;
const THIN_STEM = /^[ilIj1]$/;
/** A read space with a blank under this share of the ink height has no room on the screen. */
const NO_ROOM = 0.15;
/** Blank after a full-width comma, colon or period before the next character, as a share of the em. */
const FULL_WIDTH_BLANK = 0.5;
/** lineWordGap needs this many read word gaps and touching letter pairs. */
const MIN_WORD_GAPS = 2;
/** lineWordGap: its threshold is at least this share of the median read word gap, which is at least this share of SPACE_SHARE's. */
const WORD_SHARE = 0.75;

const NO_SPACE_AFTER = new Set(['(', '[', '{', '/', '\\', '-', '@', '#', '_']);
const NO_SPACE_BEFORE = new Set([')', ']', '}', '.', ',', ':', ';', '!', '?', '/', '\\', '-', '@', '_', '%']);
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
const DIGIT = /[0-9]/;

export function proportionalText(glyphs: Glyph[], ink: LineInk): string {
  const minGap = Math.max(2, SPACE_SHARE * ink.inkHeight);
  const chars = glyphs.filter((g) => g.char !== ' ');
  // a space the recogniser read before chars[i]
  const read = chars.map(() => false);
  let k = 0;
  for (const g of glyphs) {
    if (g.char === ' ') read[k] = k > 0;
    else k++;
  }
  const em = cjkEm(chars);
  const wide = fullWidthMarks(chars, ink.columns, em);
  // for the rules below a mark that is not full-width is its ASCII form
  const form = chars.map((g, i) => (wide[i] ? g.char : g.char.normalize('NFKC')));
  const wordGap = lineWordGap(chars, form, read, ink, minGap);
  let out = chars[0].char;
  for (let i = 1; i < chars.length; i++) {
    const a = chars[i - 1];
    const b = chars[i];
    const [ca, cb] = [form[i - 1], form[i]];
    const space = read[i]
      ? keepReadSpace(a, b, form[i - 2] ?? '', ca, cb, wide[i - 1] || wide[i], ink, em)
      : CJK.test(ca) && CJK.test(cb)
        ? em !== null && longestBlank(ink.columns, a.x, b.x) >= CJK_SPACE * em
        : !wide[i - 1] && !wide[i] && spaceAllowed(form[i - 2] ?? '', ca, cb) && gapBlank(a, b, ink) >= gapNeeded(ca, cb, minGap, wordGap);
    out += (space ? ' ' : '') + b.char;
  }
  return out;
}

/** Blank columns between two neighbours' CTC steps (the last step of a, the first of b). */
function gapBlank(a: Glyph, b: Glyph, ink: LineInk): number {
  return longestBlank(ink.columns, Math.floor(a.steps[1]), Math.ceil(b.steps[0]));
}

/**
 * Blank needed between two neighbours for a space. Narrow punctuation and brackets have wide side
 * bearings (and are centred in their cells in a monospace font), so beside one a gap must be
 * PUNCT_FACTOR times as wide, or half of that extra beside a CJK glyph, whose ink nearly fills its em;
 * except where their bearings are ordinary: sentence punctuation before a word or a symbol ('Status: #4821'),
 * a bracket after one, a closing bracket before one, two brackets facing each other ('ts(2304) [Ln 4').
 * Other symbols ('#', '>', '·', quotes) have ordinary bearings. Two letters (not thin stems) need only
 * LETTER_FACTOR of it: measured on the rendered sets, their no-space blank is at most 0.25 of the ink
 * height and a word gap at least 0.27 ('View logs' at 0.8x). Between Latin and CJK text the no-space blank is only
 * the two glyphs' thin bearings, so less is needed (CJK_LATIN; a digit's bearings are wider, CJK_DIGIT;
 * a thin stem's the widest: '2026年12月1日' keeps the ordinary threshold).
 * Between letters and digits the line's own word gaps may say less is needed (lineWordGap), except
 * beside a thin stem (l, i, I, 1, j), whose side bearings are the widest of the letters ('all').
 */
function gapNeeded(a: string, b: string, minGap: number, wordGap: number): number {
  const word = (c: string) => LETTER_OR_DIGIT.test(c);
  const ordinary = (c: string) => !NARROW.test(c) && !WIDE_PUNCT.test(c);
  const sentence = (/^[.,:;!?]$/.test(a) && ordinary(b)) || (/^[([]$/.test(b) && ordinary(a)) || (/^[)\]]$/.test(a) && (ordinary(b) || /^[([]$/.test(b)));
  const cjk = CJK.test(a) || CJK.test(b);
  if (!sentence && (NARROW.test(a) || NARROW.test(b))) return minGap * (cjk ? (1 + PUNCT_FACTOR) / 2 : PUNCT_FACTOR);
  if (cjk && !(CJK.test(a) && CJK.test(b)) && word(a) && word(b) && !THIN_STEM.test(a) && !THIN_STEM.test(b)) return minGap * (DIGIT.test(a) || DIGIT.test(b) ? CJK_DIGIT : CJK_LATIN);
  if (cjk || sentence || !word(a) || !word(b) || THIN_STEM.test(a) || THIN_STEM.test(b)) return minGap;
  // two letters, or a letter and a digit: thin bearings on both sides (digits among themselves are tabular)
  return Math.min(DIGIT.test(a) && DIGIT.test(b) ? minGap : LETTER_FACTOR * minGap, wordGap);
}

/**
 * A space the recogniser read stays unless the pixels leave no room for one (a blank under
 * NO_ROOM of the ink height: '/ /' for '//'), or it sits beside full-width punctuation, or beside
 * sentence punctuation that is Chinese by its place (cjkPunctuation, or right after a CJK character)
 * and whose blank is as wide as a full-width mark's own (an ASCII comma and a space leave less).
 */
function keepReadSpace(a: Glyph, b: Glyph, prev: string, ca: string, cb: string, wide: boolean, ink: LineInk, em: number | null): boolean {
  const blank = longestBlank(ink.columns, a.x, b.x);
  if (blank < NO_ROOM * ink.inkHeight || wide) return false;
  // sentence punctuation right after a CJK character is Chinese too ('文件为空：${path}')
  const chinese = cjkPunctuation(ca, cb) || (CJK.test(prev) && /^[,.:;!?]$/.test(ca));
  return !(chinese && em !== null && blank >= FULL_WIDTH_BLANK * em);
}

/**
 * The blank that makes a space between two letters or digits on this line, when the line's own gaps
 * show it: the recogniser reads most spaces, so the blanks at the spaces it read between letters and
 * digits, against the blanks between the letters it read as touching, place the threshold (halfway,
 * and at least WORD_SHARE of a read word gap). Small text in JPEG leaves a word gap narrower than
 * SPACE_SHARE of the ink height ('foradmin@example.com'); Infinity when the line does not show it.
 */
function lineWordGap(chars: Glyph[], form: string[], read: boolean[], ink: LineInk, minGap: number): number {
  const words: number[] = [];
  const letters: number[] = [];
  for (let i = 1; i < chars.length; i++) {
    if (!LETTER_OR_DIGIT.test(form[i - 1]) || !LETTER_OR_DIGIT.test(form[i]) || CJK.test(form[i - 1]) || CJK.test(form[i])) continue;
    if (read[i]) words.push(longestBlank(ink.columns, chars[i - 1].x, chars[i].x));
    else letters.push(gapBlank(chars[i - 1], chars[i], ink));
  }
  if (words.length < MIN_WORD_GAPS || letters.length < MIN_WORD_GAPS) return Infinity;
  const word = median(words);
  const letter = median(letters);
  if (word < minGap * WORD_SHARE || word <= letter + 1) return Infinity;
  return Math.max((word + letter) / 2, WORD_SHARE * word);
}

/** Whether a space may go between a and b (prev: the character before a, '' at the start). */
function spaceAllowed(prev: string, a: string, b: string): boolean {
  if (cjkPunctuation(a, b)) return false;
  if (CJK.test(a) && CJK.test(b)) return false;
  // '2.4.1', '23:18': a point or colon between digits keeps no space (after a comma between digits
  // the gap decides: '1,024' against 'Dec 3, 2026')
  if (/^[.:]$/.test(a) && DIGIT.test(prev) && DIGIT.test(b)) return false;
  if (WIDE_PUNCT.test(a) || WIDE_PUNCT.test(b)) return false;
  // a path goes on in Latin letters: a slash before a Chinese character ends a comment marker ('// 上传')
  if (a === '/' && CJK.test(b)) return true;
  return !NO_SPACE_AFTER.has(a) && !NO_SPACE_BEFORE.has(b);
}
