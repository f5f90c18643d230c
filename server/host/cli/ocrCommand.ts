// `lavin ocr FILE [--json]`: the text the OCR stage reads on an image, the same lines an image
// question gives the model. --json prints one {"event":"lines","lines":[...]} line.

import * as fs from 'fs';
import * as path from 'path';
import { TextReader } from '../../engine/ocr/textReader';
import { CliCommand, onePositional, OUTPUT_OPTIONS } from './command';

export const ocrCommand: CliCommand = {
  name: 'ocr',
  summary: 'print the text read from an image (the lines an image question gives the model)',
  synopsis: '[--json] FILE',
  positionals: [['FILE', 'PNG, JPEG, WebP or GIF image']],
  options: {
    json: { type: 'boolean', help: 'print one line {"event":"lines","lines":[{"text":...,"box":[x0,y0,x1,y1],"confidence":...}]} (boxes in the image\'s pixels)' },
    verbose: OUTPUT_OPTIONS.verbose,
  },
  examples: ['lavin ocr media/examples/settings-dialog.png', 'lavin ocr --json screenshot.jpg'],
  notes: [
    'PP-OCRv4 detection and recognition (Chinese and English) on the CPU; lines in reading order. An image without text gives no lines. Images over 2560 px on their long side are scaled down for detection (recognition reads the original pixels).',
  ],
  async run({ positionals }, ctx) {
    const file = onePositional(positionals, 'an image FILE', 'ocr');
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) throw new Error(`image ${file} does not exist`);
    if (fs.statSync(abs).isDirectory()) throw new Error(`image ${file} is a folder, not a file`);
    const bytes = fs.readFileSync(abs);
    if (bytes.length === 0) throw new Error(`image ${file} is empty (0 bytes)`);
    const reader = await TextReader.open();
    try {
      let lines;
      try {
        lines = await reader.read(bytes);
      } catch (err) {
        const reason = (err as Error).message;
        throw new Error(`image ${file} ${/^(is|has) /.test(reason) ? reason : `is ${reason}`}`);
      }
      ctx.out.event({ event: 'lines', lines: lines.map((l) => ({ text: l.text, box: l.box, confidence: Math.round(l.confidence * 1e4) / 1e4 })) });
      for (const l of lines) ctx.out.text(l.text + '\n');
      if (lines.length === 0) ctx.out.info(`no text found in ${file}`);
    } finally {
      await reader.dispose();
    }
  },
};
