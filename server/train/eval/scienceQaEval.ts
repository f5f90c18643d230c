// ScienceQA evaluation as LaVIN's eval.py runs it: every problem of a split gets the QCM-ALE prompt
// (image problems through the image path, the rest text-only), the model generates with the
// reference settings (temperature 0.1, top-p 0.75, 64 new tokens), the answer letter is the first
// match of `The answer is ([A-Z]).`, and the accuracies are bucketed into the paper's Table 1.
//
// Folder layout (the public ScienceQA release): problems.json, pid_splits.json and
// images/<split>/<pid>/<image> (also accepted: images/<pid>/<image>).
//
// Two documented differences from eval.py:
// - eval.py applies the regex to the decoded prompt + generation; here it sees the generation only
//   (the same answer unless a question's own text contains "The answer is X.").
// - eval.py replaces an unparsable or out-of-range answer by random.choice over the choices
//   (unseeded). Default here: counted wrong (deterministic); `unparsed: 'random'` reproduces the
//   official guess with a seeded generator.

import * as fs from 'fs';
import * as path from 'path';
import { GenerateRequest, PositionMode } from '../../engine/api';
import { Prompt } from '../../engine/sequence';
import { ScienceQaProblem, scienceQaPrompt } from '../data/scienceqa';
import { addImageText, SampleImageTextOptions } from '../data/sampleImageText';
import { Rng } from '../rng';
import { computeTable1, contextFlags, Table1, Table1Column, Table1Counts, table1Buckets } from './table1';

/** A problem as problems.json stores it, with the fields Table 1 needs. */
export interface ScienceQaEvalProblem extends ScienceQaProblem {
  subject?: string;
  grade?: string;
  topic?: string;
  category?: string;
}

/** One problem ready to run. */
export interface ScienceQaItem {
  pid: string;
  problem: ScienceQaEvalProblem;
  prompt: string;
  /** Absolute path of the image for image problems. */
  imagePath?: string;
}

/** What the evaluation needs from a model: LavinModel satisfies it. */
export interface ScienceQaGenerator {
  generate(req: GenerateRequest): Promise<{ text: string }>;
}

export interface ScienceQaEvalOptions {
  /** Split of pid_splits.json (default 'test'). */
  split?: string;
  /** Evaluate only the first N problems of the split (in pid_splits order). */
  limit?: number;
  /** Sampling temperature (default 0.1, the reference's); ignored when greedy. */
  temperature?: number;
  topP?: number;
  maxNewTokens?: number;
  /** Argmax decoding instead of sampling. */
  greedy?: boolean;
  /** Problem i is sampled with seed + i (default 0), so a run is reproducible. */
  seed?: number;
  /** Outputs without a valid answer letter: counted 'wrong' (default) or a seeded 'random' guess (eval.py). */
  unparsed?: 'wrong' | 'random';
  /** Decode positions (default: the model's; 'consistent' for adapters trained by this product). */
  positionMode?: PositionMode;
  /**
   * Give image problems the text read from their image after the hint, as training gives it by
   * default (data/sampleImageText.ts): for adapters trained here with it. Absent: the paper's prompts.
   */
  imageText?: SampleImageTextOptions;
  signal?: AbortSignal;
  onProblem?: (row: ScienceQaRow, done: number, total: number) => void;
}

export interface ScienceQaRow {
  pid: string;
  subject: string;
  grade: string;
  hasText: boolean;
  hasImage: boolean;
  noContext: boolean;
  /** Table 1 columns this problem counts in. */
  buckets: Table1Column[];
  /** Gold answer index. */
  answer: number;
  /** Letter the regex found, or null when the output has no "The answer is X." */
  predictedLetter: string | null;
  /** Index scored: the letter's index, or a guess when unparsed = 'random'; null = no valid answer. */
  predicted: number | null;
  /** The letter was missing or not one of the problem's options. */
  unparsed: boolean;
  correct: boolean;
  output: string;
}

export interface ScienceQaEvalResult {
  split: string;
  rows: ScienceQaRow[];
  table: Table1;
  counts: Table1Counts;
  /** Rows whose output gave no valid answer letter. */
  unparsed: number;
  settings: { temperature: number; topP: number; maxNewTokens: number; seed: number; unparsed: 'wrong' | 'random' };
  aborted: boolean;
  seconds: number;
}

export const SCIENCEQA_EVAL_DEFAULTS = { temperature: 0.1, topP: 0.75, maxNewTokens: 64 } as const;
export const ANSWER_PATTERN = /The answer is ([A-Z])./;
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** The answer letter of a generation and its index among `nChoices` options (null when invalid). */
export function parseAnswer(output: string, nChoices: number): { letter: string | null; index: number | null } {
  const m = ANSWER_PATTERN.exec(output);
  if (!m) return { letter: null, index: null };
  const index = LETTERS.indexOf(m[1]);
  return { letter: m[1], index: index < nChoices ? index : null };
}

function readJson(dir: string, file: string): unknown {
  const p = path.join(dir, file);
  if (!fs.existsSync(p)) throw new Error(`ScienceQA folder ${dir}: no ${file}`);
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    throw new Error(`ScienceQA ${p}: not valid JSON (${(e as Error).message})`);
  }
}

function findImage(dir: string, split: string, pid: string, p: ScienceQaEvalProblem): string {
  const name = p.image!;
  const candidates = [...new Set([split, p.split].filter((s): s is string => !!s))].map((s) => path.join(dir, 'images', s, pid, name));
  candidates.push(path.join(dir, 'images', pid, name));
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`ScienceQA problem ${pid}: image not found (looked for ${candidates.map((c) => path.relative(dir, c)).join(', ')})`);
  return found;
}

