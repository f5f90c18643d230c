// PP-OCRv4 recognition of one detected box: crop it from the original pixels, scale to the model's
// height of 48 keeping the aspect ratio (a long line is read whole: no width cap), pad narrow crops to
// the 320 px the model was trained on, then greedy CTC decoding over PaddleOCR's dictionary.

import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../image';
import { Box, resizeRgb } from './textDetection';

export const REC_HEIGHT = 48;
/** Training width of the recognition model: narrower crops are padded to it, as PaddleOCR does. */
const REC_MIN_WIDTH = 320;

export interface Recognised {
  text: string;
  confidence: number;
}

export function cropRgb(img: RgbImage, box: Box): RgbImage {
  const [x0, y0, x1, y1] = box;
  const width = x1 - x0;
  const height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) data.set(img.data.subarray(((y0 + y) * img.width + x0) * 3, ((y0 + y) * img.width + x1) * 3), y * width * 3);
  return { width, height, data };
}

export async function recognise(session: ort.InferenceSession, crop: RgbImage, dictionary: string[]): Promise<Recognised> {
  const width = Math.max(1, Math.ceil((REC_HEIGHT * crop.width) / crop.height));
  const resized = await resizeRgb(crop, width, REC_HEIGHT);
  const padded = Math.max(width, REC_MIN_WIDTH);
  const input = toRecognitionInput(resized, padded);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, REC_HEIGHT, padded]) });
  const probs = out[session.outputNames[0]];
  const [, steps, classes] = probs.dims as number[];
  return ctcGreedy(probs.data as Float32Array, steps, classes, dictionary);
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

/**
 * Best class per step, repeats collapsed, blanks (class 0) dropped. Confidence is the mean of the kept
 * steps' probabilities (PaddleOCR's), 0 for an empty line. Exported for tests.
 */
export function ctcGreedy(probs: Float32Array, steps: number, classes: number, dictionary: string[]): Recognised {
  let text = '';
  let sum = 0;
  let kept = 0;
  let previous = -1;
  for (let t = 0; t < steps; t++) {
    const row = t * classes;
    let best = 0;
    for (let k = 1; k < classes; k++) if (probs[row + k] > probs[row + best]) best = k;
    if (best !== 0 && best !== previous) {
      text += dictionary[best] ?? '';
      sum += probs[row + best];
      kept++;
    }
    previous = best;
  }
  return { text, confidence: kept ? sum / kept : 0 };
}
