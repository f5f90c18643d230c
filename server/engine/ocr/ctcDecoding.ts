// Greedy CTC decoding with the runner-up kept for each character, and a few consistency rules that
// apply only where the model itself hesitates (runner-up at least AMBIGUOUS): PP-OCRv4's Chinese
// recogniser, reading code and file names, confuses 1/l, 0/o and letter case when the two are nearly
// tied (measured on the rendered test set: '2026-1l.csv' with l 0.61 vs 1 0.39, 'Ts2339' with s 0.70
// vs S 0.27). The rules never touch a confident character.

export interface Recognised {
  text: string;
  confidence: number;
  /** Per character of text: the first and last CTC step it was read at. */
  steps?: Array<[number, number]>;
  /** Per character of text: what was read, with the runner-up (for the shape checks of glyphShapes.ts). */
  chars?: Emitted[];
}

export interface Emitted {
  first: number;
  last: number;
  char: string;
  p: number;
  alt: string;
  altP: number;
}

/** The runner-up must have at least this probability for a rule to pick it. */
const AMBIGUOUS = 0.15;

export function ctcGreedy(probs: Float32Array, steps: number, classes: number, dictionary: string[]): Recognised {
  const emitted: Emitted[] = [];
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    let second = -1;
    for (let k = 1; k < classes; k++) {
      if (probs[row + k] > probs[row + best]) {
        second = best;
        best = k;
      } else if (second < 0 || probs[row + k] > probs[row + second]) second = k;
    }
    if (best !== 0 && best !== previous) {
      emitted.push({ first: t, last: t, char: dictionary[best] ?? '', p: probs[row + best], alt: second > 0 ? dictionary[second] ?? '' : '', altP: second > 0 ? probs[row + second] : 0 });
    } else if (best !== 0 && emitted.length) emitted[emitted.length - 1].last = t;
    previous = best;
  }
  const chars = resolveAmbiguities(emitted);
  const confidence = emitted.length ? emitted.reduce((s, e) => s + e.p, 0) / emitted.length : 0;
  return { text: chars.join(''), confidence, steps: emitted.map((e) => [e.first, e.last]), chars: emitted.map((e, i) => (chars[i] === e.char ? e : { ...e, char: chars[i], alt: e.char, altP: e.p })) };
}

const DIGIT = /^[0-9]$/;
const LETTER = /^[A-Za-z]$/;
const LOOKALIKE_DIGIT: Record<string, string> = { l: '1', I: '1', '|': '1', o: '0', O: '0' };
const QUOTES = new Set(["'", '"']);

function resolveAmbiguities(e: Emitted[]): string[] {
  const out = e.map((x) => x.char);
  for (let i = 0; i < e.length; i++) {
    const { char, alt, altP } = e[i];
    if (altP < AMBIGUOUS) continue;
    const before = out[i - 1] ?? '';
    const after = out[i + 1] ?? '';
    // 1 or l (0 or o): a digit's neighbours decide, when no letter touches it
    if (LOOKALIKE_DIGIT[char] === alt && (DIGIT.test(before) || DIGIT.test(after)) && !LETTER.test(before) && !LETTER.test(after)) out[i] = alt;
    else if (LOOKALIKE_DIGIT[alt] === char && (LETTER.test(before) || LETTER.test(after)) && !DIGIT.test(before) && !DIGIT.test(after)) out[i] = alt;
    // letter case: one not followed by a letter takes the case of the letter before it ('TS2339', 'csv')
    else if (LETTER.test(char) && alt === swapCase(char) && LETTER.test(before) && !LETTER.test(after)) out[i] = isUpper(before) ? char.toUpperCase() : char.toLowerCase();
    // ' or ": the kind of the quote that opened earlier on the line
    else if (QUOTES.has(char) && QUOTES.has(alt)) {
      const opened = out.slice(0, i).reverse().find((c) => QUOTES.has(c));
      if (opened) out[i] = opened;
    }
  }
  return out;
}

function swapCase(c: string): string {
  return isUpper(c) ? c.toLowerCase() : c.toUpperCase();
}

function isUpper(c: string): boolean {
  return c !== c.toLowerCase();
}
