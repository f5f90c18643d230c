// OCR bench: time to read an 800x480 screenshot (media/examples/settings-dialog.png) with the OCR
// stage, and time to first token of an image question including that reading, end to end through the
// model host on the embedded model (OCR, then the ViT, prompt prefill with the read text as context).
//
//   node out/bench/ocr.js [--runs 5] [--threads 2] [--json]
//
// npm run bench runs it once (bench/run.ts) and adds ttft_image_with_ocr_ms per shape.

import * as fs from 'fs';
import * as path from 'path';
import { TextReader } from '../server/engine/ocr/textReader';
import { ModelHost } from '../server/host/modelHost';
import { Workspace } from '../server/host/workspace';

const ROOT = path.resolve(__dirname, '../..');
export const OCR_BENCH_IMAGE = path.join(ROOT, 'media/examples/settings-dialog.png');

export interface OcrBenchResult {
  image: string;
  width: number;
  height: number;
  lines: number;
  /** Median of the runs after one warm-up. */
  ocrMs: number;
  ocrRunsMs: number[];
  /** Embedded model: request to first token of an image question, OCR included (median). */
  ttftEmbeddedMs: number;
  /** Of those, reading the image's text. */
  ttftEmbeddedOcrMs: number;
  promptTokens: number;
  imageTextChars: number;
  threads: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchOcr(runs = 5, threads = 2): Promise<OcrBenchResult> {
  const bytes = fs.readFileSync(OCR_BENCH_IMAGE);
  const reader = await TextReader.open({ threads });
  let lines = 0;
  const times: number[] = [];
  try {
    await reader.read(bytes); // warm-up: onnxruntime's first run allocates
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      lines = (await reader.read(bytes)).length;
      times.push(performance.now() - t);
    }
  } finally {
    await reader.dispose();
  }
  const host = new ModelHost({ workspace: new Workspace([ROOT]), threads });
  const ttft: number[] = [];
  const ocr: number[] = [];
  let promptTokens = 0;
  let imageTextChars = 0;
  try {
    const ask = async () => {
      const t = performance.now();
      let first = 0;
      const r = await host.chat(
        { messages: [{ role: 'user', content: 'What does this dialog say is wrong?', images: [bytes.toString('base64')] }], maxNewTokens: 1 },
        { onToken: () => (first ||= performance.now() - t) },
      );
      return { first: first || performance.now() - t, r };
    };
    await ask(); // loads the model, the ViT and the OCR sessions
    for (let i = 0; i < runs; i++) {
      const { first, r } = await ask();
      ttft.push(first);
      ocr.push(r.imageTextMs ?? 0);
      promptTokens = r.promptTokens;
      imageTextChars = r.imageText?.length ?? 0;
    }
  } finally {
    await host.dispose();
  }
  return { image: path.relative(ROOT, OCR_BENCH_IMAGE), width: 800, height: 480, lines, ocrMs: median(times), ocrRunsMs: times, ttftEmbeddedMs: median(ttft), ttftEmbeddedOcrMs: median(ocr), promptTokens, imageTextChars, threads };
}

if (require.main === module) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  void benchOcr(arg('--runs', 5), arg('--threads', 2)).then((r) => {
    if (process.argv.includes('--json')) return console.log(JSON.stringify(r));
    console.log(`OCR of ${r.image} (${r.width}x${r.height}, ${r.lines} lines), ${r.threads} threads: median ${r.ocrMs.toFixed(0)} ms (runs ${r.ocrRunsMs.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`image question, embedded model, request to first token: median ${r.ttftEmbeddedMs.toFixed(0)} ms, of which OCR ${r.ttftEmbeddedOcrMs.toFixed(0)} ms (prompt ${r.promptTokens} tokens with ${r.imageTextChars} characters of read text)`);
  });
}
