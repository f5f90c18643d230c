// `lavin ocr FILE [--json]`: the text the OCR stage reads on an image, the same lines an image
// question gives the model. --json prints one {"event":"lines","lines":[...]} line.

import * as fs from 'fs';
import * as path from 'path';
import { TextReader } from '../../engine/ocr/textReader';
import type { CliContext } from './commands';

export const OCR_OPTIONS = {
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

export const OCR_USAGE = `usage: lavin ocr FILE [--json]

Reads the text on a PNG, JPEG, WebP or GIF image (PP-OCRv4 detection and recognition, Chinese and
English) and prints its lines in reading order. With --json: one line
{"event":"lines","lines":[{"text":...,"box":[x0,y0,x1,y1],"confidence":...}]}, boxes in the image's
pixels. An image without text gives no lines. Images over 2560 px on their long side are scaled down
for detection (recognition still reads the original pixels).
`;

export async function runOcr(file: string, ctx: CliContext): Promise<void> {
  const abs = path.resolve(file);
  if (!fs.existsSync(abs)) throw new Error(`image ${file} does not exist`);
  if (fs.statSync(abs).isDirectory()) throw new Error(`image ${file} is a folder, not a file`);
  const bytes = fs.readFileSync(abs);
  const reader = await TextReader.open();
  try {
    let lines;
    try {
      lines = await reader.read(bytes);
    } catch (err) {
      throw new Error(`image ${file}: ${(err as Error).message}`);
    }
    ctx.out.event({ event: 'lines', lines: lines.map((l) => ({ text: l.text, box: l.box, confidence: round(l.confidence) })) });
    for (const l of lines) ctx.out.text(l.text + '\n');
    if (lines.length === 0) ctx.out.info(`no text found in ${file}`);
  } finally {
    await reader.dispose();
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
