// Splits text into pre-tokenizer words the way llama.cpp's unicode_regex_split does, so that BPE sees
// the same words: the common patterns (GPT-2, Llama-3, Qwen2, Qwen3.5, Kimi-K2, digit groups, newline
// runs) by hand-written scanners whose edge cases are llama.cpp's, not a regex engine's; any other
// pattern by a regex over a "collapsed" text in which every non-ASCII codepoint stands as one byte for
// its Unicode category (how llama.cpp runs \p{..} classes on std::regex), or, for patterns without
// \p{..}, over the codepoints with non-ASCII white space as \v.

import {
  CATEGORY_MASK, LETTER, MARK, NUMBER, PUNCTUATION, SYMBOL, WHITESPACE,
  asciiLower, codepointFlags, isHan,
} from './unicodeFlags';
import { PRE_REGEX } from './preTokenizers';

/** Word lengths (in codepoints) covering `cps`, refined by each regex in turn. */
export function splitWords(cps: number[], regexes: string[]): number[] {
  let lengths = cps.length > 0 ? [cps.length] : [];
  for (const regex of regexes) lengths = splitOnce(cps, regex, lengths);
  return lengths;
}

function splitOnce(cps: number[], regex: string, lengths: number[]): number[] {
  switch (regex) {
    case PRE_REGEX.gpt2: return scanSegments(cps, lengths, scanGpt2);
    case PRE_REGEX.llama3: return scanSegments(cps, lengths, (c, a, b, add) => scanLlama3Like(c, a, b, add, 3, false));
    case PRE_REGEX.qwen2: return scanSegments(cps, lengths, (c, a, b, add) => scanLlama3Like(c, a, b, add, 1, false));
    case PRE_REGEX.qwen35: return scanSegments(cps, lengths, (c, a, b, add) => scanLlama3Like(c, a, b, add, 1, true));
    case PRE_REGEX.han: return scanSegments(cps, lengths, scanKimiK2);
    case PRE_REGEX.afmoeDigits:
    case PRE_REGEX.thousandsDigits: return scanSegments(cps, lengths, scanDigitGroups);
    case PRE_REGEX.newlineRuns: return scanSegments(cps, lengths, scanNewlineRuns);
    default: return regexSegments(cps, regex, lengths);
  }
}

type Scanner = (cps: number[], start: number, end: number, add: (end: number) => number) => void;

function scanSegments(cps: number[], lengths: number[], scan: Scanner): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of lengths) {
    const end = start + len;
    let prevEnd = start;
    const add = (tokenEnd: number): number => {
      const n = tokenEnd - prevEnd;
      if (n > 0) out.push(n);
      prevEnd = tokenEnd;
      return n;
    };
    scan(cps, start, end, add);
    start = end;
  }
  return out;
}

const OUT = -1;
const cpAt = (cps: number[], start: number, end: number, pos: number): number => (pos >= start && pos < end ? cps[pos] : OUT);
const flagsAt = (cps: number[], start: number, end: number, pos: number): number =>
  pos >= start && pos < end ? codepointFlags(cps[pos]) : 0;
const isCrLf = (cp: number): boolean => cp === 0x0d || cp === 0x0a;

/** 's|'t|'re|'ve|'m|'ll|'d (lowerCase: case-insensitive); returns the length matched at pos, or 0. */
function contraction(cps: number[], start: number, end: number, pos: number, lowerCase: boolean): number {
  if (cpAt(cps, start, end, pos) !== 0x27 || pos + 1 >= end) return 0;
  const low = (cp: number): number => (lowerCase ? asciiLower(cp) : cp);
  const next = low(cpAt(cps, start, end, pos + 1));
  if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) return 2; // s t m d
  if (pos + 2 < end) {
    const next2 = low(cpAt(cps, start, end, pos + 2));
    if ((next === 0x72 && next2 === 0x65) || (next === 0x76 && next2 === 0x65) || (next === 0x6c && next2 === 0x6c)) return 3; // re ve ll
  }
  return 0;
}

/** Trailing white space: \s*[\r\n]+ | \s+(?!\S) | \s+ ; returns the new position, or -1 without white space. */
function whitespaceRun(cps: number[], start: number, end: number, pos: number, newlineRule: boolean): number {
  let n = 0;
  let lastNewlineEnd = 0;
  while (flagsAt(cps, start, end, pos + n) & WHITESPACE) {
    if (isCrLf(cpAt(cps, start, end, pos + n))) lastNewlineEnd = pos + n + 1;
    n++;
  }
  if (newlineRule && lastNewlineEnd > 0) return lastNewlineEnd;
  if (n > 1 && cpAt(cps, start, end, pos + n) !== OUT) return pos + n - 1;
  if (n > 0) return pos + n;
  return -1;
}

