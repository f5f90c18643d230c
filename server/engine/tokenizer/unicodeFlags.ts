// Per-codepoint character classes as llama.cpp's pre-tokenizers see them (src/unicode.h flags):
// one general-category group (from the Unicode tables of this Node's ICU) plus White_Space.
// llama.cpp generates the same flags from UnicodeData.txt; test/unit/tokenizer/unicodeFlags.test.ts
// compares every codepoint with the table in the bundled llama.cpp tree.

export const UNDEFINED = 0x0001;
export const NUMBER = 0x0002;
export const LETTER = 0x0004;
export const SEPARATOR = 0x0008;
export const MARK = 0x0010;
export const PUNCTUATION = 0x0020;
export const SYMBOL = 0x0040;
export const CONTROL = 0x0080;
export const CATEGORY_MASK = 0x00ff;
export const WHITESPACE = 0x0100;

const COMPUTED = 0x8000;
const MAX_CODEPOINT = 0x10ffff;

const CATEGORY_TESTS: Array<[RegExp, number]> = [
  [/^\p{L}$/u, LETTER],
  [/^\p{N}$/u, NUMBER],
  [/^\p{P}$/u, PUNCTUATION],
  [/^\p{S}$/u, SYMBOL],
  [/^\p{M}$/u, MARK],
  [/^\p{Z}$/u, SEPARATOR],
  [/^\p{Cn}$/u, UNDEFINED],
  [/^\p{C}$/u, CONTROL],
];
const WHITE_SPACE = /^\p{White_Space}$/u;

/**
 * Codepoints this Node's Unicode assigns but llama.cpp's tables (an older Unicode) do not: llama.cpp
 * treats them as unassigned, so we do too. Measured against the bundled tree's src/unicode-data.cpp by
 * test/unit/tokenizer/unicodeFlags.test.ts, which fails if either side's Unicode version moves.
 */
const NEWER_THAN_LLAMA_CPP: ReadonlyArray<readonly [number, number]> = [
  [0x88f, 0x88f], [0x897, 0x897], [0xc5c, 0xc5c], [0xcdc, 0xcdc], [0x1acf, 0x1add], [0x1ae0, 0x1aeb], [0x1b4e,
  0x1b4f], [0x1b7f, 0x1b7f], [0x1c89, 0x1c8a], [0x20c1, 0x20c1], [0x2427, 0x2429], [0x2b96, 0x2b96], [0x31e4,
  0x31e5], [0xa7cb, 0xa7cf], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4], [0xa7da, 0xa7dc], [0xa7f1, 0xa7f1], [0xfbc3,
  0xfbd2], [0xfd90, 0xfd91], [0xfdc8, 0xfdce], [0x105c0, 0x105f3], [0x10940, 0x10959], [0x10d40, 0x10d65], [0x10d69,
  0x10d85], [0x10d8e, 0x10d8f], [0x10ec2, 0x10ec7], [0x10ed0, 0x10ed8], [0x10efa, 0x10efc], [0x11380, 0x11389],
  [0x1138b, 0x1138b], [0x1138e, 0x1138e], [0x11390, 0x113b5], [0x113b7, 0x113c0], [0x113c2, 0x113c2], [0x113c5,
  0x113c5], [0x113c7, 0x113ca], [0x113cc, 0x113d5], [0x113d7, 0x113d8], [0x113e1, 0x113e2], [0x116d0, 0x116e3],
  [0x11b60, 0x11b67], [0x11bc0, 0x11be1], [0x11bf0, 0x11bf9], [0x11db0, 0x11ddb], [0x11de0, 0x11de9], [0x11f5a,
  0x11f5a], [0x13460, 0x143fa], [0x16100, 0x16139], [0x16d40, 0x16d79], [0x16ea0, 0x16eb8], [0x16ebb, 0x16ed3],
  [0x16ff2, 0x16ff6], [0x187f8, 0x187ff], [0x18cff, 0x18cff], [0x18d09, 0x18d1e], [0x18d80, 0x18df2], [0x1cc00,
  0x1ccfc], [0x1cd00, 0x1ceb3], [0x1ceba, 0x1ced0], [0x1cee0, 0x1cef0], [0x1e5d0, 0x1e5fa], [0x1e5ff, 0x1e5ff],
  [0x1e6c0, 0x1e6de], [0x1e6e0, 0x1e6f5], [0x1e6fe, 0x1e6ff], [0x1f6d8, 0x1f6d8], [0x1f777, 0x1f77a], [0x1f8b2,
  0x1f8bb], [0x1f8c0, 0x1f8c1], [0x1f8d0, 0x1f8d8], [0x1fa54, 0x1fa57], [0x1fa89, 0x1fa8a], [0x1fa8e, 0x1fa8f],
  [0x1fabe, 0x1fabe], [0x1fac6, 0x1fac6], [0x1fac8, 0x1fac8], [0x1facd, 0x1facd], [0x1fadc, 0x1fadc], [0x1fadf,
  0x1fadf], [0x1fae9, 0x1faea], [0x1faef, 0x1faef], [0x1fbcb, 0x1fbef], [0x1fbfa, 0x1fbfa], [0x2b73a, 0x2b73f],
  [0x2cea2, 0x2cead], [0x323b0, 0x33479]
];

function newerThanLlamaCpp(cp: number): boolean {
  let lo = 0;
  let hi = NEWER_THAN_LLAMA_CPP.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = NEWER_THAN_LLAMA_CPP[mid];
    if (cp < first) hi = mid - 1;
    else if (cp > last) lo = mid + 1;
    else return true;
  }
  return false;
}

const table = new Uint16Array(MAX_CODEPOINT + 1);

/** The flags of one codepoint (0 for values outside Unicode, like llama.cpp's out-of-range lookups). */
export function codepointFlags(cp: number): number {
  if (cp < 0 || cp > MAX_CODEPOINT) return 0;
  let f = table[cp];
  if (f === 0) {
    // Surrogates never reach here from well-formed text; llama.cpp files them under Cs = control.
    const ch = String.fromCodePoint(cp);
    f = UNDEFINED;
    for (const [re, flag] of newerThanLlamaCpp(cp) ? [] : CATEGORY_TESTS) {
      if (re.test(ch)) {
        f = flag;
        break;
      }
    }
    if (cp >= 0xd800 && cp <= 0xdfff) f = CONTROL;
    if (WHITE_SPACE.test(ch)) f |= WHITESPACE;
    table[cp] = f | COMPUTED;
    return f;
  }
  return f & ~COMPUTED;
}

export const isLetter = (cp: number): boolean => (codepointFlags(cp) & LETTER) !== 0;
export const isNumber = (cp: number): boolean => (codepointFlags(cp) & NUMBER) !== 0;
export const isWhitespace = (cp: number): boolean => (codepointFlags(cp) & WHITESPACE) !== 0;
export const isMark = (cp: number): boolean => (codepointFlags(cp) & MARK) !== 0;

/** Han ideographs as llama.cpp's Kimi-K2 splitter defines them. */
export function isHan(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2ebef) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Lower-cases the ASCII letters the contraction rules look at ('S' -> 's'); other codepoints unchanged. */
export function asciiLower(cp: number): number {
  return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
}

/** Codepoints of a JS string (lone surrogates become U+FFFD, as UTF-8 encoding would make them). */
export function codepointsOf(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out.push(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
  }
  return out;
}