/** The problems of one split, validated, with prompts and image paths. */
export function readScienceQaSplit(dir: string, split = 'test', limit?: number): ScienceQaItem[] {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new Error(`ScienceQA: limit must be a positive integer, got ${limit}`);
  const problems = readJson(dir, 'problems.json') as Record<string, ScienceQaEvalProblem>;
  const splits = readJson(dir, 'pid_splits.json') as Record<string, unknown>;
  if (typeof problems !== 'object' || problems === null || Array.isArray(problems)) throw new Error(`ScienceQA ${dir}/problems.json: expected an object {pid: problem}`);
  const pids = splits?.[split];
  if (!Array.isArray(pids)) throw new Error(`ScienceQA ${dir}/pid_splits.json has no split "${split}" (has ${Object.keys(splits ?? {}).join(', ') || 'none'})`);
  const chosen = limit !== undefined ? pids.slice(0, limit) : pids;
  return chosen.map((raw) => {
    const pid = String(raw);
    const p = problems[pid];
    if (!p || typeof p !== 'object') throw new Error(`ScienceQA: problem ${pid} of split "${split}" is not in problems.json`);
    if (typeof p.question !== 'string') throw new Error(`ScienceQA problem ${pid}: "question" must be a string`);
    if (!Array.isArray(p.choices) || p.choices.length < 2 || p.choices.length > LETTERS.length || !p.choices.every((c) => typeof c === 'string')) {
      throw new Error(`ScienceQA problem ${pid}: "choices" must be 2..${LETTERS.length} strings`);
    }
    if (!Number.isInteger(p.answer) || p.answer < 0 || p.answer >= p.choices.length) {
      throw new Error(`ScienceQA problem ${pid}: "answer" ${JSON.stringify(p.answer)} is not an index into its ${p.choices.length} choices`);
    }
    for (const field of ['hint', 'image', 'subject', 'grade'] as const) {
      const v = p[field];
      if (v !== undefined && v !== null && typeof v !== 'string') throw new Error(`ScienceQA problem ${pid}: "${field}" must be a string or null`);
    }
    const imagePath = contextFlags(p).hasImage ? findImage(dir, split, pid, p) : undefined;
    return { pid, problem: p, prompt: scienceQaPrompt(p).prompt, imagePath };
  });
}

/** Run the model on a ScienceQA split and score it into Table 1. */
export async function evaluateScienceQa(model: ScienceQaGenerator, dir: string, opts: ScienceQaEvalOptions = {}): Promise<ScienceQaEvalResult> {
  const split = opts.split ?? 'test';
  const items = readScienceQaSplit(dir, split, opts.limit);
  const temperature = opts.greedy ? 0 : opts.temperature ?? SCIENCEQA_EVAL_DEFAULTS.temperature;
  const topP = opts.topP ?? SCIENCEQA_EVAL_DEFAULTS.topP;
  const maxNewTokens = opts.maxNewTokens ?? SCIENCEQA_EVAL_DEFAULTS.maxNewTokens;
  const seed = opts.seed ?? 0;
  const unparsedPolicy = opts.unparsed ?? 'wrong';
  if (!(temperature >= 0)) throw new Error(`ScienceQA eval: temperature must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`ScienceQA eval: topP must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`ScienceQA eval: maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  const guesser = new Rng(seed);
  const prompts = opts.imageText ? await withImageText(items, opts.imageText) : items.map((item) => item.prompt);

  const started = performance.now();
  const rows: ScienceQaRow[] = [];
  let aborted = false;
  for (const [i, item] of items.entries()) {
    if (opts.signal?.aborted) {
      aborted = true;
      break;
    }
    const image = item.imagePath ? new Uint8Array(fs.readFileSync(item.imagePath)) : undefined;
    let text: string;
    try {
      ({ text } = await model.generate({ prompt: prompts[i], image, maxNewTokens, temperature, topP, seed: seed + i, positionMode: opts.positionMode, signal: opts.signal }));
    } catch (e) {
      throw new Error(`ScienceQA problem ${item.pid}: ${(e as Error).message}`);
    }
    if (opts.signal?.aborted) {
      // A generation cut short is not scored.
      aborted = true;
      break;
    }
    const p = item.problem;
    const { letter, index } = parseAnswer(text, p.choices.length);
    const predicted = index ?? (unparsedPolicy === 'random' ? Math.floor(guesser.next() * p.choices.length) : null);
    const flags = contextFlags(p);
    const row: ScienceQaRow = {
      pid: item.pid,
      subject: p.subject ?? '',
      grade: p.grade ?? '',
      ...flags,
      buckets: table1Buckets(p),
      answer: p.answer,
      predictedLetter: letter,
      predicted,
      unparsed: index === null,
      correct: predicted === p.answer,
      output: text,
    };
    rows.push(row);
    opts.onProblem?.(row, rows.length, items.length);
  }
  const { table, counts } = computeTable1(rows);
  return {
    split,
    rows,
    table,
    counts,
    unparsed: rows.filter((r) => r.unparsed).length,
    settings: { temperature, topP, maxNewTokens, seed, unparsed: unparsedPolicy },
    aborted,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The items' prompts with the text read from their images in the context field (the same text as before where none was read). */
async function withImageText(items: ScienceQaItem[], opts: SampleImageTextOptions): Promise<Prompt[]> {
  const samples = items.map((item) => ({
    prompt: { kind: 'scienceqa' as const, question: item.problem.question, hint: item.problem.hint ?? undefined, choices: item.problem.choices },
    answer: '', imagePath: item.imagePath, source: `ScienceQA problem ${item.pid}`,
  }));
  return (await addImageText(samples, opts)).samples.map((s, i) => (s.imagePath && s.prompt !== samples[i].prompt ? s.prompt : items[i].prompt));
}
