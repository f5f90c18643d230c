// The text read from an image question's screenshot, as the prompt's context field (the way LaVIN's
// ScienceQA prompt carries its context field; engine/sequence.ts places it). Lines go in reading order, one
// per line, until the image-text token budget is spent; a cut is marked in the text itself and told
// to the user as a notice.

import type { OcrLine } from '../engine/ocr/textReader';
import type { ImageTextLine } from '../protocol';

/** Most prompt tokens the read text may take, and at most this share of the prompt budget. */
export const IMAGE_TEXT_MAX_TOKENS = 1024;
const IMAGE_TEXT_MAX_SHARE = 0.5;

export interface ImageTextContext {
  /** The context text given to the model ('' when nothing was read). */
  text: string;
  /** Lines kept in the text. */
  linesUsed: number;
  notices: string[];
}

export function toProtocolLines(lines: OcrLine[]): ImageTextLine[] {
  return lines.map((l) => ({ text: l.text, box: [...l.box] as [number, number, number, number], confidence: Math.round(l.confidence * 1e4) / 1e4 }));
}

export function cutMark(left: number): string {
  return `[... ${left} more line(s) read from the image were cut to fit the token budget]`;
}

/**
 * The most lines (from the top) whose text fits `min(IMAGE_TEXT_MAX_TOKENS, share * promptBudget)`
 * tokens as counted by `tokens` (the cost the context adds to the prompt).
 */
export function imageTextContext(lines: ImageTextLine[], tokens: (context: string) => number, promptBudget: number): ImageTextContext {
  if (lines.length === 0) return { text: '', linesUsed: 0, notices: [] };
  const budget = Math.min(IMAGE_TEXT_MAX_TOKENS, Math.floor(promptBudget * IMAGE_TEXT_MAX_SHARE));
  const texts = lines.map((l) => l.text);
  const full = texts.join('\n');
  if (tokens(full) <= budget) return { text: full, linesUsed: lines.length, notices: [] };
  const withCut = (n: number) => [...texts.slice(0, n), cutMark(lines.length - n)].join('\n');
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (tokens(withCut(mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  const notice = `The text read from the image was cut to its first ${lo} of ${lines.length} lines (token budget ${budget}).`;
  return { text: lo === 0 ? '' : withCut(lo), linesUsed: lo, notices: [notice] };
}