const scanGpt2: Scanner = (cps, start, end, add) => {
  const flags = (p: number) => flagsAt(cps, start, end, p);
  for (let pos = start; pos < end;) {
    const cp = cps[pos];
    const c = contraction(cps, start, end, pos, false);
    if (c > 0) { pos += add(pos + c); continue; }
    let f2 = cp === 0x20 ? flags(pos + 1) : flags(pos);
    const runOf = (test: (f: number) => boolean): boolean => {
      if (!test(f2)) return false;
      if (cp === 0x20) pos++;
      while (test(f2)) f2 = flags(++pos);
      add(pos);
      return true;
    };
    if (runOf((f) => (f & LETTER) !== 0)) continue;
    if (runOf((f) => (f & NUMBER) !== 0)) continue;
    if (runOf((f) => (f & (WHITESPACE | LETTER | NUMBER)) === 0 && f !== 0)) continue;
    const ws = whitespaceRun(cps, start, end, pos, false);
    if (ws >= 0) { pos = ws; add(pos); continue; }
    add(++pos);
  }
};

/** Llama-3 (digits 3), Qwen2 (digits 1) and Qwen3.5 (digits 1, marks join letters). */
function scanLlama3Like(cps: number[], start: number, end: number, add: (e: number) => number, maxDigits: number, marks: boolean): void {
  const flags = (p: number) => flagsAt(cps, start, end, p);
  const wordChar = marks ? LETTER | MARK : LETTER;
  for (let pos = start; pos < end;) {
    const cp = cps[pos];
    const f = flags(pos);
    const c = contraction(cps, start, end, pos, true);
    if (c > 0) { pos += add(pos + c); continue; }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(isCrLf(cp) || f & NUMBER) && (f & wordChar || flags(pos + 1) & wordChar)) {
      pos++;
      while (flags(pos) & wordChar) pos++;
      add(pos);
      continue;
    }
    // \p{N}{1,maxDigits}
    if (f & NUMBER) {
      let groupStart = pos;
      while (flags(pos) & NUMBER) {
        if (++pos - groupStart >= maxDigits) { add(pos); groupStart = pos; }
      }
      add(pos);
      continue;
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*' (the first test reads the current codepoint's flags, as llama.cpp does)
    const stop = WHITESPACE | LETTER | NUMBER | (marks ? MARK : 0);
    let f2 = cp === 0x20 ? flags(pos + 1) : f;
    if ((f2 & stop) === 0 && f !== 0) {
      if (cp === 0x20) pos++;
      while ((f2 & stop) === 0 && f2 !== 0) f2 = flags(++pos);
      while (isCrLf(cpAt(cps, start, end, pos))) pos++;
      add(pos);
      continue;
    }
    const ws = whitespaceRun(cps, start, end, pos, true);
    if (ws >= 0) { pos = ws; add(pos); continue; }
    add(++pos);
  }
}

const scanKimiK2: Scanner = (cps, start, end, add) => {
  const flags = (p: number) => flagsAt(cps, start, end, p);
  const cpOf = (p: number) => cpAt(cps, start, end, p);
  const nonHanLetter = (p: number) => (flags(p) & LETTER) !== 0 && !isHan(cpOf(p));
  for (let pos = start; pos < end;) {
    const cp = cps[pos];
    const f = flags(pos);
    if (isHan(cp)) {
      while (isHan(cpOf(pos))) pos++;
      add(pos);
      continue;
    }
    const canLead = !(isCrLf(cp) || f & LETTER || f & NUMBER);
    if (nonHanLetter(pos) || (canLead && nonHanLetter(pos + 1))) {
      let leading = false;
      if (canLead) { leading = true; pos++; }
      let letters = false;
      while (nonHanLetter(pos)) { letters = true; pos++; }
      if (letters || (!leading && nonHanLetter(pos))) {
        if (!letters) pos++;
        while (nonHanLetter(pos)) pos++;
        pos += contraction(cps, start, end, pos, true);
        add(pos);
        continue;
      } else if (leading) {
        pos--;
      }
    }
    if (f & NUMBER) {
      let groupStart = pos;
      while (flags(pos) & NUMBER) {
        if (++pos - groupStart >= 3) { add(pos); groupStart = pos; }
      }
      add(pos);
      continue;
    }
    let f2 = cp === 0x20 ? flags(pos + 1) : f;
    if ((f2 & (WHITESPACE | LETTER | NUMBER)) === 0 && f2 !== 0) {
      if (cp === 0x20) pos++;
      while ((f2 & (WHITESPACE | LETTER | NUMBER)) === 0 && f2 !== 0) f2 = flags(++pos);
      while (isCrLf(cpOf(pos))) pos++;
      add(pos);
      continue;
    }
    const ws = whitespaceRun(cps, start, end, pos, true);
    if (ws >= 0) { pos = ws; add(pos); continue; }
    add(++pos);
  }
};

/** Digit runs cut into a leading 1-2 digits and then groups of three (AFMoE, tiny-aya). */
const scanDigitGroups: Scanner = (cps, start, end, add) => {
  for (let pos = start; pos < end;) {
    if (!(flagsAt(cps, start, end, pos) & NUMBER)) { pos++; continue; }
    const digitStart = pos;
    while (pos < end && flagsAt(cps, start, end, pos) & NUMBER) pos++;
    const count = pos - digitStart;
    let cur = digitStart;
    if (count % 3 > 0) { add(cur + (count % 3)); cur += count % 3; }
    while (cur < digitStart + count) { add(cur + 3); cur += 3; }
  }
  add(end);
};

