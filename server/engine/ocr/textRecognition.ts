// PP-OCRv4 recognition of one detected box: crop it from the original pixels, scale to the model's
// height of 48 keeping the aspect ratio (a long line is read whole: no width cap), pad narrow crops to
// the 320 px the model was trained on, then greedy CTC decoding over PaddleOCR's dictionary.

import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../image';
import { ctcGreedy, Emitted, Recognised } from './ctcDecoding';
import { Box, resizeRgb } from './textDetection';
import { fixShapes } from './glyphShapes';
import { inkBox, lineInk, lineMetrics, placeGlyphs } from './lineInk';
import { monospaceGrid, spacedText } from './wordGaps';
import { withDroppedMarks, withLoneMarks, withLoneMarksOnGrid } from './droppedMarks';
import { sentenceCapitals } from './sentenceStart';
import { capitalWords } from './capitalWords';
import { CJK } from './fullWidth';

export const REC_HEIGHT = 48;
/** Training width of the recognition model: narrower crops are padded to it, as PaddleOCR does. */
const REC_MIN_WIDTH = 320;

export type { Recognised } from './ctcDecoding';

/**
 * The box's pixels with a margin of `pad` pixels on every side filled with the box's background colour
 * (the commonest colour on its edge). A margin taken from the image instead would bring in the ink of
 * the lines above and below; none at all (DB's boxes hug the glyphs) makes the recogniser misread 1 as
 * l and drop spaces.
 */
export function cropRgb(img: RgbImage, box: Box, pad = 0): RgbImage {
  const [x0, y0, x1, y1] = box;
  const width = x1 - x0 + 2 * pad;
  const height = y1 - y0 + 2 * pad;
  const data = new Uint8Array(width * height * 3);
  if (pad > 0) {
    const bg = edgeColour(img, box);
    for (let i = 0; i < width * height; i++) data.set(bg, i * 3);
  }
  for (let y = y0; y < y1; y++) data.set(img.data.subarray((y * img.width + x0) * 3, (y * img.width + x1) * 3), ((y - y0 + pad) * width + pad) * 3);
  return { width, height, data };
}

export function edgeColour(img: RgbImage, [x0, y0, x1, y1]: Box): [number, number, number] {
  const counts = new Map<number, number>();
  const add = (x: number, y: number) => {
    const i = (y * img.width + x) * 3;
    const key = (img.data[i] << 16) | (img.data[i + 1] << 8) | img.data[i + 2];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  for (let x = x0; x < x1; x++) {
    add(x, y0);
    add(x, y1 - 1);
  }
  for (let y = y0; y < y1; y++) {
    add(x0, y);
    add(x1 - 1, y);
  }
  let key = 0;
  let most = -1;
  for (const [k, n] of counts) if (n > most) [key, most] = [k, n];
  return [key >> 16, (key >> 8) & 255, key & 255];
}

export async function recognise(session: ort.InferenceSession, crop: RgbImage, dictionary: string[], gapSpaces = true): Promise<Recognised> {
  const width = Math.max(1, Math.ceil((REC_HEIGHT * crop.width) / crop.height));
  const resized = await resizeRgb(crop, width, REC_HEIGHT);
  const padded = Math.max(width, REC_MIN_WIDTH);
  const input = toRecognitionInput(resized, padded);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, REC_HEIGHT, padded]) });
  const probs = out[session.outputNames[0]];
  const [, steps, classes] = probs.dims as number[];
  const r = ctcGreedy(probs.data as Float32Array, steps, classes, dictionary);
  if (!gapSpaces || !r.chars || r.chars.length < 2) return r;
  // the ink decides spaces and look-alike characters (lineInk.ts, glyphShapes.ts, wordGaps.ts)
  const stepWidth = (padded / steps) * (crop.width / width);
  const ink = lineInk(crop, edgeColour(crop, [0, 0, crop.width, crop.height]));
  if (ink.inkHeight === 0) return r;
  const placed = placeGlyphs(halfWidthInLatin(r.chars), ink, stepWidth);
  const metrics = lineMetrics(placed);
  const chars = placed.filter((g) => g.char !== ' ');
  const found = monospaceGrid(chars, ink);
  // on a monospace line a glyph's ink is the ink of its cell
  if (found) chars.forEach((g, i) => found.cells[i] >= 0 && (g.box = inkBox(ink, found.centres[i] - 0.4 * found.pitch, found.centres[i] + 0.4 * found.pitch)));
  // and a mark in a cell no character was read for is one the recogniser dropped
  const dropped = found ? withDroppedMarks(placed, ink, metrics, found) : null;
  const { glyphs, grid } = dropped ? withLoneMarksOnGrid(dropped.glyphs, ink, metrics, dropped.grid) : { glyphs: withLoneMarks(placed, ink, metrics), grid: null };
  fixShapes(glyphs, ink, metrics, grid !== null);
  const text = spacedText(glyphs, ink, metrics, grid);
  // prose: a sentence-initial I read l or i (sentenceStart.ts); any line: 'INF0', 'APl' (capitalWords.ts)
  return { ...r, text: capitalWords(grid ? text : sentenceCapitals(text)) };
}

const FULL_WIDTH_ASCII = /^[\uff01-\uff5e]$/u;

/**
 * A full-width form ('（', '：') between two characters that are not CJK is the ASCII one in a Latin
 * line (NFKC would fold it anyway; before the spacing it also takes one cell, not two).
 */
function halfWidthInLatin(chars: Emitted[]): Emitted[] {
  return chars.map((c, i) => {
    if (!FULL_WIDTH_ASCII.test(c.char)) return c;
    const near = [chars[i - 1], chars[i - 2], chars[i + 1], chars[i + 2]].filter((x) => x && x.char !== ' ');
    return near.some((x) => CJK.test(x.char)) ? c : { ...c, char: c.char.normalize('NFKC') };
  });
}

/** (v / 255 - 0.5) / 0.5 in BGR plane order; the padding stays 0. */
function toRecognitionInput(img: RgbImage, width: number): Float32Array {
  const plane = width * REC_HEIGHT;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const rgbChannel = 2 - c;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) out[c * plane + y * width + x] = img.data[(y * img.width + x) * 3 + rgbChannel] / 127.5 - 1;
    }
  }
  return out;
}
