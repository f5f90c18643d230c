// SentencePiece-style BPE over a GGUF "llama" vocabulary, as llama.cpp's llm_tokenizer_spm does it:
// start from single codepoints, repeatedly merge the adjacent pair whose joined text is the token with
// the highest score (leftmost on ties), and spell out anything left that is not a token as byte tokens.

import { codepointSymbols, mergeSymbolPair, MergeQueue } from './mergeQueue';
import type { Vocab } from './vocab';

interface Bigram { left: number; right: number; score: number; size: number }

const HEX = '0123456789ABCDEF';

/** The token for one byte: <0xXX>, else the byte itself as a one-character token. */
export function spmByteToken(vocab: Vocab, byte: number, source: string): number {
  const id = vocab.textToToken(`<0x${HEX[byte >> 4]}${HEX[byte & 15]}>`) ?? (byte < 0x80 ? vocab.textToToken(String.fromCharCode(byte)) : undefined);
  if (id === undefined) throw new Error(`${source}: byte 0x${byte.toString(16)} has no token (no byte fallback in this vocabulary)`);
  return id;
}

/** Appends the ids of `text` (spaces already escaped as U+2581) to `out`. */
export function spmTokenize(vocab: Vocab, text: string, out: number[], source: string): void {
  const symbols = codepointSymbols(text);
  const queue = new MergeQueue<Bigram>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
  const tryAdd = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const l = symbols[left];
    const joined = text.slice(l.start, l.start + l.len + symbols[right].len);
    const id = vocab.textToToken(joined);
    if (id === undefined) return;
    queue.push({ left, right, score: vocab.scores[id], size: joined.length });
  };
  for (let i = 1; i < symbols.length; i++) tryAdd(i - 1, i);
  for (let b = queue.pop(); b; b = queue.pop()) {
    const l = symbols[b.left];
    const r = symbols[b.right];
    if (l.len === 0 || r.len === 0 || l.len + r.len !== b.size) continue; // stale
    mergeSymbolPair(symbols, b.left, b.right, tryAdd);
  }
  const encoder = new TextEncoder();
  for (let i = symbols.length > 0 ? 0 : -1; i !== -1; i = symbols[i].next) {
    const s = symbols[i];
    const piece = text.slice(s.start, s.start + s.len);
    const id = vocab.textToToken(piece);
    if (id !== undefined) {
      out.push(id);
    } else {
      for (const byte of encoder.encode(piece)) out.push(spmByteToken(vocab, byte, source));
    }
  }
}