/** [^\n]+|[\n]+ */
const scanNewlineRuns: Scanner = (cps, start, end, add) => {
  let pos = start;
  while (pos < end) {
    const newline = cps[pos] === 0x0a;
    while (pos < end && (cps[pos] === 0x0a) === newline) pos++;
    add(pos);
  }
};

// --- Any other pattern: a regex, run as llama.cpp runs it on std::regex. ---

const CATEGORY_CLASSES: Record<string, { flag: number; members: string }> = {
  '\\p{N}': { flag: NUMBER, members: '\u00D10-9' },
  '\\p{L}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{Lu}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{Ll}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{Lt}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{Lm}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{Lo}': { flag: LETTER, members: '\u00D2A-Za-z' },
  '\\p{P}': { flag: PUNCTUATION, members: '\u00D3!-#%-*,-/:-;?-@\\[-\\]_\\{\\}' },
  '\\p{M}': { flag: MARK, members: '\u00D4' },
  '\\p{S}': { flag: SYMBOL, members: '\u00D5\\$\\+<->\\^`\\|~' },
};
const COLLAPSED_CHAR: Record<number, string> = { [NUMBER]: '\u00D1', [LETTER]: '\u00D2', [PUNCTUATION]: '\u00D3', [MARK]: '\u00D4', [SYMBOL]: '\u00D5' };

const compiled = new Map<string, { re: RegExp; collapsed: boolean }>();

function compile(regex: string): { re: RegExp; collapsed: boolean } {
  let hit = compiled.get(regex);
  if (hit) return hit;
  const collapsed = Object.keys(CATEGORY_CLASSES).some((k) => regex.includes(k));
  let source = '';
  let inside = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i];
    if (ch === '[' && (i === 0 || regex[i - 1] !== '\\')) { source += ch; inside = true; continue; }
    if (inside && ch === ']' && regex[i - 1] !== '\\') { source += ch; inside = false; continue; }
    if (collapsed && ch === '\\' && regex[i + 1] === 'p' && regex[i + 2] === '{') {
      const close = regex.indexOf('}', i + 3);
      const cls = close >= 0 ? CATEGORY_CLASSES[regex.slice(i, close + 1)] : undefined;
      if (cls) {
        source += inside ? cls.members : `[${cls.members}]`;
        i = close;
        continue;
      }
    }
    if (!collapsed && ch === '\\' && (regex[i + 1] === 's' || regex[i + 1] === 'S')) {
      // std::wregex's \s knows only ASCII white space (the text's other white space is \v by now)
      const ascii = '\\t-\\r ';
      source += regex[i + 1] === 's' ? (inside ? ascii : `[${ascii}]`) : inside ? '' : `[^${ascii}]`;
      if (inside && regex[i + 1] === 'S') throw new Error(`unsupported pre-tokenizer regex (\\S in a class): ${regex}`);
      i++;
      continue;
    }
    source += ch;
  }
  if (collapsed && [...regex].some((c) => c.codePointAt(0)! >= 128)) {
    throw new Error(`unsupported pre-tokenizer regex (unicode categories and non-ASCII characters): ${regex}`);
  }
  hit = { re: new RegExp(source, collapsed ? 'g' : 'gu'), collapsed };
  compiled.set(regex, hit);
  return hit;
}

function regexSegments(cps: number[], regex: string, lengths: number[]): number[] {
  const { re, collapsed } = compile(regex);
  const units: string[] = cps.map((cp) => {
    if (cp < 128) return String.fromCharCode(cp);
    const f = codepointFlags(cp);
    if (f & WHITESPACE) return '\u000B';
    if (!collapsed) return String.fromCodePoint(cp);
    return COLLAPSED_CHAR[f & CATEGORY_MASK] ?? '\u00D0';
  });
  const out: number[] = [];
  let start = 0;
  for (const len of lengths) {
    const seg = units.slice(start, start + len);
    const text = seg.join('');
    // UTF-16 offset -> codepoint offset within the segment
    const cpIndex = new Int32Array(text.length + 1);
    for (let i = 0, u = 0; i < seg.length; i++) {
      for (let k = 0; k < seg[i].length; k++) cpIndex[u + k] = i;
      u += seg[i].length;
      cpIndex[u] = i + 1;
    }
    re.lastIndex = 0;
    let done = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const mStart = cpIndex[m.index];
      const mEnd = cpIndex[m.index + m[0].length];
      if (mStart > done) out.push(mStart - done);
      out.push(mEnd - mStart);
      done = mEnd;
      if (m[0].length === 0) re.lastIndex += text.codePointAt(re.lastIndex)! > 0xffff ? 2 : 1;
    }
    if (done < len) out.push(len - done);
    start += len;
  }
  return out;
}
