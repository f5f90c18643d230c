// The text read from an image question's screenshot, as the prompt's context field (the way LaVIN's
// ScienceQA prompt carries its context field; engine/sequence.ts places it). The budget rule and the
// cut mark are engine/imageTextContext.ts's, shared with training (train/data/sampleImageText.ts) so
// that training and inference see one format; this file adds the protocol's view of the lines.

import type { OcrLine } from '../engine/ocr/textReader';
import type { ImageTextLine } from '../protocol';

export { cutMark, IMAGE_TEXT_MAX_TOKENS, imageTextContext, imageTextFor, type ImageTextContext } from '../engine/imageTextContext';

export function toProtocolLines(lines: OcrLine[]): ImageTextLine[] {
  return lines.map((l) => ({ text: l.text, box: [...l.box] as [number, number, number, number], confidence: Math.round(l.confidence * 1e4) / 1e4 }));
}
