// Byte-level BPE as llama.cpp's llm_tokenizer_bpe does it: pre-tokenizer words (regexSplit.ts), each
// word's UTF-8 bytes as GPT-2 byte characters, then the adjacent pair with the lowest merge rank
// (leftmost on ties) merged until none is left; pieces that are not tokens fall back to byte tokens.

import { codepointSymbols, mergeSymbolPair, MergeQueue, type MergeSymbol } from './mergeQueue';
import { splitWords } from './regexSplit';
import { codepointsOf } from './unicodeFlags';
import type { Vocab } from './vocab';

interface Bigram { left: number; right: number; text: string; rank: number }

/** GPT-2's byte -> printable character map and its inverse. */
export const BYTE_TO_CHAR: string[] = [];
export const CHAR_TO_BYTE = new Map<string, number>();
{
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    BYTE_TO_CHAR[b] = String.fromCodePoint(printable ? b : 256 + n++);
    CHAR_TO_BYTE.set(BYTE_TO_CHAR[b], b);
  }
}

const encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

/** Appends the ids of `text` to `out`. */
export function bpeTokenize(vocab: Vocab, text: string, out: number[]): void {
  const pre = vocab.pre!;
  const cps = codepointsOf(text);
  let at = 0;
  for (const len of splitWords(cps, pre.regexes)) {
    let word = String.fromCodePoint(...cps.slice(at, at + len));
    at += len;
    if (pre.byteEncode) {
      let encoded = '';
      for (const byte of encoder.encode(word)) encoded += BYTE_TO_CHAR[byte];
      word = encoded;
    }
    tokenizeWord(vocab, word, out);
  }
}

function tokenizeWord(vocab: Vocab, word: string, out: number[]): void {
  const pre = vocab.pre!;
  let whole = pre.ignoreMerges && vocab.textToToken(word) !== undefined;
  if (!whole && pre.wholeNewlineRuns && /^\n+$/.test(word)) whole = vocab.textToToken(word) !== undefined; // gemma-4 newline runs
  const symbols = whole ? [{ start: 0, len: word.length, prev: -1, next: -1 }] : codepointSymbols(word);
  const textOf = (s: MergeSymbol) => word.slice(s.start, s.start + s.len);
  const queue = new MergeQueue<Bigram>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
  const tryAdd = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const l = textOf(symbols[left]);
    const r = textOf(symbols[right]);
    const rank = vocab.rank(l, r);
    if (rank >= 0) queue.push({ left, right, text: l + r, rank });
  };
  for (let i = 1; i < symbols.length; i++) tryAdd(i - 1, i);
  for (let b = queue.pop(); b; b = queue.pop()) {
    const l = symbols[b.left];
    const r = symbols[b.right];
    if (l.len === 0 || r.len === 0 || textOf(l) + textOf(r) !== b.text) continue; // stale
    mergeSymbolPair(symbols, b.left, b.right, tryAdd);
  }
  for (const s of symbols) {
    if (s.len === 0) continue;
    const piece = textOf(s);
    const id = vocab.textToToken(piece);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    for (const byte of encoder.encode(piece)) {
      const fallback = pre.byteEncode
        ? byte < 0x80 ? vocab.textToToken(String.fromCharCode(byte)) : undefined
        : vocab.textToToken(`<0x${HEX[byte >> 4]}${HEX[byte & 15]}>`);
      if (fallback !== undefined) out.push(fallback);
    }
  }
}
