// The text read from an image (OCR lines) as a prompt's context field, within a token budget: one
// rule for inference (host/imageText.ts, a chat's image question) and training (train/data/
// sampleImageText.ts, image samples), so both see the same text, cut at the same line with the same
// mark. Where the field sits in the prompt is engine/sequence.ts's business.

import type { PromptBody } from './sequence';

/** Most prompt tokens the read text may take, and at most this share of the prompt budget. */
export const IMAGE_TEXT_MAX_TOKENS = 1024;
const IMAGE_TEXT_MAX_SHARE = 0.5;

/** Answer tokens a request asks for when it does not say (the host's default, and training's assumption). */
export const DEFAULT_MAX_NEW_TOKENS = 256;

/** Prompt tokens a request may use: all but the answer's share, which never takes more than half the context. */
export function promptTokenBudget(maxSeqLen: number, maxNewTokens = DEFAULT_MAX_NEW_TOKENS): number {
  return maxSeqLen - Math.min(maxNewTokens, Math.floor(maxSeqLen / 2));
}

export interface ImageTextContext {
  /** The context text given to the model ('' when nothing was read). */
  text: string;
  /** Lines kept in the text. */
  linesUsed: number;
  notices: string[];
}

export function cutMark(left: number): string {
  return `[... ${left} more line(s) read from the image were cut to fit the token budget]`;
}

/**
 * The most lines (from the top) whose text fits `min(IMAGE_TEXT_MAX_TOKENS, share * promptBudget)`
 * tokens as counted by `tokens` (the cost the context adds to the prompt).
 */
export function imageTextContext(lines: readonly { text: string }[], tokens: (context: string) => number, promptBudget: number): ImageTextContext {
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

/**
 * The context for a request whose body with context `c` is `bodyWith(c)` (undefined: no context),
 * its cost counted as the prompt tokens it adds (`count` gives a body's prompt length).
 */
export function imageTextFor(lines: readonly { text: string }[], bodyWith: (context?: string) => PromptBody, count: (body: PromptBody) => number, promptBudget: number): ImageTextContext {
  const base = count(bodyWith(undefined));
  return imageTextContext(lines, (text) => count(bodyWith(text)) - base, promptBudget);
}
