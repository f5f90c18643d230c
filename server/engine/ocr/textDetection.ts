// DB text detection (PP-OCRv4 det) pre- and post-processing: scale the screenshot so its long side
// stays under a cap, pad to a multiple of 32, normalise as PaddleOCR does (BGR planes with ImageNet
// mean/std), threshold the probability map, group pixels into connected components and grow each
// component's box by DB's unclip distance. Boxes are axis-aligned: screenshot text is horizontal, so
// the min-area rectangle of a component is its bounding box and no polygon library is needed.

import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import type { RgbImage } from '../image';

export interface DetectionOptions {
  /** Long side cap of the detection input in pixels; larger screenshots are scaled down. */
  maxSide: number;
  /** Probability above which a pixel is text (DB's thresh). */
  pixelThreshold: number;
  /** Mean probability a box needs to be kept (DB's box_thresh). */
  boxThreshold: number;
  /** DB's unclip ratio: the shrunk text kernel grows by area * ratio / perimeter. */
  unclipRatio: number;
}

export const DETECTION_DEFAULTS: DetectionOptions = { maxSide: 2560, pixelThreshold: 0.3, boxThreshold: 0.6, unclipRatio: 1.5 };

/** An axis-aligned box in the original image's pixels, [x0, y0) to [x1, y1). */
export type Box = [number, number, number, number];

export interface DetectedBox {
  box: Box;
  score: number;
}

// PaddleOCR feeds OpenCV's BGR planes and normalises them with the ImageNet RGB constants in that order.
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

export async function detectText(session: ort.InferenceSession, image: RgbImage, opts: DetectionOptions = DETECTION_DEFAULTS): Promise<DetectedBox[]> {
  const scale = Math.min(1, opts.maxSide / Math.max(image.width, image.height));
  const scaled = scale < 1 ? await resizeRgb(image, Math.max(1, Math.round(image.width * scale)), Math.max(1, Math.round(image.height * scale))) : image;
  const width = Math.ceil(scaled.width / 32) * 32;
  const height = Math.ceil(scaled.height / 32) * 32;
  const input = toDetectionInput(scaled, width, height);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, height, width]) });
  const prob = out[session.outputNames[0]].data as Float32Array;
  const sx = image.width / scaled.width;
  const sy = image.height / scaled.height;
  return boxesFromProbability(prob, width, height, opts).flatMap(({ box, score }) => {
    const mapped: Box = [
      clamp(Math.floor(box[0] * sx), 0, image.width), clamp(Math.floor(box[1] * sy), 0, image.height),
      clamp(Math.ceil(box[2] * sx), 0, image.width), clamp(Math.ceil(box[3] * sy), 0, image.height),
    ];
    return mapped[2] - mapped[0] >= 2 && mapped[3] - mapped[1] >= 2 ? [{ box: mapped, score }] : [];
  });
}

/** CHW float32 in BGR plane order, zero-padded (the mean colour) on the right and bottom. */
function toDetectionInput(img: RgbImage, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const rgbChannel = 2 - c;
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v / 255 - MEAN[c]) / STD[c];
    const base = c * plane;
    for (let y = 0; y < img.height; y++) {
      const row = base + y * width;
      const src = y * img.width * 3 + rgbChannel;
      for (let x = 0; x < img.width; x++) out[row + x] = table[img.data[src + x * 3]];
    }
  }
  return out;
}

/**
 * Connected components (8-neighbour) of the thresholded map -> boxes with DB's score and unclip.
 * Exported for tests.
 */
export function boxesFromProbability(prob: Float32Array, width: number, height: number, opts: DetectionOptions): DetectedBox[] {
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const boxes: DetectedBox[] = [];
  for (let start = 0; start < prob.length; start++) {
    if (seen[start] || prob[start] <= opts.pixelThreshold) continue;
    let top = 1;
    stack[0] = start;
    seen[start] = 1;
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    while (top > 0) {
      const p = stack[--top];
      const x = p % width;
      const y = (p - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (!seen[q] && prob[q] > opts.pixelThreshold) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    const w = x1 - x0 + 1;
    const h = y1 - y0 + 1;
    if (Math.min(w, h) < 3) continue;
    const score = meanOver(prob, width, x0, y0, x1 + 1, y1 + 1);
    if (score < opts.boxThreshold) continue;
    const grow = (w * h * opts.unclipRatio) / (2 * (w + h));
    boxes.push({ box: [Math.max(0, x0 - grow), Math.max(0, y0 - grow), Math.min(width, x1 + 1 + grow), Math.min(height, y1 + 1 + grow)], score });
  }
  return boxes;
}

function meanOver(prob: Float32Array, width: number, x0: number, y0: number, x1: number, y1: number): number {
  let sum = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += prob[y * width + x];
  return sum / ((x1 - x0) * (y1 - y0));
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Bicubic resize through libvips (sharp), for the detection input and the recognition crops. */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
