// Exact-answer accuracy of a model on a LLaVA-Instruct-style test split: each record's last gpt
// turn against the model's greedy answer (first word, case and punctuation ignored), asked the way
// `lavin ask --image FILE "question"` asks (engine/sequence.ts via the model's own generate; with
// `imageText`, the text read from each image as context, as ask and training give it).

import * as fs from 'fs';
import * as path from 'path';
import { GenerateRequest, GenerateResult } from '../../engine/api';
import { loadVisionDataset } from '../data/llavaInstruct';
import { addImageText, SampleImageTextOptions } from '../data/sampleImageText';

export interface VisionQaGenerator {
  generate(req: GenerateRequest): Promise<GenerateResult>;
}

export interface VisionQaResult {
  total: number;
  correct: number;
  accuracy: number;
  rows: { source: string; question: string; expected: string; got: string; correct: boolean }[];
  /** Per question text (the kind of question in a synthetic set): correct and total. */
  byQuestion: Map<string, { correct: number; total: number }>;
}

/** The first word of an answer, lower-cased, without surrounding punctuation. */
export function firstWord(text: string): string {
  const w = text.trim().split(/\s+/)[0] ?? '';
  return w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '').toLowerCase();
}

export interface VisionQaOptions {
  limit?: number;
  maxNewTokens?: number;
  positionMode?: GenerateRequest['positionMode'];
  /** Give each question the text read from its image as context (what `lavin ask --image` and training do by default). */
  imageText?: SampleImageTextOptions;
}

export async function evaluateVisionQa(model: VisionQaGenerator, dataDir: string, opts: VisionQaOptions = {}): Promise<VisionQaResult> {
  const data = await loadVisionDataset(dataDir);
  let samples = data.samples.slice(0, opts.limit ?? data.samples.length);
  if (opts.imageText) samples = (await addImageText(samples, opts.imageText)).samples;
  const rows: VisionQaResult['rows'] = [];
  for (const s of samples) {
    const image = s.imagePath ? fs.readFileSync(s.imagePath) : undefined;
    const r = await model.generate({ prompt: s.prompt, image, temperature: 0, maxNewTokens: opts.maxNewTokens ?? 8, positionMode: opts.positionMode });
    const expected = firstWord(s.answer);
    const got = firstWord(r.text);
    rows.push({ source: s.source || path.basename(s.imagePath ?? ''), question: s.instruction ?? '', expected, got, correct: expected === got });
  }
  const correct = rows.filter((r) => r.correct).length;
  const byQuestion = new Map<string, { correct: number; total: number }>();
  for (const r of rows) {
    const q = byQuestion.get(r.question) ?? { correct: 0, total: 0 };
    q.total++;
    if (r.correct) q.correct++;
    byQuestion.set(r.question, q);
  }
  return { total: rows.length, correct, accuracy: rows.length ? correct / rows.length : 0, rows, byQuestion };
}
